"""Sakr, "ConvNets, CIFAR": CIFAR-10, a first CIFAR network and a 64-filter
variant with batch normalization, batch normalization against none, and the
arithmetic of convolution and pooling. The deck's side of each item is what
cnnviz's records of the deck say (issue 24)."""
from . import items
from .base import NOT_RECORDED, Deck, Item, Pending

DECK = Deck("sakr", 4, "Sakr", "ConvNets, CIFAR", (
    Item("cifar10_samples", "CIFAR-10: sample images of every class", NOT_RECORDED,
         "issue 24 (a class-mixed CIFAR-10 sample grid)", items.samples("cifar10", 8)),
    Item("bn_against_none", "Batch normalization against none: learning curves", NOT_RECORDED,
         "issue 24 (the shipped BN-vs-no-BN overlay)",
         items.shipped_curves(("mnist_small", "mnist_small_bn"), "mnist_small with and without batch normalization")),
    Item("cifar10_cnn_confusion", "A CIFAR-10 CNN's errors by class (cnnviz's shipped Keras CIFAR-10 CNN)",
         NOT_RECORDED, "issue 24", items.confusion("cifar10_cnn", shipped=True)),
    Pending("sakr_first_cifar_net", "The deck's first CIFAR-10 network", NOT_RECORDED, "issue 24",
            "its layers are not recorded in cnnviz (no copy of the deck here), so it is not in the zoo"),
    Pending("sakr_bn64", "The 64-filter variant with batch normalization", NOT_RECORDED, "issue 24",
            "its layers are not recorded in cnnviz (no copy of the deck here), so it is not in the zoo"),
    Pending("conv_arithmetic", "Worked convolution, padding and pooling numbers; smoothing and gradient kernels",
            NOT_RECORDED, "issue 24",
            "cnnviz.inside.arithmetic (`cnnviz arithmetic`) is being built on the GUI branch; not in this tree yet"),
))
