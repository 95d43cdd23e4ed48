"""Sakr, "ConvNets, CIFAR": CIFAR-10, a first CIFAR network and a 64-filter
variant with batch normalization, batch normalization against none, and the
arithmetic of convolution and pooling. The deck's side of each item is what
cnnviz's records of the deck say (issue 24); the deck's layer tables are not
recorded, so its two networks are reconstructed (cnnviz.models.decks)."""
from . import items
from .base import NOT_RECORDED, Deck, Item

RECONSTRUCTED = "issue 24 (layers reconstructed: the deck's table is not recorded in cnnviz)"

DECK = Deck("sakr", 4, "Sakr", "ConvNets, CIFAR", (
    Item("cifar10_samples", "CIFAR-10: sample images of every class, mixed", NOT_RECORDED,
         "issue 24 (a class-mixed CIFAR-10 sample grid)", items.samples("cifar10", mixed=40)),
    Item("sakr_cifar_parameters", "The deck's first CIFAR-10 network: two conv+pool blocks, a dense layer",
         NOT_RECORDED, RECONSTRUCTED, items.parameters("sakr_cifar", None)),
    Item("sakr_bn64_parameters", "The 64-filter variant with batch normalization", NOT_RECORDED, RECONSTRUCTED,
         items.parameters("sakr_bn64", None)),
    Item("sakr_structure", "The 64-filter network's structure", NOT_RECORDED, RECONSTRUCTED,
         items.structure("sakr_bn64")),
    Item("sakr_bn_against_none", "Batch normalization against none: the two networks' learning curves on CIFAR-10",
         NOT_RECORDED, RECONSTRUCTED,
         items.compared(("sakr_cifar", "sakr_bn64"), "the first network against its 64-filter BN variant")),
    Item("bn_against_none", "Batch normalization against none: cnnviz's shipped MNIST pair", NOT_RECORDED,
         "issue 24 (the shipped BN-vs-no-BN overlay)",
         items.shipped_curves(("mnist_small", "mnist_small_bn"), "mnist_small with and without batch normalization")),
    Item("sakr_cifar_confusion", "The first network's errors by class", NOT_RECORDED, RECONSTRUCTED,
         items.confusion("sakr_cifar")),
    Item("cifar10_cnn_confusion", "A CIFAR-10 CNN's errors by class (cnnviz's shipped Keras CIFAR-10 CNN)",
         NOT_RECORDED, "issue 24", items.confusion("cifar10_cnn", shipped=True)),
    Item("conv_arithmetic", "Worked convolution, padding and pooling numbers", NOT_RECORDED, "issue 24",
         items.arithmetic("sakr_cifar", "cifar10", "conv1", "pool1")),
    Item("fixed_kernels", "Smoothing and gradient kernels", NOT_RECORDED, "issue 24", items.fixed_kernels()),
))
