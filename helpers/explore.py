"""Explorers for JupyterLab: ipywidgets controls over the models a notebook has just trained, and the image
they show.

An explorer redraws its image on every change of a control (``draw`` maps the controls' values to an image);
whatever is slow is computed once, when the explorer is built. "Save PNG" (``export()``) writes the current
image as figures/<name>.png. Displayed, an explorer is its widgets in a live notebook and, for a notebook
executed headlessly (papermill, nbval), the PNG of its default view.
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from ipywidgets import widgets
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from helpers import figures, metrics, runtime
from helpers.methods import acgan, diffusion, vae

TILE = 96  # the displayed size, in pixels, of one generated image; small images are enlarged to it
FONT = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 11)  # matplotlib's, with Greek letters


class Explorer:
    """Controls (ipywidgets with a ``value``) and the image ``draw(**values)`` makes of their values."""

    def __init__(self, name: str, title: str, controls: dict[str, widgets.ValueWidget],
                 draw: Callable[..., Image.Image]):
        self.name, self.controls, self.draw = name, controls, draw
        self.image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))  # not stretched
        self.status = widgets.Label()
        self.save = widgets.Button(description="Save PNG", tooltip=f"write figures/{name}.png", icon="download")
        self.save.on_click(lambda _: setattr(self.status, "value", f"saved {self.export()}"))
        self.widget = widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"),
                                    widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
                                    self.image, widgets.HBox([self.save, self.status])])
        self.widget.add_class("workbook-explorer")
        for control in controls.values():
            control.observe(self.update, names="value")
        self.update()

    def values(self) -> dict:
        return {key: control.value for key, control in self.controls.items()}

    def update(self, change: dict | None = None) -> bytes:
        """Draw the view of the controls' current values, on one CPU thread; its PNG.

        A view's batches are small: one thread draws them about as fast as several on an idle machine, and
        several times faster on a busy one (on 2 busy cores, the digits' 1.8 s against 0.33 s)."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        buffer = io.BytesIO()
        try:
            self.draw(**self.values()).save(buffer, format="png")
        finally:
            torch.set_num_threads(threads)
        self.image.value = buffer.getvalue()
        return self.image.value

    def export(self) -> Path:
        """Write the current view as figures/<name>.png (a stable name: the latest export replaces the last)."""
        path = runtime.folder("figures") / f"{self.name}.png"
        path.write_bytes(self.image.value)
        return path

    def _repr_mimebundle_(self, **kwargs) -> dict:
        return {**self.widget._repr_mimebundle_(**kwargs), "image/png": base64.b64encode(self.image.value).decode()}


def tiles(images: torch.Tensor, columns: int, scale: int = 0) -> Image.Image:
    """Images N×3×H×W in [-1, 1] in a grid of ``columns`` on white, each pixel ``scale``×``scale`` (0: enlarged
    to about TILE pixels)."""
    scale = scale or max(1, TILE // images.shape[-1])
    grid = make_grid(images.float(), nrow=columns, padding=2, pad_value=1.0)
    picture = Image.fromarray(metrics.to_uint8(grid[None])[0].permute(1, 2, 0).numpy())
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def caption(picture: Image.Image, text: str) -> Image.Image:
    """``picture`` under a line of ``text``."""
    width = math.ceil(ImageDraw.Draw(picture).textlength(text, font=FONT)) + 4
    canvas = Image.new("RGB", (max(picture.width, width), picture.height + 16), "white")
    ImageDraw.Draw(canvas).text((2, 1), text, fill="black", font=FONT)
    canvas.paste(picture, (0, 16))
    return canvas


def arrange(pictures: list[Image.Image], across: bool = False) -> Image.Image:
    """``pictures`` one below the other (``across``: side by side), 8 pixels apart, on white."""
    gap = 8
    along = [p.width if across else p.height for p in pictures]
    width, height = sum(along) + gap * (len(pictures) - 1), max(p.height if across else p.width for p in pictures)
    canvas = Image.new("RGB", (width, height) if across else (height, width), "white")
    offset = 0
    for picture, size in zip(pictures, along):
        canvas.paste(picture, (offset, 0) if across else (0, offset))
        offset += size + gap
    return canvas


def rendered(fig: Figure) -> Image.Image:
    """A matplotlib figure (one not shown by pyplot) as an image."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")


def latent(seed: int, dim: int) -> torch.Tensor:
    """z ~ N(0, I) of ``dim`` numbers drawn with ``seed`` (the same z on any device)."""
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed))


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points along the great circle from ``z_a`` to ``z_b`` at the fractions ``t`` (N), N×d: between two
    Gaussian vectors, a path whose points keep their length, as samples of N(0, I) do."""
    cos = torch.dot(z_a, z_b) / (z_a.norm() * z_b.norm())
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega < 1e-6:
        return z_a.expand(len(t), -1).clone()
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)


@torch.no_grad()
def decoded(network: torch.nn.Module, z: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``network(z)`` in evaluation mode, on the CPU, in [-1, 1]; the network's mode is left as it was."""
    was_training = network.training
    network.to(device).eval()
    images = network(z.to(device)).cpu()
    network.train(was_training)
    return images.clamp(-1, 1)  # StyleGAN2's output is not bounded by a tanh


def seed_box(value: int, description: str = "seed") -> widgets.BoundedIntText:
    return widgets.BoundedIntText(value=value, min=0, max=2 ** 31 - 1, description=description,
                                  layout=widgets.Layout(width="190px"))


def latent_walk(generators: dict[str, torch.nn.Module], seed: int, frames: int = 8,
                device: torch.device | str = "cpu", name: str = "gan_explore_latent_walk") -> Explorer:
    """GAN: pick a generator; z_a and z_b drawn with two seeds; a slider t from z_a (0) to z_b (1) along the
    great circle. Shows G(z_t), beside the walk in ``frames`` steps."""
    if not generators:
        raise ValueError("no generators to explore: expected {name: generator}")
    controls = {"method": widgets.Dropdown(options=list(generators), description="generator"),
                "seed_a": seed_box(seed, "seed of z_a"), "seed_b": seed_box(seed + 1, "seed of z_b"),
                "t": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")}

    def draw(method, seed_a, seed_b, t):
        generator = generators[method]
        path = slerp(latent(seed_a, generator.z_dim), latent(seed_b, generator.z_dim),
                     torch.cat([torch.tensor([t]), torch.linspace(0, 1, frames)]))
        images = decoded(generator, path, device)
        scale = max(1, TILE // images.shape[-1])
        walk = f"{method}: z_a (seed {seed_a}) to z_b (seed {seed_b})"
        return arrange([caption(tiles(images[:1], 1, 2 * scale), f"t = {t:.2f}"),
                        caption(tiles(images[1:], frames, scale), walk)], across=True)

    return Explorer(name, "GAN: a walk between two latent vectors", controls, draw)


def digits(diffusion_model: tuple[torch.nn.Module, diffusion.Schedule] | None = None,
           acgan_generator: torch.nn.Module | None = None, *, w: float = 0.0, steps: int = 20, most_steps: int = 25,
           seed: int = 0, shown: int = 8, device: torch.device | str = "cpu",
           name: str = "conditional_explore_digits") -> Explorer:
    """Conditional: a digit picker; for the diffusion model (``(EMA noise predictor, schedule)``) the guidance
    weight w and the number of DDIM steps, up to ``most_steps`` (a view within a second on a laptop's CPU); a
    seed. Shows ``shown`` fresh samples of the digit from each model given (ACGAN: its EMA generator)."""
    if diffusion_model is None and acgan_generator is None:
        raise ValueError("digits needs a diffusion model (model, schedule), an ACGAN generator, or both")
    controls = {"digit": widgets.Dropdown(options=list(range(10)), description="digit")}
    if diffusion_model is not None:
        most = min(diffusion_model[1].T, most_steps)
        controls["w"] = widgets.FloatSlider(value=w, min=0.0, max=max(10.0, w), step=0.5, description="guidance w",
                                            continuous_update=False)
        controls["steps"] = widgets.IntSlider(value=min(steps, most), min=1, max=most, description="DDIM steps",
                                              continuous_update=False)
    controls["seed"] = seed_box(seed)

    def draw(digit, seed, w=None, steps=None):
        labels = torch.full((shown,), digit)
        rows = []
        if diffusion_model is not None:
            images = diffusion.ddim(*diffusion_model, labels, w=w, steps=steps, seed=seed, device=device,
                                    progress=False)
            rows.append(caption(tiles(images, shown), f"diffusion (EMA U-Net), DDIM {steps} steps, w = {w:g}"))
        if acgan_generator is not None:
            rows.append(caption(tiles(acgan.sample(acgan_generator, labels, seed, device), shown), "ACGAN (EMA G)"))
        return arrange(rows)

    return Explorer(name, "Digits of the class asked for", controls, draw)


def reverse_process(trace: dict[int, torch.Tensor], name: str = "conditional_explore_reverse_process") -> Explorer:
    """Conditional: a slider over the timesteps of a precomputed reverse process (``trace``: t -> x_t, one
    image 3×H×W); shows x_t beside the result x_0."""
    if 0 not in trace or len(trace) < 2:
        raise ValueError(f"trace has the timesteps {sorted(trace)}; expected x_t for several t, down to t = 0")
    ts = sorted(trace, reverse=True)
    controls = {"t": widgets.SelectionSlider(options=ts, value=ts[0], description="t")}

    def draw(t):
        scale = max(1, 2 * TILE // trace[t].shape[-1])
        return arrange([caption(tiles(trace[t][None], 1, scale), f"x_t, t = {t}"),
                        caption(tiles(trace[0][None], 1, scale), "x_0")], across=True)

    return Explorer(name, f"The reverse process, from t = {ts[0]} (noise) to 0", controls, draw)


def tsne(embeddings: dict[str, pd.DataFrame], name: str) -> Explorer:
    """Domain adaptation: pick a model and a colouring (digit class or domain) of its precomputed t-SNE points
    (``embeddings``: model -> frame with columns x, y, digit, domain)."""
    if not embeddings:
        raise ValueError("no t-SNE embeddings to explore: expected {model: points}")
    controls = {"model": widgets.Dropdown(options=list(embeddings), description="model"),
                "by": widgets.ToggleButtons(options=[(label, key) for key, (label, *_) in figures.TSNE_COLOURS.items()],
                                            description="colour by")}

    def draw(model, by):
        fig = Figure(figsize=(5.4, 4.6), dpi=100, layout="tight")
        figures.tsne_scatter(fig.subplots(), embeddings[model], by, model)
        return rendered(fig)

    return Explorer(name, "t-SNE of the features", controls, draw)


def face_interpolation(model: torch.nn.Module, faces, steps: int = 10, device: torch.device | str = "cpu",
                       name: str = "vae_explore_interpolation") -> Explorer:
    """VAE: pick two faces of ``faces`` (a dataset with ``batch`` and ``len``); shows the images decoded along the
    line between their codes μ, the two faces at the ends."""
    if len(faces) < 2:
        raise ValueError(f"interpolation needs two faces; the dataset has {len(faces)}")
    controls = {key: widgets.IntSlider(value=value, min=0, max=len(faces) - 1, description=f"face {key}")
                for key, value in (("a", 0), ("b", 1))}

    def draw(a, b):
        x = faces.batch(torch.tensor([a, b]))
        path = vae.interpolate(model, x[0], x[1], steps=steps, device=device)
        return caption(tiles(torch.cat([x[:1], path, x[1:]]), steps + 2),
                       f"face {a} to face {b}: z_t = (1 - t) μ_a + t μ_b, t = 0 ... 1")

    return Explorer(name, "VAE: interpolation between two faces", controls, draw)


def latent_traversal(model: torch.nn.Module, faces, directions: int = 8, shown: int = 8,
                     device: torch.device | str = "cpu", name: str = "vae_explore_traversal") -> Explorer:
    """VAE: pick one of the principal directions of the codes μ of ``faces`` and a distance along it (in its
    standard deviations σ); shows the first ``shown`` faces decoded from μ, and from μ moved that far."""
    mu = vae.encode(model, faces, device)
    if len(mu) < 2:
        raise ValueError(f"principal directions need two faces or more; the dataset has {len(mu)}")
    _, spread, axes = torch.linalg.svd(mu - mu.mean(0), full_matrices=False)
    sigma = spread / math.sqrt(len(mu) - 1)
    base = mu[:shown]
    controls = {"direction": widgets.Dropdown(options=[(f"PC {k + 1} (σ = {sigma[k]:.2f})", k)
                                                       for k in range(min(directions, len(sigma)))],
                                              description="direction"),
                "value": widgets.FloatSlider(value=2.0, min=-3.0, max=3.0, step=0.25, description="σ along it")}

    def draw(direction, value):
        moved = base + value * sigma[direction] * axes[direction]
        images = decoded(model.decoder, torch.cat([base, moved]), device)
        return caption(tiles(images, len(base)), f"top: decoded μ; below: μ {value:+.2f} σ along PC {direction + 1}")

    return Explorer(name, "VAE: a traversal of one latent direction", controls, draw)
