"""ADDA's feature discriminator D (Tzeng et al., CVPR 2017): an MLP on the encoder's features,
fc500 → ReLU → fc500 → ReLU → fc1, whose one output is the logit of "this feature came from the source encoder".
"""
from __future__ import annotations

from torch import nn


class FeatureDiscriminator(nn.Sequential):
    """D: N×n_features features -> N logits of being a source feature (no sigmoid: the losses take logits)."""

    def __init__(self, n_features: int, hidden: int = 500):
        super().__init__(nn.Linear(n_features, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1), nn.Flatten(0))  # N×1 -> N
