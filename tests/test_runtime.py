import pytest

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
    ("stepz=1", r"unknown setting 'stepz' for 'dann'; known: \['batch_size', 'n_eval', 'n_tsne', 'steps'\]"),
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
