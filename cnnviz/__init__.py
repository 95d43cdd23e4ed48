"""cnnviz: see inside convolutional networks (TensorFlow 2 / Keras 3).

Subpackages by what they compute: ``models`` (zoo, loading, inputs,
surgery, predictions), ``data`` (datasets, images, class names), ``lab``
(training, evaluation, transfer learning, MC dropout), ``inside`` (receptive
fields, activations, filters, top patches, bounds, activation profiles),
``synthesis`` (activation maximization), ``atlas`` (a static site of a model,
unit by unit), ``attribution`` (saliency to LIME, faithfulness),
``adversarial`` (attacks, robustness), ``plots`` (figures), ``cli``.

Compute functions take a model and images and return NumPy arrays; drawing
lives in separate plotting helpers. TensorFlow is imported on first use.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cnnviz")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .adversarial import AttackResult, RobustnessCurve, attack, robustness
from .attribution import Attribution, explain, explain_one
from .attribution.registry import METHODS as EXPLAIN_METHODS
from .common import Cancelled, CancelToken, CnnvizError
from .data import (
    CIFAR10_CLASSES,
    MNIST_CLASSES,
    Dataset,
    image_folder_dataset,
    imagenet_classes,
    load_cifar10,
    load_dataset,
    load_mnist,
)
from .models import (
    ARCHS,
    ZOO_NAMES,
    ModelInfo,
    build_model,
    declare_model,
    load_image,
    load_model,
    model_info,
    write_card,
)

__all__ = [
    "__version__", "CIFAR10_CLASSES", "MNIST_CLASSES", "imagenet_classes",
    "Dataset", "image_folder_dataset", "load_cifar10", "load_dataset", "load_image", "load_mnist",
    "Cancelled", "CnnvizError", "CancelToken",
    "Attribution", "EXPLAIN_METHODS", "explain", "explain_one",
    "AttackResult", "RobustnessCurve", "attack", "robustness",
    "ARCHS", "ZOO_NAMES", "ModelInfo", "build_model", "declare_model", "load_model", "model_info", "write_card",
]
