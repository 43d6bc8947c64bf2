"""Evaluation: classification accuracy; for generated images FID, IS and exported PNG files.

FID and IS come from torchmetrics. Their Inception network needs a local weights file (no download
happens here); without one the Fréchet distance is computed on a named stand-in and labelled so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
from torchmetrics.image.inception import InceptionScore
from torchvision.utils import save_image


@torch.no_grad()
def outputs(module: nn.Module, dataset: Dataset, device: torch.device | str = "cpu",
            batch_size: int = 1000) -> torch.Tensor:
    """``module`` applied to every image of ``dataset`` in eval mode, stacked on the CPU."""
    was_training = module.training
    module.to(device).eval()
    chunks = []
    for start in range(0, len(dataset), batch_size):
        x, _ = dataset.batch(torch.arange(start, min(start + batch_size, len(dataset))))
        chunks.append(module(x.to(device)).cpu())
    module.train(was_training)
    return torch.cat(chunks)


def accuracy(classifier: nn.Module, dataset: Dataset, device: torch.device | str = "cpu") -> float:
    """Fraction of ``dataset`` whose arg-max logit is its label."""
    predictions = outputs(classifier, dataset, device).argmax(1)
    return (predictions == dataset.labels).float().mean().item()


INCEPTION = "Inception"
INCEPTION_ENV = "WORKBOOK_INCEPTION_WEIGHTS"
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"  # the FID Inception weights of pytorch-fid / torch-fidelity


class RandomConvFeatures(nn.Module):
    """A stand-in for Inception when its weights are absent: a fixed, randomly initialised ConvNet.

    Its Fréchet distance compares our methods and runs with each other; it is not the FID of papers
    and course thresholds, and is always labelled with this network's name.
    """

    name = "random ConvNet (seed 0)"
    num_features = 512  # torchmetrics reads it

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # the same weights on every machine; the global seed untouched
            torch.manual_seed(0)
            layers, width = [], 3
            for out in (64, 128, 256, 512):
                conv = nn.Conv2d(width, out, 3, padding=1)
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # activations keep their scale
                layers += [conv, nn.ReLU(), nn.AvgPool2d(2)]
                width = out
            self.net = nn.Sequential(*layers[:-1], nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of images in [0, 1] (torchmetrics' ``normalize=True``), seen at 64×64."""
        x = F.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
        return self.net(x * 2 - 1)


@dataclass(frozen=True)
class FeatureChoice:
    """The features FID is computed on: Inception from a local weights file, or a named stand-in."""

    name: str
    weights: str = ""  # the Inception weights file; empty for the stand-in


def inception_weights(path: str = "") -> str:
    """The Inception weights file: ``path``, else $WORKBOOK_INCEPTION_WEIGHTS, else '' (none)."""
    path = path or os.environ.get(INCEPTION_ENV, "")
    if path and not Path(path).is_file():
        raise FileNotFoundError(f"Inception weights {path} not found; expected the file {INCEPTION_FILE} "
                                f"(or leave the path and ${INCEPTION_ENV} empty to use {RandomConvFeatures.name})")
    return path


def fid_features(weights_path: str = "") -> FeatureChoice:
    path = inception_weights(weights_path)
    return FeatureChoice(INCEPTION, path) if path else FeatureChoice(RandomConvFeatures.name)


def fid_label(name: str) -> str:
    """How a Fréchet distance on the features ``name`` is labelled: only Inception's is 'FID (Inception)'."""
    return "FID (Inception)" if name == INCEPTION else f"FD ({name} features)"


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, features: FeatureChoice, batch_size: int = 100,
                     device: torch.device | str = "cpu") -> float:
    """‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^½) between the features of two image sets in [-1, 1]."""
    if features.name == INCEPTION:
        metric = FrechetInceptionDistance(2048, normalize=True, feature_extractor_weights_path=features.weights)
    else:
        metric = FrechetInceptionDistance(RandomConvFeatures(), normalize=True)
    metric.to(device)
    for images, is_real in ((real, True), (fake, False)):
        for chunk in images.split(batch_size):
            metric.update(((chunk + 1) / 2).clamp(0, 1).to(device), real=is_real)
    return float(metric.compute())


def inception_score(fake: torch.Tensor, weights_path: str = "", batch_size: int = 100,
                    device: torch.device | str = "cpu") -> tuple[float, float] | None:
    """Mean and std over 10 splits of exp(E_x KL(p(y|x) ‖ p(y))); None without Inception weights (no stand-in)."""
    path = inception_weights(weights_path)
    if not path:
        return None
    network = NoTrainInceptionV3(name="inception-v3-compat", features_list=["logits_unbiased"],
                                 feature_extractor_weights_path=path)
    metric = InceptionScore(network, splits=10).to(device)
    for chunk in fake.split(batch_size):
        metric.update(((chunk + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).to(device))
    mean, std = metric.compute()
    return float(mean), float(std)


def export_images(images: torch.Tensor, folder: Path | str, overwrite: bool = False) -> Path:
    """Write images in [-1, 1] as <folder>/0000.png, 0001.png, ... (for graders that take a folder)."""
    folder = Path(folder)
    old = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if old and not overwrite:
        raise FileExistsError(f"{folder} already holds {len(old)} PNG files; pass overwrite=True to replace them")
    for path in old:
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        save_image((image + 1) / 2, folder / f"{index:04d}.png")
    return folder
