"""How 0-255 pixels become a model's input scale, and back: the preprocessing
table every command, the API and the app read (``scale01``, ``raw`` and the
keras.applications modes ``caffe``, ``tf``, ``torch``)."""
from __future__ import annotations

import numpy as np

from ..common.errors import CnnvizError

# How uint8 pixels become a model's input. caffe, tf and torch are the modes of
# keras.applications' preprocess_input (each family's preprocess_input is one of
# them, or the identity when the model rescales inside: raw); vgg16 is caffe,
# the name cnnviz used first.
PREPROCESSINGS = ("scale01", "raw", "caffe", "tf", "torch", "vgg16")
KERAS_MODES = {"caffe": "caffe", "vgg16": "caffe", "tf": "tf", "torch": "torch"}
PREPROCESSING_TEXT = {
    "scale01": "pixels / 255, in [0, 1]",
    "raw": "pixels as they are, in [0, 255]",
    "caffe": "BGR with the ImageNet mean subtracted (caffe)",
    "vgg16": "BGR with the ImageNet mean subtracted (caffe)",
    "tf": "scaled to [-1, 1] (tf)",
    "torch": "scaled to [0, 1], then ImageNet mean and std normalized (torch)",
}
IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)     # keras' "torch" mode
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)
VGG16_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)   # keras' "caffe" mode


def check_preprocessing(preprocessing: str) -> None:
    if preprocessing not in PREPROCESSINGS:
        raise CnnvizError(f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSINGS)}")


def to_model_input(x255, preprocessing: str):
    """0-255 pixels (a NumPy array or a tensor, differentiably) to the model's
    input scale; the keras.applications modes through Keras' own
    ``imagenet_utils.preprocess_input``, which every family's calls."""
    check_preprocessing(preprocessing)
    if preprocessing == "scale01":
        return x255 / 255.0
    if preprocessing == "raw":
        return x255
    from keras.applications import imagenet_utils

    if isinstance(x255, np.ndarray):
        x255 = x255.copy()                 # Keras' NumPy path works in place
    return imagenet_utils.preprocess_input(x255, mode=KERAS_MODES[preprocessing])


def input_range(preprocessing: str) -> tuple[float, float]:
    """The range model input takes under ``preprocessing`` (that of pixels 0..255)."""
    corners = np.array([[[0, 0, 0], [255, 255, 255]]], np.float32)
    values = to_model_input(corners, preprocessing)
    return float(np.min(values)), float(np.max(values))


def preprocess(pixels: np.ndarray, preprocessing: str) -> np.ndarray:
    """uint8 (or 0-255 float) pixels to the model's input scale."""
    return np.asarray(to_model_input(np.asarray(pixels, dtype=np.float32), preprocessing), np.float32)


def deprocess(x: np.ndarray, preprocessing: str) -> np.ndarray:
    """Model input back to 0-255 float pixels (RGB or gray): the inverse of :func:`preprocess`."""
    check_preprocessing(preprocessing)
    x = np.asarray(x, dtype=np.float32)
    if preprocessing == "scale01":
        return x * 255.0
    if preprocessing == "raw":
        return x
    mode = KERAS_MODES[preprocessing]
    if mode == "caffe":
        return (x + VGG16_MEAN_BGR)[..., ::-1]
    if mode == "tf":
        return (x + 1.0) * 127.5
    return (x * IMAGENET_STD_RGB + IMAGENET_MEAN_RGB) * 255.0


def pixels_to_input(x01, preprocessing: str):
    """[0, 1] pixels (a tensor) to the model's input scale, differentiably."""
    return x01 if preprocessing == "scale01" else to_model_input(x01 * 255.0, preprocessing)
