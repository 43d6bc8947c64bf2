import pandas as pd
import pytest
import torch
from fakes import digit_set
from torch import nn

from helpers import figures


class Constant(nn.Module):
    """Features that say which network made them: every image maps to (value, value)."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full((len(x), 2), self.value)


def test_feature_tsne_takes_one_network_per_dataset(monkeypatch):
    monkeypatch.setattr(figures, "tsne", lambda vectors, seed: vectors.numpy())  # the features as the 2-D points
    datasets = {"source": digit_set(n=5), "target": digit_set(n=3, seed=1)}
    points = figures.feature_tsne({"source": Constant(1.0), "target": Constant(2.0)}, datasets, seed=0)
    assert points.groupby("domain")["x"].unique().to_dict() == {"source": [1.0], "target": [2.0]}
    shared = figures.feature_tsne(Constant(3.0), datasets, seed=0)
    assert set(shared["x"]) == {3.0} and len(shared) == 8


def test_method_curves_draws_a_panel_per_logged_quantity():
    histories = {"a": pd.DataFrame({"step": [1, 2], "loss": [1.0, 0.5], "accuracy": [0.2, 0.4]}),
                 "b": pd.DataFrame({"step": [1, 2], "loss": [2.0, 1.0]})}
    fig = figures.method_curves(histories)
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    assert titles == ["a: loss", "a: accuracy", "b: loss"]


def test_translation_grid_puts_each_translation_row_under_its_source_row_and_target_images_last():
    source, translated, target = -torch.ones(16, 3, 4, 4), torch.ones(16, 3, 4, 4), torch.zeros(8, 3, 4, 4)
    fig = figures.translation_grid(source, translated, target, columns=8)
    grid = fig.axes[0].images[0].get_array()  # 5 rows of 4-pixel images with 2 pixels of padding
    row_means = [grid[2 + 6 * r: 6 + 6 * r, 2:6].mean() for r in range(5)]
    assert row_means == pytest.approx([0, 1, 0, 1, 0.5], abs=1e-6)  # black, white, black, white, grey
