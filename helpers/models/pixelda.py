"""PixelDA's networks (Bousmalis et al., CVPR 2017), sized for a CPU, on 3×28×28 digits.

- ``Generator`` G(x_s, z): the source image and a noise vector z (projected to one extra image channel) go
  through a 3×3 convolution, residual blocks (conv-BN-ReLU-conv-BN plus the input) and a 3×3 convolution to
  three channels with tanh: an image of the same size, in the target's style.
- ``Discriminator`` D(x): strided 3×3 convolutions with batch norm, leaky ReLU and dropout, Gaussian noise added
  to its input while training; one logit of "this is a real target image".
The task classifier is problem 3's network (``models.uda.DANN``), trained on source and generated images.
"""
from __future__ import annotations

import torch
from torch import nn

NOISE = 10  # the dimension of z ~ U(−1, 1)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # h + F(h)


class Generator(nn.Module):
    """G: a source batch N×3×H×W and noise N×``NOISE`` -> images N×3×H×W in [-1, 1]."""

    def __init__(self, channels: int = 32, blocks: int = 3, size: int = 28):
        super().__init__()
        self.size = size
        self.noise = nn.Linear(NOISE, size * size)  # z -> one H×W channel
        self.body = nn.Sequential(nn.Conv2d(4, channels, 3, padding=1), nn.ReLU(),
                                  *(ResidualBlock(channels) for _ in range(blocks)),
                                  nn.Conv2d(channels, 3, 3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        z_channel = self.noise(z).view(len(z), 1, self.size, self.size)
        return self.body(torch.cat([x, z_channel], 1))  # G(x, z)


class Discriminator(nn.Module):
    """D: images N×3×28×28 -> N logits of being a real target image (no sigmoid: the losses take logits)."""

    def __init__(self, channels: int = 32, input_noise: float = 0.2, dropout: float = 0.1):
        super().__init__()
        self.input_noise = input_noise

        def down(c_in: int, c_out: int, norm: bool) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), *([nn.BatchNorm2d(c_out)] if norm else []),
                    nn.LeakyReLU(0.2), nn.Dropout(dropout)]

        self.body = nn.Sequential(*down(3, channels, False), *down(channels, 2 * channels, True),  # 28 -> 14 -> 7
                                  *down(2 * channels, 4 * channels, True), nn.Flatten(),  # -> 4
                                  nn.Linear(4 * channels * 4 * 4, 1), nn.Flatten(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.input_noise:
            x = x + self.input_noise * torch.randn_like(x)  # x + ε, ε ~ N(0, σ²): keeps D from winning outright
        return self.body(x)
