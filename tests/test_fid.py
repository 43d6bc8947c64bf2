import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch_fidelity import feature_extractor_inceptionv3 as fidelity

from helpers import metrics


class Flatten12(nn.Module):
    """'Features' that are the 12 numbers of a 3×2×2 image, so the Fréchet distance has a closed form."""

    def forward(self, x):
        return x.flatten(1) / 127.5 - 1  # the uint8 torchmetrics is handed, back to the values we drew


FLAT = metrics.FeatureChoice("flat", Flatten12(), 12)


def forbid_download(*args, **kwargs):
    raise AssertionError("a download was attempted")


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """A file in the FID Inception weights' format with random values (the real weights cannot be fetched here)."""
    path = tmp_path_factory.mktemp("weights") / metrics.INCEPTION_FILE
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state_dict: None)
        torch.save(fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict(), path)
    return path


def test_frechet_distance_matches_the_closed_form_for_two_gaussians():
    n, g = 20000, torch.Generator().manual_seed(0)
    mu1, mu2 = torch.zeros(12), torch.linspace(-0.15, 0.15, 12)
    s1, s2 = torch.full((12,), 0.05), torch.linspace(0.08, 0.15, 12)  # 4.7 σ from ±1: nothing is clipped
    real = (mu1 + s1 * torch.randn(n, 12, generator=g)).view(-1, 3, 2, 2)
    fake = (mu2 + s2 * torch.randn(n, 12, generator=g)).view(-1, 3, 2, 2)
    mean_term = ((mu1 - mu2) ** 2).sum().item()
    closed = mean_term + (s1 ** 2 + s2 ** 2 - 2 * s1 * s2).sum().item()  # diagonal Σ: Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½)
    # standard error by the delta method: 2 Δμ·(ε2 − ε1) with ε ~ N(0, σ²/n), and 2 (σ1 − σ2)(δ1 − δ2)
    # with δ ~ N(0, σ²/2n): 6.8e-4 here (100 seeds gave an SD of 7.1e-4, 8-bit rounding included)
    se = math.sqrt(((4 * (mu1 - mu2) ** 2 + 2 * (s1 - s2) ** 2) * (s1 ** 2 + s2 ** 2)).sum() / n)
    measured = metrics.frechet_distance(real, fake, FLAT, batch_size=5000)
    assert abs(measured - closed) < 5 * se
    assert abs(closed - mean_term) > 50 * se  # a formula without the covariance term would fail
    assert abs(closed - mean_term - (s1 ** 2 + s2 ** 2).sum().item()) > 50 * se  # ... or without its cross term


def test_identical_sets_are_at_distance_zero():
    x = torch.randn(2000, 3, 2, 2, generator=torch.Generator().manual_seed(1)) * 0.3
    assert metrics.frechet_distance(x, x, FLAT, batch_size=500) == pytest.approx(0, abs=1e-9)


def test_the_stand_in_is_fixed_and_never_called_inception(monkeypatch):
    monkeypatch.delenv(metrics.INCEPTION_ENV, raising=False)
    state = torch.get_rng_state()
    a, b = metrics.fid_features(), metrics.fid_features()
    assert torch.equal(torch.get_rng_state(), state)  # the global seed is left alone
    assert a.name == b.name == "random ConvNet (seed 0)"
    assert "inception" not in metrics.fid_label(a).lower() and metrics.fid_label(a).startswith("FD (")
    assert all(torch.equal(p, q) for p, q in zip(a.module.state_dict().values(), b.module.state_dict().values()))
    assert not a.module.training and not any(p.requires_grad for p in a.module.parameters())
    x = metrics.to_uint8(torch.rand(4, 3, 32, 32) * 2 - 1)
    assert torch.equal(a.module(x), b.module(x)) and a.module(x).shape == (4, a.dims)


def test_inception_weights_come_from_the_argument_or_the_environment(tmp_path, monkeypatch):
    missing = tmp_path / "nothing.pth"
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        metrics.fid_features(str(missing))
    monkeypatch.setenv(metrics.INCEPTION_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        metrics.fid_features()
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        metrics.inception_score(torch.zeros(2, 3, 8, 8))
    not_weights = tmp_path / "notes.pth"
    not_weights.write_text("not weights")
    with pytest.raises(ValueError, match="notes.pth"):
        metrics.fid_features(str(not_weights))


@pytest.mark.filterwarnings("ignore:Metric `InceptionScore` will save")
def test_inception_loads_from_the_local_file_only(inception_file, tmp_path, monkeypatch):
    monkeypatch.setattr(fidelity, "load_state_dict_from_url", forbid_download)
    monkeypatch.setenv(metrics.INCEPTION_ENV, str(tmp_path / "nothing.pth"))  # the argument comes first
    choice = metrics.fid_features(str(inception_file))
    assert (choice.name, choice.dims, metrics.fid_label(choice)) == ("Inception", 2048, "FID (Inception)")
    assert metrics.fid_label(choice.name) == "FID (Inception)"  # as report.py labels a recorded name
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    assert choice.module(metrics.to_uint8(images)).shape == (2, 2048)
    monkeypatch.setenv(metrics.INCEPTION_ENV, str(inception_file))
    mean, std = metrics.inception_score(images)
    assert mean >= 1 and std >= 0  # exp of a mean KL divergence


def test_inception_score_needs_inception_weights(monkeypatch):
    monkeypatch.delenv(metrics.INCEPTION_ENV, raising=False)
    assert metrics.inception_score(torch.rand(4, 3, 16, 16) * 2 - 1) is None


def test_export_images_writes_readable_pngs_and_refuses_a_folder_with_others(tmp_path):
    images = torch.rand(5, 3, 16, 12) * 2 - 1
    folder = tmp_path / "dcgan"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept")  # not a PNG: no reason to refuse
    names = [f"{digit}_{index:03d}" for digit in range(5) for index in (1,)]  # as problem 2 names them
    assert metrics.export_images(images, folder, names) == folder
    files = sorted(folder.glob("*.png"))
    assert [f.name for f in files] == ["0_001.png", "1_001.png", "2_001.png", "3_001.png", "4_001.png"]
    for file, pixels in zip(files, metrics.to_uint8(images)):
        with Image.open(file) as image:
            assert (image.mode, image.size) == ("RGB", (12, 16))
            assert np.array_equal(np.asarray(image), pixels.permute(1, 2, 0).numpy())  # what FID saw
    with pytest.raises(ValueError, match="dcgan.*5 PNG"):
        metrics.export_images(images[:2], folder)
    assert len(list(folder.glob("*.png"))) == 5
    with pytest.raises(ValueError, match="2 distinct file names"):
        metrics.export_images(images[:2], folder, ["a", "a"], overwrite=True)
    metrics.export_images(images[:2], folder, overwrite=True)
    assert sorted(f.name for f in folder.iterdir()) == ["0000.png", "0001.png", "notes.txt"]


def test_nearest_finds_the_closest_image_in_every_chunk():
    class Pool:
        images = torch.rand(10, 3, 4, 4) * 2 - 1
        def __len__(self):
            return len(self.images)
        def batch(self, index):
            return self.images[index]
    pool = Pool()
    queries = torch.stack([pool.images[7], pool.images[2] + 0.1])
    distance, index = metrics.nearest(queries, pool, chunk=3)
    assert index.tolist() == [7, 2]
    assert distance.tolist() == pytest.approx([0.0, 0.1], abs=1e-5)  # RMS over pixels
