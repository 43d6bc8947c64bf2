"""Stand-ins shared by the tests."""
import torch


class Images:
    """A tiny dataset with the ``batch``/``len`` interface of FaceSet: random images in [-1, 1]."""

    def __init__(self, n=24, size=16, seed=0):
        self.images = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1

    def __len__(self):
        return len(self.images)

    def batch(self, index):
        return self.images[index]
