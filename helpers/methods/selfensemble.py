"""Self-ensembling for domain adaptation (French et al., ICLR 2018), after the mean teacher, with hard
pseudo-labels (as in FixMatch, Sohn et al., NeurIPS 2020).

A student network learns the source labels while learning, on unlabelled target images, the classes that a
teacher predicts; the teacher's weights are the exponential moving average of the student's. The teacher sees the
plain target image with all its units (its dropout is off), the student a randomly augmented view of it
(``augment.random_view``) through dropout; only images the teacher is confident about count (confidence
thresholding), and a class-balance loss stops the student from sending the target images to a few classes.
Source and target images go through the network in batches of their own, so that batch norm normalises each
domain with its own statistics. The teacher is the model that is evaluated.
"""
from __future__ import annotations

import copy

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

from helpers import runtime
from helpers.data.digits import DigitSet
from helpers.methods.augment import random_view
from helpers.methods.training import History, Optimizer, adapt_batchnorm, descend, shuffled_batches, update_ema
from helpers.models.uda import DANN


def consistency_loss(logits_student: torch.Tensor, p_teacher: torch.Tensor,
                     threshold: float) -> tuple[torch.Tensor, float]:
    """The cross-entropy of the student's logits (N×K) against the class the teacher predicts (probabilities N×K)
    for the same images, counting only the images the teacher is confident about; and the fraction of those."""
    confidence, pseudo_label = p_teacher.max(1)  # ŷ_i = argmax_k p_t,i,k
    mask = (confidence > threshold).float()  # m_i = [max_k p_t,i,k > τ]
    nll = F.cross_entropy(logits_student, pseudo_label, reduction="none")  # −log p_s,i,ŷ_i
    return (mask * nll).mean(), mask.mean().item()  # L_c = mean_i m_i (−log p_s,i,ŷ_i)


def class_balance_loss(p_student: torch.Tensor) -> torch.Tensor:
    """The binary cross-entropy between the batch's mean class probabilities (N×K -> K) and the uniform 1/K,
    summed over the K classes."""
    p_mean = p_student.mean(0)  # p̄_k = mean_i p_s,i,k
    q = torch.full_like(p_mean, 1 / len(p_mean))  # q_k = 1/K, uniform
    # L_b = −Σ_k [q_k log p̄_k + (1 − q_k) log(1 − p̄_k)]
    return -(q * p_mean.log() + (1 - q) * (1 - p_mean).log()).sum()


def mean_teacher(student: nn.Module) -> nn.Module:
    """A frozen copy of ``student`` to be its moving average: in training mode, so that batch norm normalises each
    batch with its own statistics, but with its dropout layers off, so that it predicts with every unit."""
    teacher = copy.deepcopy(student).requires_grad_(False)
    for module in teacher.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)):
            module.eval()
    return teacher


def train(model: DANN, source: DigitSet, target: DigitSet, *, steps: int, batch_size: int, seed: int,
          lr: float = 1e-3, ema_decay: float = 0.99, threshold: float = 0.95, consistency_weight: float = 1.0,
          balance_weight: float = 0.005, n_adabn: int | None = None, device: torch.device | str = "cpu",
          precision: runtime.Precision = runtime.FP32, desc: str = "self-ensembling",
          log_points: int = 100) -> tuple[DANN, pd.DataFrame]:
    """Self-ensembling: ``model`` (only G_f and G_y) is the student, trained in place on L_y over augmented labelled
    ``source`` batches plus w (L_c + β m̄ L_b) over unlabelled ``target`` batches; the teacher follows its EMA.

    Adam lr 1e-3, EMA decay 0.99 and β 0.005 (the class-balance term scaled by the fraction m̄ of confident target
    images) are those of the authors' code for digits; τ 0.95 and w 1 those of FixMatch.
    The teacher runs in training mode, as the student does, so that batch norm normalises the target batch
    with its own statistics, but without dropout (``mean_teacher``); at the end its running statistics are
    re-estimated on the target's training images (AdaBN; ``n_adabn`` of them drawn with ``seed``, or all), so that
    it is tested as it predicted in training. Returns the teacher (in eval mode) and the training curves
    (class_loss, consistency_loss, mask_fraction, balance_loss); FloatingPointError, naming the step, if the loss
    diverges. Student and teacher run in ``precision``; the losses come from their float32 outputs.
    """
    generator = torch.Generator().manual_seed(seed)
    source_batches = shuffled_batches(len(source), batch_size, generator)
    target_batches = shuffled_batches(len(target), batch_size, generator)
    student = model.to(device).train()
    precision.layout(student)
    teacher = mean_teacher(student)
    opt, scaler = Optimizer("adam", lr).build(student.parameters()), precision.scaler()
    history = History(steps, log_points)
    for step in trange(1, steps + 1, desc=desc):
        x, y = (t.to(device) for t in source.batch(next(source_batches)))
        x_target = target.batch(next(target_batches))[0].to(device)
        class_loss = F.cross_entropy(precision.run(student, random_view(x, generator)), y)  # L_y on labelled source
        logits_student = precision.run(student, random_view(x_target, generator))  # p_s = softmax f_θ(aug(x_t))
        with torch.no_grad():
            p_teacher = precision.run(teacher, x_target).softmax(1)  # p_t = softmax f_θ̄(x_t)
        consistency, mask_fraction = consistency_loss(logits_student, p_teacher, threshold)
        balance = class_balance_loss(logits_student.softmax(1))
        unsupervised = consistency + balance_weight * mask_fraction * balance  # L_u = L_c + β m̄ L_b
        loss = class_loss + consistency_weight * unsupervised  # L = L_y + w L_u
        descend(opt, loss, desc, step, scaler)
        update_ema(teacher, student, ema_decay)  # θ̄ ← α θ̄ + (1 − α) θ
        history.log(step, class_loss=class_loss.item(), consistency_loss=consistency.item(),
                    mask_fraction=mask_fraction, balance_loss=balance.item())
    predictor = torch.nn.Sequential(teacher.features, teacher.classifier)  # G_y ∘ G_f: G_d takes no part
    adapt_batchnorm(predictor, target.subset(n_adabn, seed), device=device)
    return teacher.eval(), history.frame()
