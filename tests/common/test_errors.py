"""Any exception's text as the one line a user sees (issue 14): TensorFlow's
and Keras' framing, colour codes and file listings removed."""
import pytest

from cnnviz.common.errors import one_line, short

KERAS_CALL = ("Exception encountered when calling Conv2D.call().\n\n\x1b[1m{{function_node __wrapped____MklNativeConv2D"
              "_device_/job:localhost/replica:0/task:0/device:CPU:0}} Computed output size would be negative: -1 "
              "[input_size: 3, effective_filter_size: 5, stride: 1] [Op:Conv2D]\x1b[0m\n\nArguments received by "
              "Conv2D.call():\n  • inputs=tf.Tensor(shape=(1, 3, 3, 3), dtype=float32)")
GRAPH = ("Graph execution error:\n\nDetected at node GatherV2 defined at (most recent call last):\n  File \"<stdin>\", "
         "line 13, in <module>\n\n  File \"<stdin>\", line 12, in g\n\nindices = 7 is not in [0, 2)\n\t "
         "[[{{node GatherV2}}]] [Op:__inference_g_43]")
USER_CODE = ("in user code:\n\n    File \"/m/engine.py\", line 30, in run  *\n        return model(x)\n    File "
             "\"/k/layer.py\", line 9, in __call__  **\n        raise\n\n    ValueError: Input 0 of layer \"dense\" is "
             "incompatible with the layer: expected axis -1 to have value 64\n")


@pytest.mark.parametrize("text, line", [
    (KERAS_CALL, "Computed output size would be negative: -1 [input_size: 3, effective_filter_size: 5, stride: 1]"),
    (GRAPH, "indices = 7 is not in [0, 2)"),
    (USER_CODE, 'Input 0 of layer "dense" is incompatible with the layer: expected axis -1 to have value 64'),
    ("plain message", "plain message"),
    ("\n\nfirst\nsecond", "first"),
])
def test_one_meaningful_line(text, line):
    assert one_line(text) == line


def test_long_lines_are_cut_and_empty_ones_named():
    assert len(one_line("x" * 1000, 100)) == 100 and one_line("x" * 1000, 100).endswith("...")
    assert short(ValueError("")) == "ValueError"
