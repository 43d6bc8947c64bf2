"""Generators and discriminators for faces: DCGAN, the WGAN-GP critic and SAGAN.

All three share one shape, after Radford et al. (DCGAN, 2016): the generator maps z (N×z_dim) through
a 4×4 transposed convolution and then doubles the resolution with strided transposed convolutions up
to ``size``×``size``; the discriminator mirrors it with strided convolutions down to 4×4 and one logit.
``size`` (a power of two, at least 8, or 7·2^k such as the digits' 28, which start from 7×7) and the base
``width`` are arguments, so that the `cpu` profile can train a small network. What differs per method:

- ``dcgan``: batch norm in G and D, ReLU in G and LeakyReLU(0.2) in D, weights drawn from N(0, 0.02).
- ``wgangp``: the same generator; the critic has no batch norm (the gradient penalty is per sample,
  batch norm would mix samples) and, as every discriminator here, no sigmoid.
- ``sagan`` (Zhang et al., 2019): spectral norm on every layer of G and D, and a self-attention block
  at the size/2 feature map of both.

``stylegan2`` has networks of another shape, in ``models.stylegan2``; ``build`` gives them too.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from helpers.models import stylegan2

METHODS = ("dcgan", "wgangp", "sagan", "stylegan2")


class SelfAttention(nn.Module):
    """SAGAN's attention over all positions of a feature map, added to it with a learned γ that starts at 0."""

    def __init__(self, channels: int, wrap=lambda layer: layer):
        super().__init__()
        self.query = wrap(nn.Conv2d(channels, max(1, channels // 8), 1))
        self.key = wrap(nn.Conv2d(channels, max(1, channels // 8), 1))
        self.value = wrap(nn.Conv2d(channels, channels, 1))
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (f(x).flatten(2) for f in (self.query, self.key, self.value))  # N×C'×HW
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # β_{j,i} = softmax_i(f(x_i)ᵀ g(x_j))
        out = (v @ attention.transpose(1, 2)).view_as(x)  # o_j = Σ_i β_{j,i} h(x_i)
        return x + self.gamma * out  # y = x + γ o


def _levels(size: int) -> int:
    """How many doublings lead from the first feature map (4×4, or 7×7 for 28×28 digits) to size×size."""
    for first in (4, 7):
        levels = math.log2(size / first)
        if size >= 2 * first and levels.is_integer():
            return int(levels)
    raise ValueError(f"image size {size} is neither a power of two of at least 8 nor 7·2^k (such as 28)")


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, size: int = 64, width: int = 64, spectral: bool = False,
                 attention: bool = False):
        super().__init__()
        wrap = spectral_norm if spectral else (lambda layer: layer)
        levels = _levels(size)
        channels = [width * 2 ** i for i in reversed(range(levels))]  # e.g. 64: 8w, 4w, 2w, w
        first = size >> levels  # the first feature map's side: 4 (or 7)
        layers = [wrap(nn.ConvTranspose2d(z_dim, channels[0], first, 1, 0, bias=False)),  # 1×1 -> 4×4
                  nn.BatchNorm2d(channels[0]), nn.ReLU()]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [wrap(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)), nn.BatchNorm2d(c_out), nn.ReLU()]
        if attention:
            layers.append(SelfAttention(channels[-1], wrap))  # at size/2
        layers += [wrap(nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1)), nn.Tanh()]
        self.z_dim = z_dim
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1], N×3×size×size, from z (N×z_dim)."""
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """One logit per image (no sigmoid: the losses take logits); ``outputs`` > 1 gives N×outputs logits.

    ``dropout`` > 0 drops whole feature maps (Dropout2d) with that probability after every activation.
    """

    def __init__(self, size: int = 64, width: int = 64, batch_norm: bool = True, spectral: bool = False,
                 attention: bool = False, outputs: int = 1, dropout: float = 0.0):
        super().__init__()
        wrap = spectral_norm if spectral else (lambda layer: layer)

        def activation() -> list[nn.Module]:
            return [nn.LeakyReLU(0.2), *([nn.Dropout2d(dropout)] if dropout else [])]

        levels = _levels(size)
        channels = [width * 2 ** i for i in range(levels)]  # e.g. 64: w, 2w, 4w, 8w
        layers = [wrap(nn.Conv2d(3, channels[0], 4, 2, 1)), *activation()]  # -> size/2
        if attention:
            layers.append(SelfAttention(channels[0], wrap))
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [wrap(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not batch_norm)),
                       *([nn.BatchNorm2d(c_out)] if batch_norm else []), *activation()]
        layers += [wrap(nn.Conv2d(channels[-1], outputs, size >> levels, 1, 0))]  # 4×4 (or 7×7) -> 1×1
        self.net = nn.Sequential(*layers)
        self.outputs = outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x).flatten(1)
        return logits[:, 0] if self.outputs == 1 else logits


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: convolutions from N(0, 0.02), batch norm scales from N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
        nn.init.normal_(weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build(method: str, size: int = 64, width: int = 64, z_dim: int = 100) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator (critic) of ``method``, initialised as DCGAN does.

    StyleGAN2's networks are N(0, 1) weights scaled at run time, at half of ``width``: two 3×3 convolutions per
    resolution (and a residual discriminator) at half the width cost 4 to 5 times DCGAN's step on a CPU, at the
    full width about 10 times.
    """
    if method not in METHODS:
        raise ValueError(f"unknown GAN method {method!r}; expected one of {METHODS}")
    if method == "stylegan2":
        return stylegan2.Generator(z_dim, size, max(1, width // 2)), stylegan2.Discriminator(size, max(1, width // 2))
    sagan = method == "sagan"
    generator = Generator(z_dim, size, width, spectral=sagan, attention=sagan)
    discriminator = Discriminator(size, width, batch_norm=method == "dcgan", spectral=sagan, attention=sagan)
    for network in (generator, discriminator):
        network.apply(init_weights)
    return generator, discriminator
