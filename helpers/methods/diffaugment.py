"""DiffAugment (Zhao et al., NeurIPS 2020): differentiable augmentations T applied to every image the
discriminator sees, real and generated alike, in the discriminator's step and in the generator's:

    L_D = E[f(D(T(x)))] + E[g(D(T(G(z))))],    L_G = E[h(D(T(G(z))))]

Because T is differentiable, the generator's gradient flows through it, and D never sees an un-augmented image,
so it cannot memorise a small training set pixel for pixel. Each function draws its random parameters, one set
per image, from ``rng``; images are in [-1, 1], N×C×H×W.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, rng: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """``n`` draws from U[low, high), shaped to broadcast over an image batch like ``like``."""
    return (low + (high - low) * torch.rand(n, 1, 1, 1, generator=rng)).to(like.device, like.dtype)


def color(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Brightness, saturation and contrast, each with a random factor per image."""
    n = len(x)
    x = x + _uniform(n, -0.5, 0.5, rng, x)  # brightness: x + b, b ~ U[−½, ½]
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * _uniform(n, 0.0, 2.0, rng, x)  # saturation: x̄_c + s (x − x̄_c), s ~ U[0, 2]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (x - mean) * _uniform(n, 0.5, 1.5, rng, x)  # contrast: x̄ + c (x − x̄), c ~ U[½, 3⁄2]


def translation(x: torch.Tensor, rng: torch.Generator, ratio: float = 1 / 8) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in each direction, filling with zeros."""
    n, _, h, w = x.shape
    reach_y, reach_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-reach_y, reach_y + 1, (n, 1, 1), generator=rng)
    shift_x = torch.randint(-reach_x, reach_x + 1, (n, 1, 1), generator=rng)
    rows = (torch.arange(h).view(1, h, 1) - shift_y + reach_y).expand(n, h, w)  # out[i, j] = in[i − Δy, j − Δx]
    cols = (torch.arange(w).view(1, 1, w) - shift_x + reach_x).expand(n, h, w)
    padded = F.pad(x, (reach_x, reach_x, reach_y, reach_y))
    batch = torch.arange(n).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows.to(x.device), cols.to(x.device)].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, rng: torch.Generator, ratio: float = 1 / 2) -> torch.Tensor:
    """Zero a square of ``ratio`` of the image's size at a random place in each image (it may reach past the edge)."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), generator=rng) - size_y // 2
    left = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), generator=rng) - size_x // 2
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.device, x.dtype)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(text: str) -> tuple[str, ...]:
    """'color, translation' -> ('color', 'translation'), refusing unknown or repeated names."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in POLICIES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"diffaugment={text!r}: expected distinct names from {list(POLICIES)}, separated by commas")
    return names


def augment(x: torch.Tensor, policy: tuple[str, ...], rng: torch.Generator) -> torch.Tensor:
    """T(x): the augmentations of ``policy``, in its order, each with fresh random parameters per image."""
    for name in policy:
        x = POLICIES[name](x, rng)
    return x
