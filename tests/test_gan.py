import math

import pandas as pd
import pytest
import torch
from torch import nn

from helpers import runtime
from helpers.methods import gan
from helpers.models.gan import METHODS, SelfAttention, build
from fakes import Images


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [16, 32])
def test_networks_map_z_to_images_and_images_to_one_logit(method, size):
    generator, discriminator = build(method, size=size, width=4, z_dim=8)
    images = generator(torch.randn(5, 8))
    assert images.shape == (5, 3, size, size) and discriminator(images).shape == (5,)
    assert gan.sample(generator, 5, seed=0).abs().max() <= 1  # StyleGAN2's G has no tanh: samples are clamped


def test_each_method_has_its_papers_layers():
    kinds = {method: [type(m).__name__ for m in build(method, size=16, width=4)[1].modules()] for method in METHODS}
    assert "BatchNorm2d" in kinds["dcgan"]
    assert "BatchNorm2d" not in kinds["wgangp"]  # the critic of WGAN-GP has no batch norm
    assert "SelfAttention" in kinds["sagan"]
    for network in build("sagan", size=16, width=4):
        convolutions = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert all(hasattr(m, "parametrizations") for m in convolutions)  # spectral norm everywhere
    with pytest.raises(ValueError, match="power of two"):
        build("dcgan", size=24)


def test_self_attention_starts_as_the_identity():
    attention = SelfAttention(16)
    x = torch.randn(2, 16, 4, 4)
    assert attention.gamma.item() == 0 and torch.equal(attention(x), x)


def test_losses_match_their_formulas():
    d_real, d_fake = torch.tensor([2.0, -0.5]), torch.tensor([0.5, -3.0])
    hinge = gan.recipe("sagan")
    assert gan.discriminator_loss(hinge, d_real, d_fake).item() == pytest.approx((0 + 1.5) / 2 + (1.5 + 0) / 2)
    assert gan.generator_loss(hinge, d_fake).item() == pytest.approx(1.25)
    bce = gan.recipe("dcgan", label_smoothing=0.1)
    softplus = lambda t: math.log1p(math.exp(t))  # −log σ(−t)
    expected = ((0.9 * softplus(-2) + 0.1 * softplus(2)) + (0.9 * softplus(0.5) + 0.1 * softplus(-0.5))) / 2 \
        + (softplus(0.5) + softplus(-3)) / 2
    assert gan.discriminator_loss(bce, d_real, d_fake).item() == pytest.approx(expected, rel=1e-5)
    assert gan.discriminator_loss(gan.recipe("wgangp"), d_real, d_fake).item() == pytest.approx(-1.25 - 0.75)


def test_gradient_penalty_takes_one_norm_per_sample():
    critic = lambda x: (x ** 2).flatten(1).sum(1)  # ∇D(x) = 2x, a different norm for each sample
    real, fake = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    penalty = gan.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    eps = torch.rand(4, 1, 1, 1, generator=torch.Generator().manual_seed(0))
    mixed = eps * real + (1 - eps) * fake
    expected = ((2 * mixed.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    per_batch = (2 * mixed.norm() - 1) ** 2  # the known mistake: one norm over the whole batch
    assert penalty.item() != pytest.approx(per_batch.item(), rel=1e-2)


@pytest.mark.parametrize("method", METHODS)
def test_a_resumed_run_ends_where_an_uninterrupted_run_does(method, tmp_path):
    settings = dict(seed=3, size=16, width=4, z_dim=8, data="random images")
    data = Images()
    whole = gan.new_state(method, **settings)
    gan.train(whole, data, steps=6, batch_size=8, log_every=2)

    first = gan.new_state(method, **settings)
    gan.train(first, data, steps=4, batch_size=8, log_every=2, checkpoint=tmp_path / "run.pt", checkpoint_every=2)
    torch.manual_seed(123)  # whatever happened in between
    resumed = gan.load_checkpoint(gan.new_state(method, **{**settings, "seed": 99}), tmp_path / "run.pt")
    history = gan.train(resumed, data, steps=6, batch_size=8, log_every=2)

    assert resumed.step == 6 and list(history["step"]) == [2, 4, 6]
    assert history.equals(gan.train(whole, data, steps=6, batch_size=8, log_every=2))
    for name in ("generator", "discriminator", "ema"):
        for a, b in zip(getattr(whole, name).state_dict().values(), getattr(resumed, name).state_dict().values()):
            assert torch.equal(a, b), name


def test_a_checkpoint_of_another_method_is_refused(tmp_path):
    path = gan.save_checkpoint(gan.new_state("dcgan", 0, 16, 4, 8, "faces"), tmp_path / "dcgan.pt")
    with pytest.raises(ValueError, match="dcgan checkpoint"):
        gan.load_checkpoint(gan.new_state("sagan", 0, 16, 4, 8, "faces"), path)
    with pytest.raises(ValueError, match="another recipe: label_smoothing 0.0 there, 0.1 here"):
        gan.load_checkpoint(gan.new_state("dcgan", 0, 16, 4, 8, "faces", label_smoothing=0.1), path)


def test_a_checkpoint_of_other_data_is_refused_naming_the_file_and_both_datasets(tmp_path):
    built_in, course = "faces train: 80 built-in", "faces train: 4 from /course/face/train"
    path = gan.save_checkpoint(gan.new_state("dcgan", 0, 16, 4, 8, built_in), tmp_path / "dcgan.pt")
    with pytest.raises(ValueError) as refused:
        gan.load_checkpoint(gan.new_state("dcgan", 0, 16, 4, 8, course), path)
    assert str(refused.value) == f"{path} was trained on other data: {built_in!r}; this run trains on {course!r}"
    assert gan.load_checkpoint(gan.new_state("dcgan", 0, 16, 4, 8, built_in), path).step == 0
    unnamed = {key: value for key, value in torch.load(path, weights_only=True).items() if key != "data"}
    torch.save(unnamed, path)
    with pytest.raises(ValueError, match="other data: 'data it does not name'; this run trains on 'faces train: 80"):
        gan.load_checkpoint(gan.new_state("dcgan", 0, 16, 4, 8, built_in), path)


def test_a_diverging_run_stops_and_names_the_step():
    state = gan.new_state("dcgan", 0, 16, 4, 8, "faces")
    with torch.no_grad():
        state.discriminator.net[-1].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="discriminator loss is nan at step 0"):
        gan.train(state, Images(), steps=3, batch_size=8)


def test_samples_depend_on_the_seed_only():
    generator = build("dcgan", size=16, width=4, z_dim=8)[0]
    assert torch.equal(gan.sample(generator, 5, seed=1), gan.sample(generator, 5, seed=1))
    assert not torch.equal(gan.sample(generator, 5, seed=1), gan.sample(generator, 5, seed=2))


def test_tricks_are_parsed_and_checked():
    assert gan.parse_tricks("") == {}
    tricks = gan.parse_tricks(" label_smoothing=0.1, n_critic = 3 ")
    assert tricks == {"label_smoothing": 0.1, "n_critic": 3} and isinstance(tricks["n_critic"], int)
    assert gan.recipe("dcgan", **tricks).n_critic == 3
    for bad, words in (("smoothing=0.1", "unknown"), ("n_critic=2,n_critic=3", "repeated"),
                       ("n_critic=2.5", "integer"), ("label_smoothing=1", r"\[0, 1\)"),
                       ("instance_noise=-0.1", ">= 0"), ("instance_noise", ">= 0")):
        with pytest.raises(ValueError, match=words):
            gan.parse_tricks(bad)
    with pytest.raises(ValueError, match="dcgan only; sagan uses the hinge loss"):
        gan.recipe("sagan", label_smoothing=0.1)


def test_methods_are_parsed_and_checked():
    assert gan.parse_methods(" dcgan,sagan ") == ["dcgan", "sagan"]
    assert gan.parse_methods("stylegan2,acgan") == ["stylegan2", "acgan"]  # acgan: the conditional one
    for bad in ("", "dcgan,dcgan", "dcgan,wgan"):
        with pytest.raises(ValueError, match="comma-separated"):
            gan.parse_methods(bad)


@pytest.mark.parametrize("method", METHODS)
def test_a_run_with_channels_last_trains_as_the_contiguous_one(method):
    settings = dict(method=method, seed=3, size=16, width=4, z_dim=8, data="random images")
    runs = {last: gan.new_state(**settings) for last in (False, True)}
    histories = {last: gan.train(state, Images(), steps=4, batch_size=8, log_every=2,
                                 precision=runtime.Precision("fp32", "cpu", channels_last=last))
                 for last, state in runs.items()}
    conv = next(p for p in runs[True].discriminator.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    # the layouts' convolutions round differently, and Adam's normalised steps grow that a little over the steps;
    # a layout that mixed up channels would change the losses entirely
    pd.testing.assert_frame_equal(histories[True], histories[False], rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_in_bf16_with_float32_weights_and_losses(method):
    settings = dict(seed=3, size=16, width=4, z_dim=8, data="random images")
    runs = {name: gan.new_state(method, **settings) for name in ("fp32", "bf16")}
    histories = {name: gan.train(state, Images(), steps=4, batch_size=8, log_every=2,
                                 precision=runtime.Precision(name, "cpu")) for name, state in runs.items()}
    assert histories["bf16"].notna().equals(histories["fp32"].notna())  # every number fp32 logs (R1 every 16 steps)
    assert list(histories["bf16"]["step"]) == [2, 4]
    weights = {name: list(state.generator.parameters()) for name, state in runs.items()}
    assert all(w.dtype == torch.float32 for w in weights["bf16"])
    assert not all(torch.equal(a, b) for a, b in zip(weights["fp32"], weights["bf16"]))  # bf16 did run
    assert gan.sample(runs["bf16"].ema, 3, seed=1, precision=runtime.Precision("bf16", "cpu")).dtype == torch.float32
