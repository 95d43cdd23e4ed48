"""Desktop-app benchmarks (offscreen Qt): time from selecting a layer to the
repainted activation grid, first time (computed off the GUI thread) and
cached, on a lecture model and on VGG16 (weights=None, 224x224)."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

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
    from PySide6.QtCore import QSettings

    from cnnviz_gui.app import MainWindow

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


BENCHMARKS = [layer_switch]
