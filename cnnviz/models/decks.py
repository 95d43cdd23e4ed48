"""The lecture decks' own networks as zoo architectures (built untrained by
name, trained with ``cnnviz train NAME``): the dense networks of Wolter,
Mattie and Müller, Sick's cnn1 and cnn2, Sakr's first CIFAR-10 network and
its 64-filter variant with batch normalization, LeNet-5 as LeCun et al. drew
it in 1998, and AlexNet (Krizhevsky et al. 2012, one stream).

Each takes images (H, W, C), so every cnnviz method applies. Where a deck
feeds flattened pixels, ``Flatten`` is the model's first layer (no
parameters: the counts are the deck's). The widths of Sick's two CNNs are
reconstructed to match his parameter counts (about 251,000 and 36,000).
Sakr's two networks are reconstructed from what issue 24 records of them (a
first CIFAR-10 network; the 64-filter variant with batch normalization): the
deck's layer table is not recorded in cnnviz, so their widths are cnnviz's.
"""
from __future__ import annotations


def _sequential(name: str, input_shape, layers):
    import keras

    return keras.Sequential([keras.Input(input_shape, name="input"), *layers], name=name)


def wolter_dense():
    """Wolter: three hidden Dense(512) layers on the flattened digit (932,362 parameters)."""
    from keras import layers as L

    return _sequential("wolter_dense", (28, 28, 1), [
        L.Flatten(name="flatten"), L.Dense(512, activation="relu", name="dense1"),
        L.Dense(512, activation="relu", name="dense2"), L.Dense(512, activation="relu", name="dense3"),
        L.Dense(10, activation="softmax", name="predictions")])


def mattie_dense():
    """Mattie (after Chollet): Dense(512) on the flattened 28x28 digit (407,050 parameters)."""
    from keras import layers as L

    return _sequential("mattie_dense", (28, 28, 1), [
        L.Flatten(name="flatten"), L.Dense(512, activation="relu", name="dense1"),
        L.Dense(10, activation="softmax", name="predictions")])


def mueller_dense():
    """Müller: Dense(32) then Dense(10), with separate activation layers (25,450 parameters)."""
    from keras import layers as L

    return _sequential("mueller_dense", (28, 28, 1), [
        L.Flatten(name="flatten"), L.Dense(32, name="dense1"), L.Activation("relu", name="relu1"),
        L.Dense(10, name="logits"), L.Activation("softmax", name="predictions")])


def _conv_bn(filters: int, padding: str, name: str):
    from keras import layers as L

    return [L.Conv2D(filters, 3, padding=padding, name=name), L.BatchNormalization(name=f"{name}_bn"),
            L.Activation("relu", name=f"{name}_relu")]


def sick_cnn1():
    """Sick's cnn1 for CIFAR-10: four conv+BN layers, dropout 0.3, Dense(80) (251,546 parameters)."""
    from keras import layers as L

    return _sequential("sick_cnn1", (32, 32, 3), [
        *_conv_bn(32, "same", "conv1"), *_conv_bn(32, "valid", "conv2"), L.MaxPooling2D(name="pool1"),
        L.Dropout(0.3, name="dropout1"), *_conv_bn(64, "same", "conv3"), *_conv_bn(64, "valid", "conv4"),
        L.MaxPooling2D(name="pool2"), L.Dropout(0.3, name="dropout2"), L.Flatten(name="flatten"),
        L.Dense(80, activation="relu", name="dense1"), L.Dropout(0.3, name="dropout3"),
        L.Dense(10, activation="softmax", name="predictions")])


def sick_cnn2():
    """Sick's cnn2 for CIFAR-10: conv+BN blocks and global average pooling, dropout 0.3 (35,862 parameters)."""
    from keras import layers as L

    return _sequential("sick_cnn2", (32, 32, 3), [
        *_conv_bn(16, "same", "conv1"), L.MaxPooling2D(name="pool1"), *_conv_bn(32, "same", "conv2"),
        L.MaxPooling2D(name="pool2"), *_conv_bn(64, "same", "conv3"), *_conv_bn(20, "same", "conv4"),
        L.GlobalAveragePooling2D(name="gap"), L.Dropout(0.3, name="dropout"),
        L.Dense(10, activation="softmax", name="predictions")])


def _sakr(filters: int, batch_norm: bool, name: str):
    from keras import layers as L

    def block(i):
        conv = [L.Conv2D(filters, 3, padding="same", activation=None if batch_norm else "relu", name=f"conv{i}")]
        norm = [L.BatchNormalization(name=f"conv{i}_bn"), L.Activation("relu", name=f"conv{i}_relu")]
        return conv + (norm if batch_norm else []) + [L.MaxPooling2D(2, name=f"pool{i}")]

    return _sequential(name, (32, 32, 3), [
        *block(1), *block(2), L.Flatten(name="flatten"), L.Dense(128, activation="relu", name="dense1"),
        L.Dense(10, activation="softmax", name="predictions")])


def sakr_cifar():
    """Sakr's first CIFAR-10 network (reconstructed): two 3x3 'same' convolutions of 32 filters, each
    followed by 2x2 max pooling, then Dense(128) (273,706 parameters)."""
    return _sakr(32, False, "sakr_cifar")


def sakr_bn64():
    """Sakr's 64-filter variant (reconstructed): the same network with 64 filters per convolution and
    batch normalization between each convolution and its ReLU (564,938 parameters)."""
    return _sakr(64, True, "sakr_bn64")


def lenet5():
    """LeNet-5 (LeCun et al. 1998): C1-S2-C3-S4-C5-F6-output on the 32x32 digit (MNIST's 28x28 zero-padded
    by 2 inside the model). Differences from the paper: C3 connects to all six S2 maps (the paper's table
    connects each to 3-6 of them), S2/S4 are plain average pooling (the paper's have a trained weight and
    bias per map), tanh instead of the scaled 1.7159 tanh, and a softmax output instead of RBF units."""
    from keras import layers as L

    return _sequential("lenet5", (28, 28, 1), [
        L.ZeroPadding2D(2, name="pad"), L.Conv2D(6, 5, activation="tanh", name="C1"),
        L.AveragePooling2D(2, name="S2"), L.Conv2D(16, 5, activation="tanh", name="C3"),
        L.AveragePooling2D(2, name="S4"), L.Conv2D(120, 5, activation="tanh", name="C5"),
        L.Flatten(name="flatten"), L.Dense(84, activation="tanh", name="F6"),
        L.Dense(10, activation="softmax", name="predictions")])


def alexnet():
    """AlexNet (Krizhevsky, Sutskever and Hinton 2012) on 227x227 ImageNet images, as one stream (the paper
    splits conv2, conv4 and conv5 over two GPUs and normalizes responses locally after conv1 and conv2;
    neither is here). 62,378,344 parameters; no weights ship with cnnviz."""
    from keras import layers as L

    return _sequential("alexnet", (227, 227, 3), [
        L.Conv2D(96, 11, strides=4, activation="relu", name="conv1"), L.MaxPooling2D(3, 2, name="pool1"),
        L.Conv2D(256, 5, padding="same", activation="relu", name="conv2"), L.MaxPooling2D(3, 2, name="pool2"),
        L.Conv2D(384, 3, padding="same", activation="relu", name="conv3"),
        L.Conv2D(384, 3, padding="same", activation="relu", name="conv4"),
        L.Conv2D(256, 3, padding="same", activation="relu", name="conv5"), L.MaxPooling2D(3, 2, name="pool5"),
        L.Flatten(name="flatten"), L.Dense(4096, activation="relu", name="fc6"), L.Dropout(0.5, name="drop6"),
        L.Dense(4096, activation="relu", name="fc7"), L.Dropout(0.5, name="drop7"),
        L.Dense(1000, activation="softmax", name="predictions")])
