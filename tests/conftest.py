"""Shared fixtures: tiny models built in code, and access to the real data."""
from __future__ import annotations

import gc
import os
import resource
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


@pytest.fixture(scope="module", autouse=True)
def _release_models():
    """After each test module, release what its models left behind: cnnviz's
    per-model compiled functions and sub-models, Keras' global state, and the
    cycles holding them (issue 22: the suite reached 14 GB without this).
    Session-scoped models stay usable: their caches are rebuilt on next use."""
    yield
    import keras

    from cnnviz.common.runtime import clear_model_caches

    clear_model_caches()
    keras.backend.clear_session()
    gc.collect()


def pytest_terminal_summary(terminalreporter):
    """The run's peak memory, in CI's log (issue 22: kept under 6 GB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    terminalreporter.write_line(f"peak memory: {own:.0f} MB resident in the test process, "
                                f"{children:.0f} MB in the largest subprocess")


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
