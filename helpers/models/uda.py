"""Networks for unsupervised domain adaptation on 3×28×28 digits.

``DANN`` is a feature extractor G_f, a label predictor G_y and a domain classifier G_d (behind a gradient
reversal layer when DANN trains it). Three sets of layers:

- ``"paper"``: Ganin et al.'s network for MNIST → MNIST-M (JMLR 2016), exactly: G_f conv5×5×32 → pool →
  conv5×5×48 → pool, G_y fc100 → fc100 → fc10, G_d fc100 → fc2, no normalisation.
- ``"in"``: the paper's layers with instance norm after each pooling of G_f, dropout on the features and batch
  norm in G_d. Instance norm normalises each image alone, so one batch of both domains is fine.
- ``"bn"``: the paper's layers with batch norm after each convolution and hidden layer, and dropout (the shape of the
  widely copied open-source DANN, which has 64 and 50 channels; at the paper's 32 and 48 it scored as well here,
  in half the time). Batch norm is what lets each domain be normalised with its own statistics when the domains
  go through the network in separate batches.

"Trained on source", "Trained on target" and DANN use one network, so that only the training differs.
"""
from __future__ import annotations

import torch
from torch import nn

FEATURES = 48 * 4 * 4  # G_f's output for a 28×28 input: 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4, 48 channels
NETWORKS = ("paper", "in", "bn")


class GradientReversal(torch.autograd.Function):
    """Identity going forward; multiplies the gradient by −λ going back (R_λ in the DANN paper)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lambd * grad, None  # dR_λ/dx = −λ I


def reverse_gradient(x: torch.Tensor, lambd: float) -> torch.Tensor:
    return GradientReversal.apply(x, lambd)


def _layers(network: str, n_classes: int) -> tuple[nn.Sequential, nn.Sequential, nn.Sequential]:
    """G_f, G_y and G_d of ``network``."""
    features = FEATURES
    if network == "paper":
        return (nn.Sequential(nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()),
                nn.Sequential(nn.Linear(features, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                              nn.Linear(100, n_classes)),
                nn.Sequential(nn.Linear(features, 100), nn.ReLU(), nn.Linear(100, 2)))
    if network == "in":
        return (nn.Sequential(nn.Conv2d(3, 32, 5), nn.MaxPool2d(2), nn.InstanceNorm2d(32, affine=True), nn.ReLU(),
                              nn.Conv2d(32, 48, 5), nn.MaxPool2d(2), nn.InstanceNorm2d(48, affine=True), nn.ReLU(),
                              nn.Dropout2d(0.5), nn.Flatten()),
                nn.Sequential(nn.Linear(features, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                              nn.Linear(100, n_classes)),
                nn.Sequential(nn.Linear(features, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, 2)))
    if network == "bn":
        return (nn.Sequential(nn.Conv2d(3, 32, 5), nn.BatchNorm2d(32), nn.MaxPool2d(2), nn.ReLU(),
                              nn.Conv2d(32, 48, 5), nn.BatchNorm2d(48), nn.Dropout2d(0.5), nn.MaxPool2d(2), nn.ReLU(),
                              nn.Flatten()),
                nn.Sequential(nn.Linear(features, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Dropout(0.5),
                              nn.Linear(100, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, n_classes)),
                nn.Sequential(nn.Linear(features, 100), nn.BatchNorm1d(100), nn.ReLU(), nn.Linear(100, 2)))
    raise ValueError(f"unknown network {network!r}; expected one of {NETWORKS}")


class DANN(nn.Module):
    def __init__(self, network: str = "in", n_classes: int = 10):
        super().__init__()
        self.network = network
        self.n_features = FEATURES
        self.features, self.classifier, self.discriminator = _layers(network, n_classes)  # G_f, G_y, G_d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits G_y(G_f(x))."""
        return self.classifier(self.features(x))
