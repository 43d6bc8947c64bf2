import pytest
import torch

from helpers.methods import diffaugment, gan
from fakes import Images


def images(n=6, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("name", list(diffaugment.POLICIES))
def test_each_augmentation_is_differentiable_and_reproducible_under_its_seed(name):
    x = images().requires_grad_(True)
    out = diffaugment.augment(x, (name,), torch.Generator().manual_seed(1))
    assert out.shape == x.shape and not torch.equal(out, x)
    grad, = torch.autograd.grad((out * images(seed=9)).sum(), x)
    assert grad.abs().sum() > 0  # the gradient reaches the input
    again = diffaugment.augment(x, (name,), torch.Generator().manual_seed(1))
    other = diffaugment.augment(x, (name,), torch.Generator().manual_seed(2))
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_color_follows_its_formulas():
    x, rng = images(), torch.Generator().manual_seed(4)
    state = torch.Generator().manual_seed(4)
    b = torch.rand(len(x), 1, 1, 1, generator=state) - 0.5  # brightness b ~ U[−½, ½]
    s = 2 * torch.rand(len(x), 1, 1, 1, generator=state)  # saturation s ~ U[0, 2]
    c = 0.5 + torch.rand(len(x), 1, 1, 1, generator=state)  # contrast c ~ U[½, 3⁄2]
    y = x + b
    y = y.mean(1, keepdim=True) + s * (y - y.mean(1, keepdim=True))
    y = y.mean((1, 2, 3), keepdim=True) + c * (y - y.mean((1, 2, 3), keepdim=True))
    assert torch.allclose(diffaugment.color(x, rng), y, atol=1e-6)


def test_translation_shifts_each_image_whole_and_fills_with_zeros():
    x = images(n=40) + 3  # no zero pixel of its own
    out = diffaugment.translation(x, torch.Generator().manual_seed(0), ratio=1 / 8)  # up to 2 pixels
    def kept(image, dy, dx):  # the part of the image that a shift by (dy, dx) keeps inside
        return image[:, max(dy, 0):16 + min(dy, 0), max(dx, 0):16 + min(dx, 0)]

    for image, shifted in zip(x, out):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(kept(torch.roll(image, (dy, dx), (1, 2)), dy, dx), kept(shifted, dy, dx))]
        assert len(found) == 1
        dy, dx = found[0]
        assert (shifted == 0).sum() == 3 * (16 * 16 - (16 - abs(dy)) * (16 - abs(dx)))
    assert len({tuple(torch.nonzero(o[0] == 0).flatten().tolist()) for o in out}) > 1  # shifts differ per image


def test_cutout_zeroes_one_square_per_image():
    x = images(n=40) + 3
    out = diffaugment.cutout(x, torch.Generator().manual_seed(0), ratio=1 / 2)
    for shifted in out:
        hole = (shifted == 0).all(0)
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert 0 < hole.sum() <= 64 and hole.sum() == len(rows) * len(cols)  # one square (or its part in the image)
        assert len(rows) <= 8 and len(cols) <= 8
    assert torch.equal(out[out != 0], x[out != 0])  # the rest of the image is untouched


def test_the_policy_is_parsed_from_the_tricks_and_checked():
    tricks = gan.parse_tricks("diffaugment=color, translation,cutout, n_critic=2")
    assert tricks == {"diffaugment": ("color", "translation", "cutout"), "n_critic": 2}
    assert gan.recipe("sagan", **tricks).diffaugment == ("color", "translation", "cutout")
    for bad in ("diffaugment=colour", "diffaugment=color,color", "diffaugment=", "n_critic=2,cutout"):
        with pytest.raises(ValueError, match="tricks="):
            gan.parse_tricks(bad)


@pytest.mark.parametrize("method", ["dcgan", "wgangp"])
def test_the_discriminator_sees_only_augmented_images_real_and_generated_alike(method, monkeypatch):
    calls = []
    original = diffaugment.augment

    def spy(x, policy, rng):
        calls.append((x.requires_grad, policy))
        return original(x, policy, rng)

    monkeypatch.setattr(diffaugment, "augment", spy)
    state = gan.new_state(method, 0, 16, 4, 8, "random images", diffaugment=("translation", "cutout"), n_critic=2)
    gan.train(state, Images(), steps=3, batch_size=4)
    # each step: a real and a generated batch per critic step (detached), then the generated batch for G's step
    assert calls == 3 * ([(False, ("translation", "cutout"))] * 4 + [(True, ("translation", "cutout"))])


def test_without_a_policy_training_is_unchanged():
    def run(**tricks):
        state = gan.new_state("dcgan", 0, 16, 4, 8, "random images", **tricks)
        return gan.train(state, Images(), steps=3, batch_size=4, log_every=1)
    assert run().equals(run(diffaugment=()))
    assert not run().equals(run(diffaugment=("color",)))
