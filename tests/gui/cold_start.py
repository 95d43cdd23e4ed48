"""Start ``cnnviz-gui MODEL IMAGE`` as a user would (its ``main``, with
whatever settings HOME holds), answer the VGG16 weights dialog with random
weights when it is offered, and print what happened as one JSON line once the
model is loaded and the image predicted (or said not to be predictable). Exit status: 0 when it got there,
1 on an error dialog, 3 when it hung. Run in a fresh process by
test_gui_start.py, so that TensorFlow's import really is cold."""
import json
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def drive(spec: str, image: str, limit_s: float = 120.0) -> int:
    from cnnviz_gui.app import MainWindow, main

    app = QApplication.instance() or QApplication([])
    report = {"weights_offered": False}

    def window():
        return next((w for w in app.topLevelWidgets() if isinstance(w, MainWindow)), None)

    def poll():
        w = window()
        if w is None:
            return
        s = w.session
        report.update(box=w.model_box.currentData(), label=w.model_label.text(), device=w.device.text())
        if w._last_error:
            report["error"] = w._last_error
            app.exit(1)
        elif w.weights_dialog is not None and w.weights_dialog.isVisible():
            report["weights_offered"] = True
            w.weights_dialog.random_weights()
        elif s.model is not None and s.image is not None and (w.prediction.text() or
                                                               "Prediction</b>: none" in w.prediction_title.text()):
            report.update(model=s.model_spec, prediction=w.prediction.text() or w.prediction_title.text(),
                          source=s.image.source)
            app.exit(0)

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    QTimer.singleShot(int(limit_s * 1000), lambda: app.exit(3))
    code = main(["cnnviz-gui", spec, image])
    w = window()
    if w is not None:
        w.close()
    print(json.dumps(report), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(drive(*sys.argv[1:3]))
