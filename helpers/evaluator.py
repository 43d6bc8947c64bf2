"""The evaluator of generated digits: a classifier trained on a domain's training split, cached.

By default half of each training batch is blurred and noised: a judge must read a soft or grainy
digit as a person does (trained on sharp digits alone it reads real test digits blurred with σ = 1 at
12 %; benchmarks/evaluator_robustness.py). It scores the images of problem 2's generators by the fraction classified as the digit they were
asked for (overall and per class), and by a Fréchet distance on its 128 pooled features, labelled as
such: a distance between digit images as this classifier sees them, not Inception's FID. The cache
file (under data/cache/) is keyed by the data it was trained on and its training settings, and holds
them with its test accuracy, so a different dataset never reuses another's evaluator.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass

import pandas as pd
import torch
import torchvision.transforms.v2.functional as TF
from torch import nn

from helpers import figures, metrics, runtime
from helpers.data.digits import DigitSet, load_digits
from helpers.methods import training
from helpers.models.classifier import FEATURES, ImageClassifier


RECIPE = training.Optimizer("sgd", lr=0.01, momentum=0.9, annealed=True)  # SGD, μ_p = 0.01 / (1 + 10 p)^0.75


@dataclass
class Evaluator:
    classifier: ImageClassifier
    info: dict  # domain, data origin, training settings, test accuracy, cache file

    def summary(self) -> str:
        i = self.info
        augmented = ", half of each batch blurred and noised" if i["robust"] else ""
        return (f"evaluator: a digit classifier trained on {i['domain']} ({i['n_train']} images from {i['origin']}), "
                f"{i['steps']} steps of {i['batch_size']}{augmented}, seed {i['seed']}; test accuracy {i['acc_test']:.4f} "
                f"on {i['n_test']} images; cached at {i['path']}")


def blur_and_noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The first half of the batch blurred with one random σ (0.01-1.5 px) and given Gaussian noise of one random
    std (0-0.2); the second half as it is."""
    half = len(x) // 2
    sigma = 0.01 + 1.5 * torch.rand(1, generator=generator).item()
    noise = 0.2 * torch.rand(1, generator=generator).item() * torch.randn(x[:half].shape, generator=generator)
    return torch.cat([TF.gaussian_blur(x[:half], [5, 5], [sigma, sigma]) + noise, x[half:]]).clamp(-1, 1)


def digit_evaluator(domain: str, data_root: str = "", *, steps: int, batch_size: int, n_test: int | None = None,
                    seed: int = 0, robust: bool = True, device: torch.device | str = "cpu") -> Evaluator:
    """The classifier of ``domain`` digits from the cache, trained (and cached) first if absent.

    ``robust``: trained with ``blur_and_noise`` on its batches. Its test accuracy is measured on
    ``n_test`` unaltered test images drawn with ``seed`` (None: all of them).
    """
    train = load_digits(domain, "train", data_root)
    test = load_digits(domain, "test", data_root).subset(n_test, seed)
    settings = {"domain": domain, "origin": train.origin, "n_train": len(train), "steps": steps,
                "batch_size": batch_size, "n_test": len(test), "seed": seed, "robust": robust}
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    path = runtime.folder("cache") / f"evaluator_{domain}_{key}.pt"
    if path.exists():
        saved = torch.load(path, weights_only=True)
        classifier = ImageClassifier()
        classifier.load_state_dict(saved["weights"])
        return Evaluator(classifier.eval(), {**saved["info"], "path": str(path)})
    torch.manual_seed(seed)
    classifier = ImageClassifier()
    training.fit_classifier(classifier, train, steps=steps, batch_size=batch_size, seed=seed, optimizer=RECIPE,
                            device=device, augment=blur_and_noise if robust else None, desc=f"evaluator ({domain})")
    info = {**settings, "acc_test": metrics.accuracy(classifier, test, device)}
    partial = path.with_suffix(".tmp")  # written then renamed: a stopped run never leaves half a file
    torch.save({"weights": classifier.cpu().state_dict(), "info": info}, partial)
    os.replace(partial, path)
    return Evaluator(classifier.eval(), {**info, "path": str(path)})


def score(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor,
          device: torch.device | str = "cpu") -> tuple[float, pd.Series]:
    """The fraction of ``images`` (in [-1, 1]) that ``classifier`` classifies as their ``labels``, overall and per
    class; the images are rounded to the bytes of a PNG first, as exported images are."""
    generated = DigitSet(metrics.to_uint8(images), labels, "generated", "", "generator")
    with torch.no_grad():
        predicted = metrics.outputs(classifier, generated, device).argmax(1)
    correct = pd.Series((predicted == labels).numpy(), index=labels.numpy())
    return float(correct.mean()), correct.groupby(level=0).mean().rename("accuracy")


class _ClassifierFeatures(nn.Module):
    """The evaluator's pooled features of uint8 images, as torchmetrics' FID takes a feature network."""

    def __init__(self, classifier: ImageClassifier):
        super().__init__()
        self.features = classifier.features
        self.num_features = FEATURES

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x.float() / 127.5 - 1)  # uint8 -> [-1, 1]


def features(evaluator: Evaluator) -> metrics.FeatureChoice:
    """The evaluator's features for ``metrics.frechet_distance``, named so the distance is labelled by them."""
    module = _ClassifierFeatures(evaluator.classifier).eval().requires_grad_(False)
    return metrics.FeatureChoice(f"{evaluator.info['domain']} digit classifier", module, FEATURES)


def digit_labels(per_class: int) -> torch.Tensor:
    """0 … 0, 1 … 1, …, 9 … 9: ``per_class`` of each digit, the order of the 1000 graded images."""
    return torch.arange(10).repeat_interleave(per_class)


def file_names(labels: torch.Tensor) -> list[str]:
    """The assignment's names {digit}_{index:03d}, the index counting from 1 within each digit (0_001 … 9_100)."""
    seen: dict[int, int] = {}
    names = []
    for digit in labels.tolist():
        seen[digit] = seen.get(digit, 0) + 1
        names.append(f"{digit}_{seen[digit]:03d}")
    return names


def grid_rows(images: torch.Tensor, labels: torch.Tensor, columns: int = 10) -> torch.Tensor:
    """The first ``columns`` images of each digit, digit by digit: the 10×10 grid's rows 0 … 9."""
    return torch.cat([images[labels == digit][:columns] for digit in range(10)])


@dataclass
class Scored:
    images: torch.Tensor
    accuracy: float
    per_class: pd.Series
    seconds: float


def generate_and_score(evaluator: Evaluator, generate, labels: torch.Tensor,
                       device: torch.device | str = "cpu") -> Scored:
    """Time ``generate(labels)`` (images of those classes) and score its images with ``evaluator``."""
    start = time.perf_counter()
    images = generate(labels)
    seconds = time.perf_counter() - start
    accuracy, per_class = score(evaluator.classifier, images, labels, device)
    return Scored(images, accuracy, per_class, seconds)


class Grader:
    """Grades generators as the assignment does and records it in ``run``: for each, the images of
    ``labels`` (100 per digit) are timed, scored, measured by FD to ``reference``, exported as
    {digit}_{index:03d}.png into conditional_<name>_<tag>/ among the run's images and drawn as a 10×10 grid."""

    def __init__(self, judge: Evaluator, reference: torch.Tensor, labels: torch.Tensor, run, tag: str,
                 device: torch.device | str = "cpu"):
        self.judge, self.reference, self.labels, self.run, self.tag, self.device = (
            judge, reference, labels, run, tag, device)
        self.fd_features = features(judge)
        self.results: dict[str, Scored] = {}

    def grade(self, name: str, generate) -> Scored:
        scored = self.results[name] = generate_and_score(self.judge, generate, self.labels, self.device)
        self.run.metric(f"acc_{name}", scored.accuracy)
        self.run.metric(f"fd_{name}", metrics.frechet_distance(self.reference, scored.images, self.fd_features,
                                                               device=self.device))
        folder = self.run.outputs("images") / f"conditional_{name}_{self.tag}"
        self.run.artifact(f"{name}_images", metrics.export_images(scored.images, folder, file_names(self.labels),
                                                                 overwrite=True))
        grid = grid_rows(scored.images, self.labels)
        self.run.figure(figures.image_grid(grid, f"{name}: rows digits 0-9, columns other noise", columns=10),
                        f"conditional_{name}_grid")
        print(f"{name}: evaluator accuracy {scored.accuracy:.4f} on {len(self.labels)} images, "
              f"generated in {scored.seconds:.1f} s")
        return scored
