"""Desktop-app benchmarks (offscreen Qt): time from selecting a layer to the
repainted activation grid, first time (computed off the GUI thread) and
cached, on a lecture model and on VGG16 (weights=None, 224x224); and how
responsive the event loop stays while LIME runs in a worker (the gaps between
the ticks of a 10 ms timer, against the same timer on an idle loop)."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _wait(app, condition, timeout=120.0):
    """Run the event loop (idle as in the app, not busy-polling) until ``condition()``."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    loop, end = QEventLoop(), time.perf_counter() + timeout
    timer = QTimer()
    timer.setInterval(1)

    def check():
        if condition() or time.perf_counter() > end:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError("the GUI did not finish in time")


def layer_switch():
    from cnnviz_gui.app import MainWindow
    from PySide6.QtCore import QSettings

    app = _app()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, weights, image in (("mnist_cnn", "imagenet", "skimage:camera"),
                                     ("vgg16", "none", "skimage:chelsea")):
            window = MainWindow(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
            window.resize(1500, 900)
            window.show()
            view = window.layer_view
            window.load_model(spec, weights=weights)
            _wait(app, lambda: window.session.model_spec == spec and not window.runner.running("model"))
            window.load_image(image)
            _wait(app, lambda: window.session.image is not None and view.maps is not None)
            _wait(app, window.runner.idle)                                     # nothing else running
            painted = []
            view.maps_shown.connect(lambda: painted.append(time.perf_counter()))
            spatial = [i for i, r in enumerate(window.session.rows) if r.spatial]
            first, cached = [], []
            for attempt in (first, cached):
                for row in spatial:
                    window.layers.selectRow(window.layers.rowCount() - 1)     # a dense layer: nothing to paint
                    app.processEvents()
                    painted.clear()
                    start = time.perf_counter()
                    window.layers.selectRow(row)
                    _wait(app, lambda: painted)
                    app.processEvents()                                        # the repaint itself
                    attempt.append(time.perf_counter() - start)
            if spec == "mnist_cnn":
                FIGURES.mkdir(exist_ok=True)
                window.layers.selectRow(spatial[2])
                _wait(app, lambda: view.maps is not None)
                view._hover((3, 4, 4))
                view.grid.canvas.hover = 3                                     # as the mouse would
                view.grid.canvas.update()
                app.processEvents()
                window.grab().save(str(FIGURES / "gui_mnist_cnn.png"))
            rows.append([f"{spec} ({len(spatial)} spatial layers)", f"{statistics.median(first) * 1000:.0f}",
                         f"{max(first) * 1000:.0f}", f"{statistics.median(cached) * 1000:.1f}",
                         f"{max(cached) * 1000:.1f}"])
            window.close()
    return ("cnnviz-gui: select a layer until its activation grid is repainted (offscreen)",
            ["model", "first: median ms", "first: max ms", "cached: median ms", "cached: max ms"], rows)


def _gaps(until, timeout: float = 300.0):
    """Gaps (s) between the ticks of a 10 ms timer while the event loop runs until ``until()``."""
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer

    loop, gaps, last = QEventLoop(), [], [time.perf_counter()]
    end = last[0] + timeout

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
        if until() or now > end:
            loop.quit()

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    loop.exec()
    timer.stop()
    return np.array(gaps)


def _row(what: str, seconds: float, gaps) -> list:
    import numpy as np

    return [what, f"{seconds:.2f}", len(gaps), f"{np.median(gaps) * 1000:.1f}", f"{np.percentile(gaps, 99) * 1000:.1f}",
            f"{gaps.max() * 1000:.1f}"]


def event_loop_latency():
    from cnnviz_gui.app import MainWindow
    from PySide6.QtCore import QSettings

    app = _app()
    start = time.perf_counter()
    rows = [_row("idle event loop (no job)", 2.0, _gaps(lambda: time.perf_counter() > start + 2.0))]
    with tempfile.TemporaryDirectory() as tmp:
        for spec, image, samples in (("mnist_cnn", "skimage:camera", 20000), ("cifar10_cnn", "skimage:chelsea", 6000)):
            window = MainWindow(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
            window.resize(1500, 900)
            window.show()
            window.load_model(spec)
            _wait(app, lambda: window.session.model_spec == spec and not window.runner.running("model"))
            window.load_image(image)
            _wait(app, lambda: window.session.image is not None)
            view = window.view("explain")
            window.tabs.setCurrentWidget(view)
            view.mode.setCurrentIndex(view.mode.findData("single"))
            view.methods.setCurrentRow(view.methods.count() - 1)                  # LIME
            done = lambda: view.result("lime") is not None and view.computing is None     # noqa: E731
            _wait(app, done)                                                   # warm-up at 1000 samples
            _wait(app, window.runner.idle)
            view.form.editors["samples"][1].setValue(samples)
            _wait(app, lambda: view.computing == "lime")
            start = time.perf_counter()
            gaps = _gaps(done)
            superpixels = view.result("lime").params["superpixels"]
            rows.append(_row(f"{spec}: LIME, {samples} samples, {superpixels} superpixels",
                             time.perf_counter() - start, gaps))
            window.close()
    return ("cnnviz-gui: event-loop latency while LIME runs in a worker (10 ms timer; offscreen)",
            ["while", "seconds", "ticks", "median gap ms", "p99 gap ms", "max gap ms"], rows)


def live_rate(frames: int = 40):
    """Frames per second of live input (an image folder of test-set images played
    through the model) with each view following, and the event-loop gaps meanwhile."""
    from cnnviz_gui.app import MainWindow
    from PIL import Image
    from PySide6.QtCore import QSettings

    from cnnviz.data.sources import load_dataset

    app = _app()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, dataset, shape in (("mnist_cnn", "mnist", (28, 28, 1)), ("cifar10_cnn", "cifar10", (32, 32, 3))):
            folder = Path(tmp) / spec
            folder.mkdir()
            for i, x in enumerate(load_dataset(dataset, shape).x_test[:frames + 10]):    # no frame seen twice
                Image.fromarray(x.squeeze()).save(folder / f"{i:03d}.png")
            window = MainWindow(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
            window.resize(1500, 900)
            window.show()
            window.load_model(spec)
            _wait(app, lambda: window.session.model_spec == spec and not window.runner.running("model"))
            window.unit_view.auto.setChecked(False)                           # no dataset pass per layer
            explain = window.view("explain")
            explain.mode.setCurrentIndex(explain.mode.findData("single"))
            explain.methods.setCurrentRow(0)                                  # saliency
            for label, show in (("layer grid (conv1, 32 maps) + top-5", lambda: window.tabs.setCurrentIndex(0)),
                                ("unit page (conv1 channel 3) + top-5", lambda: window.open_unit(3)),
                                ("explain: saliency + top-5", lambda: window.tabs.setCurrentWidget(explain))):
                window.live.stop()
                window.session.cache.clear()
                show()
                window.play(str(folder))
                _wait(app, lambda: window.live.frames >= 5)                   # warm-up: tf.function traces
                start, first = time.perf_counter(), window.live.frames
                gaps = _gaps(lambda: window.live.frames >= first + frames)
                seconds = time.perf_counter() - start
                rows.append([spec, label, f"{(window.live.frames - first) / seconds:.1f}",
                             f"{np.median(gaps) * 1000:.1f}", f"{np.percentile(gaps, 99) * 1000:.1f}",
                             f"{gaps.max() * 1000:.1f}"])
            window.live.stop()
            window.close()
    return ("cnnviz-gui: live input, an image folder played through the model (frames/s; 10 ms timer gaps; "
            "offscreen)", ["model", "view following the frames", "frames/s", "median gap ms", "p99 gap ms",
                           "max gap ms"], rows)


BENCHMARKS = [layer_switch, event_loop_latency, live_rate]
