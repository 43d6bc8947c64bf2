"""Problem 2: the diffusion schedule and samplers, classifier-free guidance, ACGAN, the evaluator and its table."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from helpers import evaluator, report, runtime
from helpers.data.digits import DigitSet
from helpers.data.faces import FaceSet, with_binary_attribute
from helpers.methods import acgan, diffusion
from helpers.models import gan as gan_models
from helpers.models.unet import ConditionalUNet


def digits(n: int = 40, seed: int = 0) -> DigitSet:
    rng = torch.Generator().manual_seed(seed)
    return DigitSet(torch.randint(0, 256, (n, 3, 28, 28), generator=rng, dtype=torch.uint8),
                    torch.arange(n) % 10, "test", "train", "random")


# ---- diffusion ----

def test_the_schedule_is_linear_and_ends_near_pure_noise():
    with pytest.raises(ValueError, match="T=20"):
        diffusion.Schedule(20)
    for T in (50, 400, 1000):
        s = diffusion.Schedule(T)
        assert torch.allclose(s.betas.diff(), s.betas.diff()[0].expand(T - 1))  # linear
        assert s.alpha_bars[-1] < 1e-4 and s.alpha_bars[0] > 0.99
    assert diffusion.Schedule(1000).betas[[0, -1]].tolist() == pytest.approx([1e-4, 0.02])  # DDPM's


def test_noising_follows_the_closed_form():
    s, x0, eps = diffusion.Schedule(100), torch.rand(3, 3, 28, 28), torch.randn(3, 3, 28, 28)
    t = torch.tensor([0, 50, 99])
    a = torch.cumprod(1 - s.betas, 0)[t].float()
    expected = a.sqrt()[:, None, None, None] * x0 + (1 - a).sqrt()[:, None, None, None] * eps
    assert torch.allclose(s.noised(x0, t, eps), expected)


def test_sampling_timesteps_are_evenly_spaced_down_to_zero():
    assert diffusion.timesteps(10, 10) == list(range(9, -1, -1))
    assert diffusion.timesteps(1000, 4) == [750, 500, 250, 0]
    for bad in (0, 11):
        with pytest.raises(ValueError, match=f"steps={bad}"):
            diffusion.timesteps(10, bad)


class Oracle(torch.nn.Module):
    """A 'network' that knows the image x_0 of each class: it returns the exact ε of x_t."""

    null_class = 10

    def __init__(self, schedule, images):
        super().__init__()
        self.schedule, self.images = schedule, images

    def forward(self, x, t, c):
        a = self.schedule.alpha_bars.float()[t][:, None, None, None]
        return (x - a.sqrt() * self.images[c.clamp(max=9)]) / (1 - a).sqrt()  # ε = (x_t − √ᾱ x_0) / √(1−ᾱ)


@pytest.mark.parametrize("sampler", ["ddim 1", "ddim 7", "ddpm"])
def test_with_the_exact_noise_every_sampler_returns_the_image(sampler):
    """The update x_{t'} = √ᾱ' x̂_0 + √(1−ᾱ'−σ²) ε̂ + σ z must land on x_0 when ε̂ is exact."""
    schedule = diffusion.Schedule(50)
    images = torch.rand(10, 3, 28, 28) * 2 - 1
    labels = torch.tensor([3, 1, 4, 1, 5])
    name, *steps = sampler.split()
    if name == "ddim":
        out = diffusion.ddim(Oracle(schedule, images), schedule, labels, w=0.0, steps=int(steps[0]), seed=0)
    else:
        out = diffusion.ddpm(Oracle(schedule, images), schedule, labels, w=0.0, seed=0)
    assert torch.allclose(out, images[labels], atol=1e-4)


def test_ddim_is_deterministic_and_ddpm_draws_noise_from_the_seed():
    schedule = diffusion.Schedule(50)
    model = diffusion.new_model(8, schedule, 0)[1]
    labels = torch.arange(3)
    a, b = (diffusion.ddim(model, schedule, labels, w=1.0, steps=4, seed=5) for _ in range(2))
    assert torch.equal(a, b)
    c, d, e = (diffusion.ddpm(model, schedule, labels, w=1.0, seed=s) for s in (5, 5, 6))
    assert torch.equal(c, d) and not torch.equal(c, e)


def test_the_trace_holds_x_t_from_t_equal_T_to_zero():
    schedule = diffusion.Schedule(50)
    model = diffusion.new_model(8, schedule, 0)[1]
    trace = {}
    out = diffusion.ddpm(model, schedule, torch.tensor([0, 1]), w=0.0, seed=0, trace=trace)
    assert sorted(trace) == list(range(51))
    assert torch.equal(trace[0], out[0])


def test_guidance_mixes_the_conditional_and_unconditional_predictions():
    class Constant(torch.nn.Module):
        null_class = 10

        def forward(self, x, t, c):
            return torch.where(c == self.null_class, 1.0, 3.0)[:, None, None, None].expand_as(x)

    x, t, c = torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), torch.tensor([0, 7])
    assert torch.allclose(diffusion.guided_eps(Constant(), x, t, c, w=2.0), torch.full_like(x, 3 * 3 - 2 * 1))
    assert torch.allclose(diffusion.guided_eps(Constant(), x, t, c, w=0.0), torch.full_like(x, 3.0))


def test_training_drops_the_class_one_time_in_ten(monkeypatch):
    seen, schedule = [], diffusion.Schedule(50)
    model, ema = diffusion.new_model(8, schedule, 0)
    forward = ConditionalUNet.forward

    def spy(self, x, t, c):
        seen.append(c.clone())
        return forward(self, x, t, c)

    monkeypatch.setattr(ConditionalUNet, "forward", spy)
    history = diffusion.train(model, ema, digits(), schedule, steps=25, batch_size=32, lr=1e-3, seed=0)
    classes = torch.cat(seen)
    assert 0.06 < (classes == model.null_class).float().mean() < 0.14  # p_uncond = 0.1 over 800 draws
    assert set(classes.tolist()) == set(range(11))
    assert list(history.columns) == ["step", "loss", "lr"] and np.isfinite(history["loss"]).all()


def test_a_diverging_diffusion_run_stops_and_names_the_step():
    schedule = diffusion.Schedule(50)
    model, ema = diffusion.new_model(8, schedule, 0)
    with torch.no_grad():
        model.unet.out[-1].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="diffusion loss is nan at step 0"):
        diffusion.train(model, ema, digits(), schedule, steps=3, batch_size=8, lr=1e-3, seed=0)


@pytest.mark.parametrize("objective", ["eps", "v"])
def test_the_noise_predictor_adds_the_skip_to_the_unet(objective):
    schedule = diffusion.Schedule(50)
    model = diffusion.new_model(8, schedule, 0, objective)[0]
    x, t, c = torch.randn(2, 3, 28, 28), torch.tensor([0, 49]), torch.tensor([1, 10])
    a = schedule.alpha_bars[t].float()[:, None, None, None]
    scale = a.sqrt() if objective == "v" else 1.0
    assert torch.allclose(model(x, t, c), (1 - a).sqrt() * x + scale * model.unet(x, t, c), atol=1e-6)
    # √(1−ᾱ_t) x_t + F, or + √ᾱ_t F when F predicts v


def test_a_unet_that_predicts_v_exactly_gives_back_the_noise_at_zero_loss(monkeypatch):
    schedule = diffusion.Schedule(50)
    model = diffusion.new_model(8, schedule, 0, "v")[0]
    x0, eps, t, c = torch.rand(4, 3, 28, 28) * 2 - 1, torch.randn(4, 3, 28, 28), torch.tensor([0, 10, 30, 49]), \
        torch.arange(4)
    a = schedule.alpha_bars[t].float()[:, None, None, None]
    v = a.sqrt() * eps - (1 - a).sqrt() * x0
    monkeypatch.setattr(model.unet, "forward", lambda x, t, c: v)
    assert model.loss(x0, t, eps, c, schedule).item() == pytest.approx(0.0, abs=1e-10)
    assert torch.allclose(model(schedule.noised(x0, t, eps), t, c), eps, atol=1e-4)


def test_an_unknown_objective_is_refused():
    with pytest.raises(ValueError, match=r"objective='x0'.*\('eps', 'v'\)"):
        diffusion.new_model(8, diffusion.Schedule(50), 0, "x0")


def test_the_unet_keeps_the_image_shape_and_uses_the_class():
    model = ConditionalUNet(width=8).eval()
    x, t = torch.randn(2, 3, 28, 28), torch.tensor([3, 3])
    out = [model(x, t, torch.tensor([c, c])) for c in (0, 10)]
    assert out[0].shape == x.shape and not torch.allclose(out[0], out[1])


# ---- ACGAN ----

def test_the_gan_networks_take_28_pixel_digits_and_refuse_other_sizes():
    assert gan_models._levels(28) == 2 and gan_models._levels(64) == 4
    for bad in (24, 7, 100):
        with pytest.raises(ValueError, match=f"image size {bad}"):
            gan_models._levels(bad)


def test_acgan_discriminator_gives_a_real_fake_logit_and_class_logits():
    g, d, ema = acgan.new_networks(10, 28, 8, 16, seed=0)
    images = acgan.sample(ema, torch.tensor([0, 1, 2]), seed=0)
    assert images.shape == (3, 3, 28, 28) and images.abs().max() <= 1
    real_fake, classes = d(images)
    assert real_fake.shape == (3,) and classes.shape == (3, 10)
    assert not torch.allclose(classes.softmax(1).sum(1), classes.sum(1))  # logits, not probabilities


def test_acgan_discriminator_drops_feature_maps_in_training_only():
    d = acgan.new_networks(10, 28, 8, 16, seed=0, dropout=0.5)[1]
    assert sum(isinstance(m, torch.nn.Dropout2d) for m in d.modules()) == 2  # after each of its 2 activations
    x = torch.rand(4, 3, 28, 28) * 2 - 1
    d.eval()
    assert torch.equal(d(x)[1], d(x)[1])
    d.train()
    torch.manual_seed(0)
    assert not torch.equal(d(x)[1], d(x)[1])
    plain = acgan.new_networks(10, 28, 8, 16, seed=0)[1]
    assert not any(isinstance(m, torch.nn.Dropout2d) for m in plain.modules())


def test_acgan_images_depend_on_the_class_and_the_seed():
    ema = acgan.new_networks(10, 28, 8, 16, seed=0)[2]
    a, b, c = (acgan.sample(ema, torch.tensor([label]), seed=s) for label, s in ((1, 0), (2, 0), (1, 1)))
    assert not torch.allclose(a, b) and not torch.allclose(a, c)
    assert torch.equal(a, acgan.sample(ema, torch.tensor([1]), seed=0))


def test_acgan_trains_on_digits_and_logs_its_class_head():
    g, d, ema = acgan.new_networks(10, 28, 8, 16, seed=0)
    history = acgan.train(g, d, ema, digits(), steps=4, batch_size=8, seed=0)
    assert {"loss_d", "loss_g", "class_accuracy_real", "class_accuracy_fake"} <= set(history.columns)
    assert history["step"].iloc[-1] == 4


def test_acgan_class_weight_scales_the_generators_class_loss():
    runs = {}
    for weight in (0.0, 1.0, 3.0):
        g, d, ema = acgan.new_networks(10, 28, 8, 16, seed=0)
        history = acgan.train(g, d, ema, digits(), steps=1, batch_size=8, seed=0, class_weight=weight)
        runs[weight] = history["loss_g"].iloc[0]
    # −log D(G(z, c)) + λ_C L_C is linear in λ_C, all else equal at the first step
    assert runs[3.0] - runs[1.0] == pytest.approx(2 * (runs[1.0] - runs[0.0]), rel=1e-4)
    assert runs[1.0] > runs[0.0]


def faces_with(values) -> FaceSet:
    images = torch.randint(0, 256, (len(values), 3, 16, 16), dtype=torch.uint8)
    table = pd.DataFrame({"image_name": [f"{i}.png" for i in range(len(values))], "Smiling": values})
    return FaceSet(images, table, "train", "a test", "train.csv")


def test_acgan_trains_on_faces_labelled_by_a_binary_attribute():
    labelled = with_binary_attribute(faces_with([-1, 1] * 8), "Smiling")
    assert labelled.labels.tolist() == [0, 1] * 8
    g, d, ema = acgan.new_networks(2, 16, 4, 8, seed=0)
    acgan.train(g, d, ema, labelled, steps=2, batch_size=4, seed=0)
    assert acgan.sample(ema, torch.tensor([0, 1]), seed=0).shape == (2, 3, 16, 16)


def test_a_face_attribute_that_is_not_binary_is_refused():
    with pytest.raises(ValueError, match=r"'Smiling'.*train.csv.*\[0, 1, 2\]"):
        with_binary_attribute(faces_with([0, 1, 2, 1]), "Smiling")


# ---- the evaluator ----

def test_the_graded_images_are_named_as_the_assignment_asks():
    names = evaluator.file_names(evaluator.digit_labels(100))
    assert len(set(names)) == 1000 and names[:2] == ["0_001", "0_002"] and names[99] == "0_100"
    assert names[-1] == "9_100"


def test_the_grid_has_one_row_per_digit():
    labels = evaluator.digit_labels(12)
    images = labels.float()[:, None, None, None].expand(-1, 3, 2, 2)
    rows = evaluator.grid_rows(images, labels)
    assert rows[:, 0, 0, 0].tolist() == [float(d) for d in range(10) for _ in range(10)]


class Fixed(torch.nn.Module):
    """A classifier that calls every image a 3."""

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float()


def test_scores_are_overall_and_per_class():
    labels = torch.tensor([3, 3, 1, 2])
    accuracy, per_class = evaluator.score(Fixed(), torch.zeros(4, 3, 28, 28), labels)
    assert accuracy == 0.5 and per_class.to_dict() == {1: 0.0, 2: 0.0, 3: 1.0}


def write_course_digits(root, n=20):
    folder = root / "digits" / "mnistm"
    (folder / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for csv in ("train.csv", "val.csv"):
        rows = []
        for i in range(n):
            name = f"{csv[:-4]}_{i}.png"
            Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(folder / "data" / name)
            rows.append(f"{name},{i % 10}\n")
        (folder / csv).write_text("image_name,label\n" + "".join(rows))


def test_the_evaluator_is_cached_with_what_it_was_trained_on(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    write_course_digits(tmp_path)
    first = evaluator.digit_evaluator("mnistm", str(tmp_path), steps=3, batch_size=8)
    assert first.info["n_train"] == 20 and first.info["steps"] == 3 and "course data" in first.info["origin"]
    assert 0 <= first.info["acc_test"] <= 1 and "test accuracy" in first.summary()
    def train(*args, **kwargs):
        raise RuntimeError("trained again")

    monkeypatch.setattr(evaluator.training, "fit_classifier", train)
    again = evaluator.digit_evaluator("mnistm", str(tmp_path), steps=3, batch_size=8)
    assert again.info == first.info
    for a, b in zip(again.classifier.state_dict().values(), first.classifier.state_dict().values()):
        assert torch.equal(a, b)
    for other in ({"steps": 4}, {"robust": False}):  # other settings: another evaluator
        with pytest.raises(RuntimeError, match="trained again"):
            evaluator.digit_evaluator("mnistm", str(tmp_path), **{"steps": 3, "batch_size": 8, **other})


def test_the_evaluator_trains_on_blurred_and_noised_halves_of_its_batches():
    x = digits(8).batch(torch.arange(8))[0]
    altered = evaluator.blur_and_noise(x, torch.Generator().manual_seed(0))
    assert altered.shape == x.shape and altered.abs().max() <= 1
    assert torch.equal(altered[4:], x[4:]) and not torch.allclose(altered[:4], x[:4], atol=0.05)
    assert torch.equal(altered, evaluator.blur_and_noise(x, torch.Generator().manual_seed(0)))  # the seed fixes it
    assert altered[:4].std() < x[:4].std()  # the random pixels are smoothed


def record(domain="mnistm", **metrics):
    return {"notebook": "conditional", "parameters": {"domain": domain}, "metrics": metrics}


def test_the_table_has_one_row_per_graded_sampler_and_refuses_mixed_domains():
    full = dict(acc_acgan=.9, fd_acgan=2.0, seconds_train_acgan=100, seconds_sample_acgan=1,
                acc_ddim=.97, fd_ddim=1.0, acc_ddpm=.98, fd_ddpm=0.9, seconds_train_diffusion=600,
                seconds_sample_ddim=40, seconds_sample_ddpm=400)
    table = report.conditional_table([record(**full), record(**{**full, "acc_ddim": .95})])
    assert list(table.index) == ["ACGAN", "diffusion, DDIM", "diffusion, DDPM"]
    assert table.loc["diffusion, DDIM", "evaluator accuracy"].startswith("0.9600 ± 0.0141 (2)")
    assert "FD (mnistm digit classifier features)" in table.columns
    with pytest.raises(ValueError, match="one domain"):
        report.conditional_table([record(**full), record("mnist", **full)])
    assert math.isclose(float(table.loc["ACGAN", "training (s)"].split()[0]), 100)


def test_acgan_and_the_diffusion_model_train_and_sample_in_bf16_with_float32_weights():
    bf16, labels = runtime.Precision("bf16", "cpu"), torch.tensor([0, 1, 2])
    schedule = diffusion.Schedule(50)
    model, ema = diffusion.new_model(8, schedule, 0)
    history = diffusion.train(model, ema, digits(), schedule, steps=3, batch_size=8, lr=1e-3, seed=0, precision=bf16)
    images = diffusion.ddim(ema, schedule, labels, w=1.0, steps=3, seed=0, precision=bf16)
    assert np.isfinite(history["loss"]).all() and images.dtype == torch.float32 and images.isfinite().all()
    g, d, g_ema = acgan.new_networks(10, 28, 8, 16, seed=0)
    history = acgan.train(g, d, g_ema, digits(), steps=3, batch_size=8, seed=0, precision=bf16)
    assert np.isfinite(history[["loss_d", "loss_g"]]).all().all()
    assert acgan.sample(g_ema, labels, seed=0, precision=bf16).dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in [*model.parameters(), *g.parameters(), *d.parameters()])


def test_the_compile_setting_compiles_the_unet_it_trains_and_nothing_else(monkeypatch):
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))  # no C++ build
    schedule = diffusion.Schedule(50)
    model, ema = diffusion.new_model(8, schedule, 0)
    diffusion.train(model, ema, digits(), schedule, steps=1, batch_size=8, lr=1e-3, seed=0)
    assert compiled == [] and runtime.settings("cpu", "conditional")["diffusion"]["compile"] is False
    diffusion.train(model, ema, digits(), schedule, steps=1, batch_size=8, lr=1e-3, seed=0, compile=True)
    assert compiled == [model.unet]
