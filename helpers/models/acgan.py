"""ACGAN's networks (Odena et al., 2017), built on DCGAN's generator and discriminator.

The generator G(z, c) reads z multiplied element-wise by a learned embedding of the class c. (With z
concatenated to the embedding instead, G learned to ignore z here: on built-in MNIST-M, `cpu` sizes,
every image of a class was the same after 250 steps.) The discriminator has two heads on one body:
a real/fake logit and the auxiliary classifier's class logits (logits, no softmax: the cross-entropy
takes logits), and may drop feature maps after each activation. Digits are 28×28 (the networks start
from 7×7), faces any power of two.
"""
from __future__ import annotations

import torch
from torch import nn

from helpers.models.gan import Discriminator, Generator, init_weights


class ConditionalGenerator(nn.Module):
    def __init__(self, n_classes: int, z_dim: int = 100, size: int = 28, width: int = 64):
        super().__init__()
        self.n_classes, self.z_dim = n_classes, z_dim
        self.embed = nn.Embedding(n_classes, z_dim)
        self.net = Generator(z_dim, size, width)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] of the classes ``c`` from z."""
        return self.net(z * self.embed(c))  # z ⊙ e_c: the class reaches G only through z, so z cannot be ignored


class AuxiliaryDiscriminator(nn.Module):
    def __init__(self, n_classes: int, size: int = 28, width: int = 64, dropout: float = 0.0):
        super().__init__()
        self.net = Discriminator(size, width, outputs=1 + n_classes, dropout=dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The real/fake logit (N) and the class logits (N×n_classes)."""
        logits = self.net(x)
        return logits[:, 0], logits[:, 1:]


def build(n_classes: int, size: int = 28, width: int = 64, z_dim: int = 100,
          dropout: float = 0.0) -> tuple[ConditionalGenerator, AuxiliaryDiscriminator]:
    """G and D (with Dropout2d of p ``dropout`` after each activation) initialised as DCGAN does."""
    generator = ConditionalGenerator(n_classes, z_dim, size, width)
    discriminator = AuxiliaryDiscriminator(n_classes, size, width, dropout)
    for network in (generator, discriminator):
        network.apply(init_weights)
    return generator, discriminator
