import copy

import pytest
import torch
from torch import nn

from helpers import runtime
from helpers.methods import training
from fakes import digit_set


def test_shuffled_batches_cover_each_epoch_once():
    batches = training.shuffled_batches(10, 3, torch.Generator().manual_seed(0))
    epoch = torch.cat([next(batches) for _ in range(3)])
    assert len(set(epoch.tolist())) == 9  # 3 full batches, the 10th image dropped this epoch
    second = torch.cat([next(batches) for _ in range(3)])
    assert len(set(second.tolist())) == 9 and not torch.equal(epoch, second)  # a fresh permutation
    with pytest.raises(ValueError, match="smaller than one batch"):
        next(training.shuffled_batches(2, 3, torch.Generator()))


def test_history_averages_each_window_and_closes_on_the_last_step():
    history = training.History(steps=5, points=2)  # a row every 2 steps, and one for step 5
    for step in range(1, 6):
        history.log(step, loss=float(step))
    frame = history.frame()
    assert frame["step"].tolist() == [2, 4, 5]
    assert frame["loss"].tolist() == [1.5, 3.5, 5.0]


def test_optimizer_schedules():
    annealed = training.Optimizer("sgd", lr=0.01, annealed=True)
    assert annealed.lr_at(0) == 0.01 and annealed.lr_at(1) == pytest.approx(0.01 / 11 ** 0.75)
    assert training.Optimizer("adam", lr=1e-3).lr_at(0.7) == 1e-3
    assert isinstance(training.Optimizer("adam", 1e-3).build(nn.Linear(2, 2).parameters()), torch.optim.Adam)
    with pytest.raises(ValueError, match="'rmsprop'"):
        training.Optimizer("rmsprop", 1e-3).build(nn.Linear(2, 2).parameters())


def small_classifier():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 28 * 28, 10))


def fit(model, **options):
    return training.fit_classifier(model, digit_set(), steps=40, batch_size=16, seed=3, log_points=4,
                                   optimizer=training.Optimizer("adam", 1e-3), **options)


def test_fit_classifier_learns_is_reproducible_and_logs_its_curves():
    (m1, h1), (m2, h2) = [(m, fit(m)) for m in (small_classifier(), small_classifier())]
    assert h1.equals(h2) and all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert list(h1["step"]) == [10, 20, 30, 40] and {"class_loss", "train_accuracy", "lr"} <= set(h1)
    assert h1["class_loss"].iloc[-1] < h1["class_loss"].iloc[0] / 2  # 64 random images are learnt by heart


def test_fit_classifier_augments_every_batch_with_the_runs_generator():
    seen = []

    def blank(x, generator):  # records what it is given; noise instead of the images
        seen.append((x.shape, generator.initial_seed()))
        return torch.randn(x.shape, generator=generator)

    fit(small_classifier(), augment=blank)
    assert seen == [((16, 3, 28, 28), 3)] * 40


def test_a_diverging_fit_stops_and_names_the_step():
    model = small_classifier()
    with torch.no_grad():
        model[1].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="at step 1"):
        fit(model)


def test_adapt_batchnorm_sets_the_running_statistics_to_the_images_and_leaves_the_rest_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.BatchNorm2d(4, momentum=0.3)).train()
    images = digit_set(n=40)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    training.adapt_batchnorm(model, images, batch_size=10)
    with torch.no_grad():
        inputs = model[0](images.batch(torch.arange(40))[0])  # no dropout: it stays in eval mode
        means = inputs.mean((0, 2, 3))
        variances = torch.stack([inputs[i:i + 10].var((0, 2, 3), unbiased=True) for i in range(0, 40, 10)]).mean(0)
    norm = model[2]
    assert torch.allclose(norm.running_mean, means, atol=1e-5)  # the average of the 4 batches' means
    assert torch.allclose(norm.running_var, variances, atol=1e-5)
    assert norm.momentum == 0.3 and model.training and norm.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the weights did not move


def test_adapt_batchnorm_leaves_a_model_without_batchnorm_alone_and_reads_no_image():
    class Unread:
        def __len__(self):
            return 10

        def batch(self, index):
            pytest.fail("a pass over the images")

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4, affine=True)).train()
    before = copy.deepcopy(model.state_dict())
    training.adapt_batchnorm(model, Unread())
    assert model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_descend_takes_one_step_on_a_finite_loss_and_refuses_a_diverged_one():
    w = nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([w], lr=0.1)
    assert training.descend(opt, (w ** 2).sum(), "toy", 1) == 1.0
    assert w.item() == pytest.approx(0.8)  # w − 0.1 · 2w
    with pytest.raises(FloatingPointError, match="the toy loss is nan at step 2"):
        training.descend(opt, w.sum() * float("nan"), "toy", 2)
    assert w.item() == pytest.approx(0.8)  # no step taken


@pytest.mark.parametrize("decay", [0.9, 0])
def test_weight_average_ends_with_the_moving_average_or_with_the_last_weights_when_off(decay):
    model = nn.Linear(2, 1)
    averaged = training.WeightAverage(model, decay)
    expected = model.weight.detach().clone()
    for step in range(1, 6):
        with torch.no_grad():
            model.weight.add_(1.0)
        averaged.update(step)
        d = min(decay, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * model.weight.detach()  # θ̄ ← d θ̄ + (1 − d) θ
    last = model.weight.detach().clone()
    averaged.finish()
    assert torch.allclose(model.weight, expected) and (decay == 0) == torch.equal(model.weight, last)
    assert model.weight.requires_grad  # the model trains on as before; only its values changed


def test_descend_with_fp16s_loss_scaler_takes_the_unscaled_step():
    x = torch.randn(8, 3)
    steps = []
    for scaler in (training.UNSCALED, torch.amp.GradScaler("cpu", init_scale=1024.0)):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        training.descend(torch.optim.SGD(model.parameters(), lr=0.1), model(x).pow(2).mean(), "test", 1, scaler)
        steps.append(model.weight.detach().clone())
    assert torch.allclose(steps[0], steps[1])  # ∂(s L)/∂θ divided by s before the step


def test_fit_classifier_in_bf16_learns_with_float32_weights():
    model = small_classifier()
    history = fit(model, precision=runtime.Precision("bf16", "cpu"))
    assert model[1].weight.dtype == torch.float32
    assert history["class_loss"].iloc[-1] < history["class_loss"].iloc[0] / 2
    assert not torch.equal(model[1].weight, (m := small_classifier(), fit(m))[0][1].weight)  # bf16 did run
