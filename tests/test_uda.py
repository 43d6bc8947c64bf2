import math

import pytest
import torch

from helpers.data.digits import DigitSet
from helpers.methods import uda
from helpers.models.uda import DANN, reverse_gradient


@pytest.mark.parametrize("lambd", [0.0, 0.3, 1.0])
def test_gradient_reversal_flips_and_scales_the_gradient(lambd):
    x = torch.randn(4, 3, requires_grad=True)
    weights = torch.randn(4, 3)
    out = reverse_gradient(x, lambd)
    assert torch.equal(out, x)  # identity going forward
    (out * weights).sum().backward()
    assert torch.allclose(x.grad, -lambd * weights)


def test_dann_domain_loss_trains_the_discriminator_and_reverses_for_the_features():
    torch.manual_seed(0)
    model = DANN()
    x = torch.randn(8, 3, 28, 28)
    features = model.features(x)
    loss_with = model.domain_logits(features, 1.0).sum()
    grads_with = torch.autograd.grad(loss_with, [features, *model.discriminator.parameters()])
    plain = model.discriminator(features).sum()
    grads_plain = torch.autograd.grad(plain, [features, *model.discriminator.parameters()])
    assert torch.allclose(grads_with[0], -grads_plain[0])  # G_f gets −∂L_d/∂f
    for g_with, g_plain in zip(grads_with[1:], grads_plain[1:]):
        assert torch.allclose(g_with, g_plain)  # G_d is trained as usual


def test_schedules_follow_the_paper():
    assert uda.grl_weight(0) == 0
    assert uda.grl_weight(1) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert uda.grl_weight(0.1) == pytest.approx(0.4621, abs=1e-4)
    weights = [uda.grl_weight(p / 10) for p in range(11)]
    assert weights == sorted(weights) and weights[-1] < 1
    assert uda.learning_rate(0) == 0.01
    assert uda.learning_rate(1) == pytest.approx(0.01 / 11 ** 0.75)


def test_shuffled_batches_cover_each_epoch_once():
    batches = uda.shuffled_batches(10, 3, torch.Generator().manual_seed(0))
    epoch = torch.cat([next(batches) for _ in range(3)])
    assert len(set(epoch.tolist())) == 9  # 3 full batches, the 10th image dropped this epoch
    with pytest.raises(ValueError, match="smaller than one batch"):
        next(uda.shuffled_batches(2, 3, torch.Generator()))


def tiny_set(n=64, seed=0, domain="a"):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = torch.randint(0, 256, (n, 3, 28, 28), generator=g, dtype=torch.uint8)
    return DigitSet(images, labels, domain, "train", "test tensors")


def test_train_is_reproducible_and_logs_dann_curves():
    def run():
        torch.manual_seed(0)
        model = DANN()
        history = uda.train(model, tiny_set(), unlabelled=tiny_set(seed=1, domain="b"), steps=6,
                            batch_size=16, seed=3, log_points=3)
        return model, history
    (m1, h1), (m2, h2) = run(), run()
    assert list(h1["step"]) == [2, 4, 6]
    assert {"class_loss", "domain_loss", "domain_accuracy", "lambda", "lr"} <= set(h1)
    assert h1.equals(h2)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)


def test_a_diverging_run_stops_and_names_the_step():
    model = DANN()
    with torch.no_grad():
        model.classifier[-1].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="step 0 of 5"):
        uda.train(model, tiny_set(), steps=5, batch_size=16, seed=0)


def test_augment_sees_every_labelled_batch_with_the_runs_generator():
    seen = []

    def blank(x, generator):  # records what it is given; noise instead of the images
        seen.append((x.shape, generator.initial_seed()))
        return torch.randn(x.shape, generator=generator)

    torch.manual_seed(0)
    history = uda.train(DANN(), tiny_set(), steps=4, batch_size=16, seed=3, log_points=4, augment=blank)
    assert seen == [((16, 3, 28, 28), 3)] * 4 and len(history) == 4
