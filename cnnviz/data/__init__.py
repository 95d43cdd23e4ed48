"""Datasets (MNIST, CIFAR-10, image folders, streamed folders; the sources declared in :mod:`.sources`), images read
as uint8 arrays, and class names. Making images a model's input is
:mod:`cnnviz.models.inputs`."""
from .classes import CIFAR10_CLASSES, MNIST_CLASSES, classes_for, imagenet_classes
from .datasets import Dataset, load_cifar10, load_mnist
from .images import conform, read_image
from .sources import image_folder_dataset, load_dataset

__all__ = ["CIFAR10_CLASSES", "MNIST_CLASSES", "imagenet_classes", "classes_for", "Dataset", "image_folder_dataset",
           "load_cifar10", "load_dataset", "load_mnist", "conform", "read_image"]
