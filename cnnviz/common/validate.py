"""Checks of what callers of the Python API hand in, shared by every family so
that a bad argument is a :class:`CnnvizError` naming it (as on the command
line), never a NumPy or TensorFlow exception from deep inside.

:func:`api` refuses unknown keyword arguments (``steps`` misspelt ``stpes``);
:func:`model_batch` checks preprocessed model input, :func:`uint8_batch`
dataset pixels, :func:`numeric_array` any array; :func:`check_model` the model itself.
"""
from __future__ import annotations

import difflib
import functools
import inspect

import numpy as np

from .errors import CnnvizError


def api(function):
    """Turn a call with an unknown keyword argument into a CnnvizError that
    names the argument and the accepted ones (Python's TypeError would name
    neither the fix nor come as a CnnvizError)."""
    signature = inspect.signature(function)
    params = signature.parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @functools.wraps(function)
    def checked(*args, **kwargs):
        if not takes_any:
            unknown = [k for k in kwargs if k not in params]
            if unknown:
                close = difflib.get_close_matches(unknown[0], named, n=1)
                hint = f"did you mean {close[0]}=? " if close else ""
                raise CnnvizError(f"{function.__name__}() has no argument {unknown[0]!r}: {hint}"
                                  f"its arguments are {', '.join(named)}")
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise CnnvizError(f"{function.__name__}(): {exc}") from None
        return function(*args, **kwargs)

    return checked


def numeric_array(value, name: str = "images") -> np.ndarray:
    """``value`` as a real-number array, or a CnnvizError naming ``name``."""
    try:
        x = np.asarray(value)
    except (ValueError, TypeError) as exc:          # ragged lists and the like
        raise CnnvizError(f"{name} is not an array of numbers ({exc}): give a NumPy array") from None
    if x.dtype.kind not in "uif":
        what = {"U": "text", "S": "bytes", "c": "complex numbers", "O": "Python objects", "b": "booleans"}.get(
            x.dtype.kind, f"dtype {x.dtype}")
        raise CnnvizError(f"{name} holds {what}: give a NumPy array of real numbers (uint8 pixels or float32)")
    if x.size == 0:
        raise CnnvizError(f"{name} is empty (shape {x.shape}): give at least one image")
    if x.dtype.kind == "f":
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        if bad:
            raise CnnvizError(f"{name} has {bad} value(s) that are not finite (NaN or inf): fix or drop those images")
    return x


def check_model(model, images_only: bool = True) -> None:
    """A Keras model with one image input, or with ``images_only`` False a
    vector input too (a dense network on flattened images)
    (``models.predict.check_classifier`` checks that it outputs class scores)."""
    if not hasattr(model, "inputs") or not hasattr(model, "outputs"):
        raise CnnvizError(f"model is a {type(model).__name__}, not a Keras model: load one with cnnviz.load_model")
    if len(model.inputs) != 1:
        raise CnnvizError(f"{model.name} has {len(model.inputs)} inputs: cnnviz works on models with one image input")
    if len(model.inputs[0].shape) != 4 and (images_only or len(model.inputs[0].shape) != 2):
        raise CnnvizError(f"{model.name} takes inputs of shape {tuple(model.inputs[0].shape[1:])}, not images "
                          "(H, W, C)")


def model_batch(model, images, name: str = "images", input_range: tuple | None = None,
                preprocessing: str = "", images_only: bool = True, guessed: bool = False) -> np.ndarray:
    """Preprocessed model input as float32 (N, H, W, C) fitting ``model``; a
    single image (H, W, C) becomes a batch of one. With ``input_range``
    (what the model's preprocessing gives pixels 0..255), values well outside
    it are refused: uint8 pixels handed to a model that takes [0, 1] would
    give maps of a saturated, meaningless input. With ``images_only`` False
    a dense network's (N, D) vectors are taken too. A ``guessed`` range (no
    preprocessing declared) refuses pixels far above it, not inputs below it."""
    check_model(model, images_only)
    raw = numeric_array(images, name)
    if input_range is not None:
        lo, hi = input_range
        margin = 0.05 * (hi - lo)
        low, high = float(raw.min()), float(raw.max())
        floor = lo - (hi - lo) if guessed else lo
        if low < floor - margin or high > hi + margin:
            what = "uint8 pixels" if raw.dtype == np.uint8 else f"values from {low:g} to {high:g}"
            raise CnnvizError(f"{name} are {what}, but {getattr(model, 'name', 'the model')} takes input in "
                              f"[{lo:g}, {hi:g}] ({preprocessing or 'its preprocessing'}): preprocess them first, "
                              "e.g. cnnviz.models.dataset_inputs(model, pixels) or cnnviz.models.load_image")
    x = raw.astype(np.float32, copy=False)
    rank = len(model.inputs[0].shape)
    if x.ndim == rank - 1:
        x = x[None]
    expected = tuple(model.inputs[0].shape[1:])
    if x.ndim != rank or any(e is not None and e != a for e, a in zip(expected, x.shape[1:])):
        raise CnnvizError(f"{name} of shape {x.shape[1:] if x.ndim == rank else x.shape} do not fit {model.name}'s "
                          f"input {expected}: load them with cnnviz.models.load_image (it resizes and converts)")
    return x


def uint8_batch(images, name: str = "images") -> np.ndarray:
    """Dataset pixels (N, H, W[, C]) as uint8: integers in 0..255, or floats
    on the 0..255 scale. Floats in [0, 1] are refused, since read as 0..255
    they are a black image (every activation near zero)."""
    x = numeric_array(images, name)
    if x.ndim not in (3, 4):
        raise CnnvizError(f"{name} of shape {x.shape}: give a batch of images (N, H, W) or (N, H, W, C)")
    if x.dtype == np.uint8:
        return x
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 255:
        raise CnnvizError(f"{name} range from {lo:g} to {hi:g}: give uint8 pixels (0..255), not model input")
    if x.dtype.kind == "f" and hi <= 1.0:
        raise CnnvizError(f"{name} are floats in [0, 1], but pixels 0..255 are expected: "
                          f"pass (images * 255).round().astype('uint8')")
    return x.round().astype(np.uint8)
