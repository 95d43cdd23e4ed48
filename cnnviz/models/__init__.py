"""What a model is: the zoo and shipped models, loading (safe by default), how
images become its input (:mod:`.preprocessing`, :mod:`.inputs`), the compiled
forward pass, predictions, and model surgery (softmax to logits, guided ReLUs,
sub-models) in one place, on the layer graph walked in :mod:`.graph`.
Training and evaluating models is :mod:`cnnviz.lab`."""
from .inputs import LoadedImage, class_index, dataset_inputs, load_image, prepare
from .predict import Prediction, predict, probabilities
from .preprocessing import PREPROCESSINGS, deprocess, preprocess
from .zoo import (
    ARCHS,
    ZOO_NAMES,
    ModelInfo,
    build_model,
    declare_model,
    input_shape,
    load_model,
    model_info,
    write_card,
)

__all__ = ["ARCHS", "ZOO_NAMES", "ModelInfo", "build_model", "declare_model", "input_shape", "load_model",
           "model_info", "write_card",
           "PREPROCESSINGS", "deprocess", "preprocess", "LoadedImage", "class_index", "dataset_inputs", "load_image",
           "prepare", "Prediction", "predict", "probabilities"]
