"""The atlas of a tiny two-convolution model over a small image folder (one
file unreadable): its pages, links, boxes, resuming and refusals; and, in a
real browser (headless Chromium), that every page loads and every image decodes."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_data
from PIL import Image

from cnnviz.atlas import build_atlas, read_manifest, unit_path
from cnnviz.common.errors import CnnvizError
from cnnviz.inside.network import model_graph
from cnnviz.inside.receptive import receptive_field, unit_box
from cnnviz.inside.top_patches import file_crops, silent_channels, top_patches_files

OPTIONS = dict(k=36, syntheses=2, steps=8, batch_size=6)      # 6: conv2's 4 channels synthesized in two calls
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name="atlas_cnn")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """40 images in two class folders (bright squares at varying places) and one file that is no PNG."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(40):
        folder = root / ("dark" if i % 2 else "light")
        folder.mkdir(exist_ok=True)
        pixels = rng.integers(0, 80, (16, 16, 3), dtype=np.uint8)
        r, c = rng.integers(0, 12, 2)
        pixels[r:r + 4, c:c + 4] = 255 - 100 * (i % 2)
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    (root / "light" / "broken.png").write_bytes(b"not a png at all")
    return root


@pytest.fixture(scope="module")
def site(model, images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("site") / "atlas"
    result = build_atlas(model, folder, dataset=str(images), **OPTIONS)
    return folder, result


class Links(HTMLParser):
    """Every href and src of a page, and the attributes of its example figures."""

    def __init__(self):
        super().__init__()
        self.targets, self.examples, self.body, self.images = [], [], {}, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.targets += [attrs[a] for a in ("href", "src") if a in attrs]
        self.images += tag == "img"
        if tag == "figure" and "example" in attrs.get("class", ""):
            self.examples.append(attrs)
        if tag == "body":
            self.body = attrs


def parse(text: str) -> Links:
    links = Links()
    links.feed(text)
    return links


def pages(folder: Path) -> list[Path]:
    return [folder / p for p in read_manifest(folder)["files"] if p.endswith(".html")]


def test_every_unit_has_its_page_and_every_link_resolves(site, model):
    folder, result = site
    assert result.written == result.files and not result.up_to_date
    for layer, n in (("conv1", 3), ("conv2", 4)):
        assert all((folder / unit_path(layer, c)).is_file() for c in range(n))
        assert not (folder / unit_path(layer, n)).exists()
    for page in pages(folder):
        text = page.read_text("utf-8")
        assert text.rstrip().endswith("</html>")
        for target in parse(text).targets:
            assert (page.parent / target).resolve().is_file(), f"{page.relative_to(folder)} links to missing {target}"


def test_unit_page_shows_the_librarys_top_examples_boxes_and_crops(site, model, images):
    folder, _ = site
    top = top_patches_files(model, str(images), ["conv1", "conv2"], k=36, batch_size=16, cache=False)
    assert top.k == 36
    for layer in ("conv1", "conv2"):
        field = receptive_field(model, layer)
        result = top.layers[layer]
        crops = file_crops(top, layer)
        for c in result.channels:
            strip = np.asarray(Image.open(folder / "layers" / layer / "img" / f"{c}-crops.png"))
            scale = strip.shape[0] // crops.shape[2]
            assert np.array_equal(strip[::scale, ::scale], np.concatenate(list(crops[c]), axis=1))
            examples = parse((folder / unit_path(layer, c)).read_text("utf-8")).examples
            assert len(examples) == 36
            for j, e in enumerate(examples):
                row, col = int(e["data-row"]), int(e["data-col"])
                box = [int(v) for v in e["data-box"].split(",")]
                assert box == [int(round(v)) for v in field.box(row, col)]
                assert tuple(box) == unit_box(model, layer, row, col).box
                assert int(e["data-image"]) == result.image_index[c, j]
                assert float(e["data-value"]) == pytest.approx(result.values[c, j], rel=1e-5)


def test_unit_pages_show_the_librarys_diverse_syntheses(site, model):
    from cnnviz.synthesis import synthesize_channels

    folder, _ = site
    synth = synthesize_channels(model, "conv2", per_channel=2, steps=8, cache=False)
    for c in range(4):
        page = (folder / unit_path("conv2", c)).read_text("utf-8")
        assert "looking unlike each other" in page
        for s in range(2):
            shown = np.asarray(Image.open(folder / "layers" / "conv2" / "img" / f"{c}-synth{s}.png"), int)
            assert np.abs(shown - synth.uint8[2 * c + s]).max() <= 1


def test_the_model_page_draws_the_graph_and_links_its_layers(site, model):
    folder, _ = site
    text = (folder / "index.html").read_text("utf-8")
    assert re.findall(r'data-node="([^"]+)"', text) == [n.name for n in model_graph(model).nodes]
    assert re.findall(r'<a href="([^"]+)"><g class="node', text) == ["layers/conv1/index.html",
                                                                      "layers/conv2/index.html"]


def test_the_graph_expands_a_nested_model_that_holds_a_shown_layer(images, tmp_path):
    import keras

    block = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(2, 3, activation="relu", name="conv")],
                             name="block")
    inputs = keras.Input((16, 16, 3))
    scores = keras.layers.Dense(2, activation="softmax", name="out")(keras.layers.Flatten()(block(inputs)))
    nested = keras.Model(inputs, scores, name="nested_cnn")
    build_atlas(nested, tmp_path / "site", dataset=str(images), k=2, syntheses=1, steps=2)
    text = (tmp_path / "site" / "index.html").read_text("utf-8")
    assert '<a href="layers/block_conv/index.html"><g class="node conv shown" data-node="block/conv">' in text
    assert (tmp_path / "site" / "layers" / "block_conv" / "index.html").is_file()


def test_silent_channels_are_marked_and_the_unreadable_file_is_named(site, model, images):
    folder, result = site
    assert [Path(s["file"]).name for s in result.skipped] == ["broken.png"]
    assert "broken.png" in (folder / "index.html").read_text("utf-8")
    top = top_patches_files(model, str(images), ["conv1", "conv2"], k=36, batch_size=16)
    for layer in ("conv1", "conv2"):
        r = top.layers[layer]
        silent = silent_channels(model, layer, r.channels, r.values, "quiet")
        page = (folder / "layers" / layer / "index.html").read_text("utf-8")
        assert page.count('class="card silent"') == len(silent)


def test_an_unchanged_rerun_rebuilds_nothing(site, model, images):
    folder, first = site
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    again = build_atlas(model, folder, dataset=str(images), **OPTIONS)
    assert again.up_to_date and again.written == 0 and again.files == first.files
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == stamps


class Killed(Exception):
    pass


def test_a_killed_build_resumes_and_leaves_no_half_written_page(model, images, tmp_path):
    folder = tmp_path / "atlas"

    files = []

    def kill_after_20_files(done, total, message):
        if message.startswith("writing pages"):
            files.append(done)
            if len(files) > 20:
                raise Killed

    with pytest.raises(Killed):
        build_atlas(model, folder, dataset=str(images), progress=kill_after_20_files, **OPTIONS)
    manifest = read_manifest(folder)
    assert not manifest["complete"]
    present = [p for p in manifest["files"] if (folder / p).is_file()]
    assert 0 < len(present) < len(manifest["files"])
    assert not [p for p in folder.rglob(".*tmp*")]
    resumed = build_atlas(model, folder, dataset=str(images), **OPTIONS)
    assert resumed.written == resumed.files - len(present)
    assert read_manifest(folder)["complete"]
    assert all((folder / p).is_file() for p in read_manifest(folder)["files"])


def test_a_page_killed_while_written_leaves_only_a_temporary_that_the_rerun_removes(model, images, tmp_path):
    """A kill (SIGKILL, power loss) in the middle of a write leaves the half-written bytes in the write's
    temporary file beside the page, never under the page's name; the resumed build removes it."""
    from cnnviz.common.fileio import STARTED, temporary_name

    folder = tmp_path / "atlas"
    calls, half = [], []

    def kill_in_a_write(done, total, message):
        calls.append(message)
        if calls.count("writing pages") == 30:        # file 29 is next
            page = folder / next(p for p in read_manifest(folder)["files"][29:] if p.endswith(".html"))
            page.parent.mkdir(parents=True, exist_ok=True)
            left = temporary_name(page)
            left.write_bytes(b"<!DOCTYPE html><html><head><title>half")
            os.utime(left, (STARTED - 60, STARTED - 60))           # written by a process before this one
            half.append(page)
            raise Killed

    with pytest.raises(Killed):
        build_atlas(model, folder, dataset=str(images), progress=kill_in_a_write, **OPTIONS)
    assert not half[0].exists() and len(list(folder.rglob(".*.tmp.html"))) == 1
    build_atlas(model, folder, dataset=str(images), **OPTIONS)
    assert half[0].read_text("utf-8").rstrip().endswith("</html>")
    assert not list(folder.rglob(".*.tmp*"))


def test_progress_rises_to_the_end_and_cancel_stops_before_any_page(model, images, tmp_path, monkeypatch):
    from cnnviz.common.errors import Cancelled
    from cnnviz.common.progress import CancelToken

    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))       # synthesized here, not read from the cache
    token, seen = CancelToken(), []

    def cancel_in_synthesis(done, total, message):
        seen.append((done, total))
        if "synthesizing" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        build_atlas(model, tmp_path / "a", dataset=str(images), progress=cancel_in_synthesis, cancel=token,
                    **OPTIONS)
    assert not read_manifest(tmp_path / "a")["complete"] and not list((tmp_path / "a").rglob("*.html"))
    seen.clear()
    build_atlas(model, tmp_path / "a", dataset=str(images), progress=lambda d, t, m: seen.append((d, t)), **OPTIONS)
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1][0] == seen[-1][1] and {t for _, t in seen} == {2000}


def test_new_options_replace_only_the_atlas_own_files(model, images, tmp_path):
    folder = tmp_path / "atlas"
    build_atlas(model, folder, dataset=str(images), layers=["conv1", "conv2"], **OPTIONS)
    (folder / "my-notes.txt").write_text("mine")
    (folder / "layers" / "conv2" / "mine.txt").write_text("mine too")
    smaller = build_atlas(model, folder, dataset=str(images), layers=["conv1"], **OPTIONS)
    assert smaller.written == smaller.files
    assert (folder / "my-notes.txt").read_text() == "mine"
    assert (folder / "layers" / "conv2" / "mine.txt").is_file()
    assert not (folder / unit_path("conv2", 0)).exists()
    assert set(read_manifest(folder)["files"]) == {str(p.relative_to(folder)) for p in folder.rglob("*")
                                                    if p.is_file() and p.name not in
                                                    ("my-notes.txt", "mine.txt", "cnnviz-atlas.json")}


@pytest.mark.parametrize("case, message", [
    ("foreign folder", "cnnviz did not write"),
    ("file as folder", "is a file, not a folder"),
    ("no convolutions", "has no convolution layers"),
    ("dense layer", "has no channels to show"),
    ("k zero", "k must be a whole number"),
    ("ray over named data", "image folder or a glob"),
    ("no image files", "has no image files"),
])
def test_bad_input_is_refused_in_one_line_and_nothing_is_deleted(case, message, model, images, tmp_path):
    import keras

    folder = tmp_path / "out"
    options = dict(OPTIONS, dataset=str(images))
    target = model
    if case == "foreign folder":
        folder.mkdir()
        (folder / "thesis.tex").write_text("years of work")
    elif case == "file as folder":
        folder.write_text("a file")
    elif case == "no convolutions":
        inputs = keras.Input((16, 16, 3))
        scores = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
        target = keras.Model(inputs, scores, name="mlp")
    elif case == "dense layer":
        options["layers"] = ["out"]
    elif case == "k zero":
        options["k"] = 0
    elif case == "ray over named data":
        pytest.importorskip("ray")
        options.update(dataset="cifar10", engine="ray")
    elif case == "no image files":
        (tmp_path / "empty").mkdir()
        options["dataset"] = str(tmp_path / "empty")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(CnnvizError, match=message) as caught:
        build_atlas(target, folder, **options)
    assert "\n" not in str(caught.value)
    assert sorted(tmp_path.rglob("*")) == before
    if case == "foreign folder":
        assert (folder / "thesis.tex").read_text() == "years of work"


# ---------------------------------------------------------------- in a real browser

def dump_dom(page: Path) -> str:
    out = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000",
                          "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    return out.stdout


def load_in_chromium(page: Path) -> Links:
    return parse(dump_dom(page))


def dom_after(page: Path, script: str) -> str:
    """The page's DOM after ``script`` ran on its load event (the page is rewritten with it: give a copy)."""
    hook = f'<script>addEventListener("load", () => {{ {script} }});</script></body>'
    page.write_text(page.read_text("utf-8").replace("</body>", hook), "utf-8")
    return dump_dom(page)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt install chromium)")
def test_every_page_loads_in_a_browser_and_every_image_decodes(site):
    folder, _ = site
    seen = 0
    for page in pages(folder):
        loaded = load_in_chromium(page)
        assert loaded.body.get("data-broken-images") == "0", page.relative_to(folder)
        assert int(loaded.body["data-images"]) == loaded.images == parse(page.read_text("utf-8")).images
        seen += loaded.images
    assert seen > 7 * 36


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt install chromium)")
def test_the_browser_check_sees_a_missing_image(site, tmp_path):
    folder, _ = site
    copy = tmp_path / "site"
    shutil.copytree(folder, copy)
    page = copy / unit_path("conv2", 1)
    victim = next(t for t in parse(page.read_text("utf-8")).targets if t.endswith(".png"))
    (page.parent / victim).unlink()
    assert load_in_chromium(page).body["data-broken-images"] == "1"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt install chromium)")
def test_the_boxes_the_browser_draws_are_the_librarys_receptive_fields(site, model, tmp_path):
    folder, _ = site
    copy = tmp_path / "site"
    shutil.copytree(folder, copy)
    measure = ('for (const f of document.querySelectorAll("figure.example")) {'
               ' const img = f.querySelector(".context img"), a = img.getBoundingClientRect(),'
               ' b = f.querySelector(".context .box").getBoundingClientRect();'
               ' const sx = img.naturalWidth / a.width, sy = img.naturalHeight / a.height;'
               ' f.dataset.drawn = [(b.top - a.top) * sy, (b.left - a.left) * sx, (b.bottom - a.top) * sy - 1,'
               ' (b.right - a.left) * sx - 1].join(","); }')
    examples = parse(dom_after(copy / unit_path("conv2", 1), measure)).examples
    assert len(examples) == 36
    for e in examples:
        drawn = [float(v) for v in e["data-drawn"].split(",")]
        assert drawn == pytest.approx(unit_box(model, "conv2", int(e["data-row"]), int(e["data-col"])).box, abs=0.1)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt install chromium)")
def test_the_graph_drawing_renders_in_the_browser(site, model, tmp_path):
    folder, _ = site
    copy = tmp_path / "site"
    shutil.copytree(folder, copy)
    measure = ('const boxes = [...document.querySelectorAll("figure.graph g.node rect")];'
               'document.body.dataset.drawn = boxes.filter(r => r.getBoundingClientRect().width > 20).length;'
               'document.body.dataset.graphWidth = document.querySelector("figure.graph svg")'
               '.getBoundingClientRect().width;')
    body = parse(dom_after(copy / "index.html", measure)).body
    assert int(body["data-drawn"]) == len(model_graph(model).nodes) == 6
    assert float(body["data-graph-width"]) > 100


def test_the_cli_builds_an_atlas_and_refuses_a_foreign_folder(images, tmp_path, capsys):
    from cnnviz.cli.main import main

    assert main(["atlas", "mnist_small", "--dataset", str(images / "light"), "-k", "4", "--syntheses", "1",
                 "--steps", "4", "--layers", "conv1", "-o", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / unit_path("conv1", 0)).is_file()
    assert json.loads((tmp_path / "site" / "cnnviz-atlas.json").read_text())["complete"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    assert main(["atlas", "mnist_small", "-o", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("cnnviz: error:") and "nothing was deleted" in err[-1]
    assert (tmp_path / "other" / "keep.txt").is_file()


@pytest.mark.slow
def test_the_ray_engine_builds_the_same_pages(site, model, images, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    folder, _ = site
    monkeypatch.setenv("CNNVIZ_CACHE", str(tmp_path / "cache"))      # computed again, not read from the cache
    other = tmp_path / "atlas"
    build_atlas(model, other, dataset=str(images), engine="ray", workers=1, **OPTIONS)
    files = read_manifest(folder)["files"]
    assert read_manifest(other)["files"] == files
    different = [p for p in files if (folder / p).read_bytes() != (other / p).read_bytes()]
    assert not different


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("name, dataset", [("mnist_small", "mnist"),
                                           pytest.param("cifar10_cnn", "cifar10", marks=pytest.mark.slow)])
def test_an_atlas_over_named_test_images_names_each_example_and_its_label(name, dataset, tmp_path):
    from cnnviz import load_model
    from cnnviz.data.datasets import balanced_subset
    from cnnviz.data.sources import load_dataset

    model = load_model(name)
    build_atlas(model, tmp_path / "site", dataset=dataset, limit=50, layers=["conv2"], k=5, syntheses=1, steps=4)
    assert f"{dataset} test split, 50 images" in (tmp_path / "site" / "index.html").read_text("utf-8")
    page = (tmp_path / "site" / unit_path("conv2", 7)).read_text("utf-8")
    data = load_dataset(dataset)
    labels = data.y_test.reshape(-1)                # CIFAR-10's labels come as a column
    chosen = balanced_subset(labels, 50, 0)
    for e in parse(page).examples:
        n = chosen[int(e["data-image"])]
        assert f"{data.classes[labels[n]]}<br><small title=\"{dataset} test image {n}\"" in page
    assert "classes.html" in page and (tmp_path / "site" / "classes.html").is_file()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt install chromium)")
@pytest.mark.parametrize("key", ["mean", "rate"])
def test_the_layer_page_sorts_its_channels_in_the_browser(site, tmp_path, key):
    folder, _ = site
    copy = tmp_path / "site"
    shutil.copytree(folder, copy)
    click = f'document.querySelector("button[data-key={key}]").click();'
    out = dom_after(copy / "layers" / "conv2" / "index.html", click)
    cards = [float(v) for v in re.findall(rf'data-{key}="([^"]+)"', out)]
    assert len(cards) == 4 and cards == sorted(cards, reverse=True)
