"""What the training loops share: batches, a plain classifier fit, a logged history, stopping a diverged run,
and the exponential moving average."""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from helpers import runtime

EXPLODED = 1e6  # a loss above this in magnitude stops the run as diverged
UNSCALED = torch.amp.GradScaler("cpu", enabled=False)  # the losses as they are: every precision but fp16


def check_loss(loss: torch.Tensor, what: str, step: int) -> float:
    """The loss as a number; FloatingPointError naming ``what`` and the step when it is NaN or explodes."""
    value = loss.item()
    if not abs(value) < EXPLODED:  # also catches NaN
        raise FloatingPointError(f"the {what} loss is {value} at step {step}: the run diverged "
                                 "(try another seed or a lower learning rate)")
    return value


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, what: str, step: int,
            scaler: torch.amp.GradScaler = UNSCALED) -> float:
    """One gradient step of ``optimizer`` on ``loss``, once ``check_loss`` has passed it; the loss as a number.

    ``scaler`` (``runtime.Precision.scaler``, on in fp16 only) back-propagates s·L and unscales the gradients
    before the step, which it skips, lowering s, when a gradient overflowed."""
    value = check_loss(loss, what, step)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return value


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless index batches, a fresh permutation of range(n) each epoch; a last partial batch is dropped."""
    if n < batch_size:
        raise ValueError(f"a dataset of {n} images is smaller than one batch of {batch_size}")
    while True:
        order = torch.randperm(n, generator=generator)
        yield from order[: n - n % batch_size].view(-1, batch_size)


class History:
    """Training curves: the per-step numbers averaged over windows of about ``steps / points`` steps."""

    def __init__(self, steps: int, points: int = 100):
        self.steps, self.every = steps, max(1, steps // points)
        self.rows: list[dict] = []
        self.window: list[dict] = []

    def log(self, step: int, **numbers: float) -> None:
        """Add step ``step``'s numbers (steps counted from 1); close a row at each window's end."""
        self.window.append(numbers)
        if step % self.every == 0 or step == self.steps:
            self.rows.append({"step": step, **pd.DataFrame(self.window).mean().to_dict()})
            self.window = []

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and its learning-rate schedule over training progress p ∈ [0, 1]."""

    name: str  # "sgd" (with momentum) or "adam"
    lr: float
    momentum: float = 0.9
    annealed: bool = False  # Ganin et al.'s schedule instead of a constant rate

    def build(self, parameters) -> torch.optim.Optimizer:
        if self.name == "sgd":
            return torch.optim.SGD(parameters, lr=self.lr, momentum=self.momentum)
        if self.name == "adam":
            return torch.optim.Adam(parameters, lr=self.lr)
        raise ValueError(f"unknown optimizer {self.name!r}; expected 'sgd' or 'adam'")

    def lr_at(self, p: float) -> float:
        # μ_p = μ_0 / (1 + α p)^β with α = 10, β = 0.75
        return self.lr / (1 + 10 * p) ** 0.75 if self.annealed else self.lr

    def set_progress(self, optimizer: torch.optim.Optimizer, p: float) -> float:
        """Set the learning rate for progress ``p``; return it."""
        for group in optimizer.param_groups:
            group["lr"] = self.lr_at(p)
        return self.lr_at(p)


def fit_classifier(model: torch.nn.Module, labelled, *, steps: int, batch_size: int, seed: int,
                   optimizer: Optimizer, augment: Callable | None = None, average: float = 0,
                   precision: runtime.Precision = runtime.FP32, device: torch.device | str = "cpu",
                   desc: str = "classifier", log_points: int = 100) -> pd.DataFrame:
    """Supervised training of ``model`` (images -> class logits) on ``labelled`` (a set with ``batch(index)``).

    ``augment``, when given, is called as ``augment(x, generator)`` on each batch (the run's seeded generator,
    so that the augmentation is reproducible) and returns the images to train on.
    ``average``, when above 0, is the decay of a ``WeightAverage`` whose weights ``model`` ends with.
    Returns the training curves (class loss, accuracy, learning rate); FloatingPointError when the loss diverges.
    """
    generator = torch.Generator().manual_seed(seed)
    batches = shuffled_batches(len(labelled), batch_size, generator)
    opt = optimizer.build(model.parameters())
    model.to(device).train()
    precision.layout(model)
    averaged, scaler = WeightAverage(model, average), precision.scaler()
    history = History(steps, log_points)
    for step in trange(1, steps + 1, desc=desc):
        lr = optimizer.set_progress(opt, (step - 1) / steps)
        x, y = labelled.batch(next(batches))
        if augment is not None:
            x = augment(x, generator)
        x, y = x.to(device), y.to(device)
        logits = precision.run(model, x)
        loss = F.cross_entropy(logits, y)  # L_y
        history.log(step, class_loss=descend(opt, loss, desc, step, scaler), lr=lr,
                    train_accuracy=(logits.argmax(1) == y).float().mean().item())
        averaged.update(step)
    averaged.finish()
    return history.frame()


@torch.no_grad()
def adapt_batchnorm(model: torch.nn.Module, images, *, batch_size: int = 500,
                    device: torch.device | str = "cpu") -> None:
    """AdaBN (Li et al., 2016): batch norm's running statistics re-estimated as the average over every batch of
    ``images`` (a set with ``batch(index)``, e.g. the target's training images) going through ``model``; the
    weights are unchanged, and so is every other layer's mode (dropout stays off). A model without batch norm (instance
    norm keeps no running statistics) is left as it is, without a pass over the images."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta, was_training = [norm.momentum for norm in norms], model.training
    model.to(device).eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches
        norm.train()
    for start in range(0, len(images), batch_size):
        model(images.batch(torch.arange(start, min(start + batch_size, len(images))))[0].to(device))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.train(was_training)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Average ``model``'s floating-point weights and buffers (e.g. batch-norm statistics) into ``ema``; integer
    buffers (batch norm's count of batches) are copied."""
    for averaged, current in zip(ema.state_dict().values(), model.state_dict().values()):
        if averaged.dtype.is_floating_point:
            averaged.lerp_(current, 1 - decay)  # θ̄ ← decay θ̄ + (1 − decay) θ
        else:
            averaged.copy_(current)


def ema_decay(step: int, decay: float) -> float:
    """The decay at ``step``, warmed up so that early averages are not dominated by the initial weights."""
    return min(decay, (1 + step) / (10 + step))


class WeightAverage:
    """Polyak averaging: θ̄, the exponential moving average of ``model``'s weights over training, updated after
    each step and copied into ``model`` at the end, so that the model tested is the average rather than the
    last step's weights. ``decay`` 0 keeps no average and leaves the final weights as they are."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model, self.decay = model, decay
        self.average = copy.deepcopy(model).requires_grad_(False) if decay else None

    def update(self, step: int) -> None:
        if self.average is not None:
            update_ema(self.average, self.model, ema_decay(step, self.decay))

    def finish(self) -> None:
        if self.average is not None:
            self.model.load_state_dict(self.average.state_dict())
