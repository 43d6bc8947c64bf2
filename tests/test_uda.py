import copy
import math

import pandas as pd
import pytest
import torch
from fakes import digit_set

from helpers import runtime
from helpers.methods import adda, pixelda, selfensemble, training, uda
from helpers.models.uda import DANN, NETWORKS, reverse_gradient


@pytest.mark.parametrize("lambd", [0.0, 0.3, 1.0])
def test_gradient_reversal_flips_and_scales_the_gradient(lambd):
    x = torch.randn(4, 3, requires_grad=True)
    weights = torch.randn(4, 3)
    out = reverse_gradient(x, lambd)
    assert torch.equal(out, x)  # identity going forward
    (out * weights).sum().backward()
    assert torch.allclose(x.grad, -lambd * weights)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("separate_domains", [False, True])
def test_domain_adversarial_loss_is_the_cross_entropy_and_reverses_the_gradient_for_the_features(network,
                                                                                                separate_domains):
    torch.manual_seed(0)
    model = DANN(network)  # in training mode: G_d's batch norm uses the statistics of the batch it is given
    f_s, f_t = (torch.randn(n, model.n_features, requires_grad=True) for n in (5, 3))
    loss, accuracy = uda.domain_adversarial_loss(model.discriminator, f_s, f_t, 0.7, separate_domains)
    logits = (torch.cat([model.discriminator(f_s), model.discriminator(f_t)]) if separate_domains
              else model.discriminator(torch.cat([f_s, f_t])))
    domains = torch.tensor([0] * 5 + [1] * 3)
    plain = -logits.log_softmax(1)[torch.arange(8), domains].mean()  # L_d = −mean log G_d(f)_d
    assert loss.item() == pytest.approx(plain.item(), rel=1e-6)
    assert accuracy == (logits.argmax(1) == domains).float().mean().item()
    inputs = [f_s, f_t, *model.discriminator.parameters()]
    reversed_grads = torch.autograd.grad(loss, inputs)
    plain_grads = torch.autograd.grad(plain, inputs)
    for g_rev, g_plain in zip(reversed_grads[:2], plain_grads[:2]):
        assert torch.allclose(g_rev, -0.7 * g_plain, atol=1e-7)  # G_f gets −λ ∂L_d/∂f
    for g_rev, g_plain in zip(reversed_grads[2:], plain_grads[2:]):
        assert torch.allclose(g_rev, g_plain, atol=1e-7)  # G_d is trained as usual


@pytest.mark.parametrize("network", NETWORKS)
def test_networks_give_class_logits_and_features_of_their_size(network):
    model = DANN(network).eval()
    x = torch.randn(2, 3, 28, 28)
    assert model(x).shape == (2, 10) and model.features(x).shape == (2, model.n_features)
    with pytest.raises(ValueError, match="'resnet'.*'paper'"):
        DANN("resnet")


def test_recipes_are_named_and_an_unknown_one_is_refused():
    assert uda.recipe("paper").network == "paper" and uda.recipe("paper").optimizer == uda.PAPER_SGD
    assert uda.recipe("bn-adam").separate_domains
    assert uda.recipe("warp-adabn").warp and uda.recipe("warp-adabn").target_statistics
    default = uda.recipe(uda.DEFAULT)
    assert (default.network, default.optimizer.name, default.separate_domains, default.warp, default.average) == \
        ("in", "adam", True, True, 0.999)
    assert uda.recipe("paper").average == 0  # the paper tests its last step's weights
    with pytest.raises(ValueError, match="'sgd'.*'bn-adam', 'in-adam-warp', 'in-adam-warp-ema', 'in-sgd', 'paper'"):
        uda.recipe("sgd")


def test_schedules_follow_the_paper():
    assert uda.grl_weight(0) == 0
    assert uda.grl_weight(1) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert uda.grl_weight(0.1) == pytest.approx(0.4621, abs=1e-4)
    weights = [uda.grl_weight(p / 10) for p in range(11)]
    assert weights == sorted(weights) and weights[-1] < 1
    assert uda.PAPER_SGD.lr_at(0) == 0.01
    assert uda.PAPER_SGD.lr_at(1) == pytest.approx(0.01 / 11 ** 0.75)  # μ_p = μ_0 / (1 + 10 p)^0.75


@pytest.mark.parametrize("name", sorted(uda.RECIPES))
def test_train_is_reproducible_and_logs_dann_curves(name):
    def run():
        torch.manual_seed(0)
        model = DANN(uda.recipe(name).network)
        history = uda.train(model, digit_set(), unlabelled=digit_set(seed=1, domain="b"), steps=6,
                            batch_size=16, seed=3, log_points=3, recipe=uda.recipe(name))
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
    with pytest.raises(FloatingPointError, match="at step 1"):
        uda.train(model, digit_set(), unlabelled=digit_set(seed=1), steps=5, batch_size=16, seed=0)


def test_the_warp_recipe_warps_both_domains_and_ends_with_the_targets_batchnorm_statistics(monkeypatch):
    warped = []
    monkeypatch.setattr(uda, "warp", lambda x, generator: warped.append(len(x)) or x.flip(3))
    recipe = uda.recipe("warp-adabn")
    torch.manual_seed(0)
    model = DANN(recipe.network)
    target = digit_set(seed=1, domain="b")
    uda.train(model, digit_set(), unlabelled=target, steps=3, batch_size=16, seed=3, recipe=recipe)
    assert warped == [16, 16] * 3  # a source and a target batch at each step
    expected = copy.deepcopy(model)
    training.adapt_batchnorm(expected, target)
    assert torch.equal(model.features[1].running_mean, expected.features[1].running_mean)  # already the target's
    warped.clear()
    uda.train(DANN(recipe.network), digit_set(), steps=2, batch_size=16, seed=3, recipe=recipe)
    assert warped == [16, 16]  # trained on source (or target) alone: its one batch per step


@pytest.mark.parametrize("name", ["in-adam-warp-ema", "paper"])
def test_dann_trains_in_bf16_with_float32_weights(name):
    runs = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = DANN(uda.recipe(name).network)
        history = uda.train(model, digit_set(), unlabelled=digit_set(seed=1, domain="b"), steps=6, batch_size=16,
                            seed=3, log_points=3, recipe=uda.recipe(name), precision=runtime.Precision(precision, "cpu"))
        runs[precision] = model
        assert history.notna().all().all()
    assert all(p.dtype == torch.float32 for p in runs["bf16"].parameters())
    assert not all(torch.equal(a, b) for a, b in zip(runs["fp32"].parameters(), runs["bf16"].parameters()))


@pytest.mark.parametrize("method", ["dann", "adda", "pixelda", "selfensemble"])
def test_every_adaptation_trains_channels_last_as_it_does_contiguous(method):
    def train(precision):
        torch.manual_seed(0)
        model, source, target = DANN("bn"), digit_set(), digit_set(seed=1, domain="b")
        options = dict(steps=4, batch_size=16, seed=3, log_points=2, precision=precision)
        if method == "dann":
            history = uda.train(model, source, unlabelled=target, recipe=uda.recipe(uda.DEFAULT), **options)
        elif method == "adda":
            model, history = adda.adapt(model, source, target, **options)
        elif method == "pixelda":
            history = pixelda.train(model, source, target, **options)[-1]
        else:
            model, history = selfensemble.train(model, source, target, **options)
        return model, history

    (_, expected), (model, history) = (train(runtime.Precision("fp32", "cpu", channels_last=last))
                                       for last in (False, True))
    conv = next(p for p in model.features.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    if method == "pixelda":  # D's input noise and dropout are drawn in memory order, so other numbers fall
        assert history.columns.equals(expected.columns) and history.notna().all().all()
    else:
        pd.testing.assert_frame_equal(history, expected, rtol=1e-3, atol=1e-4)
