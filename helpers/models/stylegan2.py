"""A small StyleGAN2 (Karras et al., CVPR 2020), sized for a CPU: the generator and the discriminator.

Generator:
- a mapping network f: z ↦ w, z normalised to the unit sphere's radius √z_dim, then ``mapping_layers``
  fully connected layers;
- a learned constant 4×4 input instead of a projection of z;
- at each resolution two 3×3 **modulated and demodulated convolutions** (``ModulatedConv2d``), the first after a
  ×2 upsampling, each followed by **per-pixel noise** scaled by a learned weight per layer (``Noise``);
- **skip outputs**: every resolution adds a 1×1 modulated convolution to RGB (``to_rgb``, not demodulated) to the
  upsampled image of the resolutions below.
Each convolution takes its own copy of w (``n_styles`` of them), so that two w can be mixed: the coarse
layers from one, the fine from another (style mixing).

Discriminator: residual blocks that halve the resolution (He et al.'s skip, scaled by 1/√2), a minibatch
standard-deviation feature (Karras et al., 2018) and two fully connected layers to one logit.

Every layer scales its weights at run time by He's constant (equalised learning rate), as the paper does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn



def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) scaled by √2, so that it keeps the variance of its input; every activation of both networks."""
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


class ScaledLeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(x)


def _levels(size: int) -> int:
    """How many doublings lead from the 4×4 constant to size×size."""
    levels = math.log2(size / 4)
    if size < 8 or not levels.is_integer():
        raise ValueError(f"StyleGAN2 starts from a 4×4 constant; image size {size} is not 4·2^k with k ≥ 1")
    return int(levels)


class EqualLinear(nn.Module):
    """y = x (c W)ᵀ + b with W ~ N(0, 1) and c = 1/√fan_in (equalised learning rate); ``bias_init`` fills b."""

    def __init__(self, d_in: int, d_out: int, bias_init: float = 0.0, lr_multiplier: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((d_out,), float(bias_init) / lr_multiplier))
        self.scale, self.lr_multiplier = lr_multiplier / math.sqrt(d_in), lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_multiplier)


class EqualConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale, self.padding = 1 / math.sqrt(c_in * kernel * kernel), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class ModulatedConv2d(nn.Module):
    """A convolution whose weights each sample scales by its style s = A(w):

        w'_ijk = s_i · w_ijk  (modulation, i the input channel),
        w''_ijk = w'_ijk / √(Σ_ik w'_ijk² + ε)  (demodulation: unit expected output variance per channel j).

    Run as the paper's equivalent without per-sample weights: the input scaled by s, one shared convolution, the
    output scaled by the demodulation factor d_j = 1/√(Σ_ik (s_i w_ijk)² + ε) (a grouped convolution per sample
    is many times slower on a CPU).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # A: s starts at 1
        self.scale, self.padding, self.demodulate = 1 / math.sqrt(c_in * kernel * kernel), kernel // 2, demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # N×C_in
        weight = self.scale * self.weight
        out = F.conv2d(x * s[:, :, None, None], weight, padding=self.padding)  # conv with w'_ijk = s_i w_ijk
        if self.demodulate:
            d = torch.rsqrt(s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # d_j = 1/√(Σ_ik (s_i w_ijk)²+ε)
            out = out * d[:, :, None, None]
        return out


class Noise(nn.Module):
    """x + b · n with n ~ N(0, 1) per pixel (one map shared by the channels) and b a learned weight per layer."""

    def __init__(self):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.strength * torch.randn(len(x), 1, *x.shape[2:], device=x.device, dtype=x.dtype)


class StyledConv(nn.Module):
    """Modulated convolution, noise, bias, ``lrelu``."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim)
        self.noise = Noise()
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return lrelu(self.noise(self.conv(x, w)) + self.bias)


class Generator(nn.Module):
    def __init__(self, z_dim: int = 128, size: int = 32, width: int = 32, mapping_layers: int = 4,
                 max_channels: int = 256):
        super().__init__()
        levels = _levels(size)
        channels = [min(max_channels, width * 2 ** i) for i in reversed(range(levels + 1))]  # 4×4 … size×size
        self.z_dim = z_dim  # w has as many numbers as z
        self.mapping = nn.Sequential(*(layer for _ in range(mapping_layers)  # f: z ↦ w, at 1/100 of the learning rate
                                       for layer in (EqualLinear(z_dim, z_dim, lr_multiplier=0.01), ScaledLeakyReLU())))
        self.constant = nn.Parameter(torch.randn(1, channels[0], 4, 4))
        self.first = StyledConv(channels[0], channels[0], z_dim)
        self.blocks = nn.ModuleList(nn.ModuleList([StyledConv(c_in, c_out, z_dim, upsample=True),
                                                   StyledConv(c_out, c_out, z_dim)])
                                    for c_in, c_out in zip(channels, channels[1:]))
        self.to_rgb = nn.ModuleList(ModulatedConv2d(c, 3, 1, z_dim, demodulate=False) for c in channels)
        self.n_styles = 2 + 3 * levels  # first conv and its to_rgb; two convs and a to_rgb per doubling

    def styles(self, z: torch.Tensor) -> torch.Tensor:
        """w = f(z / ‖z‖ · √dim), repeated for each of the ``n_styles`` layers: N×n_styles×w_dim."""
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        return self.mapping(z)[:, None].expand(-1, self.n_styles, -1)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """Images from one w per layer (N×n_styles×w_dim), coarse layers first."""
        x = self.first(self.constant.expand(len(ws), -1, -1, -1), ws[:, 0])
        image = self.to_rgb[0](x, ws[:, 1])
        for index, ((up, conv), to_rgb) in enumerate(zip(self.blocks, self.to_rgb[1:])):
            k = 2 + 3 * index
            x = conv(up(x, ws[:, k]), ws[:, k + 1])
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(x, ws[:, k + 2])
        return image  # the skip outputs' sum; no tanh, as in the paper

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.styles(z))

    def mix(self, z_coarse: torch.Tensor, z_fine: torch.Tensor, crossover: int) -> torch.Tensor:
        """Style mixing: the first ``crossover`` layers take w of ``z_coarse``, the others w of ``z_fine``."""
        ws = self.styles(z_coarse).clone()
        ws[:, crossover:] = self.styles(z_fine)[:, crossover:]
        return self.synthesis(ws)


class ResidualBlock(nn.Module):
    """A 3×3 convolution, a ×½ average pool and a 3×3 convolution, beside a pooled 1×1 skip: (skip + main) / √2.
    (The paper's second convolution has stride 2; pooling first costs a quarter of it.)"""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1, self.conv2 = EqualConv2d(c_in, c_in, 3), EqualConv2d(c_in, c_out, 3)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = F.avg_pool2d(lrelu(self.conv1(x)), 2)
        main = lrelu(self.conv2(main))
        return (self.skip(F.avg_pool2d(x, 2)) + main) / math.sqrt(2)


class Discriminator(nn.Module):
    def __init__(self, size: int = 32, width: int = 32, max_channels: int = 256):
        super().__init__()
        levels = _levels(size)
        channels = [min(max_channels, width * 2 ** i) for i in range(levels + 1)]  # size×size … 4×4
        self.from_rgb = EqualConv2d(3, channels[0], 1)
        self.blocks = nn.Sequential(*(ResidualBlock(c_in, c_out) for c_in, c_out in zip(channels, channels[1:])))
        self.final_conv = EqualConv2d(channels[-1] + 1, channels[-1], 3)
        self.final = nn.Sequential(EqualLinear(channels[-1] * 16, channels[-1]), ScaledLeakyReLU(),
                                   EqualLinear(channels[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(lrelu(self.from_rgb(x)))
        group = min(4, len(x)) if len(x) % min(4, len(x)) == 0 else 1
        # σ = √(Var + ε) over groups of samples: without ε, identical samples (σ = 0) give R1 a NaN gradient
        spread = (x.view(group, -1, *x.shape[1:]).var(dim=0, unbiased=False) + 1e-8).sqrt()
        spread = spread.mean(dim=(1, 2, 3), keepdim=True).repeat(group, 1, *x.shape[2:])  # one feature map
        x = lrelu(self.final_conv(torch.cat([x, spread], dim=1)))
        return self.final(x.flatten(1))[:, 0]
