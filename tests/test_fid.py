import pytest
import torch
from PIL import Image
from torch import nn

from helpers import metrics


class Flatten12(nn.Module):
    """'Features' that are the 12 numbers of a 3×2×2 image, so the Fréchet distance has a closed form."""

    num_features = 12

    def forward(self, x):
        return x.flatten(1) * 2 - 1  # torchmetrics hands [0, 1]; back to the values we drew


def distance(real, fake, monkeypatch):
    monkeypatch.setattr(metrics, "RandomConvFeatures", Flatten12)
    return metrics.frechet_distance(real, fake, metrics.FeatureChoice("flat"), batch_size=5000)


def test_frechet_distance_matches_the_closed_form_for_two_gaussians(monkeypatch):
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.full((12,), -0.2), torch.linspace(-0.2, 0.2, 12)
    s1, s2 = torch.full((12,), 0.05), torch.linspace(0.15, 0.25, 12)  # all values stay inside [-1, 1]
    real = (mu1 + s1 * torch.randn(20000, 12, generator=g)).view(-1, 3, 2, 2)
    fake = (mu2 + s2 * torch.randn(20000, 12, generator=g)).view(-1, 3, 2, 2)
    closed = ((mu1 - mu2) ** 2).sum() + (s1 ** 2 + s2 ** 2 - 2 * s1 * s2).sum()  # diagonal Σ: (σ1 − σ2)²
    measured = distance(real, fake, monkeypatch)
    assert measured == pytest.approx(closed.item(), rel=0.03)
    assert abs(measured - ((mu1 - mu2) ** 2).sum().item()) > 0.2  # the covariance term counts
    assert distance(real, real, monkeypatch) == pytest.approx(0, abs=1e-6)


def test_the_stand_in_is_fixed_and_never_called_inception(monkeypatch):
    monkeypatch.delenv(metrics.INCEPTION_ENV, raising=False)
    choice = metrics.fid_features()
    assert choice.name != metrics.INCEPTION and "Inception" not in metrics.fid_label(choice.name)
    assert metrics.fid_label(metrics.INCEPTION) == "FID (Inception)"
    x = torch.rand(4, 3, 32, 32)
    state = torch.get_rng_state()
    a, b = metrics.RandomConvFeatures(), metrics.RandomConvFeatures()
    assert torch.equal(torch.get_rng_state(), state)  # the global seed is left alone
    assert torch.equal(a(x), b(x)) and a(x).shape == (4, metrics.RandomConvFeatures.num_features)


def test_inception_weights_come_from_the_argument_or_the_environment(tmp_path, monkeypatch):
    missing = tmp_path / "nothing.pth"
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        metrics.fid_features(str(missing))
    monkeypatch.setenv(metrics.INCEPTION_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        metrics.fid_features()
    weights = tmp_path / metrics.INCEPTION_FILE
    weights.write_bytes(b"")
    assert metrics.fid_features(str(weights)) == metrics.FeatureChoice(metrics.INCEPTION, str(weights))


def test_inception_score_needs_inception_weights(monkeypatch):
    monkeypatch.delenv(metrics.INCEPTION_ENV, raising=False)
    assert metrics.inception_score(torch.rand(4, 3, 16, 16)) is None


def test_export_images_writes_pngs_and_keeps_other_runs_unless_told(tmp_path):
    images = torch.rand(5, 3, 16, 16) * 2 - 1
    folder = metrics.export_images(images, tmp_path / "dcgan")
    files = sorted(folder.glob("*.png"))
    assert [f.name for f in files] == [f"{i:04d}.png" for i in range(5)]
    assert Image.open(files[0]).size == (16, 16)
    with pytest.raises(FileExistsError, match="dcgan.*5 PNG"):
        metrics.export_images(images[:2], folder)
    metrics.export_images(images[:2], folder, overwrite=True)
    assert len(list(folder.glob("*.png"))) == 2
