import torch
from fakes import digit_set

from helpers.methods import augment


def test_random_view_is_deterministic_given_the_generator_and_changes_the_images():
    x = digit_set(n=8).batch(torch.arange(8))[0]
    g = torch.Generator().manual_seed(0)
    view1, view2 = augment.random_view(x, g), augment.random_view(x, g)
    assert torch.equal(view1, augment.random_view(x, torch.Generator().manual_seed(0)))
    assert view1.shape == x.shape
    assert not torch.allclose(view1, x, atol=0.05) and not torch.allclose(view1, view2, atol=0.05)
    assert 0.1 < (view1 - x).std().item() < 2  # a perturbation, not a new image


def test_random_view_shifts_up_to_two_pixels_without_any_other_change(monkeypatch):
    for name, value in [("AFFINE_STD", 0.0), ("NOISE_STD", 0.0), ("INTENSITY_SCALE", (1.0, 1.0)),
                        ("INTENSITY_OFFSET", (0.0, 0.0))]:
        monkeypatch.setattr(augment, name, value)
    x = torch.zeros(50, 1, 28, 28)
    x[:, :, 14, 14] = 1  # one bright pixel in the middle
    y = augment.random_view(x, torch.Generator().manual_seed(0))
    rows, cols = torch.arange(28.0).view(28, 1), torch.arange(28.0)
    mass = y.sum((1, 2, 3))
    centre_x, centre_y = (y[:, 0] * cols).sum((1, 2)) / mass, (y[:, 0] * rows).sum((1, 2)) / mass
    shift = torch.stack([centre_x - 14, centre_y - 14])
    assert shift.abs().max() <= 2 + 1e-4 and shift.abs().max() > 1  # |t| ≤ 2 pixels, and really used
