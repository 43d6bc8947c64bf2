"""The VAE (helpers/models/vae.py, helpers/methods/vae.py): the KL term, the reparameterization, the
loss, the loop, and how the notebook finds problem 1's images to compare with."""
import json
import math
import os

import pytest
import torch

from helpers import metrics, report, runtime
from helpers.methods import vae
from helpers.models.vae import VAE, kl_divergence, reparameterize
from fakes import Images


def test_kl_closed_form_matches_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu, log_var = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    z = reparameterize(mu.expand(200_000, 3, 4), log_var.expand(200_000, 3, 4), g)  # z ~ q(z|x)
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    log_ratio = (q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(-1)  # log q(z) − log p(z)
    estimate, error = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(z))
    assert torch.all((kl_divergence(mu, log_var) - estimate).abs() < 4 * error)
    assert torch.allclose(kl_divergence(torch.zeros(2, 5), torch.zeros(2, 5)), torch.zeros(2))  # q = p


def test_reparameterization_passes_the_analytic_gradients_to_mu_and_log_var():
    mu = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    log_var = torch.tensor([[0.0, 1.0, -2.0]], requires_grad=True)
    z = reparameterize(mu, log_var, torch.Generator().manual_seed(3))
    eps = torch.randn(1, 3, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(z, mu + (0.5 * log_var).exp() * eps)
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))  # ∂z/∂μ = 1
    assert torch.allclose(log_var.grad, 0.5 * (0.5 * log_var).exp() * eps)  # ∂z/∂log σ² = ½ σ ε


@pytest.mark.parametrize("size", [8, 16, 32])
def test_the_vae_maps_images_to_codes_and_back(size):
    model = VAE(size, width=4, latent_dim=6)
    x = torch.rand(5, 3, size, size) * 2 - 1
    x_hat, mu, log_var = model(x)
    assert x_hat.shape == x.shape and x_hat.abs().max() <= 1
    assert mu.shape == log_var.shape == (5, 6)
    assert vae.sample(model, 7, seed=1).shape == (7, 3, size, size)
    with pytest.raises(ValueError, match="power of two"):
        VAE(24)


def test_the_loss_sums_the_squared_error_per_image_and_averages_over_the_batch():
    x = torch.zeros(2, 3, 4, 4)
    x_hat = torch.stack([torch.full((3, 4, 4), 0.5), torch.full((3, 4, 4), -1.0)])
    assert vae.reconstruction_error(x_hat, x).tolist() == [48 * 0.25, 48 * 1.0]
    mu, log_var = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.zeros(2, 2)  # KL per image: ½ and 0
    total, parts = vae.loss(x_hat, x, mu, log_var, beta=0.1)
    assert parts["mse"] == pytest.approx(30.0) and parts["kld"] == pytest.approx(0.25)
    assert total.item() == pytest.approx(30.0 + 0.1 * 0.25)
    assert [vae.warmup_beta(0.5, step, 4) for step in (0, 2, 4, 8)] == [0.0, 0.25, 0.5, 0.5]
    assert vae.warmup_beta(0.5, 0, 0) == 0.5


def test_random_shift_moves_each_image_by_its_own_offset_and_repeats_the_edges():
    x = torch.zeros(200, 1, 7, 7)
    x[:, :, 3, 3] = 1.0  # one bright pixel in the middle
    x[:, :, :, 0] = -1.0  # a dark left edge
    moved = vae.random_shift(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(moved, vae.random_shift(x, 2, torch.Generator().manual_seed(0)))
    where = torch.stack([torch.nonzero(image[0] == 1.0)[0] for image in moved]) - 3  # (dy, dx) of each image
    assert set(where.flatten().tolist()) == {-2, -1, 0, 1, 2}  # every offset, none beyond ±shift
    right = where[:, 1] > 0
    assert torch.all(moved[right, 0, :, 0] == -1) and torch.all(moved[right][:, 0, :, 1] == -1)  # edge repeated
    assert torch.all(moved[right][:, 0, :, -1] == 0)
    assert torch.equal(vae.random_shift(x, 0, torch.Generator()), x)
    for bad in (-1, 7):
        with pytest.raises(ValueError, match="expected 0 ≤ shift"):
            vae.random_shift(x, bad, torch.Generator())


def test_training_is_seeded_logs_its_history_and_lowers_the_test_error():
    images, test = Images(n=16, size=8), Images(n=4, size=8, seed=1)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = VAE(8, width=4, latent_dim=4)
        before = vae.evaluate(model, test)["mse"]
        runs.append(vae.train(model, images, steps=40, batch_size=8, beta=0.1, warmup=10, flip=True, shift=1,
                              lr=2e-3, seed=0, log_every=5, test=test, evaluate_every=20))
    history = runs[0]
    assert history.equals(runs[1])
    assert list(history["step"]) == list(range(5, 41, 5))
    assert {"beta", "mse", "kld", "loss"} <= set(history) and history["beta"].iloc[0] == pytest.approx(0.05)
    assert history["mse_test"].notna().tolist() == [False, False, False, True] * 2
    assert history["mse_test"].iloc[-1] < before
    assert model.training  # train() leaves it ready to go on
    torch.manual_seed(0)
    unshifted = vae.train(VAE(8, width=4, latent_dim=4), images, steps=40, batch_size=8, beta=0.1, warmup=10,
                          flip=True, lr=2e-3, seed=0, log_every=5)
    assert not unshifted["mse"].equals(history["mse"])  # the shifts reach the batches


def test_the_learning_rate_reaches_adam():
    model = VAE(8, width=4, latent_dim=4)
    before = [p.clone() for p in model.parameters()]
    vae.train(model, Images(n=8, size=8), steps=2, batch_size=4, beta=1.0, lr=0.0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # lr 0: no step moves θ
    vae.train(model, Images(n=8, size=8), steps=2, batch_size=4, beta=1.0, lr=1e-3)
    assert not all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_the_learning_rate_falls_along_a_cosine_to_zero():
    history = vae.train(VAE(8, width=4, latent_dim=4), Images(n=8, size=8), steps=4, batch_size=4, beta=1.0,
                        lr=1e-3, log_every=1)
    cosine = [1e-3 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]  # η_t = η (1 + cos(π t / T)) / 2
    assert history["lr"].tolist() == pytest.approx(cosine)


def test_identified_counts_the_reconstructions_nearest_their_own_input():
    x = torch.stack([torch.full((3, 4, 4), v) for v in (-1.0, 0.0, 1.0)])
    none = torch.empty(0, 3, 4, 4)
    assert vae.identified(x + 0.1, x, none) == 1.0
    assert vae.identified(x.flip(0), x, none) == pytest.approx(1 / 3)  # only the middle image maps to itself
    assert vae.identified(x + 0.1, x, x[:1] + 0.1) == pytest.approx(2 / 3)  # the first is nearer another image
    with pytest.raises(ValueError, match=r"reconstructions \(2, 3, 4, 4\), inputs \(3, 3, 4, 4\)"):
        vae.identified(x[:2], x, none)


def test_a_nan_loss_stops_training_and_names_the_step():
    model = VAE(8, width=4, latent_dim=4)
    with torch.no_grad():
        model.decoder.project.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="at step 1"):
        vae.train(model, Images(n=8, size=8), steps=3, batch_size=4, beta=1.0)


def test_interpolation_runs_from_one_code_to_the_other():
    model = VAE(8, width=4, latent_dim=4)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    path = vae.interpolate(model, x[0], x[1], steps=5)
    assert path.shape == (5, 3, 8, 8)
    assert torch.allclose(path[[0, -1]], vae.reconstruct(model, x), atol=1e-6)
    assert torch.equal(vae.encode(model, Images(n=3, size=8)), model.encoder(Images(n=3, size=8).images)[0])


def test_every_profile_draws_vae_images_of_the_gan_size():
    for profile in runtime.PROFILES:
        assert runtime.settings(profile, "vae")["size"] == runtime.settings(profile, "gan")["size"]


def write_gan_record(runs, name, profile, data_root="", seed=0):
    folder = runs / "images" / name / "gan_dcgan"  # each run's own folder
    metrics.export_images(torch.full((3, 3, 8, 8), -1.0), folder, overwrite=True)
    record = {"notebook": "gan", "profile": profile, "seed": seed, "parameters": {"data_root": data_root},
              "metrics": {}, "artifacts": {"gan_dcgan_images": str(folder)}}
    (runs / f"{name}.json").write_text(json.dumps(record))
    return folder


def test_the_gan_images_are_those_of_the_newest_gan_run_of_the_same_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_RUNS", str(tmp_path))
    found, note = report.exported_gan_images(0, "cpu", "")
    assert found == {} and "python -m helpers.run gan --profile cpu --seed 0" in note
    folder = write_gan_record(tmp_path, "gan-cpu-seed0", "cpu")
    assert report.exported_gan_images(0, "cpu", "")[0] == {"dcgan": folder}
    assert report.exported_gan_images(1, "cpu", "")[0] == {}
    images = metrics.import_images(folder)
    assert images.shape == (3, 3, 8, 8) and torch.equal(images, torch.full((3, 3, 8, 8), -1.0))
    later = write_gan_record(tmp_path, "gan-smoke-seed0", "smoke")  # a later run of other settings, in its own folder
    assert report.exported_gan_images(0, "cpu", "")[0] == {"dcgan": folder}
    assert report.exported_gan_images(0, "smoke", "")[0] == {"dcgan": later}
    assert report.exported_gan_images(0, "smoke", "/data")[0] == {}
    newer = write_gan_record(tmp_path, "gan-dcgan-cpu-seed0", "cpu")
    newer_time = (tmp_path / "gan-cpu-seed0.json").stat().st_mtime + 1
    os.utime(tmp_path / "gan-dcgan-cpu-seed0.json", (newer_time, newer_time))
    found, note = report.exported_gan_images(0, "cpu", "")
    assert found == {"dcgan": newer} and "(from gan-dcgan-cpu-seed0.json)" in note
    (tmp_path / "broken.json").write_text("{")  # a record cut short is an error, not a run skipped
    with pytest.raises(ValueError, match="broken.json is not a readable run record"):
        report.exported_gan_images(0, "smoke", "")


def test_the_vae_table_compares_the_vae_with_the_gans_on_one_kind_of_features():
    record = {"fid_features": metrics.RandomConvFeatures.name, "parameters": {"beta": 0.5},
              "metrics": {"fid_vae": 2.0, "fid_gan_dcgan": 1.0, "mse_test": 90.0, "kld_test": 30.0,
                          "identified_test": 0.75, "seconds_train": 100.0}}
    table = report.vae_table([record])
    assert list(table.index) == ["VAE (β = 0.5)", "DCGAN (problem 1)"]
    assert table.loc["DCGAN (problem 1)", "FD (random ConvNet (seed 0) features)"] == "1.0000"
    assert table.loc["VAE (β = 0.5)", "MSE test"] == "90.0000"
    assert table.loc["VAE (β = 0.5)", "identified test"] == "0.7500"
    with pytest.raises(ValueError, match="one kind of features"):
        report.vae_table([record, {**record, "fid_features": metrics.INCEPTION}])


def test_the_pca_reference_reconstructs_the_span_of_the_training_faces_and_names_bad_sizes():
    train = Images(n=6, size=8)
    inside = train.batch(torch.arange(3))  # training faces lie in the span of their components
    assert torch.allclose(vae.pca_reconstruct(train, inside, 5), inside, atol=1e-4)
    outside = torch.rand(2, 3, 8, 8) * 2 - 1
    assert not torch.allclose(vae.pca_reconstruct(train, outside, 5), outside, atol=1e-2)
    with pytest.raises(ValueError, match="components=6: expected 1 to 5 for 6 training images"):
        vae.pca_reconstruct(train, inside, 6)


def test_training_in_bf16_lowers_the_loss_with_float32_weights():
    torch.manual_seed(0)
    model = VAE(8, width=4, latent_dim=4)
    history = vae.train(model, Images(n=16, size=8), steps=40, batch_size=8, beta=0.1, seed=0, log_every=10,
                        precision=runtime.Precision("bf16", "cpu"))
    assert history["mse"].iloc[-1] < history["mse"].iloc[0] and history.notna().all().all()
    assert all(p.dtype == torch.float32 for p in model.parameters())
