"""A convolutional variational autoencoder for faces (Kingma & Welling, 2014).

The encoder halves the image with strided conv-norm-activation blocks down to 4×4 and maps the
features to the mean μ and log-variance log σ² of q(z|x); the decoder mirrors it with strided transposed
convolutions from z back to an image in [-1, 1]. ``size`` (a power of two, at least 8), the base
``width`` and ``latent_dim`` are arguments, so that the `cpu` profile can train a small network.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _levels(size: int) -> int:
    """How many halvings lead from size×size to 4×4."""
    levels = math.log2(size) - 2
    if size < 8 or not levels.is_integer():
        raise ValueError(f"image size {size} is not a power of two of at least 8")
    return int(levels)


class Encoder(nn.Module):
    """x (N×3×size×size) -> μ and log σ² (N×latent_dim each)."""

    def __init__(self, size: int = 64, width: int = 64, latent_dim: int = 512):
        super().__init__()
        channels = [3] + [width * 2 ** i for i in range(_levels(size))]  # e.g. 64: 3, w, 2w, 4w, 8w
        layers = []
        for c_in, c_out in zip(channels, channels[1:]):  # each block halves the size: 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.mu = nn.Linear(channels[-1] * 4 * 4, latent_dim)
        self.log_var = nn.Linear(channels[-1] * 4 * 4, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x)
        return self.mu(h), self.log_var(h)


class Decoder(nn.Module):
    """z (N×latent_dim) -> images in [-1, 1], N×3×size×size."""

    def __init__(self, size: int = 64, width: int = 64, latent_dim: int = 512):
        super().__init__()
        channels = [width * 2 ** i for i in reversed(range(_levels(size)))]  # e.g. 64: 8w, 4w, 2w, w
        self.start = channels[0]
        self.project = nn.Linear(latent_dim, channels[0] * 4 * 4)
        layers = [nn.BatchNorm2d(channels[0]), nn.ReLU()]
        for c_in, c_out in zip(channels, channels[1:]):  # each block doubles the size: 4 -> 8 -> ... -> size/2
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers += [nn.ConvTranspose2d(channels[-1], 3, 4, 2, 1), nn.Tanh()]  # size/2 -> size
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(len(z), self.start, 4, 4))


def reparameterize(mu: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A sample of q(z|x) through which gradients flow to μ and log σ² (ε drawn with ``generator``, on the CPU)."""
    eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    return mu + torch.exp(0.5 * log_var) * eps  # z = μ + σ ⊙ ε, ε ~ N(0, I)


def kl_divergence(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) ‖ p(z)) per image (summed over the latent dimensions), in closed form."""
    terms = 1 + log_var - mu ** 2 - log_var.exp()
    return -0.5 * terms.sum(dim=1)  # KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²)


class VAE(nn.Module):
    def __init__(self, size: int = 64, width: int = 64, latent_dim: int = 512):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = Encoder(size, width, latent_dim)
        self.decoder = Decoder(size, width, latent_dim)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """The reconstruction of x through a sampled z, with μ and log σ² of q(z|x)."""
        mu, log_var = self.encoder(x)
        return self.decoder(reparameterize(mu, log_var, generator)), mu, log_var
