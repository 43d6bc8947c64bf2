"""Evaluation: classification accuracy; for generated images FID, IS and PNG files (export, import).

FID and IS come from torchmetrics. Their Inception network needs a local weights file (no download
happens here); without one the Fréchet distance is computed on a named stand-in and labelled so.
Both see the images rounded to 8 bits, as the exported PNG files hold them.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import Dataset
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
from torchmetrics.image.inception import InceptionScore


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
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's; torch-fidelity's weights-inception-… alike


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images N×3×H×W in [-1, 1] as the bytes 0–255 a PNG file holds (rounded, clipped)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images N×3×H×W in [-1, 1], got shape {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("the images contain NaN or inf (a diverged generator?); expected values in [-1, 1]")
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # x ∈ [-1, 1] -> round(255 (x + 1) / 2)


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
        """Features of uint8 images (as Inception takes them), seen at 64×64 in [-1, 1]."""
        x = F.interpolate(x.float(), size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
        return self.net(x / 127.5 - 1)


@dataclass(frozen=True)
class FeatureChoice:
    """The features a Fréchet distance is computed on.

    ``module`` maps uint8 images N×3×H×W to N×``dims`` features and is handed to torchmetrics;
    ``name`` is what is printed and recorded: exactly "Inception" for the real thing.
    """

    name: str
    module: nn.Module
    dims: int


def inception_weights(path: str = "") -> str:
    """The Inception weights file: ``path``, else $WORKBOOK_INCEPTION_WEIGHTS, else '' (none)."""
    path = path or os.environ.get(INCEPTION_ENV, "")
    if path and not Path(path).is_file():
        raise FileNotFoundError(f"Inception weights {path} not found; expected the file {INCEPTION_FILE} "
                                f"(or leave the path and ${INCEPTION_ENV} empty to use {RandomConvFeatures.name})")
    return path


def inception_network(path: str, feature: str) -> NoTrainInceptionV3:
    """torchmetrics' FID Inception v3 giving ``feature`` ('2048' or 'logits_unbiased'), from the local file ``path``.

    Given a path, torch-fidelity only ``torch.load``s it; its download happens for a missing path alone.
    """
    try:
        return NoTrainInceptionV3("inception-v3-compat", [feature], feature_extractor_weights_path=path)
    except (EOFError, pickle.UnpicklingError, RuntimeError) as error:
        raise ValueError(f"{path} does not hold the FID Inception weights; expected the state dict of "
                         f"{INCEPTION_FILE} (pytorch-fid, torch-fidelity): {error}") from error


def fid_features(weights_path: str = "") -> FeatureChoice:
    """Inception's 2048 pool features from ``weights_path`` (else $WORKBOOK_INCEPTION_WEIGHTS), else the stand-in.

    A path that is given but is not a file is an error, never a silent fall-back to the stand-in.
    """
    path = inception_weights(weights_path)
    if path:
        return FeatureChoice(INCEPTION, inception_network(path, "2048"), 2048)
    return FeatureChoice(RandomConvFeatures.name, RandomConvFeatures(), RandomConvFeatures.num_features)


def fid_label(features: FeatureChoice | str) -> str:
    """How a Fréchet distance on ``features`` (or their recorded name) is labelled: only Inception's is FID."""
    name = features if isinstance(features, str) else features.name
    return "FID (Inception)" if name == INCEPTION else f"FD ({name} features)"


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, features: FeatureChoice, batch_size: int = 100,
                     device: torch.device | str = "cpu") -> float:
    """‖μ_r − μ_f‖² + Tr(Σ_r + Σ_f − 2 (Σ_r Σ_f)^½) between the features of two image sets in [-1, 1].

    The images are rounded to 8 bits first, so this is also the distance between the exported PNG files.
    """
    # without a num_features attribute torchmetrics counts the features on one random image of this size
    metric = FrechetInceptionDistance(features.module, input_img_size=tuple(real.shape[1:])).to(device)
    for images, is_real in ((real, True), (fake, False)):
        for chunk in images.split(batch_size):
            metric.update(to_uint8(chunk).to(device), real=is_real)
    return float(metric.compute())


def inception_score(fake: torch.Tensor, weights_path: str = "", batch_size: int = 100,
                    device: torch.device | str = "cpu") -> tuple[float, float] | None:
    """Mean and std over 10 splits of exp(E_x KL(p(y|x) ‖ p(y))) for images in [-1, 1].

    The weights file is resolved as in ``fid_features``. Without one the result is None: the score is
    defined by Inception's ImageNet classes, and no stand-in has them.
    """
    path = inception_weights(weights_path)
    if not path:
        return None
    metric = InceptionScore(inception_network(path, "logits_unbiased"), splits=10).to(device)
    for chunk in fake.split(batch_size):
        metric.update(to_uint8(chunk).to(device))
    with torch.random.fork_rng(devices=[]):  # compute() shuffles before splitting: a fixed shuffle, caller's RNG kept
        torch.manual_seed(0)
        mean, std = metric.compute()
    return float(mean), float(std)


@torch.no_grad()
def nearest(queries: torch.Tensor, images, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query image, the nearest of ``images`` (a dataset with ``batch`` and ``len``) in pixel space.

    Returns the RMS pixel distances ‖q − x‖₂ / √D (images in [-1, 1]) and the indices; ``images`` is read
    ``chunk`` at a time, so a large training set never sits in memory as floats.
    """
    flat = queries.flatten(1)
    best = torch.full((len(queries),), float("inf"))
    index = torch.zeros(len(queries), dtype=torch.long)
    for start in range(0, len(images), chunk):
        pool = images.batch(torch.arange(start, min(start + chunk, len(images)))).flatten(1)
        distance, where = (torch.cdist(flat, pool) / flat.shape[1] ** 0.5).min(dim=1)
        closer = distance < best
        best[closer], index[closer] = distance[closer], where[closer] + start
    return best, index


def export_images(images: torch.Tensor, folder: Path | str, names: list[str] | None = None,
                  overwrite: bool = False) -> Path:
    """Write images in [-1, 1] as <folder>/<name>.png, the names 0000, 0001, ... unless ``names`` are given
    (for graders that take a folder, e.g. 0_001 … 9_100 for digits).

    A folder that already holds PNG files is refused unless ``overwrite`` deletes them first; other
    files are left alone.
    """
    folder = Path(folder)
    old = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if old and not overwrite:
        raise ValueError(f"{folder} already holds {len(old)} PNG files; expected an empty folder "
                         f"(pass overwrite=True to delete them first)")
    names = [f"{index:04d}" for index in range(len(images))] if names is None else names
    if len(names) != len(images) or len(set(names)) != len(names):
        raise ValueError(f"expected {len(images)} distinct file names, one per image; got {len(names)} "
                         f"({len(set(names))} distinct)")
    pixels = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()  # N×H×W×3, as PIL takes it
    for path in old:
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, pixels):
        Image.fromarray(image).save(folder / f"{name}.png")
    return folder


def import_images(folder: Path | str) -> torch.Tensor:
    """The PNG files in ``folder`` (as ``export_images`` writes them), in name order, as N×3×H×W in [-1, 1]."""
    paths = sorted(Path(folder).glob("*.png"))
    if not paths:
        raise FileNotFoundError(f"{folder} holds no PNG file; expected the images export_images writes")
    pixels = [np.asarray(Image.open(path).convert("RGB")) for path in paths]  # H×W×3 each
    sizes = {image.shape for image in pixels}
    if len(sizes) > 1:
        raise ValueError(f"{folder} holds images of the sizes {sorted(sizes)}; expected one size")
    return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1  # [0, 255] -> [-1, 1]
