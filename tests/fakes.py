"""Stand-ins shared by the tests."""
import numpy as np
import torch
from PIL import Image

from helpers.data.digits import DigitSet


class Images:
    """A tiny dataset with the ``batch``/``len`` interface of FaceSet: random images in [-1, 1]."""

    def __init__(self, n=24, size=16, seed=0):
        self.images = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1

    def __len__(self):
        return len(self.images)

    def batch(self, index):
        return self.images[index]


def digit_set(n=64, seed=0, domain="a"):
    """A DigitSet of ``n`` random 3×28×28 images with random labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 256, (n, 3, 28, 28), generator=g, dtype=torch.uint8)
    return DigitSet(images, labels, domain, "train", "test tensors")



def course_faces(root, n=16, attribute=""):
    """A tiny course folder ``root``: face/train/ and face/test/ with ``n`` random 64×64 RGB PNG files each; with
    ``attribute``, face/<split>.csv lists them with that column, -1 and 1 in turn."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        folder = root / "face" / split
        folder.mkdir(parents=True)
        for index in range(n):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{index:03d}.png")
        if attribute:
            rows = [f"{index:03d}.png,{(-1, 1)[index % 2]}" for index in range(n)]
            (root / "face" / f"{split}.csv").write_text("\n".join([f"image_name,{attribute}", *rows]) + "\n")
    return root
