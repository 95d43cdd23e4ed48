"""``cnnviz graph``, ``cnnviz arithmetic`` and ``cnnviz kernels``: the figure
and JSON of the graph, and a unit's (or a fixed kernel's) steps that end in
the layer's own value."""
import json

from cnnviz.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_writes_svg_and_json(capsys, tmp_path):
    code, out, err = run(capsys, "graph", "mnist_cnn", "-o", str(tmp_path / "model.svg"))
    assert code == 0 and "mnist_cnn: 9 nodes, 8 edges" in out and "wrote" in err
    assert "conv2" in (tmp_path / "model.svg").read_text()
    code, out, _ = run(capsys, "graph", "mnist_cnn", "--json")
    data = json.loads(out)
    assert [n["name"] for n in data["nodes"]][:3] == ["input", "conv1", "pool1"]
    assert data["nodes"][3]["rf_size"] == [8, 8] and ["conv1", "pool1"] in data["edges"]


def test_arithmetic_prints_each_step_and_the_match(capsys):
    code, out, _ = run(capsys, "arithmetic", "mnist_cnn", "skimage:camera", "--layer", "conv2", "--at", "4,4",
                       "--channel", "7")
    assert code == 0 and "conv2 channel 7 unit (4, 4) (conv)" in out
    assert "input patch (3, 3, 32)" in out and "products" in out and "+ bias" in out and "relu(" in out
    assert "equals the layer's own" in out
    code, out, _ = run(capsys, "arithmetic", "mnist_cnn", "skimage:camera", "--layer", "pool1", "--at", "2,3",
                       "--json")
    step = json.loads(out)
    assert step["kind"] == "max_pool" and step["matches"] and len(step["patch"]) == 2


def test_arithmetic_errors_are_one_line(capsys):
    code, _, err = run(capsys, "arithmetic", "mnist_cnn", "skimage:camera", "--layer", "flatten", "--at", "0,0")
    assert code == 2 and "pick one of those" in err and "Traceback" not in err
    code, _, err = run(capsys, "arithmetic", "mnist_cnn", "skimage:camera", "--layer", "conv1")
    assert code == 2 and "give the unit's position" in err


def test_kernels_print_a_pixels_arithmetic_and_draw_each_kernel(capsys, tmp_path):
    fig = tmp_path / "kernels.png"
    code, out, err = run(capsys, "kernels", "skimage:camera", "--kernel", "sobel_x", "--kernel", "box", "--at", "0,0",
                         "-o", str(fig))
    # the corner's window reaches into the zero padding: 4 of the box's 9 entries are inside the image
    assert code == 0 and "input patch (3, 3) at (-1, -1)" in out and out.count("equals the layer's own") == 2
    assert "sobel_x (Sobel gradient along x): output" in out and "gaussian" not in out
    assert fig.stat().st_size > 10_000 and "wrote" in err
    code, _, err = run(capsys, "kernels", "skimage:camera", "--kernel", "laplace")
    assert code == 2 and "invalid choice" in err


def test_an_untrained_graph_is_marked_once_above_its_title(capsys, tmp_path):
    code, _, err = run(capsys, "graph", "lenet5", "-o", str(tmp_path / "lenet5.svg"))
    svg = (tmp_path / "lenet5.svg").read_text()
    assert code == 0 and "lenet5: architecture only, weights not loaded" in err
    assert svg.count("UNTRAINED (random weights)") == 1 and "lenet5: 10 nodes" in svg
