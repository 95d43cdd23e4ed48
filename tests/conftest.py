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
# TensorFlow's oneDNN kernels allocate from a pool that never shrinks: a worker that
# built VGG16 once held 1.4 GB for the rest of the run (0.6 GB with the plain kernels,
# handed back when the model is released). Workers and their subprocesses use the plain
# kernels; set TF_ENABLE_ONEDNN_OPTS=1 to run the suite on oneDNN's.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
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


def _pss_mb(process) -> float:
    """A process's proportional set size: its private pages plus its share of
    pages it shares (libraries, pages a fork has not yet copied), so a sum over
    processes counts each page once. Resident size where the kernel has no
    ``smaps_rollup``."""
    try:
        with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return process.memory_info().rss / 2**20


class SuiteMemory(threading.Thread):
    """The whole run's memory, sampled every ``interval`` seconds: this
    process, the xdist workers and every subprocess they start, summed as
    proportional set sizes. Remembers the tests running at the peak."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.peak_mb, self.done = interval, 0.0, threading.Event()
        self.running: set[str] = set()       # test ids, kept by the logstart/logfinish hooks
        self.at_peak: list[str] = []

    def run(self):
        import psutil

        me = psutil.Process()
        while not self.done.wait(self.interval):
            total = 0.0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += _pss_mb(process)
                except psutil.Error:                  # ended between listing and reading
                    pass
            if total > self.peak_mb:
                self.peak_mb, self.at_peak = total, sorted(self.running)


_SUITE: SuiteMemory | None = None   # the controller's sampler

# The modules that start a local Ray instance (about 1.5 GB of processes each): one
# work unit, so two workers never hold one each (issue 22: the suite under 6 GB).
RAY_MODULES = frozenset({"tests/atlas/test_atlas.py", "tests/concepts/test_engines.py",
                         "tests/jobs/test_ray_address.py", "tests/jobs/test_ray_cluster.py",
                         "tests/jobs/test_ray_engine.py"})
# The longest unit, handed out first: scheduled by its count of tests (xdist's order) it
# came last and ran alone for ten minutes at the end of the run.
FIRST = "tests/models/test_applications.py"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (the README's command) with the Ray modules as one
    file and the longest file handed out first."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "ray modules" if module in RAY_MODULES else module

        def _assign_work_unit(self, node) -> None:
            if FIRST in self.workqueue:
                self.workqueue.move_to_end(FIRST, last=False)
            super()._assign_work_unit(node)

    return Scheduling(config, log)


def pytest_configure(config):
    """In the controller (or a run without workers): the whole run's memory sampled."""
    global _SUITE
    if not hasattr(config, "workerinput"):
        _SUITE = SuiteMemory()
        _SUITE.start()


def pytest_runtest_logstart(nodeid, location):
    if _SUITE is not None:
        _SUITE.running.add(nodeid)


def pytest_runtest_logfinish(nodeid, location):
    if _SUITE is not None:
        _SUITE.running.discard(nodeid)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    """After the test's fixtures are torn down, delete the windows it closed
    (pytest-qt calls deleteLater, which processEvents never carries out): each
    held its session and model alive for the rest of the worker's run."""
    qt = sys.modules.get("PySide6.QtCore")
    if qt is not None and qt.QCoreApplication.instance() is not None:
        qt.QCoreApplication.sendPostedEvents(None, qt.QEvent.Type.DeferredDelete)


@pytest.fixture(scope="module", autouse=True)
def _release_models(request):
    """After each test module, release what its models left behind: cnnviz's
    per-model compiled functions and sub-models, Keras' global state, and the
    cycles holding them (issue 22: the suite reached 14 GB without this).
    Session-scoped models stay usable: their caches are rebuilt on next use.
    Records how far the module raised the process's peak memory."""
    before = _peak_mb(resource.RUSAGE_SELF)
    yield
    import keras

    from cnnviz.common.runtime import clear_model_caches

    clear_model_caches()
    keras.backend.clear_session()
    gc.collect()
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():       # a module's Ray instance is its own
        ray.shutdown()
        module = Path(request.module.__file__).resolve().relative_to(Path(__file__).resolve().parent.parent)
        if module.as_posix() not in RAY_MODULES:
            pytest.fail(f"{module} started Ray: add it to RAY_MODULES in tests/conftest.py")
    own = _peak_mb(resource.RUSAGE_SELF)
    _MODULE_PEAKS.append({"module": request.module.__name__, "rise": own - before, "peak": own})


def pytest_sessionfinish(session):
    """An xdist worker hands its modules' memory figures to the controller."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["module_peaks"] = json.dumps(_MODULE_PEAKS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _MODULE_PEAKS.extend(json.loads(getattr(node, "workeroutput", {}).get("module_peaks", "[]")))


def pytest_terminal_summary(terminalreporter):
    """The run's peak memory and the modules that raised their worker's peak
    most, in CI's log (issue 22: kept under 6 GB)."""
    write = terminalreporter.write_line
    if _SUITE is not None:
        write(f"whole run: peak {_SUITE.peak_mb:.0f} MB, this process, its workers and their subprocesses "
              f"summed as proportional set sizes (sampled every {_SUITE.interval:g} s), while running: "
              f"{', '.join(_SUITE.at_peak) or '-'}")
    for m in sorted(_MODULE_PEAKS, key=lambda m: -m["rise"])[:5]:
        write(f"  {m['module']} raised its worker's peak resident size by {m['rise']:.0f} to {m['peak']:.0f} MB")


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
