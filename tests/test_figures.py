import pandas as pd
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
