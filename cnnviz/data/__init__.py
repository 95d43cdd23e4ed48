"""Datasets (MNIST, CIFAR-10, image folders), single images made into model
inputs, and class names."""
from .classes import CIFAR10_CLASSES, MNIST_CLASSES, imagenet_classes, classes_for
from .datasets import Dataset, image_folder_dataset, load_cifar10, load_dataset, load_mnist
from .images import LoadedImage, load_image, preprocess, deprocess

__all__ = ["CIFAR10_CLASSES", "MNIST_CLASSES", "imagenet_classes", "classes_for", "Dataset", "image_folder_dataset", "load_cifar10", "load_dataset", "load_mnist", "LoadedImage", "load_image", "preprocess", "deprocess"]
