"""cnnviz: see inside convolutional networks (TensorFlow 2 / Keras 3).

Compute functions take a model and images and return NumPy arrays; drawing
lives in separate plotting helpers. TensorFlow is imported on first use.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cnnviz")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .classes import CIFAR10_CLASSES, MNIST_CLASSES, imagenet_classes
from .data import Dataset, image_folder_dataset, load_cifar10, load_dataset, load_mnist
from .adversarial import AttackResult, RobustnessCurve, attack, robustness
from .attribution import Attribution
from .errors import Cancelled, CnnvizError
from .explain import METHODS as EXPLAIN_METHODS, explain, explain_one
from .progress import CancelToken
from .zoo import ARCHS, ZOO_NAMES, ModelInfo, build_model, load_model, model_info

__all__ = [
    "__version__", "CIFAR10_CLASSES", "MNIST_CLASSES", "imagenet_classes",
    "Dataset", "image_folder_dataset", "load_cifar10", "load_dataset", "load_mnist",
    "Cancelled", "CnnvizError", "CancelToken",
    "Attribution", "EXPLAIN_METHODS", "explain", "explain_one",
    "AttackResult", "RobustnessCurve", "attack", "robustness",
    "ARCHS", "ZOO_NAMES", "ModelInfo", "build_model", "load_model", "model_info",
]
