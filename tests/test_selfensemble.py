import copy
import math

import pytest
import torch
from fakes import digit_set

from helpers.methods import selfensemble, training
from helpers.models.uda import DANN


def test_consistency_loss_is_the_cross_entropy_to_the_confident_teachers_class():
    p_teacher = torch.tensor([[0.99, 0.01], [0.6, 0.4], [0.03, 0.97]])  # confident, unsure, confident
    logits = torch.tensor([[0.0, 0.0], [-1.0, 1.0], [1.0, -1.0]], requires_grad=True)
    loss, fraction = selfensemble.consistency_loss(logits, p_teacher, threshold=0.95)
    # mean_i m_i (−log p_s,i,ŷ_i) with m = (1, 0, 1) and ŷ = (0, 0, 1): (log 2 + log(1 + e²)) / 3
    assert loss.item() == pytest.approx((math.log(2) + math.log(1 + math.exp(2))) / 3)
    assert fraction == pytest.approx(2 / 3)
    loss.backward()
    assert torch.equal(logits.grad[1], torch.zeros(2))  # the masked image teaches nothing
    p_student = logits.detach().softmax(1)
    assert torch.allclose(logits.grad[0], (p_student[0] - torch.tensor([1.0, 0.0])) / 3)  # (p_s − onehot(ŷ)) / N
    assert torch.allclose(logits.grad[2], (p_student[2] - torch.tensor([0.0, 1.0])) / 3)


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


def test_the_teacher_predicts_with_every_unit_on_the_batchs_own_statistics():
    student = new_model().train()
    teacher = selfensemble.mean_teacher(student)
    x = digit_set().batch(torch.arange(16))[0]
    with torch.no_grad():
        assert not torch.equal(student(x), student(x))  # the student drops units at random
        assert torch.equal(teacher(x), teacher(x))  # the teacher drops none
        assert not torch.allclose(teacher(x[:8]), teacher(x)[:8])  # batch norm normalises with the batch's statistics
    assert teacher.training and not any(p.requires_grad for p in teacher.parameters())


@pytest.mark.parametrize("n_adabn", [None, 20])
def test_the_teacher_ends_with_the_targets_batchnorm_statistics(n_adabn):
    teacher, _ = run(new_model(), n_adabn=n_adabn)
    expected = copy.deepcopy(teacher)
    training.adapt_batchnorm(expected, digit_set(seed=1, domain="b").subset(n_adabn, 3))  # all, or 20 by the seed
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, expected.state_dict()[name]), name


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
