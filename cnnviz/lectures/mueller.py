"""Müller, "Even more neural networks": a small dense network, the optimizers
(SGD with and without momentum, Nesterov, Adagrad, Adadelta, RMSprop, Adam,
AdaMax, Nadam) and reusing a trained network's features. The deck's side of
each item is what cnnviz's records of the deck say (tests/decks.py, the
README, issue 24)."""
from . import items
from .base import NOT_RECORDED, Deck, Item

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam")
RATES = {"sgd": 0.05, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.05, "adadelta": 1.0}   # others: Keras' default

DECK = Deck("mueller", 1, "Müller", "Even more neural networks", (
    Item("mueller_dense_parameters", "Dense(32) on 784 inputs, then Dense(10), as separate activation layers",
         "25,450 parameters", "tests/decks.py (the deck's model summary)", items.parameters("mueller_dense", 25_450)),
    Item("mueller_dense_training", "Training the small dense network on MNIST", NOT_RECORDED, "issue 24",
         items.training("mueller_dense")),
    Item("mueller_optimizers", "The optimizer slides: SGD, momentum, Nesterov, Adagrad, Adadelta, RMSprop, Adam, "
         "AdaMax, Nadam", NOT_RECORDED, "issue 24 (AdaMax and Nadam are on the optimizer slides)",
         items.optimizers("mueller_dense", OPTIMIZERS, RATES)),
    Item("mueller_transfer", "Reusing a CIFAR-10 network's features for cats against dogs", NOT_RECORDED,
         "README (Müller's exercise: pool2 features of cats and dogs, logistic regression)",
         items.transfer("cifar10_cnn", "pool2", ("cat", "dog"), 1000)),
))
