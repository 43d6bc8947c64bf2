"""ADDA, adversarial discriminative domain adaptation (Tzeng et al., CVPR 2017).

Three stages: (1) a source encoder E_s and classifier C are trained on labelled source images (the
"Trained on source" model: ``uda.train`` without unlabelled images, i.e. ``training.fit_classifier``);
(2) a target encoder E_t, initialised as a copy of E_s, is trained as a GAN's generator against a
feature discriminator D that tells source features E_s(x_s) (label 1) from target features E_t(x_t) (label 0),
E_s and C staying frozen; (3) target images are classified by C(E_t(x_t)).
Unlike DANN, the two domains get encoders of their own and the features are fought over with the GAN loss
(inverted labels) instead of a reversed gradient. The paper's optimizer: Adam, lr 2e-4, β₁ 0.5, for D and E_t.
"""
from __future__ import annotations

import copy

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from helpers import runtime
from helpers.data.digits import DigitSet
from helpers.methods.training import History, descend, shuffled_batches
from helpers.models.adda import FeatureDiscriminator
from helpers.models.uda import DANN


def discriminator_loss(d_s: torch.Tensor, d_t: torch.Tensor) -> torch.Tensor:
    """L_adv_D from D's logits on source features ``d_s`` and on target features ``d_t``."""
    source_term = F.binary_cross_entropy_with_logits(d_s, torch.ones_like(d_s))  # −E[log D(E_s(x_s))]
    target_term = F.binary_cross_entropy_with_logits(d_t, torch.zeros_like(d_t))  # −E[log(1 − D(E_t(x_t)))]
    return source_term + target_term  # L_adv_D = −E[log D(E_s(x_s))] − E[log(1 − D(E_t(x_t)))]


def encoder_loss(d_t: torch.Tensor) -> torch.Tensor:
    """L_adv_M, the GAN loss with inverted labels: target features are scored as if they were source ones."""
    return F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))  # −E[log D(E_t(x_t))]


def domain_accuracy(d_s: torch.Tensor, d_t: torch.Tensor) -> float:
    """Fraction of features D puts on the right side: source logits > 0, target logits < 0."""
    return torch.cat([d_s > 0, d_t < 0]).float().mean().item()


def adapt(model: DANN, source: DigitSet, target: DigitSet, *, steps: int, batch_size: int, seed: int,
          lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), device: torch.device | str = "cpu",
          precision: runtime.Precision = runtime.FP32, desc: str = "adda",
          log_points: int = 100) -> tuple[DANN, pd.DataFrame]:
    """ADDA's adversarial stage from ``model``, a network trained on ``source``; ``model`` itself is left unchanged.

    Each step trains D once on a source and a target batch, then E_t once against the updated D.
    Returns the target model, a copy of ``model`` whose ``.features`` is E_t, ``.classifier`` the frozen C
    and ``.discriminator`` the trained D (drawn from torch's global random state, as the caller's models are);
    and the training curves (loss_d, loss_e, D's domain_accuracy). FloatingPointError, naming the step,
    if a loss stops being finite. The networks run in ``precision``; the losses come from their float32 outputs.
    """
    generator = torch.Generator().manual_seed(seed)
    source_batches = shuffled_batches(len(source), batch_size, generator)
    target_batches = shuffled_batches(len(target), batch_size, generator)
    # E_s, frozen, runs as E_t does (training mode: batch statistics of its own domain, dropout), so that D cannot
    # tell the encoders apart by their mode instead of by the domain
    source_encoder = copy.deepcopy(model.features).requires_grad_(False).to(device).train()
    adapted = copy.deepcopy(model).to(device)  # E_t starts as E_s
    adapted.classifier.requires_grad_(False).eval()  # C, frozen
    adapted.discriminator = FeatureDiscriminator(model.n_features).to(device)  # D
    encoder, discriminator = adapted.features.train(), adapted.discriminator.train()
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    opt_e = torch.optim.Adam(encoder.parameters(), lr=lr, betas=betas)
    precision.layout(source_encoder, encoder, discriminator)
    scaler = precision.scaler()
    history = History(steps, log_points)
    for step in trange(1, steps + 1, desc=desc):
        with torch.no_grad():
            f_s = precision.run(source_encoder, source.batch(next(source_batches))[0].to(device))  # E_s(x_s)
        f_t = precision.run(encoder, target.batch(next(target_batches))[0].to(device))  # E_t(x_t)
        d_s, d_t = precision.run(discriminator, f_s), precision.run(discriminator, f_t.detach())
        loss_d = discriminator_loss(d_s, d_t)
        descend(opt_d, loss_d, f"{desc} discriminator", step, scaler)
        loss_e = encoder_loss(precision.run(discriminator, f_t))
        descend(opt_e, loss_e, f"{desc} target encoder", step, scaler)
        history.log(step, loss_d=loss_d.item(), loss_e=loss_e.item(), domain_accuracy=domain_accuracy(d_s, d_t))
    return adapted.eval(), history.frame()
