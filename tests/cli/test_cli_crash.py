"""A crash of native code while training, provoked: the command line runs
``train`` in a supervised child, which here kills itself with SIGSEGV after
its first epoch's checkpoint (as TensorFlow's oneDNN kernels did on one
CPU). The command ends with one line naming the crash and the workaround,
and the checkpoint resumes without --force."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from cnnviz.cli.supervise import crash_line, innermost_frame

CRASH_AFTER_FIRST_EPOCH = textwrap.dedent('''
    import os, signal
    if os.environ.get("CNNVIZ_SUPERVISED_CHILD") and os.environ.get("CRASH_AFTER_EPOCH"):
        import cnnviz.lab.training as training
        fit = training.fit_epochs

        def crashing(*args, on_epoch=None, **kwargs):
            def crash(*a, **k):
                if on_epoch is not None:
                    on_epoch(*a, **k)
                os.kill(os.getpid(), signal.SIGSEGV)       # after the epoch's checkpoint, as a native crash would
            return fit(*args, on_epoch=crash, **kwargs)

        training.fit_epochs = crashing
''')


def _cnnviz(args, tmp_path, crash: bool):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "hook"), os.environ.get("PYTHONPATH", "")]))
    env.pop("CNNVIZ_SUPERVISED_CHILD", None)
    if crash:
        env["CRASH_AFTER_EPOCH"] = "1"
    return subprocess.run([sys.executable, "-m", "cnnviz.cli", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def lab(tmp_path):
    import keras

    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(CRASH_AFTER_FIRST_EPOCH)
    rng = np.random.default_rng(0)
    for c, name in enumerate(("dark", "light")):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(c * 128, c * 128 + 127, (8, 8), np.uint8)).save(tmp_path / "data" / name /
                                                                                          f"{i}.png")
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    model.save(tmp_path / "tiny.keras")
    return tmp_path


def test_a_native_crash_is_one_line_and_the_checkpoint_resumes(lab):
    out = lab / "trained.keras"
    args = ["train", lab / "tiny.keras", "--dataset", lab / "data", "--epochs", 2, "--batch-size", 8, "--out", out,
            "--quiet"]
    crashed = _cnnviz(args, lab, crash=True)
    assert crashed.returncode == 2
    last = crashed.stderr.strip().splitlines()[-1]
    assert last.startswith("cnnviz: error: train crashed in native code (SIGSEGV, Segmentation fault)")
    assert "while Python was in crash (sitecustomize.py:" in last
    assert "TF_ENABLE_ONEDNN_OPTS=0 cnnviz train" in last and last.endswith("--quiet --resume")
    assert "last finished epoch's checkpoint is kept" in last
    ckpt = lab / "trained.checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epochs_done"] == 1 and (ckpt / state["model"]).is_file()
    assert not out.exists()
    resumed = _cnnviz([*args, "--resume"], lab, crash=False)
    assert resumed.returncode == 0, resumed.stderr
    card = json.loads(out.with_name("trained.card.json").read_text())
    assert card["epochs"] == 2 and card["history"]["loss"][0] == state["history"]["loss"][0]
    assert not ckpt.exists()


def test_crash_line_names_tensorflow_when_it_was_in_tensorflow():
    dump = ('Fatal Python error: Segmentation fault\n\nThread 0x1 (most recent call first):\n  File "/x/other.py", '
            'line 3 in idle\n\nCurrent thread 0x2 (most recent call first):\n  File '
            '"/venv/site-packages/tensorflow/python/eager/execute.py", line 53 in quick_execute\n'
            '  File "/a.py", line 1')
    assert innermost_frame(dump) == ("/venv/site-packages/tensorflow/python/eager/execute.py", "53", "quick_execute")
    line = crash_line("finetune", ["finetune", "m.keras", "--dataset", "d"], 11, dump)
    assert line.startswith("finetune crashed in TensorFlow's native code (SIGSEGV, Segmentation fault) while Python "
                           "was in quick_execute (execute.py:53)")
    assert line.endswith("TF_ENABLE_ONEDNN_OPTS=0 cnnviz finetune m.keras --dataset d --resume")
    features = crash_line("features", ["features", "m.keras"], 6, "")
    assert "SIGABRT" in features and "--resume" not in features and "checkpoint" not in features
