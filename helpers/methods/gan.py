"""Training GANs: one loop for DCGAN, WGAN-GP and SAGAN, the loss being the part that changes.

- ``dcgan``: the non-saturating GAN loss on logits, Adam 2e-4, betas (0.5, 0.999) (Radford et al.).
- ``wgangp``: the Wasserstein loss with a per-sample gradient penalty λ = 10 and n_critic = 5 critic
  steps per generator step, Adam 1e-4, betas (0, 0.9) (Gulrajani et al., 2017).
- ``sagan``: the hinge loss with two time-scale learning rates, G 1e-4 and D 4e-4, Adam betas (0, 0.9)
  (Zhang et al., 2019).
- ``stylegan2``: the non-saturating loss with the R1 penalty on real images, γ/2 E[‖∇D(x)‖²], computed lazily
  every 16 steps (and weighted 16 times), Adam 2e-3, betas (0, 0.99) (Karras et al., 2020), D's rate and betas
  adjusted for the lazy penalty as the paper does. γ = 1, the value StyleGAN2-ADA's 256×256 configuration takes:
  with CIFAR-10's 0.01, D told the built-in faces from generated ones outright (docs/1_gan.md).

Optional tricks from the reports: one-sided label smoothing (DCGAN), instance noise on D's inputs; and
DiffAugment (``methods.diffaugment``), differentiable augmentations of every image D sees, for any method.
The generator's weights are also averaged (EMA); samples and FID use the average.

A run is resumable: ``GANState`` holds the networks, optimizers, EMA, step and the random generator
that draws every batch and every z, so a checkpointed and resumed run ends exactly where an
uninterrupted one with the same seed does. A checkpoint names the data it was trained on, and a run
on other data refuses it.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from helpers import runtime
from helpers.methods import diffaugment
from helpers.methods.training import descend, ema_decay, update_ema
from helpers.models import gan as models


@dataclass(frozen=True)
class Recipe:
    loss: str  # "bce", "wasserstein-gp" or "hinge"
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    n_critic: int = 1
    gp_weight: float = 10.0  # λ of the gradient penalty (WGAN-GP only)
    r1_weight: float = 0.0  # γ of the R1 penalty on real images (StyleGAN2)
    r1_every: int = 16  # lazy R1: the penalty every this many steps
    label_smoothing: float = 0.0  # one-sided: D's target for real images is 1 − this (bce only)
    instance_noise: float = 0.0  # σ of Gaussian noise on D's inputs at the start, annealed linearly to 0
    ema_decay: float = 0.999
    diffaugment: tuple[str, ...] = ()  # DiffAugment's policy: names from diffaugment.POLICIES, applied in order


RECIPES = {
    "dcgan": Recipe("bce", 2e-4, 2e-4, (0.5, 0.999)),
    "wgangp": Recipe("wasserstein-gp", 1e-4, 1e-4, (0.0, 0.9), n_critic=5),
    "sagan": Recipe("hinge", 1e-4, 4e-4, (0.0, 0.9)),
    "stylegan2": Recipe("bce", 2e-3, 2e-3, (0.0, 0.99), r1_weight=1.0),
}


# the tricks a user may change, with the values each accepts
TRICKS = {"label_smoothing": (float, "in [0, 1)", lambda v: 0 <= v < 1),
          "instance_noise": (float, ">= 0", lambda v: v >= 0),
          "n_critic": (int, "an integer >= 1", lambda v: v >= 1),
          "ema_decay": (float, "in [0, 1)", lambda v: 0 <= v < 1),
          "diffaugment": (diffaugment.parse_policy, f"one or more of {list(diffaugment.POLICIES)}", bool)}
LISTS = {"diffaugment"}  # tricks whose value is itself a comma list


def recipe(method: str, **tricks) -> Recipe:
    """The paper's recipe for ``method``, with ``tricks`` (e.g. ``label_smoothing=0.1``) replaced."""
    if method not in RECIPES:
        raise ValueError(f"unknown GAN method {method!r}; expected one of {sorted(RECIPES)}")
    rule = replace(RECIPES[method], **tricks)
    if rule.label_smoothing and rule.loss != "bce":
        raise ValueError(f"label_smoothing={rule.label_smoothing} applies to the BCE loss of dcgan only; "
                         f"{method} uses the {rule.loss} loss")
    return rule


def parse_tricks(text: str) -> dict[str, float | int | tuple[str, ...]]:
    """'label_smoothing=0.1, n_critic=3' -> {'label_smoothing': 0.1, 'n_critic': 3}, checking names and values.

    A list-valued trick takes the words after it that have no '=': 'diffaugment=color,cutout, n_critic=2'.
    """
    items: list[tuple[str, str]] = []
    for part in filter(None, (part.strip() for part in text.split(","))):
        if "=" not in part and items and items[-1][0] in LISTS:
            items[-1] = (items[-1][0], f"{items[-1][1]},{part}")
        else:
            items.append(tuple(word.strip() for word in part.partition("=")[::2]))
    tricks = {}
    for name, value in items:
        if name not in TRICKS or name in tricks:
            raise ValueError(f"tricks={text!r}: {name!r} is unknown or repeated; expected distinct names from "
                             f"{list(TRICKS)} as name=value, separated by commas")
        kind, expected, valid = TRICKS[name]
        try:
            parsed = kind(value)
        except ValueError:
            parsed = None
        if parsed is None or not valid(parsed):
            raise ValueError(f"tricks={text!r}: {name}={value!r} is not {expected}")
        tricks[name] = parsed
    return tricks


def parse_methods(text: str) -> list[str]:
    """'dcgan, sagan' -> ['dcgan', 'sagan'], refusing unknown or repeated names: a method of ``RECIPES``, or
    ``acgan``, the conditional GAN of ``helpers.methods.acgan``."""
    return runtime.parse_choices("methods", text, [*RECIPES, "acgan"])


def discriminator_loss(recipe: Recipe, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    if recipe.loss == "bce":  # −[log D(x) + log(1 − D(G(z)))], real target 1 − smoothing
        real = torch.full_like(d_real, 1.0 - recipe.label_smoothing)
        return (F.binary_cross_entropy_with_logits(d_real, real)
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    if recipe.loss == "wasserstein-gp":  # E[D(G(z))] − E[D(x)]; the penalty is added by the caller
        return d_fake.mean() - d_real.mean()
    if recipe.loss == "hinge":  # E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))]
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    raise ValueError(f"unknown GAN loss {recipe.loss!r}")


def generator_loss(recipe: Recipe, d_fake: torch.Tensor) -> torch.Tensor:
    if recipe.loss == "bce":  # non-saturating: −log D(G(z))
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    return -d_fake.mean()  # WGAN-GP and hinge: −E[D(G(z))]


def r1_penalty(discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor) -> torch.Tensor:
    """E[‖∇_x D(x)‖²] over real images x, one squared norm per sample (Mescheder et al., 2018)."""
    real = real.detach().requires_grad_(True)
    grad, = torch.autograd.grad(discriminator(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     rng: torch.Generator) -> torch.Tensor:
    """E[(‖∇D(x̂)‖₂ − 1)²] with x̂ = ε x + (1 − ε) x̃, one ε ~ U[0, 1] and one norm per sample."""
    eps = torch.rand(len(real), 1, 1, 1, generator=rng).to(real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@dataclass
class GANState:
    """Everything a resumed run needs: networks, optimizers, the generator's EMA, step and random state, and
    the data they are trained on (a dataset's ``summary()``)."""

    method: str
    data: str
    recipe: Recipe
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    ema: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator
    step: int = 0
    history: list[dict] = field(default_factory=list)


def new_state(method: str, seed: int, size: int, width: int, z_dim: int, data: str, **tricks) -> GANState:
    """A fresh run of ``method`` on ``data``: networks initialised from ``seed``, the recipe's optimizers."""
    rule = recipe(method, **tricks)
    torch.manual_seed(seed)
    generator, discriminator = models.build(method, size, width, z_dim)
    ema = copy.deepcopy(generator).eval().requires_grad_(False)
    lazy = rule.r1_every / (rule.r1_every + 1) if rule.r1_weight else 1.0  # c = k / (k + 1): lr c·η, betas β^c
    return GANState(method, data, rule, generator, discriminator, ema,
                    torch.optim.Adam(generator.parameters(), rule.lr_g, betas=rule.betas),
                    torch.optim.Adam(discriminator.parameters(), rule.lr_d * lazy,
                                     betas=tuple(beta ** lazy for beta in rule.betas)),
                    torch.Generator().manual_seed(seed))


def save_checkpoint(state: GANState, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"method": state.method, "data": state.data, "recipe": asdict(state.recipe), "step": state.step,
                "rng": state.rng.get_state(), "torch_rng": torch.get_rng_state(), "history": state.history,
                **{name: getattr(state, name).state_dict()
                   for name in ("generator", "discriminator", "ema", "opt_g", "opt_d")}}, path)
    return path


def load_checkpoint(state: GANState, path: Path | str) -> GANState:
    """Restore ``state`` (built by ``new_state`` with the run's settings) from the checkpoint at ``path``."""
    saved = torch.load(path, weights_only=True)
    if saved["method"] != state.method:
        raise ValueError(f"{path} is a {saved['method']} checkpoint; this run trains {state.method}")
    if saved.get("data") != state.data:
        raise ValueError(f"{path} was trained on other data: {saved.get('data', 'data it does not name')!r}; "
                         f"this run trains on {state.data!r}")
    there = saved["recipe"]
    there = {key: there.get(key, getattr(Recipe, key, None)) for key in asdict(state.recipe)}  # older: defaults
    changed = [f"{key} {there[key]!r} there, {value!r} here" for key, value in asdict(state.recipe).items()
               if there[key] != value]
    if changed:
        raise ValueError(f"{path} was trained with another recipe: {', '.join(changed)}")
    for name in ("generator", "discriminator", "ema", "opt_g", "opt_d"):
        getattr(state, name).load_state_dict(saved[name])
    state.rng.set_state(saved["rng"])
    torch.set_rng_state(saved["torch_rng"])
    state.step, state.history = saved["step"], saved["history"]
    return state


@contextmanager
def evaluating(generator: torch.nn.Module, device: torch.device | str):
    """Inside, ``generator`` is on ``device`` in evaluation mode, without gradients; after, in its mode as before."""
    was_training = generator.training
    generator.to(device).eval()
    with torch.no_grad():
        yield
    generator.train(was_training)


@contextmanager
def fixed_noise(seed: int, device: torch.device | str):
    """Inside, torch's random state on ``device`` starts from ``seed`` (so that StyleGAN2's noise inputs, drawn
    from it, are fixed by the seed); after, it is what it was before."""
    cuda = torch.device(device).type == "cuda"
    with torch.random.fork_rng(devices=[torch.device(device)] if cuda else []):
        torch.manual_seed(seed)
        yield


def sample(generator: torch.nn.Module, n: int, seed: int, device: torch.device | str = "cpu",
           batch_size: int = 500, labels: torch.Tensor | None = None,
           precision: runtime.Precision = runtime.FP32) -> torch.Tensor:
    """``n`` images (on the CPU) from z drawn with ``seed``: the same seed gives the same z on any device, and
    the same noise inputs (StyleGAN2's, drawn from torch's random state) on the same device.

    With ``labels`` (n classes) the generator is conditional and called as G(z, c). G runs in ``precision``.
    """
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    chunks = z.split(batch_size)
    classes = labels.split(batch_size) if labels is not None else [None] * len(chunks)
    with evaluating(generator, device), fixed_noise(seed, device):
        images = torch.cat([precision.run(generator, *(t.to(device) for t in (zs, cs) if t is not None)).cpu()
                            for zs, cs in zip(chunks, classes)])
    return images.clamp(-1, 1)  # a no-op after a tanh; StyleGAN2's output is not bounded


def style_mixing(generator: torch.nn.Module, rows: int, columns: int, seed: int, crossover: int,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """StyleGAN2's style mixing, (rows + 1) × (columns + 1) images row by row: the top row holds the images of
    ``columns`` latents, the left column those of ``rows`` others, and cell (i, j) the image whose first
    ``crossover`` layers (coarse: pose, shape) take row i's w and the others (fine: texture, shading) column j's.
    The corner is blank. Latents and noise inputs are drawn with ``seed``; every call uses the same noise."""
    z = torch.randn(rows + columns, generator.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    z_rows, z_columns = z[:rows], z[rows:]

    def drawn(make: Callable[[], torch.Tensor]) -> torch.Tensor:
        with fixed_noise(seed, device):
            return make().clamp(-1, 1).cpu()

    with evaluating(generator, device):
        top, left = drawn(lambda: generator(z_columns)), drawn(lambda: generator(z_rows))
        grid = [torch.ones_like(top[:1]), top]  # a white corner
        for i in range(rows):
            grid += [left[i:i + 1], drawn(lambda: generator.mix(z_rows[i:i + 1].expand(columns, -1), z_columns,
                                                                crossover))]
    return torch.cat(grid)


def train(state: GANState, images, *, steps: int, batch_size: int, device: torch.device | str = "cpu",
          precision: runtime.Precision = runtime.FP32, log_every: int = 10,
          evaluate: Callable[[GANState], dict] | None = None, evaluate_every: int = 0,
          checkpoint: Path | str | None = None, checkpoint_every: int = 0) -> pd.DataFrame:
    """Train ``state`` on ``images`` (a dataset with ``batch(index)`` and ``len``) until step ``steps``.

    A step is ``n_critic`` discriminator updates and one generator update. Every ``log_every`` steps a
    row of mean losses joins ``state.history``; every ``evaluate_every`` steps ``evaluate(state)`` adds
    its numbers (e.g. FID) to the row; every ``checkpoint_every`` steps the state is saved to
    ``checkpoint``. Raises FloatingPointError, naming the step, when a loss is NaN or explodes.
    G and D run in ``precision``; the losses and penalties are computed from their float32 outputs.
    """
    if checkpoint_every % log_every:
        raise ValueError(f"checkpoint_every={checkpoint_every} is not a multiple of log_every={log_every}; "
                         "a checkpoint is taken where a log row ends")
    rule, g, d = state.recipe, state.generator.to(device), state.discriminator.to(device)
    state.ema.to(device)
    g.train(), d.train()
    precision.layout(g, d, state.ema)
    generate, critic = partial(precision.run, g), partial(precision.run, d)  # G and D in the run's precision
    scaler = precision.scaler()
    window = []
    bar = tqdm(total=steps, initial=state.step, desc=state.method)
    while state.step < steps:
        sigma = rule.instance_noise * (1 - state.step / steps)  # instance noise, annealed to 0
        for _ in range(rule.n_critic):
            real = images.batch(torch.randint(len(images), (batch_size,), generator=state.rng)).to(device)
            z = torch.randn(batch_size, g.z_dim, generator=state.rng).to(device)
            generated = generate(z)  # the last critic step's batch also serves the generator step
            fake = generated.detach()
            if sigma:  # instance noise: D sees x + σ n, n ~ N(0, I)
                real, fake = (x + sigma * torch.randn(x.shape, generator=state.rng).to(device) for x in (real, fake))
            real, fake = (diffaugment.augment(x, rule.diffaugment, state.rng) for x in (real, fake))  # T(x), T(G(z))
            d_real, d_fake = critic(real), critic(fake)
            loss_d = discriminator_loss(rule, d_real, d_fake)
            stats = {"loss_d": loss_d.item(), "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item()}
            if rule.r1_weight and state.step % rule.r1_every == 0:
                r1 = r1_penalty(critic, real)
                loss_d = loss_d + rule.r1_every * rule.r1_weight / 2 * r1  # L_D + k γ/2 E[‖∇D(x)‖²] every k steps
                stats["r1"] = r1.item()
            if rule.loss == "wasserstein-gp":
                penalty = gradient_penalty(critic, real, fake, state.rng)
                loss_d = loss_d + rule.gp_weight * penalty  # L_D = E[D(x̃)] − E[D(x)] + λ GP
                stats |= {"wasserstein": -stats["loss_d"], "penalty": penalty.item(), "loss_d": loss_d.item()}
            descend(state.opt_d, loss_d, f"{state.method} discriminator", state.step, scaler)
        seen = diffaugment.augment(generated, rule.diffaugment, state.rng)  # T(G(z)): G's gradient flows through T
        loss_g = generator_loss(rule, critic(seen))
        descend(state.opt_g, loss_g, f"{state.method} generator", state.step, scaler)
        update_ema(state.ema, g, ema_decay(state.step, rule.ema_decay))
        state.step += 1
        bar.update()
        window.append({**stats, "loss_g": loss_g.item()})
        if state.step % log_every == 0 or state.step == steps:
            row = {"step": state.step, **pd.DataFrame(window).mean().to_dict()}
            window = []
            if evaluate and evaluate_every and (state.step % evaluate_every == 0 or state.step == steps):
                row |= evaluate(state)
            state.history.append(row)
        if checkpoint and checkpoint_every and state.step % checkpoint_every == 0:
            save_checkpoint(state, checkpoint)
    bar.close()
    return pd.DataFrame(state.history)

