"""Wolter, "Keras tutorial, CNN": a dense network on flattened MNIST digits
and the visualization of its results. The deck's side of each item is what
cnnviz's records of the deck say (tests/decks.py, issue 24)."""
from . import items
from .base import NOT_RECORDED, Deck, Item

DECK = Deck("wolter", 5, "Wolter", "Keras tutorial, CNN", (
    Item("wolter_dense_parameters", "Three hidden Dense(512) layers on the flattened 28x28 digit",
         "932,362 parameters", "tests/decks.py (the deck's layer table)", items.parameters("wolter_dense", 932_362)),
    Item("wolter_dense_training", "Training the dense network on MNIST: accuracy and loss per epoch", NOT_RECORDED,
         "issue 24", items.training("wolter_dense")),
    Item("wolter_dense_results", "Visualization of results: test digits with their true and predicted labels",
         NOT_RECORDED, "issue 24 (Wolter's \"visualization of results\")",
         items.predictions("wolter_dense", "mnist", per_class=2)),
    Item("wolter_dense_confusion", "Which digits the network confuses", NOT_RECORDED, "issue 24",
         items.confusion("wolter_dense")),
))
