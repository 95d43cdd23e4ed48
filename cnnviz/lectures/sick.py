"""Sick, "CNNs part II": his CIFAR-10 networks cnn1 and cnn2 with batch
normalization, what their channels respond to, and the famous architectures.
The deck's side of each item is what cnnviz's records of the deck say
(tests/decks.py, issue 24); the paper counts of LeNet-5 and AlexNet are the
papers' own."""
from . import items
from .base import NOT_RECORDED, Deck, Item

DECK = Deck("sick", 2, "Sick", "CNNs part II", (
    Item("sick_cnn1_parameters", "cnn1: four conv+BN layers, dropout 0.3, Dense(80)", "about 251,000 parameters",
         "tests/decks.py (widths reconstructed to match the deck's count)",
         items.parameters("sick_cnn1", 251_000, approximate=True)),
    Item("sick_cnn2_parameters", "cnn2: conv+BN blocks and global average pooling, dropout 0.3",
         "about 36,000 parameters", "tests/decks.py (widths reconstructed to match the deck's count)",
         items.parameters("sick_cnn2", 36_000, approximate=True)),
    Item("sick_cnn2_training", "Training cnn2 on CIFAR-10", NOT_RECORDED, "issue 24", items.training("sick_cnn2")),
    Item("sick_cnn2_bn_histograms", "The distribution of a layer's signal after batch normalization",
         NOT_RECORDED, "issue 24", items.histograms("sick_cnn2", "conv1_bn")),
    Item("sick_cnn2_synthesis", "Images synthesized to excite single neurons (the deck shows 9 per neuron)",
         NOT_RECORDED, "issue 24", items.synthesis("sick_cnn2", "conv3_relu", range(6), steps=64, per_channel=9,
                                                    deck_per_channel=9)),
    Item("lenet5_parameters", "LeNet-5 (LeCun et al. 1998): C1-S2-C3-S4-C5-F6-output on 32x32 digits",
         "about 60,000 parameters (the paper)", "LeCun et al. 1998",
         items.parameters("lenet5", 60_000, approximate=True)),
    Item("alexnet_parameters", "AlexNet (Krizhevsky et al. 2012)", "60 million parameters (the paper)",
         "Krizhevsky et al. 2012", items.parameters("alexnet", 60_000_000, approximate=True)),
    Item("network_structure", "The network's structure drawn as a graph", NOT_RECORDED, "issue 24",
         items.structure("sick_cnn2")),
    Item("lenet5_structure", "LeNet-5's layers as drawn in 1998", "C1-S2-C3-S4-C5-F6-output (the paper)",
         "LeCun et al. 1998", items.structure("lenet5", train=False, deck_layers=("C1", "S2", "C3", "S4", "C5", "F6"))),
))
