"""A small U-Net that predicts the noise ε of a noised image x_t, given the timestep t and a class c.

Sized for speed on a CPU: the image is first folded into 2×2 patches (pixel unshuffle: 3×28×28 ->
12×14×14, as a patch-2 ViT does), so the network works at two resolutions only (14 and 7 for digits),
4× cheaper than on pixels; most of its depth is at 7×7, where a convolution costs least. Residual
blocks with GroupNorm and SiLU, self-attention at 7×7. The timestep enters as a sinusoidal embedding (Vaswani et al.,
as in DDPM) passed through an MLP; the class as a learned embedding with one extra row, the "no
class" ∅ of classifier-free guidance. Their sum shifts and scales each block's features.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dims: int) -> torch.Tensor:
    """[sin(t ω_k), cos(t ω_k)] with ω_k = 10000^(−k / (dims/2)), as in the Transformer and DDPM."""
    half = dims // 2
    omega = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResidualBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding giving a per-channel scale and shift in between."""

    def __init__(self, c_in: int, c_out: int, emb_dims: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dims, 2 * c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift  # h ← GN(h)(1 + s(e)) + b(e)
        return self.skip(x) + self.conv2(F.silu(h))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the positions of a feature map, added to it (as in DDPM's U-Net)."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.attention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x).flatten(2).transpose(1, 2).float()  # N×HW×C
        # in float32 under any autocast: on the CPU, bf16 attention's backward took 9 times as long as float32's
        # (torch 2.14, benchmarks/precision.py's diffusion loop), more than the convolutions gained
        with torch.autocast(x.device.type, enabled=False):
            out, _ = self.attention(h, h, h, need_weights=False)  # softmax(QKᵀ/√d) V
        return x + out.transpose(1, 2).view_as(x)


class ConditionalUNet(nn.Module):
    """ε_θ(x_t, t, c): images 3×S×S (S divisible by 4), t in [0, T), c in {0..n_classes−1} or ∅ = n_classes.

    ``width`` channels at S/2 and 4·``width`` at S/4, where most of the depth is: three residual
    blocks and self-attention over the 7×7 positions that give every output pixel the whole digit.
    """

    patch = 2

    def __init__(self, n_classes: int = 10, width: int = 32, emb_dims: int = 128):
        super().__init__()
        self.n_classes, self.emb_dims = n_classes, emb_dims
        self.null_class = n_classes  # ∅: the class embedding's extra row
        self.time = nn.Sequential(nn.Linear(emb_dims, emb_dims), nn.SiLU(), nn.Linear(emb_dims, emb_dims))
        self.label = nn.Embedding(n_classes + 1, emb_dims)
        folded, deep = 3 * self.patch ** 2, 4 * width
        self.inp = nn.Conv2d(folded, width, 3, padding=1)
        self.down = ResidualBlock(width, width, emb_dims)  # S/2
        self.deep = nn.ModuleList([ResidualBlock(width, deep, emb_dims), ResidualBlock(deep, deep, emb_dims),
                                   ResidualBlock(deep, deep, emb_dims)])  # S/4
        self.attention = SelfAttention(deep)
        self.up = ResidualBlock(deep + width, width, emb_dims)  # S/2, the skip concatenated
        self.out = nn.Sequential(nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, folded, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.emb_dims)) + self.label(c)
        skip = self.down(self.inp(F.pixel_unshuffle(x, self.patch)), emb)
        h = F.avg_pool2d(skip, 2)
        for i, block in enumerate(self.deep):
            h = block(h, emb)
            if i == 1:
                h = self.attention(h)
        h = self.up(torch.cat([F.interpolate(h, scale_factor=2.0), skip], dim=1), emb)
        return F.pixel_shuffle(self.out(h), self.patch)
