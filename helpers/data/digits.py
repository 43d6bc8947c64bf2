"""One loader for every digit domain: 3×28×28 images in [-1, 1] with labels 0-9.

Where the images come from:

- ``data_root`` given: the course folders ``<root>/digits/<domain>/`` (domains mnistm, svhn, usps);
  missing or malformed course data is an error, never replaced by built-in data.
- ``download=True``: torchvision's MNIST, SVHN and USPS (needs network access).
- otherwise the built-in domains made from what installed packages ship (see ``embedded``):
  ``mnist``, ``mnistm``, ``synnum``, ``optdigits``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from helpers import runtime
from helpers.data import cache, course, embedded

SPLITS = ("train", "test")
DOMAIN_NAMES = {
    "mnist": "MNIST", "mnistm": "MNIST-M", "svhn": "SVHN", "usps": "USPS",
    "synnum": "SynNumbers", "optdigits": "OptDigits",
}
TORCHVISION_DOMAINS = ("mnist", "svhn", "usps")


@dataclass(eq=False)
class DigitSet(Dataset):
    """Images kept as uint8 N×3×28×28 (compact); items and batches come out as floats in [-1, 1]."""

    images: torch.Tensor
    labels: torch.Tensor
    domain: str
    split: str
    origin: str

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return to_float(self.images[index]), int(self.labels[index])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (floats in [-1, 1]) and labels at ``index``, without a DataLoader's per-item cost."""
        return to_float(self.images[index]), self.labels[index]

    def subset(self, n: int | None, seed: int = 0) -> "DigitSet":
        """A fixed random subset of ``n`` items (all of them when ``n`` is None or not smaller)."""
        if n is None or n >= len(self):
            return self
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return DigitSet(self.images[index], self.labels[index], self.domain, self.split, self.origin)

    def summary(self) -> str:
        counts = torch.bincount(self.labels, minlength=10).tolist()
        return (f"{DOMAIN_NAMES.get(self.domain, self.domain)} {self.split}: {len(self)} images "
                f"{tuple(self.images.shape[1:])}, per class {counts}; from {self.origin}")


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1  # uint8 [0, 255] -> [-1, 1]


def load_digits(domain: str, split: str = "train", data_root: str = "", download: bool = False) -> DigitSet:
    """The ``split`` ('train' or 'test') of digit ``domain``; see the module's docstring for the sources."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    if data_root:
        images, labels = course.read_digits(data_root, domain, split)
        origin = f"course data under {data_root}"
    elif download:
        images, labels = _torchvision(domain, split)
        origin = "torchvision download"
    else:
        if domain not in embedded.DOMAINS:
            raise ValueError(
                f"digit domain {domain!r} is not built in; built-in domains: {sorted(embedded.DOMAINS)}; "
                f"for {sorted(course.DOMAINS)} give data_root (the course data), "
                f"for {list(TORCHVISION_DOMAINS)} download=True (needs network access)")
        arrays = cache.cached_arrays(f"digits_{domain}_{split}", lambda: embedded.build(domain, split))
        images, labels = arrays["images"].numpy(), arrays["labels"].numpy()
        origin = embedded.DOMAINS[domain]
    return DigitSet(torch.from_numpy(images), torch.from_numpy(labels).long(), domain, split, origin)


def _torchvision(domain: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's dataset for ``domain``, downloaded into the cache, as uint8 N×3×28×28 and labels."""
    import torchvision
    from torchvision.transforms import functional as F

    if domain not in TORCHVISION_DOMAINS:
        raise ValueError(f"torchvision has no digit domain {domain!r}; it has {list(TORCHVISION_DOMAINS)}")
    root = runtime.folder("cache") / "torchvision"
    train = split == "train"
    if domain == "svhn":
        dataset = torchvision.datasets.SVHN(root, split="train" if train else "test", download=True)
    else:
        kind = torchvision.datasets.MNIST if domain == "mnist" else torchvision.datasets.USPS
        dataset = kind(root, train=train, download=True)
    images = np.stack([np.asarray(F.resize(image.convert("RGB"), [28, 28])) for image, _ in dataset])
    labels = np.array([label for _, label in dataset], dtype=np.int64)
    return images.transpose(0, 3, 1, 2), labels
