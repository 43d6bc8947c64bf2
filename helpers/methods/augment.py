"""Random views of digit images: ``warp``, a small random affine warp and shift (what DANN's ``warp-adabn`` recipe
trains on), and ``random_view``, a warp followed by a random intensity scale and offset and Gaussian noise (what
self-ensembling's student and teacher see)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

SHIFT = 2.0  # the largest translation, in pixels
AFFINE_STD = 0.1  # σ of the random perturbation of the 2×2 affine matrix
INTENSITY_SCALE = (0.5, 1.5)  # range of the per-image intensity scale
INTENSITY_OFFSET = (-0.5, 0.5)  # range of the per-image intensity offset (images are in [-1, 1])
NOISE_STD = 0.1  # σ of the Gaussian noise added to every pixel


def _uniform(n: int, low_high: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    low, high = low_high
    return low + (high - low) * torch.rand(n, 1, 1, 1, generator=generator)  # U(low, high), one per image


def warp(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of the batch ``x`` under its own small affine warp with a shift of up to ``SHIFT`` pixels, every
    number drawn from ``generator``."""
    n, _, h, w = x.shape
    linear = torch.eye(2) + AFFINE_STD * torch.randn(n, 2, 2, generator=generator)  # A = I + ε, ε ~ N(0, σ²)
    shift = SHIFT * (2 * torch.rand(n, 2, 1, generator=generator) - 1)  # t ~ U(−SHIFT, SHIFT) pixels along x and y
    theta = torch.cat([linear, shift * 2 / torch.tensor([[w], [h]])], 2)  # the grid spans 2 units per side
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def random_view(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random view of each image of the batch ``x``, every number drawn from ``generator``: ``warp``, then an
    intensity scale and offset, then Gaussian noise."""
    n = len(x)
    warped = warp(x, generator)
    scale, offset = _uniform(n, INTENSITY_SCALE, generator), _uniform(n, INTENSITY_OFFSET, generator)
    noise = NOISE_STD * torch.randn(x.shape, generator=generator)
    return scale.to(x) * warped + offset.to(x) + noise.to(x)  # s x̃ + o + n, n ~ N(0, σ²)
