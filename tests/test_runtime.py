import pytest
import torch

from helpers import runtime


def test_overrides_change_the_named_settings_with_the_profiles_types():
    sizes = runtime.settings("cpu", "dann", "steps=20000, batch_size=256")
    assert sizes == {**runtime.settings("cpu", "dann"), "steps": 20000, "batch_size": 256}
    assert runtime.PROFILES["cpu"]["dann"]["steps"] == 3000  # the profile itself is untouched
    assert runtime.settings("cpu", "dann", "n_eval=500")["n_eval"] == 500
    assert runtime.settings("cpu", "dann", "n_eval=None")["n_eval"] is None
    conditional = runtime.settings("cpu", "conditional", "acgan.steps=5,guidance=0/2.5,acgan.class_weight=2")
    assert conditional["acgan"]["steps"] == 5 and conditional["acgan"]["class_weight"] == 2.0
    assert conditional["guidance"] == (0.0, 2.5)
    assert runtime.settings("cpu", "conditional")["acgan"]["steps"] == 8000  # nested settings are copies
    assert runtime.settings("cpu", "gan", "steps.dcgan=7")["steps"]["dcgan"] == 7


@pytest.mark.parametrize("overrides,message", [
    ("stepz=1", r"unknown setting 'stepz' for 'dann'; known: \['batch_size', 'channels_last', 'n_eval', 'n_tsne', 'precision', 'steps'\]"),
    ("steps=abc", r"steps='abc'; expected int \(like 3000\)"),
    ("steps=2.5", r"steps='2.5'; expected int"),
    ("n_eval=all", r"n_eval='all'; expected int or None"),
    ("steps", r"'steps' is not key=value"),
])
def test_a_bad_override_is_refused_naming_what_was_expected(overrides, message):
    with pytest.raises(ValueError, match=message):
        runtime.settings("cpu", "dann", overrides)


def test_a_group_of_settings_is_not_one_setting():
    with pytest.raises(ValueError, match=r"unknown setting 'acgan'.*'acgan.steps'"):
        runtime.settings("cpu", "conditional", "acgan=3")


def test_number_refuses_a_parameter_that_is_not_a_number():
    assert runtime.number("guidance", 4) == 4.0
    with pytest.raises(TypeError, match=r"guidance='abc': expected a number"):
        runtime.number("guidance", "abc")
    with pytest.raises(TypeError, match="guidance=True"):
        runtime.number("guidance", True)


def test_every_problem_has_a_precision_setting_from_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv("WORKBOOK_PRECISION", raising=False)
    assert all(runtime.settings(profile, problem)["precision"] == runtime.DEFAULT_PRECISION
               for profile, table in runtime.PROFILES.items() for problem in table)
    assert runtime.settings("cpu", "gan", "precision=auto")["precision"] == "auto"
    monkeypatch.setenv("WORKBOOK_PRECISION", "auto")
    assert runtime.settings("cpu", "vae")["precision"] == "auto"
    assert runtime.settings("cpu", "vae", "precision=bf16")["precision"] == "bf16"  # an override wins
    with pytest.raises(ValueError, match="precision='half'.*'auto', 'bf16', 'fp16', 'fp32'"):
        runtime.settings("cpu", "vae", "precision=half")
    monkeypatch.setenv("WORKBOOK_PRECISION", "fp8")
    with pytest.raises(ValueError, match=r"\$WORKBOOK_PRECISION='fp8'"):
        runtime.settings("cpu", "vae")


@pytest.mark.parametrize("device, native, expected", [
    ("cpu", True, "bf16"), ("cpu", False, "fp32"), ("cuda", True, "bf16"), ("cuda", False, "fp16"),
    ("mps", False, "fp32")])
def test_auto_precision_takes_bf16_where_native_fp16_on_an_older_gpu_else_fp32(monkeypatch, device, native, expected):
    monkeypatch.setattr(runtime, "fast_bf16", lambda d: native)
    assert runtime.precision("auto", torch.device(device)).name == expected
    assert runtime.precision("fp32", torch.device(device)).name == "fp32"  # a named precision is taken as it is
    with pytest.raises(ValueError, match="precision='fp64'"):
        runtime.precision("fp64", torch.device(device))


def test_fast_bf16_asks_torch_whether_the_cpu_has_amx_not_avx512_bf16_alone(monkeypatch):
    for avx512_bf16, amx, expected in [(True, False, False), (False, True, True), (True, True, True),
                                       (False, False, False)]:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        assert runtime.fast_bf16(torch.device("cpu")) is expected
        assert runtime.precision("auto", torch.device("cpu")).name == ("bf16" if expected else "fp32")


@pytest.mark.parametrize("name, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_a_precision_runs_forward_passes_in_its_format_and_scales_losses_for_fp16_only(name, dtype):
    p = runtime.Precision(name, "cpu")
    layer = torch.nn.Linear(4, 2)
    with p.autocast():
        out = layer(torch.randn(3, 4))
    assert out.dtype == dtype and layer.weight.dtype == torch.float32
    assert not p.scaler().is_enabled() and runtime.Precision("fp16", "cpu").scaler().is_enabled()


def test_channels_last_is_a_setting_of_every_problem_off_unless_asked():
    assert not any(runtime.settings(profile, problem)["channels_last"]
                   for profile, table in runtime.PROFILES.items() for problem in table)
    assert runtime.settings("cpu", "dann", "channels_last=true")["channels_last"] is True
    assert runtime.precision("auto", torch.device("cpu"), True).channels_last


def test_channels_last_stores_weights_and_images_channel_innermost_with_the_same_numbers():
    torch.manual_seed(0)
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))
    optimizer = torch.optim.SGD(conv.parameters(), lr=0.1)
    x = torch.randn(2, 3, 9, 9)
    expected = conv(x)
    runtime.FP32.layout(conv)  # off: nothing moves
    assert conv[0].weight.is_contiguous()
    last = runtime.Precision("fp32", "cpu", channels_last=True)
    last.layout(conv)
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last) and conv[0].bias.dim() == 1
    out = last.run(conv, x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    before = conv[2].weight.detach().clone()
    optimizer.step()  # built before the layout changed, it still updates the module's weights
    assert not torch.equal(conv[2].weight, before)
