"""Training for domain adaptation: "Trained on source", "Trained on target" and DANN.

"Trained on source" and "Trained on target" are plain supervised training (``training.fit_classifier``)
on one domain's labels. DANN (Ganin et al., JMLR 2016) also sees unlabelled target images: a domain
classifier learns source vs target while the gradient reversal layer pushes the features to make the two
indistinguishable (``domain_adversarial_loss``, the part that later methods reuse). The schedules are the
paper's, with training progress p going from 0 to 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from helpers import runtime
from helpers.data.digits import DigitSet
from helpers.methods.augment import warp
from helpers.methods.training import (History, Optimizer, WeightAverage, adapt_batchnorm, descend, fit_classifier,
                                     shuffled_batches)
from helpers.models.uda import DANN, reverse_gradient

PAPER_SGD = Optimizer("sgd", lr=0.01, momentum=0.9, annealed=True)  # μ_0 = 0.01, α = 10, β = 0.75


@dataclass(frozen=True)
class Recipe:
    """How a network is trained: its layers (``models.uda.NETWORKS``), its optimizer, whether source and
    target images go through it in one batch or in a batch each (so that batch norm sees one domain at a time),
    whether it trains on randomly warped images (``augment.warp``), the decay of the weight average that the
    network ends with (``training.WeightAverage``; 0: the last step's weights), and whether DANN ends by
    re-estimating batch norm's statistics on the target's training images (AdaBN, ``training.adapt_batchnorm``)."""

    network: str
    optimizer: Optimizer
    separate_domains: bool
    warp: bool = False
    average: float = 0
    target_statistics: bool = False

    def view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return warp(x, generator) if self.warp else x


RECIPES = {
    "in-sgd": Recipe("in", PAPER_SGD, separate_domains=False),
    "paper": Recipe("paper", PAPER_SGD, separate_domains=False),  # Ganin et al. 2016, as published
    "bn-adam": Recipe("bn", Optimizer("adam", lr=1e-3), separate_domains=True),
    "warp-adabn": Recipe("bn", Optimizer("adam", lr=1e-3), separate_domains=True, warp=True, target_statistics=True),
    "in-adam-warp": Recipe("in", Optimizer("adam", lr=1e-3), separate_domains=True, warp=True),
    "in-adam-warp-ema": Recipe("in", Optimizer("adam", lr=1e-3), separate_domains=True, warp=True, average=0.999),
}
DEFAULT = "in-adam-warp-ema"


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown DANN recipe {name!r}; expected one of {sorted(RECIPES)}")
    return RECIPES[name]


def grl_weight(p: float) -> float:
    return 2 / (1 + math.exp(-10 * p)) - 1  # λ_p = 2 / (1 + exp(−10 p)) − 1


def domain_adversarial_loss(discriminator: Callable[[torch.Tensor], torch.Tensor], f_s: torch.Tensor, f_t: torch.Tensor, lambd: float,
                            separate_domains: bool = False) -> tuple[torch.Tensor, float]:
    """L_d, the cross-entropy of ``discriminator`` telling source features ``f_s`` (0) from target ``f_t`` (1),
    seen through the gradient reversal layer R_λ; and the discriminator's accuracy on the batch.

    Minimising it trains the discriminator as usual while the features receive −λ ∂L_d/∂f: they learn to
    confuse it.
    ``separate_domains``: the discriminator sees each domain's features in a batch of their own.
    """
    f_s, f_t = reverse_gradient(f_s, lambd), reverse_gradient(f_t, lambd)  # R_λ(f)
    logits = (torch.cat([discriminator(f_s), discriminator(f_t)]) if separate_domains
              else discriminator(torch.cat([f_s, f_t])))  # G_d(R_λ(f))
    domains = torch.cat([torch.zeros(len(f_s)), torch.ones(len(f_t))]).long().to(logits.device)
    loss = F.cross_entropy(logits, domains)  # L_d = −mean log G_d(f)_d
    return loss, (logits.argmax(1) == domains).float().mean().item()


def train_dann(model: DANN, source: DigitSet, target: DigitSet, *, steps: int, batch_size: int, seed: int,
               recipe: Recipe = RECIPES[DEFAULT], device: torch.device | str = "cpu",
               precision: runtime.Precision = runtime.FP32, desc: str = "dann", log_points: int = 100) -> pd.DataFrame:
    """DANN: L_y on labelled ``source`` batches plus L_d on source and unlabelled ``target`` batches, R_λ
    weighted by λ_p. G_f, G_y and G_d run in ``precision``, the losses are computed from their float32 outputs.

    Returns the training curves (class and domain losses, domain accuracy, λ_p, learning rate);
    FloatingPointError, naming the step, if the loss stops being finite.
    """
    generator = torch.Generator().manual_seed(seed)
    source_batches = shuffled_batches(len(source), batch_size, generator)
    target_batches = shuffled_batches(len(target), batch_size, generator)
    opt = recipe.optimizer.build(model.parameters())
    model.to(device).train()
    precision.layout(model)
    averaged, scaler = WeightAverage(model, recipe.average), precision.scaler()
    features, classifier = partial(precision.run, model.features), partial(precision.run, model.classifier)
    discriminator = partial(precision.run, model.discriminator)
    history = History(steps, log_points)
    for step in trange(1, steps + 1, desc=desc):
        p = (step - 1) / steps
        lr, lambd = recipe.optimizer.set_progress(opt, p), grl_weight(p)
        x, y = source.batch(next(source_batches))
        x, y = recipe.view(x, generator).to(device), y.to(device)
        x_target = recipe.view(target.batch(next(target_batches))[0], generator).to(device)
        if recipe.separate_domains:  # batch norm normalises each domain with its own statistics
            f_s, f_t = features(x), features(x_target)
        else:
            both = features(torch.cat([x, x_target]))
            f_s, f_t = both[: len(x)], both[len(x):]
        logits = classifier(f_s)
        class_loss = F.cross_entropy(logits, y)  # L_y on labelled source images only
        domain_loss, domain_accuracy = domain_adversarial_loss(discriminator, f_s, f_t, lambd, recipe.separate_domains)
        loss = class_loss + domain_loss  # L_y + L_d; G_f receives ∂L_y/∂θ_f − λ_p ∂L_d/∂θ_f
        descend(opt, loss, desc, step, scaler)
        history.log(step, class_loss=class_loss.item(), train_accuracy=(logits.argmax(1) == y).float().mean().item(),
                    domain_loss=domain_loss.item(), domain_accuracy=domain_accuracy, lr=lr, **{"lambda": lambd})
        averaged.update(step)
    averaged.finish()
    if recipe.target_statistics:
        adapt_batchnorm(model, target, device=device)
    return history.frame()


def train(model: DANN, labelled: DigitSet, *, steps: int, batch_size: int, seed: int,
          unlabelled: DigitSet | None = None, recipe: Recipe = RECIPES[DEFAULT],
          device: torch.device | str = "cpu", precision: runtime.Precision = runtime.FP32, desc: str = "train",
          log_points: int = 100) -> pd.DataFrame:
    """DANN when ``unlabelled`` (target images) is given, else plain supervised training on ``labelled``."""
    if unlabelled is None:
        return fit_classifier(model, labelled, steps=steps, batch_size=batch_size, seed=seed,
                              optimizer=recipe.optimizer, augment=recipe.view if recipe.warp else None,
                              average=recipe.average, precision=precision, device=device, desc=desc,
                              log_points=log_points)
    return train_dann(model, labelled, unlabelled, steps=steps, batch_size=batch_size, seed=seed, recipe=recipe,
                      device=device, precision=precision, desc=desc, log_points=log_points)
