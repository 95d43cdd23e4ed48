"""The app's cold start, each in a fresh process with an empty home folder
(no settings, no Keras cache), so TensorFlow's import is really cold: it must
never deadlock, whatever the model (VGG16 without its weights offers the
weights dialog; random weights then load it)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from cnnviz.models import zoo  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def cold_start(tmp_path, spec, image="skimage:coffee"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERAS_HOME", "CNNVIZ_VGG16_WEIGHTS", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "CNNVIZ_CACHE")}
    env.update(HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "gui"), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("cold_start.py")), spec, image],
                          env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return done, json.loads(lines[-1]) if lines else {}


@pytest.mark.slow
@pytest.mark.parametrize("spec", zoo.ZOO_NAMES)
def test_cold_start_never_deadlocks(tmp_path, spec):
    done, report = cold_start(tmp_path, spec)
    assert done.returncode == 0, (report, done.stderr[-3000:])
    assert "Traceback" not in done.stderr and "Deadlock" not in done.stderr
    assert report["model"] == spec and report["box"] == spec and report["source"] == "skimage:coffee"
    assert report["device"] in ("Device: CPU",) or report["device"].startswith("Device: GPU")
    assert report["weights_offered"] == (spec in zoo.VGG16_NAMES)
    assert ("UNTRAINED" in report["label"]) == (spec in zoo.VGG16_NAMES)
    assert not (tmp_path / ".keras" / "models").exists() or not any((tmp_path / ".keras" / "models").iterdir())
