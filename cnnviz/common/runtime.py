"""Where things live (data, cache, shipped models) and TensorFlow device setup."""
from __future__ import annotations

import os
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Optional

_PACKAGE_DIR = Path(__file__).resolve().parents[1]        # cnnviz/


_MODEL_CACHES: list = []


def model_cache() -> "weakref.WeakKeyDictionary":
    """A cache of what is built once per model (compiled functions, sub-models).

    Its values usually hold their model (a tf.function closes over it), so a
    weak key alone does not let the model go: :func:`clear_model_caches`
    releases them all, for a long-lived process that is done with its models
    (the test suite between modules, an app switching models)."""
    cache = weakref.WeakKeyDictionary()
    _MODEL_CACHES.append(cache)
    return cache


def clear_model_caches() -> None:
    """Drop everything cached per model; it is rebuilt on next use."""
    for cache in _MODEL_CACHES:
        cache.clear()


def data_dir() -> Optional[Path]:
    """The local dataset folder from ``CNNVIZ_DATA``, or None (download instead)."""
    value = os.environ.get("CNNVIZ_DATA")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Cache folder: ``CNNVIZ_CACHE``, else ``$XDG_CACHE_HOME/cnnviz``, else ``~/.cache/cnnviz``."""
    value = os.environ.get("CNNVIZ_CACHE")
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnnviz"


def shipped_models_dir() -> Path:
    """The trained models that ship with cnnviz.

    Installed from a wheel they sit in ``cnnviz/_models``; in a source checkout
    (or an editable install) in the repository's ``models/`` folder.
    ``CNNVIZ_MODELS`` overrides both.
    """
    value = os.environ.get("CNNVIZ_MODELS")
    if value:
        return Path(value).expanduser()
    installed = _PACKAGE_DIR / "_models"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent / "models"


@lru_cache(maxsize=None)
def setup_devices() -> str:
    """Enable GPU memory growth (so cnnviz does not take the whole card) and
    return a description of the compute device: the GPU's name, or "CPU"."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by the caller: keep theirs
            pass
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return "GPU: " + details.get("device_name", gpus[0].name)
