import pytest
import torch
from fakes import digit_set

from helpers.methods import pixelda
from helpers.models.pixelda import NOISE, Discriminator, Generator
from helpers.models.uda import DANN


def test_generator_keeps_the_image_size_and_range_and_uses_the_noise():
    torch.manual_seed(0)
    g = Generator().eval()
    x = digit_set(n=4).batch(torch.arange(4))[0]
    z1, z2 = torch.zeros(4, NOISE), torch.ones(4, NOISE)
    y1, y2 = g(x, z1), g(x, z2)
    assert y1.shape == x.shape and y1.abs().max() <= 1
    assert not torch.allclose(y1, y2)  # z changes the translation


def test_discriminator_gives_one_logit_per_image_and_noises_its_input_only_while_training():
    torch.manual_seed(0)
    d = Discriminator()
    x = torch.zeros(3, 3, 28, 28)
    assert d.eval()(x).shape == (3,)
    assert torch.equal(d(x), d(x))  # eval: no input noise, no dropout
    d.train()
    assert not torch.equal(d(x), d(x))


def test_discriminator_loss_scores_target_images_1_and_generated_0():
    d_real, d_fake = torch.tensor([1.5, -0.2]), torch.tensor([0.4, -2.0, 0.1])
    expected = -torch.sigmoid(d_real).log().mean() - (1 - torch.sigmoid(d_fake)).log().mean()
    assert pixelda.discriminator_loss(d_real, d_fake).item() == pytest.approx(expected.item(), rel=1e-6)


def test_generator_loss_is_the_non_saturating_gan_loss():
    d_fake = torch.tensor([0.4, -2.0, 0.1])
    assert pixelda.generator_loss(d_fake).item() == pytest.approx(-torch.sigmoid(d_fake).log().mean().item(), rel=1e-6)


def test_noise_is_uniform_in_minus_1_1_and_reproducible():
    z = pixelda.noise(1000, torch.Generator().manual_seed(0))
    assert z.shape == (1000, NOISE) and z.min() >= -1 and z.max() <= 1 and z.mean().abs() < 0.05
    assert torch.equal(z, pixelda.noise(1000, torch.Generator().manual_seed(0)))


def run(steps=4):
    torch.manual_seed(0)
    task = DANN("bn")
    g, d, history = pixelda.train(task, digit_set(), digit_set(seed=1, domain="b"), steps=steps, batch_size=16,
                                  seed=3, log_points=2)
    return task, g, d, history


def test_train_updates_the_task_classifier_and_returns_reproducible_curves():
    torch.manual_seed(0)
    untrained = DANN("bn").state_dict()
    task, g, d, history = run()
    assert any(not torch.equal(p, untrained[name]) for name, p in task.state_dict().items())
    assert list(history.columns) == ["step", "loss_d", "loss_g", "task_loss", "domain_accuracy",
                                     "generated_accuracy"]
    assert list(history["step"]) == [2, 4]
    assert not g.training and not d.training
    task2, g2, _, history2 = run()
    assert history.equals(history2)
    assert all(torch.equal(p, q) for p, q in zip(g.parameters(), g2.parameters()))


def test_translate_is_deterministic_and_leaves_the_generator_mode_alone():
    torch.manual_seed(0)
    g = Generator().train()
    x = digit_set(n=4).batch(torch.arange(4))[0]
    out = pixelda.translate(g, x, seed=5)
    assert torch.equal(out, pixelda.translate(g, x, seed=5)) and out.shape == x.shape
    assert g.training


def test_a_diverging_run_stops_and_names_the_step(monkeypatch):
    monkeypatch.setattr(pixelda, "generator_loss", lambda d_fake: d_fake.mean() * float("nan"))
    with pytest.raises(FloatingPointError, match="generator and task loss is nan at step 1"):
        run()
