import copy
import math

import pytest
import torch
from fakes import digit_set

from helpers.methods import selfensemble
from helpers.models.uda import DANN


def test_augment_is_deterministic_given_the_generator_and_changes_the_images():
    x = digit_set(n=8).batch(torch.arange(8))[0]
    g = torch.Generator().manual_seed(0)
    view1, view2 = selfensemble.augment(x, g), selfensemble.augment(x, g)
    assert torch.equal(view1, selfensemble.augment(x, torch.Generator().manual_seed(0)))
    assert view1.shape == x.shape
    assert not torch.allclose(view1, x, atol=0.05) and not torch.allclose(view1, view2, atol=0.05)
    assert 0.1 < (view1 - x).std().item() < 2  # a perturbation, not a new image


def test_augment_shifts_up_to_two_pixels_without_any_other_change(monkeypatch):
    for name, value in [("AFFINE_STD", 0.0), ("NOISE_STD", 0.0), ("INTENSITY_SCALE", (1.0, 1.0)),
                        ("INTENSITY_OFFSET", (0.0, 0.0))]:
        monkeypatch.setattr(selfensemble, name, value)
    x = torch.zeros(50, 1, 28, 28)
    x[:, :, 14, 14] = 1  # one bright pixel in the middle
    y = selfensemble.augment(x, torch.Generator().manual_seed(0))
    rows, cols = torch.arange(28.0).view(28, 1), torch.arange(28.0)
    mass = y.sum((1, 2, 3))
    centre_x, centre_y = (y[:, 0] * cols).sum((1, 2)) / mass, (y[:, 0] * rows).sum((1, 2)) / mass
    shift = torch.stack([centre_x - 14, centre_y - 14])
    assert shift.abs().max() <= 2 + 1e-4 and shift.abs().max() > 1  # |t| ≤ 2 pixels, and really used


def test_consistency_loss_masks_the_images_the_teacher_is_unsure_of():
    p_teacher = torch.tensor([[0.99, 0.01], [0.6, 0.4], [0.03, 0.97]])  # confident, unsure, confident
    p_student = torch.tensor([[0.5, 0.5], [0.1, 0.9], [0.1, 0.9]], requires_grad=True)
    loss, fraction = selfensemble.consistency_loss(p_student, p_teacher, threshold=0.968)
    # mean_i m_i ‖p_s,i − p_t,i‖² with m = (1, 0, 1): (0.49² + 0.49² + 0.07² + 0.07²) / 3
    assert loss.item() == pytest.approx((2 * 0.49 ** 2 + 2 * 0.07 ** 2) / 3)
    assert fraction == pytest.approx(2 / 3)
    loss.backward()
    assert torch.equal(p_student.grad[1], torch.zeros(2))  # the masked image teaches nothing
    assert torch.allclose(p_student.grad[0], 2 * torch.tensor([-0.49, 0.49]) / 3)


def test_class_balance_loss_is_the_bce_of_the_mean_prediction_with_uniform_summed_over_classes():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    mean = [0.4, 0.4, 0.2]
    expected = -sum(math.log(m) / 3 + (2 / 3) * math.log(1 - m) for m in mean)
    assert selfensemble.class_balance_loss(p).item() == pytest.approx(expected, rel=1e-6)
    uniform = torch.full((2, 3), 1 / 3)
    assert selfensemble.class_balance_loss(uniform) < selfensemble.class_balance_loss(p)  # lowest when balanced


def run(model, steps=4, **options):
    return selfensemble.train(model, digit_set(), digit_set(seed=1, domain="b"), steps=steps, batch_size=16,
                              seed=3, log_points=2, **options)


def new_model():
    torch.manual_seed(0)
    return DANN("bn")


def test_the_teacher_is_the_moving_average_of_the_student():
    student = new_model()
    initial = copy.deepcopy(student)
    teacher, _ = run(student, steps=1, ema_decay=0.9)
    for name, t in teacher.named_parameters():
        s, old = student.get_parameter(name), initial.get_parameter(name)
        if s.grad is not None:  # G_d is not trained
            assert not torch.equal(s, old), name
        assert torch.allclose(t, 0.9 * old + 0.1 * s, atol=1e-7), name  # θ̄ = α θ̄_0 + (1 − α) θ_1
        assert not t.requires_grad


def test_train_is_reproducible_and_logs_its_curves():
    (t1, h1), (t2, h2) = run(new_model()), run(new_model())
    assert list(h1.columns) == ["step", "class_loss", "consistency_loss", "mask_fraction", "balance_loss"]
    assert list(h1["step"]) == [2, 4]
    assert h1.equals(h2)
    for p1, p2 in zip(t1.parameters(), t2.parameters()):
        assert torch.equal(p1, p2)
    assert not t1.training


def test_a_confident_teacher_makes_the_consistency_loss_count():
    _, history = run(new_model(), threshold=0.0)  # every image passes
    assert (history["mask_fraction"] == 1).all() and (history["consistency_loss"] > 0).all()


def test_a_diverging_run_stops_and_names_the_step():
    model = new_model()
    with torch.no_grad():
        model.classifier[-1].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="at step 1"):
        run(model)
