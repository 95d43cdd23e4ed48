"""Mattie, "Keras, CNNs" (after Chollet): a Dense(512) network on the 28x28
digit, then small CNNs. The deck's side of each item is what cnnviz's
records of the deck say (tests/decks.py, the zoo, issue 24)."""
from . import items
from .base import NOT_RECORDED, Deck, Item

DECK = Deck("mattie", 3, "Mattie", "Keras, CNNs", (
    Item("mattie_dense_parameters", "Dense(512) on the 28x28 digit, flattened in the model (after Chollet)",
         "407,050 parameters", "tests/decks.py (the deck's model summary)", items.parameters("mattie_dense", 407_050)),
    Item("mattie_dense_training", "Training the dense network on MNIST", NOT_RECORDED, "issue 24",
         items.training("mattie_dense")),
    Item("mnist_small_parameters", "The small MNIST CNN: two 3x3 convolutions of 8 filters, Dense(64)",
         "14,178 parameters", "cnnviz's zoo (the lecture's small MNIST CNN)", items.parameters("mnist_small", 14_178)),
    Item("mnist_small_training", "Training the small CNN on MNIST", NOT_RECORDED, "issue 24",
         items.training("mnist_small")),
    Item("mnist_small_filters", "The first convolution's learned filters", NOT_RECORDED, "issue 24",
         items.filters("mnist_small")),
    Item("mnist_small_five_classes", "The CNN trained on digits 0-4 only (its head has five outputs)",
         NOT_RECORDED, "issue 24 (`train mnist_small --classes 0,1,2,3,4`)",
         items.training("mnist_small", key="mnist_small_digits0-4", flags=("--classes", "0,1,2,3,4"),
                        classes=["0", "1", "2", "3", "4"])),
    Item("network_structure", "The network's structure drawn as a graph", NOT_RECORDED, "issue 24",
         items.structure("mnist_small")),
))
