"""PixelDA, pixel-level domain adaptation (Bousmalis et al., CVPR 2017).

A generator G turns a labelled source image x_s and noise z into an image in the target's style, against a
discriminator D that tells real target images from generated ones; a task classifier T learns the source labels
on both the source images and their translations G(x_s, z), which keep the labels of their sources. T is what
classifies target images. Adapting in pixel space rather than in features makes the adaptation visible: a grid
of G's translations shows what it learned. The paper trains G and T together against D:
min_{G,T} max_D α L_d(D, G) + β L_t(G, T).
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from helpers import runtime
from helpers.data.digits import DigitSet
# L_d and G's side of it are ADDA's GAN losses on logits, with real target images in the place of source features:
# discriminator_loss(d_real, d_fake) = −E[log D(x_t)] − E[log(1 − D(G(x_s, z)))], generator_loss(d_fake) =
# −E[log D(G(x_s, z))] (non-saturating), domain_accuracy(d_real, d_fake)
from helpers.methods.adda import discriminator_loss, domain_accuracy
from helpers.methods.adda import encoder_loss as generator_loss
from helpers.methods.training import History, descend, shuffled_batches
from helpers.models.pixelda import NOISE, Discriminator, Generator
from helpers.models.uda import DANN


def noise(n: int, generator: torch.Generator) -> torch.Tensor:
    return 2 * torch.rand(n, NOISE, generator=generator) - 1  # z ~ U(−1, 1)


def translate(generator: Generator, x: torch.Tensor, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """G's translations of the source images ``x`` (N×3×H×W), with noise drawn from ``seed``."""
    z = noise(len(x), torch.Generator().manual_seed(seed))
    was_training = generator.training
    with torch.no_grad():
        out = generator.eval()(x.to(device), z.to(device)).cpu()
    generator.train(was_training)
    return out


def train(task: DANN, source: DigitSet, target: DigitSet, *, steps: int, batch_size: int, seed: int,
          lr: float = 1e-3, betas: tuple[float, float] = (0.5, 0.999), task_weight: float = 1.0,
          device: torch.device | str = "cpu", precision: runtime.Precision = runtime.FP32, desc: str = "pixelda",
          log_points: int = 100) -> tuple[Generator, Discriminator, pd.DataFrame]:
    """PixelDA: trains ``task`` (T, in place) with a new generator G and discriminator D, drawn from torch's
    global random state as the caller's models are.

    Each step trains D once on a real target batch and a generated one, then G and T together on
    L_G + ``task_weight`` L_t, where L_t = CE(T(x_s), y) + CE(T(G(x_s, z)), y).
    Returns G, D and the training curves (loss_d, loss_g, task_loss, D's accuracy, T's accuracy on the
    generated batch); FloatingPointError, naming the step, if a loss stops being finite. G, D and T run in
    ``precision``; the losses come from their float32 outputs.
    """
    generator = torch.Generator().manual_seed(seed)
    source_batches = shuffled_batches(len(source), batch_size, generator)
    target_batches = shuffled_batches(len(target), batch_size, generator)
    g, d = Generator().to(device).train(), Discriminator().to(device).train()
    task.to(device).train()
    precision.layout(g, d, task)
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    opt_gt = torch.optim.Adam([*g.parameters(), *task.features.parameters(), *task.classifier.parameters()],
                              lr=lr, betas=betas)
    scaler = precision.scaler()
    history = History(steps, log_points)
    for step in trange(1, steps + 1, desc=desc):
        x, y = (t.to(device) for t in source.batch(next(source_batches)))
        x_target = target.batch(next(target_batches))[0].to(device)
        fake = precision.run(g, x, noise(len(x), generator).to(device))  # G(x_s, z)
        d_real, d_fake = precision.run(d, x_target), precision.run(d, fake.detach())
        loss_d = discriminator_loss(d_real, d_fake)
        descend(opt_d, loss_d, f"{desc} discriminator", step, scaler)
        loss_g = generator_loss(precision.run(d, fake))
        logits = precision.run(task, torch.cat([x, fake]))  # T on source images and their translations, same labels
        task_loss = F.cross_entropy(logits, torch.cat([y, y]))  # L_t
        loss = loss_g + task_weight * task_loss
        descend(opt_gt, loss, f"{desc} generator and task", step, scaler)
        history.log(step, loss_d=loss_d.item(), loss_g=loss_g.item(), task_loss=task_loss.item(),
                    domain_accuracy=domain_accuracy(d_real, d_fake),
                    generated_accuracy=(logits[len(x):].argmax(1) == y).float().mean().item())
    return g.eval(), d.eval(), history.frame()
