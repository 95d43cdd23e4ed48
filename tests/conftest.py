"""Shared fixtures: tiny models built in code, and access to the real data."""
from __future__ import annotations

import gc
import json
import os
import resource
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest_plugins = ["job_fixtures", "planted"]   # the dataset-job tests' image folders; the planted-concept model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def real_data_dir() -> Path | None:
    value = os.environ.get("CNNVIZ_DATA")
    return Path(value) if value and Path(value).is_dir() else None


needs_data = pytest.mark.skipif(real_data_dir() is None,
                                reason="real datasets not configured: set CNNVIZ_DATA (CI uses ../shared/data)")


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Keep dataset caches of the test run out of the user's cache folder,
    shared across the session so CIFAR-10 is decoded once."""
    os.environ["CNNVIZ_CACHE"] = str(tmp_path_factory.mktemp("cnnviz-cache"))


_MODULE_PEAKS: list[dict] = []   # per test module: its rise of this process's peak memory


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


class SuiteMemory(threading.Thread):
    """The whole run's resident memory, sampled every ``interval`` seconds:
    this process, the xdist workers and every subprocess they start, summed
    (shared pages counted once per process: an upper bound)."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.peak_mb, self.done = interval, 0.0, threading.Event()

    def run(self):
        import psutil

        me = psutil.Process()
        while not self.done.wait(self.interval):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:                  # ended between listing and reading
                    pass
            self.peak_mb = max(self.peak_mb, total / 2**20)


def pytest_configure(config):
    """In the controller (or a run without workers): the whole run's memory sampled."""
    if not hasattr(config, "workerinput"):
        config.suite_memory = SuiteMemory()
        config.suite_memory.start()


@pytest.fixture(scope="module", autouse=True)
def _release_models(request):
    """After each test module, release what its models left behind: cnnviz's
    per-model compiled functions and sub-models, Keras' global state, and the
    cycles holding them (issue 22: the suite reached 14 GB without this).
    Session-scoped models stay usable: their caches are rebuilt on next use.
    Records how far the module raised the process's peak memory."""
    before = _peak_mb(resource.RUSAGE_SELF), _peak_mb(resource.RUSAGE_CHILDREN)
    yield
    import keras

    from cnnviz.common.runtime import clear_model_caches

    clear_model_caches()
    keras.backend.clear_session()
    gc.collect()
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():       # a module's Ray instance is its own
        ray.shutdown()
    own, children = _peak_mb(resource.RUSAGE_SELF), _peak_mb(resource.RUSAGE_CHILDREN)
    _MODULE_PEAKS.append({"module": request.module.__name__, "rise": own - before[0], "peak": own,
                          "child_rise": children - before[1], "children": children})


def pytest_sessionfinish(session):
    """An xdist worker hands its modules' memory figures to the controller."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["module_peaks"] = json.dumps(_MODULE_PEAKS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _MODULE_PEAKS.extend(json.loads(getattr(node, "workeroutput", {}).get("module_peaks", "[]")))


def pytest_terminal_summary(terminalreporter):
    """The run's peak memory and the modules that raised it, in CI's log
    (issue 22: kept under 6 GB)."""
    own = _peak_mb(resource.RUSAGE_SELF)
    children = _peak_mb(resource.RUSAGE_CHILDREN)
    suite = getattr(terminalreporter.config, "suite_memory", None)
    if suite is not None:
        terminalreporter.write_line(f"whole run: peak {suite.peak_mb:.0f} MB resident, this process, its workers "
                                    f"and their subprocesses summed (sampled every {suite.interval:g} s)")
    terminalreporter.write_line(f"peak memory: {own:.0f} MB resident in the test process, "
                                f"{children:.0f} MB in the largest subprocess")
    for m in sorted(_MODULE_PEAKS, key=lambda m: -m["rise"])[:5]:
        terminalreporter.write_line(f"  {m['module']} raised its worker's peak by {m['rise']:.0f} "
                                    f"to {m['peak']:.0f} MB")
    for m in sorted(_MODULE_PEAKS, key=lambda m: -m["child_rise"])[:3]:
        terminalreporter.write_line(f"  {m['module']} raised its subprocesses' peak by {m['child_rise']:.0f} "
                                    f"to {m['children']:.0f} MB")


@pytest.fixture(scope="session")
def tiny_cnn():
    """A small functional CNN, 16x16x3 -> 4 classes, random but fixed weights."""
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
