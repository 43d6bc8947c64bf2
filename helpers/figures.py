"""The report's figures. Each function returns a matplotlib figure; ``save`` writes it under figures/."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from sklearn.manifold import TSNE
from torchvision.utils import make_grid

from helpers import metrics, runtime


def save(fig: plt.Figure, name: str) -> Path:
    """Write ``fig`` as <figures>/<name>.png (a stable name: the latest run's figure replaces the last)."""
    path = runtime.folder("figures") / f"{name}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def digit_examples(datasets: dict[str, "torch.utils.data.Dataset"], per_class: int = 2) -> plt.Figure:
    """The first ``per_class`` images of each digit, one row per dataset."""
    fig, axes = plt.subplots(len(datasets), 10 * per_class, figsize=(10 * per_class * 0.5, len(datasets) * 0.6),
                             squeeze=False)
    for row, (title, dataset) in zip(axes, datasets.items()):
        index = torch.cat([torch.nonzero(dataset.labels == digit)[:per_class, 0] for digit in range(10)])
        images, labels = dataset.batch(index)
        for ax, image, label in zip(row, images, labels):
            ax.imshow((image.permute(1, 2, 0).numpy() + 1) / 2)  # [-1, 1] -> [0, 1]
            ax.set_title(int(label), fontsize=7, pad=1)
            ax.axis("off")
        row[0].text(-4, 14, title, ha="right", va="center", fontsize=8)
    return fig


def training_curves(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """Label-classifier loss of every training; domain-classifier loss and accuracy and λ_p where present."""
    adversarial = {name: h for name, h in histories.items() if "domain_accuracy" in h}
    panels = 3 if adversarial else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.2), squeeze=False)
    axes = axes[0]
    for name, history in histories.items():
        axes[0].plot(history["step"], history["class_loss"], label=name)
    axes[0].set(title="label classifier G_y", xlabel="step", ylabel="cross-entropy", yscale="log")
    axes[0].legend(fontsize=8)
    for name, history in adversarial.items():
        axes[1].plot(history["step"], history["domain_accuracy"], label=f"{name}: accuracy")
        axes[1].plot(history["step"], history["domain_loss"], "--", label=f"{name}: loss")
        axes[2].plot(history["step"], history["lambda"], label="λ_p (GRL weight)")
        axes[2].plot(history["step"], history["lr"] / history["lr"].iloc[0], label="μ_p / μ_0")
    if adversarial:
        axes[1].axhline(0.5, color="grey", lw=0.8, ls=":")
        axes[1].set(title="domain classifier G_d", xlabel="step", ylim=(0, None))
        axes[1].legend(fontsize=8)
        axes[2].set(title="schedules", xlabel="step")
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def tsne(features: torch.Tensor, seed: int) -> np.ndarray:
    """2-D t-SNE of the rows of ``features`` (perplexity capped for small sets)."""
    perplexity = min(30.0, (len(features) - 1) / 3)
    return TSNE(perplexity=perplexity, init="pca", random_state=seed).fit_transform(features.numpy())


def feature_tsne(features: torch.nn.Module | dict[str, torch.nn.Module],
                 datasets: dict[str, "torch.utils.data.Dataset"], seed: int,
                 device: torch.device | str = "cpu") -> pd.DataFrame:
    """t-SNE of ``features(x)`` over the images of several domains: columns x, y, digit, domain.

    ``features`` is one network, or one per dataset (e.g. ADDA's source and target encoders)."""
    networks = features if isinstance(features, dict) else dict.fromkeys(datasets, features)
    vectors = torch.cat([metrics.outputs(networks[name], d, device) for name, d in datasets.items()])
    points = pd.DataFrame(tsne(vectors, seed), columns=["x", "y"])
    points["digit"] = pd.Categorical(torch.cat([d.labels for d in datasets.values()]).numpy())
    points["domain"] = np.repeat(list(datasets), [len(d) for d in datasets.values()])
    return points


TSNE_COLOURS = {"digit": ("digit class", "tab10", 1.0), "domain": ("domain", "Set1", 0.7)}  # label, palette, alpha


def tsne_scatter(ax: plt.Axes, points: pd.DataFrame, by: str, name: str) -> plt.Axes:
    """t-SNE points (columns x, y, digit, domain) of the model ``name`` on ``ax``, coloured by ``by``: 'digit' or
    'domain'."""
    if by not in TSNE_COLOURS:
        raise ValueError(f"colour by {by!r}: expected one of {sorted(TSNE_COLOURS)}")
    label, palette, alpha = TSNE_COLOURS[by]
    sns.scatterplot(points, x="x", y="y", hue=by, palette=palette, s=8, linewidth=0, alpha=alpha, ax=ax)
    ax.set_title(f"{name}: by {label}")
    ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    return ax


def tsne_panels(embeddings: dict[str, pd.DataFrame]) -> plt.Figure:
    """One row per model: its t-SNE points coloured by digit class, then by domain.

    Each frame has columns x, y, digit, domain.
    """
    fig, axes = plt.subplots(len(embeddings), 2, figsize=(9, 4.2 * len(embeddings)), squeeze=False)
    for (name, points), row in zip(embeddings.items(), axes):
        for ax, by in zip(row, TSNE_COLOURS):
            tsne_scatter(ax, points, by, name)
    fig.tight_layout()
    return fig


def method_curves(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """One row per training, one panel per logged quantity (every column but ``step``) against the step."""
    width = max(len(h.columns) - 1 for h in histories.values())
    fig, axes = plt.subplots(len(histories), width, figsize=(3.4 * width, 2.6 * len(histories)), squeeze=False)
    for row, (name, history) in zip(axes, histories.items()):
        columns = [c for c in history if c != "step"]
        for ax, column in zip(row, columns):
            ax.plot(history["step"], history[column])
            ax.set(title=f"{name}: {column}", xlabel="step")
        for ax in row[len(columns):]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def image_grid(images: torch.Tensor, title: str = "", columns: int = 8) -> plt.Figure:
    """Images (N×3×H×W in [-1, 1]) in a grid of ``columns``, as the report's 32-image figures."""
    grid = make_grid(images, nrow=columns, padding=2, normalize=True, value_range=(-1, 1))
    rows = math.ceil(len(images) / columns)
    fig, ax = plt.subplots(figsize=(columns * 0.9, rows * 0.9 + 0.3))
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    return fig


def translation_grid(source: torch.Tensor, translated: torch.Tensor, target: torch.Tensor,
                     columns: int = 8) -> plt.Figure:
    """Rows of source images, each followed by the row of their translations; a last row of real target images
    for comparison. All N×3×H×W in [-1, 1], N a multiple of ``columns``."""
    rows = torch.stack([source.unflatten(0, (-1, columns)), translated.unflatten(0, (-1, columns))], 1)
    images = torch.cat([rows.flatten(0, 2), target[:columns]])
    return image_grid(images, "source row, its translation below; last row: real target images", columns)


def reverse_process(trace: dict[int, torch.Tensor], shown: int = 6, title: str = "") -> plt.Figure:
    """x_t of one sample at ``shown`` timesteps evenly spaced from T (noise) to 0 (the image)."""
    ts = sorted(trace, reverse=True)
    picked = [ts[round(i * (len(ts) - 1) / (shown - 1))] for i in range(shown)]
    fig, axes = plt.subplots(1, shown, figsize=(1.3 * shown, 1.7))
    for ax, t in zip(axes, picked):
        ax.imshow(((trace[t].clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy())
        ax.set_title(f"t = {t}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sampler_sweep(table: pd.DataFrame) -> plt.Figure:
    """Accuracy against the guidance weight w, and accuracy and time (seconds per 1000 images) against the
    number of sampling steps.

    ``table`` has the columns varied ('w' or 'steps'), sampler, steps, w, accuracy, seconds per 1000.
    """
    fig, (by_w, by_steps) = plt.subplots(1, 2, figsize=(9, 3.2))
    guidance = table[table["varied"] == "w"].sort_values("w")
    by_w.plot(guidance["w"], guidance["accuracy"], "o-")
    by_w.set(title=f"DDIM, {guidance['steps'].iloc[0]} steps" if len(guidance) else "", xlabel="guidance weight w",
             ylabel="evaluator accuracy")
    steps = table[table["varied"] == "steps"].sort_values("steps")
    by_steps.plot(steps["steps"], steps["accuracy"], "o-", label="accuracy")
    by_steps.set(title=f"w = {steps['w'].iloc[0]}" if len(steps) else "", xlabel="sampling steps (DDPM: all T)",
                 ylabel="evaluator accuracy", xscale="log")
    by_steps.set_xticks(steps["steps"].tolist(), [str(s) for s in steps["steps"]], minor=False)
    by_steps.minorticks_off()
    for _, row in steps.iterrows():
        by_steps.annotate(f"{row['sampler']}: {row['seconds per 1000']:.0f} s / 1000", (row["steps"], row["accuracy"]),
                          fontsize=7, textcoords="offset points", xytext=(0, 6), ha="center")
    by_steps.margins(x=0.15, y=0.2)
    fig.tight_layout()
    return fig


def conditional_curves(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """ACGAN's losses and its auxiliary head's class accuracy; the diffusion model's loss; whichever are present."""
    panels = [name for name in ("ACGAN", "diffusion") if name in histories]
    fig, axes = plt.subplots(1, len(panels) + ("ACGAN" in panels), figsize=(4.2 * (len(panels) + 1), 3.2),
                             squeeze=False)
    axes = iter(axes[0])
    if "ACGAN" in histories:
        history = histories["ACGAN"]
        losses, classes = next(axes), next(axes)
        losses.plot(history["step"], history["loss_d"], label="D: L_S + L_C")
        losses.plot(history["step"], history["loss_g"], label="G")
        losses.set(title="ACGAN losses", xlabel="step")
        classes.plot(history["step"], history["class_accuracy_real"], label="real images")
        classes.plot(history["step"], history["class_accuracy_fake"], label="generated images")
        classes.set(title="ACGAN: D's class head accuracy", xlabel="step", ylim=(0, 1.02))
        for ax in (losses, classes):
            ax.legend(fontsize=8)
    if "diffusion" in histories:
        history, ax = histories["diffusion"], next(axes)
        ax.plot(history["step"], history["loss"])
        ax.set(title="diffusion: ‖ε − ε_θ(x_t, t, c)‖²", xlabel="step", yscale="log")
    fig.tight_layout()
    return fig


def gan_curves(histories: dict[str, pd.DataFrame], fid_label: str) -> plt.Figure:
    """Per method: D's and G's losses; then every method's FID (or FD) over training."""
    fig, axes = plt.subplots(1, len(histories) + 1, figsize=(4 * (len(histories) + 1), 3.2), squeeze=False)
    for ax, (name, history) in zip(axes[0], histories.items()):
        ax.plot(history["step"], history["loss_d"], label="D (critic)")
        ax.plot(history["step"], history["loss_g"], label="G")
        ax.set(title=name, xlabel="step", ylabel="loss")
        ax.legend(fontsize=8)
    quality = axes[0, -1]
    for name, history in histories.items():
        if "fid" in history:
            points = history.dropna(subset=["fid"])
            quality.plot(points["step"], points["fid"], "o-", label=name)
    quality.set(title=f"{fid_label} over training", xlabel="step", ylabel="lower is better")
    quality.legend(fontsize=8)
    fig.tight_layout()
    return fig


def vae_curves(history: pd.DataFrame) -> plt.Figure:
    """The VAE's mean per-image MSE and KL divergence over training (training batches, test set), with β."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, name, title in ((axes[0], "mse", "reconstruction: Σ (x̂ − x)² per image"),
                            (axes[1], "kld", "KL(q(z|x) ‖ N(0, I)) per image")):
        ax.plot(history["step"], history[name], label="training batches")
        if f"{name}_test" in history:
            points = history.dropna(subset=[f"{name}_test"])
            ax.plot(points["step"], points[f"{name}_test"], "o-", label="test images")
        ax.set(title=title, xlabel="step", yscale="log")
        ax.legend(fontsize=8)
    weight = axes[1].twinx()
    weight.plot(history["step"], history["beta"], color="grey", ls=":")
    weight.set_ylabel("β (dotted)", color="grey")
    fig.tight_layout()
    return fig


def latent_tsne(latents: torch.Tensor, labels, seed: int, title: str) -> plt.Figure:
    """2-D t-SNE of latent codes (N×d), the points coloured by ``labels`` (one per row)."""
    points = pd.DataFrame(tsne(latents, seed), columns=["x", "y"])
    points["label"] = pd.Categorical(np.asarray(labels))
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    sns.scatterplot(points, x="x", y="y", hue="label", palette="Set1", s=14, linewidth=0, alpha=0.8, ax=ax)
    ax.set(title=title, xticks=[], yticks=[], xlabel="", ylabel="")
    ax.legend(fontsize=8, markerscale=1.5, loc="best")
    return fig
