"""The lecture galleries: every deck is declared well; a smoke-form gallery of
Wolter's deck runs end to end on real MNIST, resumes, and its report opens in
a real browser (headless Chromium) with every image loaded, a command for
every item and no broken link; a printed command reproduces its number."""
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from conftest import needs_data

from cnnviz import Cancelled, CancelToken, CnnvizError
from cnnviz.cli.main import main
from cnnviz.lectures import DECKS, NOT_RECORDED, Item, Pending, find_deck, run_lecture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_five_decks_by_name_and_number_each_item_keyed_once():
    assert [d.name for d in DECKS] == ["mueller", "sick", "mattie", "sakr", "wolter"]
    assert find_deck("Müller") is find_deck(1) is find_deck("mueller")
    with pytest.raises(CnnvizError, match="unknown lecture deck 'hinton': use one of 1 mueller, 2 sick"):
        find_deck("hinton")
    for deck in DECKS:
        keys = [i.key for i in deck.items]
        assert len(keys) == len(set(keys)) and all(re.fullmatch(r"[\w.-]+", k) for k in keys)
        assert any(isinstance(i, Item) for i in deck.items)
        for item in deck.items:
            assert item.caption and item.source and item.deck_value
            assert not isinstance(item, Pending) or item.why


def test_lecture_list(capsys):
    assert main(["lecture", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(d.name in out and d.title in out for d in DECKS)


class _Page(HTMLParser):
    """What the dumped DOM holds: body attributes, links, ids, and the text of each item's command block."""

    def __init__(self):
        super().__init__()
        self.body, self.links, self.ids, self.sections, self._in_command = {}, [], set(), [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "section":
            self.sections.append({"status": attrs.get("data-status"), "commands": "", "images": []})
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img":
            self.sections[-1]["images"].append(attrs["src"])
        self._in_command = tag == "pre" and "command" in attrs.get("class", "")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_command = False

    def handle_data(self, data):
        if self._in_command:
            self.sections[-1]["commands"] += data


@pytest.fixture(scope="module")
def wolter(tmp_path_factory):
    out = tmp_path_factory.mktemp("lecture") / "wolter"
    return run_lecture("wolter", out, form="smoke"), out


@needs_data
@pytest.mark.data
def test_the_smoke_gallery_computes_every_item_and_a_rerun_reuses_them(wolter):
    report, out = wolter
    assert report.counts["done"] == len(find_deck("wolter").items) and not report.counts["failed"]
    html = report.html.read_text("utf-8")
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in report.items:
        assert entry["value"] in html and entry["difference"] in html and entry["commands"]
        assert manifest["items"][entry["key"]]["value"] == entry["value"]
        assert all((out / f).is_file() for f in entry["files"])
    assert "932,362 parameters" in html and "none: the same count" in html
    again = run_lecture("wolter", out, form="smoke")
    assert again.counts["reused"] == len(report.items) and [e["value"] for e in again.items] == \
        [e["value"] for e in report.items]
    with pytest.raises(CnnvizError, match="holds the smoke gallery of wolter"):
        run_lecture("wolter", out, form="short")


@needs_data
@pytest.mark.data
def test_a_printed_command_gives_the_reports_number(wolter, capsys):
    report, _ = wolter
    entry = next(e for e in report.items if e["key"] == "wolter_dense_results")
    predict = entry["commands"][-1].split()[1:]
    assert main(predict[:predict.index("-o")]) == 0
    agreed = re.search(r"for (\d+) of (\d+) images", capsys.readouterr().out).groups()
    assert entry["value"].startswith(f"{agreed[0]} of {agreed[1]} test images")


@needs_data
@pytest.mark.data
def test_a_cancelled_gallery_keeps_what_is_done(tmp_path):
    cancel = CancelToken()

    def progress(done, total, message):
        if message.startswith("wolter_dense_training"):
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_lecture("wolter", tmp_path / "w", form="smoke", progress=progress, cancel=cancel)
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert list(manifest["items"]) == ["wolter_dense_parameters"]


@needs_data
@pytest.mark.data
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (the system package; .ci/run installs it)")
def test_the_report_in_a_real_browser(wolter):
    report, out = wolter
    dom = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=2000",
                          "--dump-dom", report.html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    page = _Page()
    page.feed(dom)
    files = [f for e in report.items for f in e["files"]]
    assert page.body.get("data-broken-images") == "none", page.body
    assert int(page.body["data-images"]) == len(files) > 0
    assert len(page.sections) == len(report.items)
    for section in page.sections:
        if section["status"] in ("done", "reused"):
            assert section["commands"].strip().startswith("cnnviz ")
    for link in page.links:
        target = link[1:] in page.ids if link.startswith("#") else (out / link).is_file()
        assert target, f"broken link {link}"


def test_a_pending_item_says_why(tmp_path):
    from cnnviz.lectures import Deck

    deck = Deck("test", 9, "Nobody", "A deck", (Pending("graph", "A graph", NOT_RECORDED, "here", "not built"),))
    report = run_lecture(deck, tmp_path / "t", form="smoke")
    assert report.counts == {"done": 0, "reused": 0, "failed": 0, "pending": 1}
    assert "Not reproduced: not built" in report.html.read_text("utf-8")


def test_output_sizes_are_worked_from_kernel_stride_and_padding():
    import keras

    from cnnviz.lectures.items import output_sizes
    from cnnviz.models.zoo import build_model

    assert output_sizes(build_model("lenet5")) == [
        "C1: (32 + 0 - 5) // 1 + 1 = 28", "S2: (28 + 0 - 2) // 2 + 1 = 14", "C3: (14 + 0 - 5) // 1 + 1 = 10",
        "S4: (10 + 0 - 2) // 2 + 1 = 5", "C5: (5 + 0 - 5) // 1 + 1 = 1"]
    assert output_sizes(build_model("sakr_cifar"))[:2] == ["conv1: (32 + 2 - 3) // 1 + 1 = 32",
                                                           "pool1: (32 + 0 - 2) // 2 + 1 = 16"]
    for side, pad in ((7, 2), (8, 1)):              # strided 'same': TensorFlow pads what the stride needs
        model = keras.Sequential([keras.Input((side, side, 1)),
                                  keras.layers.Conv2D(2, 3, strides=2, padding="same", name="c")])
        assert output_sizes(model) == [f"c: ({side} + {pad} - 3) // 2 + 1 = 4"]


def test_structure_and_kernel_items_need_no_training(tmp_path):
    from cnnviz.lectures import Lab
    from cnnviz.lectures.items import fixed_kernels, structure

    lab = Lab(tmp_path, "smoke")
    drawn = structure("lenet5", train=False, deck_layers=("C1", "S2", "C3", "S4", "C5", "F6"))(lab)
    assert drawn.value == "9 layers (3 conv, 2 pool, 2 dense), 9 edges, 61,706 parameters"
    assert drawn.difference == "none in the named layers (C1, S2, C3, S4, C5, F6 in order); cnnviz's also has " \
                               "pad, flatten, predictions"
    assert "missing: ['F7']" in structure("lenet5", False, ("C1", "F7"))(lab).difference
    assert drawn.commands == [f"cnnviz graph lenet5 -o {tmp_path / 'lenet5_graph.png'}"] and drawn.figure
    kernels = fixed_kernels()(lab)
    ranges = dict(re.findall(r"(\w+): (-?[\d.]+) to", kernels.value))
    assert set(ranges) == {"box", "gaussian", "sobel_x", "sobel_y"} and float(ranges["sobel_x"]) < 0 <= \
        float(ranges["box"])
    assert kernels.commands[0].startswith("cnnviz kernels skimage:camera")


@needs_data
@pytest.mark.data
def test_the_arithmetic_item_equals_its_printed_command(tmp_path, capsys):
    from cnnviz.lectures import Lab
    from cnnviz.lectures.items import arithmetic
    from cnnviz.models.zoo import build_model

    lab = Lab(tmp_path, "smoke")
    model = build_model("sakr_cifar")                 # as if trained by the run: the item reads the lab's models
    (tmp_path / "models").mkdir()
    model.save(tmp_path / "models" / "sakr_cifar.keras")
    lab._models["sakr_cifar"] = (model, {})
    outcome = arithmetic("sakr_cifar", "cifar10", "conv1", "pool1")(lab)
    assert "conv1 unit (0, 0): 5 of 9 window entries in the padding" in outcome.value
    assert "every value equals the layer's own" in outcome.value and "pool2: (16 + 0 - 2) // 2 + 1 = 8" in outcome.value
    corner = next(c for c in outcome.commands if "--layer conv1 --at 0,0" in c)
    assert main(corner.split()[1:]) == 0
    printed = float(re.search(r"value (\S+) equals the layer's own", capsys.readouterr().out).group(1))
    assert printed == pytest.approx(float(re.search(r"value (\S+);", outcome.value).group(1)), rel=1e-3)


def test_no_deck_marks_the_structure_or_arithmetic_missing():
    pending = {i.key for d in DECKS for i in d.items if isinstance(i, Pending)}
    assert not pending & {"network_structure", "conv_arithmetic", "sakr_first_cifar_net", "sakr_bn64"}


def test_a_short_runs_batch_normalization_is_explained_where_its_averages_lag():
    from cnnviz.lectures.items import bn_note
    from cnnviz.models.zoo import build_model

    card = {"history": {"loss": [2.5, 1.7], "accuracy": [0.23, 0.37], "val_accuracy": [0.17, 0.11]},
            "recipe": {"train_images": 5400, "batch_size": 128}}
    note = bn_note(build_model("sakr_bn64"), card, "sakr_bn64")
    assert "after 86 steps" in note and "still hold 42% of their initial values" in note and "11.00%" in note
    assert bn_note(build_model("sakr_cifar"), card, "sakr_cifar") == ""          # no batch normalization
    long = {**card, "history": {**card["history"], "loss": [1.0] * 20}}
    assert bn_note(build_model("sakr_bn64"), long, "sakr_bn64") == ""            # 860 steps: 0.02% left
