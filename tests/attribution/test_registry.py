"""The method registry: every method declared once, and what reads it."""
import inspect
import math

import pytest

from cnnviz import CnnvizError
from cnnviz.attribution.registry import (
    REGISTRY,
    convert_option,
    explain,
    method_name,
    option_specs,
    options_help,
    parse_options,
)
from cnnviz.cli import main


@pytest.mark.parametrize("name", list(REGISTRY))
def test_declared_options_are_the_functions_keyword_options(name):
    """A declaration cannot drift from its function: same names, same defaults
    (less the switches that select a variant declared as a method of its own)."""
    m = REGISTRY[name]
    switches = {key for other in REGISTRY.values() if other.function is m.function for key in other.fixed}
    params = inspect.signature(m.function).parameters
    keyword = {p.name: p.default for p in params.values()
               if p.kind == p.KEYWORD_ONLY and p.name not in ("progress", "cancel", *switches)}
    assert {o.name: o.default for o in m.options} == keyword


def test_aliases_and_unknown_names():
    assert method_name("IG") == "integrated_gradients"
    assert method_name("Grad-CAM++".replace("Grad-CAM", "gradcam")) == "gradcam++"
    with pytest.raises(CnnvizError, match="unknown method 'nope'"):
        method_name("nope")


@pytest.mark.parametrize("item, message", [
    ("occlusion.patch=0", "too small"),
    ("occlusion.patch=2.5", "not a valid int"),
    ("smoothgrad.noise=nan", "not a finite number"),
    ("smoothgrad.noise=-1", "too small"),
    ("occlusion.fill=purple", "not one of grey, mean, zero, blurred"),
    ("lime.samples=50", "lime, which is not being run"),
    ("stpes=4", "no chosen method has an option 'stpes'"),
    ("occlusion.stpes=4", "occlusion has no option 'stpes'"),
])
def test_bad_option_values_are_named(item, message):
    with pytest.raises(CnnvizError, match=message):
        parse_options([item], ["occlusion", "smoothgrad"])


def test_values_are_converted_to_their_declared_types():
    parsed = parse_options(["patch=8", "fill=zero", "samples=3"], ["occlusion", "smoothgrad", "lime"])
    assert parsed["occlusion"] == {"patch": 8, "fill": "zero"}
    assert parsed["smoothgrad"] == {"samples": 3} and parsed["lime"] == {"samples": 3}
    assert convert_option("occlusion", "patch", "") is None           # optional: the method chooses
    assert convert_option("integrated_gradients", "steps", "100") == 100


def test_option_specs_leave_engine_options_out_and_take_layers_from_the_model(tiny_cnn):
    assert [o.name for o in option_specs("saliency")] == []
    assert [o.name for o in option_specs("saliency", engine=True)] == ["batch_size"]
    (layer,) = option_specs("gradcam", tiny_cnn)
    assert layer.choices == ("conv", "pool")


def test_explain_refuses_options_for_methods_not_run_and_unknown_options(tiny_cnn, rng):
    x = rng.random((1, 16, 16, 3), dtype="float32")
    with pytest.raises(CnnvizError, match="lime, which is not being run"):
        explain(tiny_cnn, x, ["saliency"], options={"lime": {"samples": 10}})
    with pytest.raises(CnnvizError, match="smoothgrad has no option 'stpes'"):
        explain(tiny_cnn, x, ["smoothgrad"], options={"smoothgrad": {"stpes": 4}})
    with pytest.raises(CnnvizError, match="no methods given"):
        explain(tiny_cnn, x, [])


def test_explain_help_lists_every_method_and_option(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert options_help() in out
    for m in REGISTRY.values():
        assert f"  {m.name}" in out
        for o in m.options:
            assert o.engine or f"{o.name}=" in out


def test_minimum_is_a_number_where_declared():
    for m in REGISTRY.values():
        for o in m.options:
            assert o.minimum is None or (o.kind in (int, float) and math.isfinite(o.minimum))
