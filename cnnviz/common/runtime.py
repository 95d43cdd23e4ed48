"""Where things live (data, cache, shipped models) and TensorFlow device setup."""
from __future__ import annotations

import os
import sys
import warnings
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
    releases them all and :func:`release_model` one model's, for a long-lived process that is done with its models
    (the test suite between modules, an app switching models)."""
    cache = weakref.WeakKeyDictionary()
    _MODEL_CACHES.append(cache)
    return cache


def clear_model_caches() -> None:
    """Drop everything cached per model; it is rebuilt on next use."""
    for cache in _MODEL_CACHES:
        cache.clear()


def release_model(model) -> None:
    """Drop what is cached for ``model`` alone (its compiled functions,
    clones and sub-models), so that it can be freed once no one else holds it."""
    for cache in _MODEL_CACHES:
        cache.pop(model, None)


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


def start_tensorflow(quiet: bool = True) -> str:
    """Import TensorFlow and set up its devices (:func:`setup_devices`); with
    ``quiet``, hide the C++ start-up log lines (oneDNN, CUDA stubs, a failed
    ``cuInit`` on a machine without a GPU) that TF prints to stderr whatever
    TF_CPP_MIN_LOG_LEVEL says, and its Python-side warnings (retracing,
    AutoGraph), which are for its developers. Returns the device's name."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if quiet else "0")   # C++ log lines; Python errors still show
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if quiet:
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if not quiet or fd is None:
        return setup_devices()
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        return setup_devices()
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def warnings_as_notes(note) -> None:
    """Library warnings (scikit-image, NumPy, Keras, Pillow's decompression-bomb
    check) to ``note(text)``, one line each, once; deprecation and resource
    notices, meant for programmers, not at all."""
    from .errors import one_line

    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = one_line(str(message))
        if text and text not in seen:
            seen.add(text)
            note(text)

    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)
    warnings.showwarning = show
