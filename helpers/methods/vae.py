"""Training a VAE and using it: the loss, the loop, encoding, reconstruction, sampling, interpolation.

The loss per image is the reconstruction error summed over the image's 3·S·S values in [-1, 1] (as the
assignment reports MSE; 4 times the sum on the [0, 1] scale) plus β times the KL divergence of q(z|x)
from N(0, I); a batch's loss is the mean over its images. β can be raised linearly from 0 over the first
``warmup`` steps (KL warm-up, Bowman et al., 2016), so that the decoder learns to use z before the KL
term pulls q(z|x) towards the prior. Adam, lr 1e-3 unless told, annealed to 0 along a cosine (Loshchilov &
Hutter, 2017). Against overfitting a few training faces (the built-in set has 80) each batch can be
mirrored and translated by a few pixels (``shift``).

The functions that use a model (``evaluate``, ``encode``, ``reconstruct``, ``sample``, ``interpolate``)
put it in eval mode, so that batch norm uses its running statistics; ``train`` puts it back.
"""
from __future__ import annotations

import pandas as pd
import torch
from sklearn.decomposition import PCA
from tqdm.auto import tqdm

from helpers import runtime
from helpers.methods.training import descend
from helpers.models.vae import VAE, kl_divergence

LR = 1e-3


def reconstruction_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared error per image, summed over its pixels and channels."""
    return ((x_hat - x) ** 2).flatten(1).sum(dim=1)  # Σ_pixels (x̂ − x)²


def loss(x_hat: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor,
         beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """The batch's mean of MSE + β·KL per image, and its parts (means over the batch) for the history."""
    mse, kld = reconstruction_error(x_hat, x).mean(), kl_divergence(mu, log_var).mean()
    total = mse + beta * kld  # L = E_x[‖x̂ − x‖² + β KL(q(z|x) ‖ N(0, I))]
    return total, {"mse": mse.item(), "kld": kld.item(), "loss": total.item()}


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of x moved by its own integer offset (dy, dx), each drawn from −shift … shift with
    ``generator``; the edge rows and columns are repeated into the uncovered border.

    Per-image offsets from a given generator: torchvision's RandomAffine/RandomCrop draw from the global
    RNG, one offset per call, so a batch would need a loop and the run would not be seeded by ``seed``.
    """
    if shift < 0 or shift >= min(x.shape[-2:]):
        raise ValueError(f"shift {shift} for images of {tuple(x.shape[-2:])}; expected 0 ≤ shift < the image size")
    n, _, height, width = x.shape
    d = torch.randint(-shift, shift + 1, (n, 2), generator=generator)
    rows = (torch.arange(height) - d[:, :1]).clamp(0, height - 1)  # x'[i, j] = x[clamp(i − dy), clamp(j − dx)]
    cols = (torch.arange(width) - d[:, 1:]).clamp(0, width - 1)
    return x[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def warmup_beta(beta: float, step: int, warmup: int) -> float:
    """β_t = β · min(1, t / warmup): the KL weight at ``step`` (β all along when ``warmup`` is 0)."""
    return beta * min(1.0, step / warmup) if warmup else beta


@torch.no_grad()
def evaluate(model: VAE, images, device: torch.device | str = "cpu", batch_size: int = 500) -> dict[str, float]:
    """Mean per-image MSE of the reconstructions from μ (no sampling) and mean KL, over all of ``images``."""
    model.eval()
    mse, kld = [], []
    for x in _batches(images, batch_size):
        mu, log_var = model.encoder(x.to(device))
        mse.append(reconstruction_error(model.decoder(mu), x.to(device)).cpu())
        kld.append(kl_divergence(mu, log_var).cpu())
    return {"mse": torch.cat(mse).mean().item(), "kld": torch.cat(kld).mean().item()}


def train(model: VAE, images, *, steps: int, batch_size: int, beta: float, warmup: int = 0, flip: bool = False,
          shift: int = 0, lr: float = LR, seed: int = 0, device: torch.device | str = "cpu",
          precision: runtime.Precision = runtime.FP32, log_every: int = 10, test=None,
          evaluate_every: int = 0) -> pd.DataFrame:
    """Train ``model`` on ``images`` (a dataset with ``batch(index)`` and ``len``) for ``steps`` Adam steps.

    Batches, flips (``flip``: each image mirrored left to right with probability ½), translations
    (``shift``: up to that many pixels each way, see ``random_shift``) and ε come from a generator seeded
    with ``seed``. Adam, its learning rate annealed from ``lr`` to 0 along a cosine over the ``steps``. Every
    ``log_every`` steps a row (step, β, mean mse, kld, loss, learning rate) joins the history; every
    ``evaluate_every`` steps, and at the end, the row also gets ``mse_test`` and ``kld_test`` on ``test``.
    Raises FloatingPointError, naming the step, when the loss is NaN or explodes. The model runs in
    ``precision``; the loss (reconstruction error and KL) is computed from its float32 outputs.
    """
    rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scaler = precision.scaler()
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)  # η_t = η (1 + cos(π t / T)) / 2
    model.to(device).train()
    precision.layout(model)
    history, window = [], []
    for step in tqdm(range(1, steps + 1), desc="VAE"):
        x = images.batch(torch.randint(len(images), (batch_size,), generator=rng))
        if flip:  # x ← x mirrored left to right, with probability ½ per image
            x = torch.where(torch.rand(batch_size, 1, 1, 1, generator=rng) < 0.5, x.flip(-1), x)
        if shift:
            x = random_shift(x, shift, rng)
        x = x.to(device)
        x_hat, mu, log_var = precision.run(model, x, rng)
        beta_t = warmup_beta(beta, step, warmup)
        total, stats = loss(x_hat, x, mu, log_var, beta_t)
        descend(optimizer, total, "VAE", step, scaler)
        window.append(stats | {"lr": schedule.get_last_lr()[0]})
        schedule.step()
        if step % log_every == 0 or step == steps:
            row = {"step": step, "beta": beta_t, **pd.DataFrame(window).mean().to_dict()}
            window = []
            if test is not None and evaluate_every and (step % evaluate_every == 0 or step == steps):
                row |= {f"{name}_test": value for name, value in evaluate(model, test, device).items()}
                model.train()  # evaluate() left it in eval mode
            history.append(row)
    return pd.DataFrame(history)


@torch.no_grad()
def encode(model: VAE, images, device: torch.device | str = "cpu", batch_size: int = 500) -> torch.Tensor:
    """μ of q(z|x) for every image of ``images``, N×latent_dim on the CPU."""
    model.eval()
    return torch.cat([model.encoder(x.to(device))[0].cpu() for x in _batches(images, batch_size)])


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """The decoder's image of μ(x) (the mean of q(z|x), no sampling), on the CPU."""
    model.eval()
    return model.decoder(model.encoder(x.to(device))[0]).cpu()


def identified(x_hat: torch.Tensor, x: torch.Tensor, others: torch.Tensor) -> float:
    """The fraction of the images x whose reconstruction is nearer to its own input than to any other image
    of x and of ``others`` (e.g. the training faces).

    A measure of "recognisably the input": each x̂_i names the candidate it is nearest to,
    argmin_j ‖x̂_i − y_j‖ over y = x followed by others (chance: 1 / (len(x) + len(others))).
    """
    if x_hat.shape != x.shape or others.shape[1:] != x.shape[1:]:
        raise ValueError(f"reconstructions {tuple(x_hat.shape)}, inputs {tuple(x.shape)} and others "
                         f"{tuple(others.shape)}: expected images of one shape, as many reconstructions as inputs")
    nearest = torch.cdist(x_hat.flatten(1), torch.cat([x, others]).flatten(1)).argmin(dim=1)
    return (nearest == torch.arange(len(x))).float().mean().item()


def pca_reconstruct(train, x: torch.Tensor, components: int) -> torch.Tensor:
    """x projected on the first ``components`` principal components of the ``train`` images and back.

    A linear reference for the VAE's reconstructions: how much of a new face a basis fitted on the
    training faces can say at all (with N training faces at most N − 1 components).
    """
    flat = train.batch(torch.arange(len(train))).flatten(1).numpy()
    if not 1 <= components < len(flat):
        raise ValueError(f"components={components}: expected 1 to {len(flat) - 1} for {len(flat)} training images")
    pca = PCA(components).fit(flat)
    projected = pca.inverse_transform(pca.transform(x.flatten(1).numpy()))  # x̂ = μ + W Wᵀ (x − μ)
    return torch.from_numpy(projected).float().view_as(x)


@torch.no_grad()
def sample(model: VAE, n: int, seed: int, device: torch.device | str = "cpu", batch_size: int = 500) -> torch.Tensor:
    """``n`` images decoded from z ~ N(0, I) drawn with ``seed`` (the same z on any device), on the CPU."""
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    model.eval()
    return torch.cat([model.decoder(chunk.to(device)).cpu() for chunk in z.split(batch_size)])


@torch.no_grad()
def interpolate(model: VAE, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Images decoded along the line from μ(x_a) to μ(x_b) (single images 3×S×S), ``steps`` of them."""
    model.eval()
    mu = model.encoder(torch.stack([x_a, x_b]).to(device))[0]
    t = torch.linspace(0, 1, steps, device=mu.device)[:, None]
    return model.decoder((1 - t) * mu[0] + t * mu[1]).cpu()  # z_t = (1 − t) μ_a + t μ_b


def _batches(images, batch_size: int):
    for start in range(0, len(images), batch_size):
        yield images.batch(torch.arange(start, min(start + batch_size, len(images))))

