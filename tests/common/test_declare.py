"""The declaration machinery every family shares: typed options with limits,
lookup by name and alias, ``--option`` parsing and the ``--help`` text."""
import pytest

from cnnviz import CnnvizError
from cnnviz.common.declare import Family, Method, Option


def double(model, images, target=None, *, factor=2, mode="fast"):
    return factor


FAMILY = Family("widget", (
    Method("double", "Double", double, (
        Option("factor", float, 2.0, "how much", minimum=0, maximum=10),
        Option("mode", str, "fast", "how", choices=("fast", "slow")),
        Option("batch_size", int, None, "per call", optional=True, minimum=1, engine=True)),
        aliases=("twice",), refuses={"steps": "double takes one step"}),
    Method("plain", "Plain", double),
), help_command="cnnviz widget --help", choose_flag="--widgets")


def test_lookup_by_name_alias_case_and_hyphens():
    assert FAMILY.name("Twice") == "double" and FAMILY.get("PLAIN").label == "Plain"
    assert "twice" in FAMILY and "nope" not in FAMILY
    with pytest.raises(CnnvizError, match="unknown widget 'nope': use double, plain"):
        FAMILY.name("nope")


@pytest.mark.parametrize("options, message", [
    ({"factor": 11}, r"double.factor=11.0 is too large: use at most 10"),
    ({"factor": -1}, r"double.factor=-1.0 is too small: use at least 0"),
    ({"factor": "x"}, r"double.factor='x' is not a valid float"),
    ({"factor": True}, r"not a valid float"),
    ({"mode": "odd"}, r"not one of fast, slow"),
    ({"steps": 3}, r"double has no option 'steps': double takes one step"),
    ({"size": 3}, r"double has no option 'size': its options are factor, mode, batch_size"),
])
def test_bad_values_are_named_with_the_fix(options, message):
    with pytest.raises(CnnvizError, match=message):
        FAMILY.check_options("double", options)


def test_options_parse_from_text_and_go_to_the_members_that_have_them():
    assert FAMILY.parse_options(["factor=3", "double.mode=slow"], ["double", "plain"]) == {
        "double": {"factor": 3.0, "mode": "slow"}, "plain": {}}
    assert FAMILY.convert_option("double", "batch_size", "") is None
    with pytest.raises(CnnvizError, match="no chosen widget has an option 'mode': see `cnnviz widget --help`"):
        FAMILY.parse_options(["mode=slow"], ["plain"])
    with pytest.raises(CnnvizError, match="is for double, which is not being run: add it to --widgets"):
        FAMILY.parse_options(["double.mode=slow"], ["plain"])
    with pytest.raises(CnnvizError, match="write NAME=VALUE"):
        FAMILY.parse_options(["nonsense"], ["plain"])


def test_help_and_editors_leave_engine_options_out():
    text = FAMILY.options_help()
    assert "factor=2.0" in text and "(fast, slow)" in text and "batch_size" not in text and "plain: no options" in text
    assert [o.name for o in FAMILY.option_specs("double")] == ["factor", "mode"]
    assert [o.name for o in FAMILY.option_specs("double", engine=True)][-1] == "batch_size"
    assert FAMILY.get("double").defaults() == {"factor": 2.0, "mode": "fast", "batch_size": None}
