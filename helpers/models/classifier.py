"""The classifier that scores generated images: digits (problem 2's evaluator) and the two classes of problem 1's
ACGAN on faces.

A small VGG-style network: two 3×3 convolutions with batch norm per resolution (28 -> 14 -> 7 for digits),
then global average pooling to ``FEATURES`` numbers, whatever the image size, and one linear layer to the class
logits.
"""
from __future__ import annotations

import torch
from torch import nn

FEATURES = 128


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class ImageClassifier(nn.Module):
    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            *_block(3, 32), *_block(32, 32), nn.MaxPool2d(2),  # 28 -> 14
            *_block(32, 64), *_block(64, 64), nn.MaxPool2d(2),  # 14 -> 7
            *_block(64, FEATURES), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of images in [-1, 1]."""
        return self.head(self.features(x))
