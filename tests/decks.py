"""The lecture decks' own networks, built in code for the tests (the decks
give the layers and parameter counts; the exact widths of Sick's two CNNs are
reconstructed to match his counts), and small real datasets to train them on."""
from __future__ import annotations

import numpy as np


def wolter_dense():
    """Wolter: three hidden Dense(512) layers on flattened MNIST, 932,362 parameters."""
    import keras
    from keras import layers as L

    return keras.Sequential([keras.Input((784,)), L.Dense(512, activation="relu"), L.Dense(512, activation="relu"),
                             L.Dense(512, activation="relu"), L.Dense(10, activation="softmax")], name="wolter_dense")


def mattie_dense():
    """Mattie (after Chollet): Dense(512) on the 28x28 digit, flattened in the model, 407,050 parameters."""
    import keras
    from keras import layers as L

    return keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(512, activation="relu"),
                             L.Dense(10, activation="softmax")], name="mattie_dense")


def mueller_dense():
    """Müller: Dense(32) on 784 inputs, then Dense(10), as separate activation layers, 25,450 parameters."""
    import keras
    from keras import layers as L

    return keras.Sequential([keras.Input((784,)), L.Dense(32), L.Activation("relu"), L.Dense(10),
                             L.Activation("softmax")], name="mueller_dense")


def _conv_bn(filters, padding):
    from keras import layers as L

    return [L.Conv2D(filters, 3, padding=padding), L.BatchNormalization(), L.Activation("relu")]


def sick_cnn1():
    """Sick's cnn1 for CIFAR-10: four conv+BN layers, dropout 0.3, Dense(80); 251,546 parameters."""
    import keras
    from keras import layers as L

    return keras.Sequential([keras.Input((32, 32, 3)), *_conv_bn(32, "same"), *_conv_bn(32, "valid"),
                             L.MaxPooling2D(), L.Dropout(0.3), *_conv_bn(64, "same"), *_conv_bn(64, "valid"),
                             L.MaxPooling2D(), L.Dropout(0.3), L.Flatten(), L.Dense(80, activation="relu"),
                             L.Dropout(0.3), L.Dense(10, activation="softmax")], name="sick_cnn1")


def sick_cnn2():
    """Sick's cnn2 for CIFAR-10: three conv+BN blocks and global pooling, dropout 0.3; 35,862 parameters."""
    import keras
    from keras import layers as L

    return keras.Sequential([keras.Input((32, 32, 3)), *_conv_bn(16, "same"), L.MaxPooling2D(),
                             *_conv_bn(32, "same"), L.MaxPooling2D(), *_conv_bn(64, "same"), *_conv_bn(20, "same"),
                             L.GlobalAveragePooling2D(), L.Dropout(0.3), L.Dense(10, activation="softmax")],
                            name="sick_cnn2")


DECKS = {"wolter_dense": wolter_dense, "mattie_dense": mattie_dense, "mueller_dense": mueller_dense,
         "sick_cnn1": sick_cnn1, "sick_cnn2": sick_cnn2}


def small(dataset, n_train: int, n_test: int, seed: int = 0):
    """A class-balanced seeded subset of a real dataset (train and test)."""
    from dataclasses import replace

    from cnnviz.data.datasets import balanced_subset

    tr = balanced_subset(dataset.y_train, n_train, seed)
    te = balanced_subset(dataset.y_test, n_test, seed)
    return replace(dataset, x_train=dataset.x_train[tr], y_train=np.asarray(dataset.y_train).reshape(-1)[tr],
                   x_test=dataset.x_test[te], y_test=np.asarray(dataset.y_test).reshape(-1)[te])
