"""Evaluation: a network's outputs over a dataset, and classification accuracy."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset


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
