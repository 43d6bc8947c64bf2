import pytest
import torch
import torch.nn.functional as F

from helpers.methods import gan
from helpers.models import stylegan2
from fakes import Images


def test_modulated_convolution_scales_the_weights_by_the_style_then_demodulates():
    torch.manual_seed(0)
    conv = stylegan2.ModulatedConv2d(4, 5, 3, w_dim=6)
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    out = conv(x, w)
    s = conv.affine(w)
    for i in range(2):
        modulated = conv.scale * conv.weight * s[i].view(1, 4, 1, 1)  # w'_ijk = s_i w_ijk
        demodulated = modulated / (modulated.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()  # w''
        assert torch.allclose(out[i], F.conv2d(x[i:i + 1], demodulated, padding=1)[0], atol=1e-5)
    assert torch.allclose(conv.affine(torch.zeros(1, 6)), torch.ones(1, 4))  # styles start at 1


def test_demodulation_keeps_unit_variance_whatever_the_style():
    torch.manual_seed(0)
    conv = stylegan2.ModulatedConv2d(64, 8, 3, w_dim=16)
    x = torch.randn(2, 64, 32, 32)
    out = conv(x, torch.randn(2, 16) * torch.tensor([[1.0], [50.0]]))  # a mild and a wild style
    assert out[:, :, 1:-1, 1:-1].std(dim=(2, 3)).sub(1).abs().max() < 0.15


def test_the_mapping_keeps_the_spread_of_z_so_that_styles_differ_between_latents():
    torch.manual_seed(0)
    x = torch.randn(100_000)
    assert abs(stylegan2.lrelu(x).pow(2).mean().item() - 1.04) < 0.02  # E[(√2 lrelu x)²] = (1 + 0.2²) / 2 · 2
    generator = stylegan2.Generator(z_dim=100, size=8, width=4, mapping_layers=4)
    w = generator.styles(torch.randn(512, 100))[:, 0]
    assert w.std(dim=0).mean() > 0.5  # without the √2 of each layer, 0.17: every latent gets nearly the same style


def test_style_mixing_takes_coarse_layers_from_one_latent_and_fine_from_the_other():
    torch.manual_seed(0)
    generator = stylegan2.Generator(z_dim=8, size=16, width=4)
    assert generator.n_styles == 2 + 3 * 2
    z_a, z_b = torch.randn(3, 8), torch.randn(3, 8)

    def run(call, *args):
        torch.manual_seed(1)  # the same noise inputs
        return call(*args)

    assert torch.allclose(run(generator.mix, z_a, z_b, generator.n_styles), run(generator, z_a))
    assert torch.allclose(run(generator.mix, z_a, z_b, 0), run(generator, z_b))
    mixed = run(generator.mix, z_a, z_b, 4)
    assert not torch.allclose(mixed, run(generator, z_a)) and not torch.allclose(mixed, run(generator, z_b))


def test_noise_inputs_are_per_layer_and_the_samples_depend_on_the_seed_only():
    generator = stylegan2.Generator(z_dim=8, size=16, width=4)
    noises = [m for m in generator.modules() if isinstance(m, stylegan2.Noise)]
    assert len(noises) == 1 + 2 * 2
    with torch.no_grad():
        for noise in noises:
            noise.strength.fill_(0.5)
    first = gan.sample(generator, 4, seed=1)
    torch.randn(100)  # the global random state moves on
    assert torch.equal(first, gan.sample(generator, 4, seed=1))
    assert not torch.equal(first, gan.sample(generator, 4, seed=2))


def test_r1_penalty_matches_its_formula():
    a = torch.randn(3, 4, 4)
    discriminator = lambda x: (x * a).flatten(1).sum(1)  # noqa: E731; ∇_x D(x) = a for every x
    assert gan.r1_penalty(discriminator, torch.randn(5, 3, 4, 4)).item() == pytest.approx(a.pow(2).sum().item())


def test_r1_gives_the_discriminator_finite_gradients_when_a_group_of_samples_is_identical():
    torch.manual_seed(0)
    discriminator = stylegan2.Discriminator(size=8, width=4)
    same = torch.randn(1, 3, 8, 8).expand(4, -1, -1, -1).contiguous()  # one group: its minibatch σ is 0
    gan.r1_penalty(discriminator, same).backward()  # the R1 step's double backward through σ
    assert all(torch.isfinite(p.grad).all() for p in discriminator.parameters() if p.grad is not None)


def test_r1_is_lazy_and_the_discriminators_adam_is_adjusted_for_it(monkeypatch):
    state = gan.new_state("stylegan2", 0, 16, 4, 8, "random images")
    c = 16 / 17
    assert state.opt_d.param_groups[0]["lr"] == pytest.approx(2e-3 * c)
    assert state.opt_d.param_groups[0]["betas"] == pytest.approx((0.0, 0.99 ** c))
    assert state.opt_g.param_groups[0]["lr"] == 2e-3
    calls = []
    original = gan.r1_penalty
    monkeypatch.setattr(gan, "r1_penalty", lambda d, x: calls.append(len(x)) or original(d, x))
    history = gan.train(state, Images(), steps=33, batch_size=4, log_every=11)
    assert calls == [4, 4, 4]  # steps 0, 16 and 32
    assert history["r1"].notna().all() and (history["r1"] > 0).all()


def test_style_mixing_grid_takes_coarse_styles_from_its_rows_and_fine_from_its_columns():
    generator = stylegan2.Generator(z_dim=8, size=16, width=4)  # noise strengths start at 0
    rows, columns = 2, 3
    grid = gan.style_mixing(generator, rows, columns, seed=5, crossover=4).view(rows + 1, columns + 1, 3, 16, 16)
    assert torch.equal(grid[0, 0], torch.ones(3, 16, 16))
    row_images, column_images = grid[1:, 0], grid[0, 1:]
    coarse_only = gan.style_mixing(generator, rows, columns, seed=5, crossover=generator.n_styles)
    fine_only = gan.style_mixing(generator, rows, columns, seed=5, crossover=0)
    for i in range(rows):
        for j in range(columns):
            assert torch.allclose(coarse_only.view_as(grid)[1 + i, 1 + j], row_images[i], atol=1e-6)
            assert torch.allclose(fine_only.view_as(grid)[1 + i, 1 + j], column_images[j], atol=1e-6)
            mixed = grid[1 + i, 1 + j]
            assert not torch.allclose(mixed, row_images[i]) and not torch.allclose(mixed, column_images[j])
