import copy

import pytest
import torch
from fakes import digit_set

from helpers import metrics
from helpers.methods import adda, training
from helpers.models.adda import FeatureDiscriminator
from helpers.models.uda import DANN


def test_feature_discriminator_gives_one_logit_per_feature_vector():
    torch.manual_seed(0)
    d = FeatureDiscriminator(800)
    assert d(torch.randn(5, 800)).shape == (5,)
    assert [layer.out_features for layer in d if isinstance(layer, torch.nn.Linear)] == [500, 500, 1]


def test_discriminator_loss_is_the_binary_cross_entropy_source_1_target_0():
    d_s, d_t = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([-1.0, 0.7])
    expected = -torch.sigmoid(d_s).log().mean() - (1 - torch.sigmoid(d_t)).log().mean()
    # L_adv_D = −E[log D(E_s(x_s))] − E[log(1 − D(E_t(x_t)))]
    assert adda.discriminator_loss(d_s, d_t).item() == pytest.approx(expected.item(), rel=1e-6)


def test_encoder_loss_inverts_the_labels_and_stays_finite_for_confident_logits():
    d_t = torch.tensor([-1.0, 0.7, 3.0])
    assert adda.encoder_loss(d_t).item() == pytest.approx(-torch.sigmoid(d_t).log().mean().item(), rel=1e-6)
    # σ(−200) underflows to 0 in float32, log 0 = −∞; the logits form gives the exact −log σ(−200) ≈ 200
    assert adda.encoder_loss(torch.tensor([-200.0])).item() == pytest.approx(200.0)
    assert adda.discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0])).item() == pytest.approx(400.0)


def test_domain_accuracy_counts_source_logits_above_0_and_target_below():
    assert adda.domain_accuracy(torch.tensor([1.0, -2.0]), torch.tensor([-3.0, -1.0, 0.5, 2.0])) == 3 / 6


def source_model():
    torch.manual_seed(0)
    model = DANN("bn")
    training.fit_classifier(model, digit_set(), steps=3, batch_size=16, seed=0,
                            optimizer=training.Optimizer("adam", 1e-3), log_points=3)
    return model


def run(model, steps=4):
    return adda.adapt(model, digit_set(), digit_set(seed=1, domain="b"), steps=steps, batch_size=16, seed=3,
                      log_points=2)


def test_adapt_trains_only_the_target_encoder_and_keeps_source_encoder_and_classifier():
    model = source_model()
    before = copy.deepcopy(model.state_dict())
    adapted, history = run(model)
    for name, value in model.state_dict().items():  # E_s and C, weights and batch-norm statistics
        assert torch.equal(value, before[name]), name
    for name, value in adapted.classifier.state_dict().items():
        assert torch.equal(value, before[f"classifier.{name}"]), name
    assert not any(p.requires_grad for p in adapted.classifier.parameters())
    changed = [not torch.equal(p, model.features.state_dict()[n]) for n, p in adapted.features.named_parameters()]
    assert all(changed)  # every weight of E_t moved away from E_s
    bn_e_t, bn_e_s = adapted.features[1].running_mean, model.features[1].running_mean
    assert not torch.equal(bn_e_t, bn_e_s)  # E_t's batch norm trained in train mode, E_s's untouched
    assert isinstance(adapted.discriminator, FeatureDiscriminator)
    assert list(history.columns) == ["step", "loss_d", "loss_e", "domain_accuracy"]
    assert list(history["step"]) == [2, 4]
    target = digit_set(n=20, seed=2)
    assert 0 <= metrics.accuracy(adapted, target) <= 1  # C(E_t(x)) gives class logits


def test_adapt_is_reproducible():
    (m1, h1), (m2, h2) = run(source_model()), run(source_model())
    assert h1.equals(h2)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)


def test_a_diverging_adaptation_stops_and_names_the_step():
    model = source_model()
    with torch.no_grad():
        model.features[0].bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="discriminator loss is nan at step 1"):
        run(model)
