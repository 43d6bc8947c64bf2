"""Training for domain adaptation: "Trained on source", "Trained on target" and DANN.

One loop serves all three. Given only a labelled set it is plain supervised training (on the
source domain, or on the target domain for the upper bound); given also an unlabelled target set it
is DANN (Ganin et al., JMLR 2016): the domain classifier learns source vs target while the gradient
reversal layer pushes the features to make the two indistinguishable. The schedules are the
paper's, with training progress p going from 0 to 1.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from helpers.data.digits import DigitSet
from helpers.models.uda import DANN

MU_0, ALPHA, BETA, MOMENTUM = 0.01, 10, 0.75, 0.9  # the paper's SGD settings


def grl_weight(p: float) -> float:
    return 2 / (1 + math.exp(-10 * p)) - 1  # λ_p = 2 / (1 + exp(−10 p)) − 1


def learning_rate(p: float) -> float:
    return MU_0 / (1 + ALPHA * p) ** BETA  # μ_p = μ_0 / (1 + α p)^β


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless index batches, a fresh permutation of range(n) each epoch; a last partial batch is dropped."""
    if n < batch_size:
        raise ValueError(f"a dataset of {n} images is smaller than one batch of {batch_size}")
    while True:
        order = torch.randperm(n, generator=generator)
        yield from order[: n - n % batch_size].view(-1, batch_size)


def train(model: DANN, labelled: DigitSet, *, steps: int, batch_size: int, seed: int,
          unlabelled: DigitSet | None = None, augment=None, device: torch.device | str = "cpu",
          desc: str = "train", log_points: int = 100) -> pd.DataFrame:
    """Train ``model`` for ``steps`` SGD steps; DANN when ``unlabelled`` (target images) is given.

    ``augment``, when given, is called as ``augment(x, generator)`` on each labelled batch (the run's
    seeded generator, so that the augmentation is reproducible) and returns the images to train on.

    Returns the training curves, one row per logging interval (means over the interval).
    Raises FloatingPointError, naming the step, if the loss stops being finite.
    """
    generator = torch.Generator().manual_seed(seed)
    source = shuffled_batches(len(labelled), batch_size, generator)
    target = shuffled_batches(len(unlabelled), batch_size, generator) if unlabelled is not None else None
    optimizer = torch.optim.SGD(model.parameters(), lr=MU_0, momentum=MOMENTUM)
    model.to(device).train()
    every = max(1, steps // log_points)
    rows, window = [], []
    for step in trange(steps, desc=desc):
        p = step / steps
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(p)
        x, y = labelled.batch(next(source))
        if augment is not None:
            x = augment(x, generator)
        x, y = x.to(device), y.to(device)
        if target is None:
            logits = model(x)
            class_loss = F.cross_entropy(logits, y)  # L_y
            loss, stats = class_loss, {}
        else:
            x_target = unlabelled.batch(next(target))[0].to(device)
            features = model.features(torch.cat([x, x_target]))
            logits = model.classifier(features[: len(x)])
            class_loss = F.cross_entropy(logits, y)  # L_y on labelled source images only
            domains = torch.cat([torch.zeros(len(x)), torch.ones(len(x_target))]).long().to(device)
            domain_logits = model.domain_logits(features, grl_weight(p))
            domain_loss = F.cross_entropy(domain_logits, domains)  # L_d; G_f receives −λ_p ∂L_d/∂θ_f
            loss = class_loss + domain_loss
            stats = {"domain_loss": domain_loss.item(),
                     "domain_accuracy": (domain_logits.argmax(1) == domains).float().mean().item()}
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: the loss became {loss.item()} at step {step} of {steps}; "
                                     "the run diverged (try a lower learning rate or another seed)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        window.append({"class_loss": class_loss.item(),
                       "train_accuracy": (logits.argmax(1) == y).float().mean().item(), **stats})
        if (step + 1) % every == 0 or step + 1 == steps:
            lambda_p = grl_weight(p) if target is not None else 0.0
            rows.append({"step": step + 1, "lr": learning_rate(p), "lambda": lambda_p,
                         **pd.DataFrame(window).mean().to_dict()})
            window = []
    return pd.DataFrame(rows)
