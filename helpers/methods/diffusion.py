"""Conditional diffusion: DDPM training with classifier-free guidance, DDPM and DDIM sampling.

- Forward process (Ho et al., 2020): x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε with linear betas. β goes from
  0.1/T to 20/T, which is DDPM's 1e-4 … 0.02 at T = 1000 and keeps ᾱ_T near 0 for a smaller T
  (the scaling of Nichol & Dhariwal, 2021).
- Training: ε-prediction, L = ‖ε − ε_θ(x_t, t, c)‖², or v-prediction (see NoisePredictor); the class c
  replaced by ∅ with probability p_uncond = 0.1, so that one network is both conditional and
  unconditional (Ho & Salimans, 2021).
- Guidance: ε̂ = (1+w) ε_θ(x_t, t, c) − w ε_θ(x_t, t, ∅); w = 0 is the plain conditional model.
- Sampling: one loop, DDIM's update (Song et al., 2021) with η. η = 0 over S of the T steps is
  deterministic DDIM; η = 1 over all T steps is DDPM's ancestral sampling (with σ_t² = β̃_t, the
  posterior variance, one of DDPM's two choices).
Samples use an exponential moving average of the weights.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm, trange

from helpers.data.digits import DigitSet
from helpers import runtime
from helpers.methods.training import descend, ema_decay, shuffled_batches, update_ema
from helpers.models.unet import ConditionalUNet


@dataclass(frozen=True)
class Schedule:
    """β_1 … β_T and the products the formulas need, as tensors indexed by t = 0 … T−1."""

    T: int

    def __post_init__(self):
        if self.T < 50:  # β_T = 20/T must stay well below 1
            raise ValueError(f"T={self.T}: the linear schedule β_t ∈ [0.1/T, 20/T] needs T >= 50")

    @property
    def betas(self) -> torch.Tensor:
        return torch.linspace(0.1 / self.T, 20 / self.T, self.T, dtype=torch.float64)

    @property
    def alpha_bars(self) -> torch.Tensor:
        return torch.cumprod(1 - self.betas, dim=0)  # ᾱ_t = Π_{s≤t} (1 − β_s)

    def noised(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        a = self.alpha_bars.float().to(x0.device)[t][:, None, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * eps  # x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε


class NoisePredictor(torch.nn.Module):
    """ε_θ(x_t, t, c), from a U-Net F trained for one of two targets (``objective``):

    - "eps": ε_θ = √(1−ᾱ_t) x_t + F(x_t, t, c), trained with ‖ε − ε_θ‖². Near t = T, x_t is almost all
      noise and ε ≈ x_t; the skip term gives that for free, where a small net learning to copy its
      input loses part of it and its samples keep residual noise (measured here: ε predicted with 10 %
      too little variance at t = T after 500 steps). A skip of this kind is the c_skip of Karras et al. (2022).
    - "v": F predicts v = √ᾱ_t ε − √(1−ᾱ_t) x_0 (Salimans & Ho, 2022), trained with ‖v − F‖², and
      ε_θ = √(1−ᾱ_t) x_t + √ᾱ_t F. The same network as "eps" with F scaled by √ᾱ_t, but the loss no
      longer shrinks by ᾱ_t at the noisy timesteps, where the digit's class and shape are decided.

    Either way the model returns ε̂, so guidance and the samplers are the same for both.
    """

    OBJECTIVES = ("eps", "v")

    def __init__(self, unet: ConditionalUNet, schedule: Schedule, objective: str = "eps"):
        super().__init__()
        if objective not in self.OBJECTIVES:
            raise ValueError(f"objective={objective!r}: expected one of {self.OBJECTIVES}")
        self.unet, self.null_class, self.objective = unet, unet.null_class, objective
        a = schedule.alpha_bars.float()
        self.register_buffer("sqrt_a", a.sqrt())
        self.register_buffer("sqrt_1ma", (1 - a).sqrt())

    def _coefficient(self, name: str, t: torch.Tensor) -> torch.Tensor:
        return getattr(self, name)[t][:, None, None, None]

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        f = self.unet(x, t, c)
        if self.objective == "v":
            f = self._coefficient("sqrt_a", t) * f
        return self._coefficient("sqrt_1ma", t) * x + f  # ε_θ = √(1−ᾱ) x_t + F, or + √ᾱ F for "v"

    def loss(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, c: torch.Tensor,
             schedule: Schedule) -> torch.Tensor:
        x_t = schedule.noised(x0, t, eps)
        if self.objective == "eps":
            return F.mse_loss(self(x_t, t, c), eps)  # ‖ε − ε_θ(x_t, t, c)‖²
        v = self._coefficient("sqrt_a", t) * eps - self._coefficient("sqrt_1ma", t) * x0  # v = √ᾱ ε − √(1−ᾱ) x_0
        return F.mse_loss(self.unet(x_t, t, c), v)  # ‖v − v_θ(x_t, t, c)‖²


def new_model(width: int, schedule: Schedule, seed: int, objective: str = "eps"
              ) -> tuple[NoisePredictor, NoisePredictor]:
    """ε_θ with its U-Net initialised from ``seed``, and its EMA copy."""
    torch.manual_seed(seed)
    model = NoisePredictor(ConditionalUNet(width=width), schedule, objective)
    return model, copy.deepcopy(model).eval().requires_grad_(False)


def train(model: NoisePredictor, ema: NoisePredictor, images: DigitSet, schedule: Schedule, *, steps: int,
          batch_size: int, lr: float, seed: int, p_uncond: float = 0.1, ema_rate: float = 0.999,
          device: torch.device | str = "cpu", precision: runtime.Precision = runtime.FP32,
          compile: bool = False, log_points: int = 100) -> pd.DataFrame:
    """Train ε_θ on labelled ``images`` with Adam, the learning rate warmed up and annealed (one cycle).
    The U-Net runs in ``precision``; the loss is float32. ``compile``: the U-Net compiled in place by
    torch.compile, which needs a C++ compiler on a CPU (docs/precision.md: 1.19 times faster per step after a
    44 s compile, measured on 2 cores).

    Returns one row of mean loss per logging interval; FloatingPointError when the loss diverges.
    """
    rng = torch.Generator().manual_seed(seed)
    batches = shuffled_batches(len(images), batch_size, rng)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.05)
    model.to(device).train()
    ema.to(device)
    precision.layout(model, ema)
    if compile:
        model.unet.compile()
    scaler = precision.scaler()
    every, rows, window = max(1, steps // log_points), [], []
    for step in trange(steps, desc="diffusion"):
        x0, c = images.batch(next(batches))
        t = torch.randint(schedule.T, (len(x0),), generator=rng)
        eps = torch.randn(x0.shape, generator=rng)
        drop = torch.rand(len(c), generator=rng) < p_uncond
        c = torch.where(drop, model.null_class, c)  # c ← ∅ with probability p_uncond
        x0, t, eps, c = (v.to(device) for v in (x0, t, eps, c))
        loss = precision.run(model.loss, x0, t, eps, c, schedule)
        window.append(descend(optimizer, loss, "diffusion", step, scaler))
        lr_now = scheduler.get_last_lr()[0]
        scheduler.step()
        update_ema(ema, model, ema_decay(step, ema_rate))
        if (step + 1) % every == 0 or step + 1 == steps:
            rows.append({"step": step + 1, "loss": sum(window) / len(window), "lr": lr_now})
            window = []
    return pd.DataFrame(rows)


def guided_eps(model: NoisePredictor, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor, w: float,
               precision: runtime.Precision = runtime.FP32) -> torch.Tensor:
    """ε̂ = (1+w) ε(x, c) − w ε(x, ∅): both terms from one batch of 2N; one pass when w = 0. The model runs in
    ``precision``, ε̂ is float32."""
    if w == 0:
        return precision.run(model, x, t, c)
    eps_c, eps_null = precision.run(model, torch.cat([x, x]), torch.cat([t, t]),
                                    torch.cat([c, torch.full_like(c, model.null_class)])).chunk(2)
    return (1 + w) * eps_c - w * eps_null


def timesteps(T: int, steps: int) -> list[int]:
    """The S = ``steps`` timesteps τ_S > … > τ_1 of the sampler, evenly spaced in [0, T) and ending at 0."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps={steps}: expected between 1 and T = {T}")
    return [math.floor(i * T / steps) for i in reversed(range(steps))]


@torch.no_grad()
def sample(model: NoisePredictor, schedule: Schedule, labels: torch.Tensor, *, w: float, steps: int, eta: float,
           seed: int, device: torch.device | str = "cpu", batch_size: int = 500,
           precision: runtime.Precision = runtime.FP32, trace: dict[int, torch.Tensor] | None = None,
           progress: bool = True) -> torch.Tensor:
    """Images (N×3×28×28 in [-1, 1], on the CPU) of the classes ``labels``, from x_T ~ N(0, I) drawn with ``seed``.

    DDIM's update over ``steps`` timesteps with ``eta`` (see the module's docstring), ε̂ from the model run in
    ``precision`` and every update in float32. ``trace``, when
    given, receives the first image's x_t at every visited t (t = T for the noise, ..., 0 for the result).
    ``progress``: show a progress bar.
    """
    rng = torch.Generator().manual_seed(seed)
    x_T = torch.randn(len(labels), 3, 28, 28, generator=rng)
    a = schedule.alpha_bars
    taus = timesteps(schedule.T, steps)
    model.to(device).eval()
    chunks = []
    bar = tqdm(total=len(taus) * math.ceil(len(labels) / batch_size), desc=f"sampling ({steps} steps, η = {eta})",
               disable=not progress)
    for start in range(0, len(labels), batch_size):
        x, c = x_T[start:start + batch_size].to(device), labels[start:start + batch_size].to(device)
        for i, tau in enumerate(taus):
            if trace is not None and start == 0:
                trace[tau + 1] = x[0].cpu()  # x_t, t counted 1 … T as in the paper
            a_t, a_prev = a[tau], (a[taus[i + 1]] if i + 1 < len(taus) else a.new_tensor(1.0))
            eps = guided_eps(model, x, torch.full_like(c, tau), c, w, precision)
            x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-1, 1)  # x̂_0 = (x − √(1−ᾱ) ε̂)/√ᾱ
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()  # ε̂ consistent with the clipped x̂_0
            # σ = η √((1−ᾱ')(1−ᾱ/ᾱ')/(1−ᾱ)), ᾱ' the next timestep's
            sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
            noise = torch.randn(x.shape, generator=rng).to(device) if eta else 0
            x = a_prev.sqrt() * x0 + (1 - a_prev - sigma ** 2).sqrt() * eps + sigma * noise
            # x_{t'} = √ᾱ' x̂_0 + √(1−ᾱ'−σ²) ε̂ + σ z
            bar.update()
        if trace is not None and start == 0:
            trace[0] = x[0].cpu()
        chunks.append(x.cpu())
    bar.close()
    return torch.cat(chunks)


def ddpm(model, schedule: Schedule, labels: torch.Tensor, *, w: float, seed: int, **options) -> torch.Tensor:
    """DDPM's ancestral sampling: all T steps, η = 1."""
    return sample(model, schedule, labels, w=w, steps=schedule.T, eta=1.0, seed=seed, **options)


def ddim(model, schedule: Schedule, labels: torch.Tensor, *, w: float, steps: int, seed: int,
         **options) -> torch.Tensor:
    """DDIM: deterministic (η = 0) over ``steps`` of the T timesteps."""
    return sample(model, schedule, labels, w=w, steps=steps, eta=0.0, seed=seed, **options)
