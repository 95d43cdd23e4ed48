"""The five lecture decks, declared once: ``cnnviz lecture``, its ``--list``
and the API read them from here (a new deck is one module and one line)."""
from __future__ import annotations

from typing import Union

from ..common.errors import CnnvizError
from . import mattie, mueller, sakr, sick, wolter
from .base import Deck

DECKS: tuple[Deck, ...] = tuple(sorted((m.DECK for m in (mueller, sick, mattie, sakr, wolter)),
                                       key=lambda d: d.number))


def find_deck(name: Union[str, int]) -> Deck:
    """A deck by short name (mueller, sick, ...; "müller" too) or number."""
    key = str(name).strip().lower().replace("ü", "ue")
    for deck in DECKS:
        if key in (deck.name, str(deck.number)):
            return deck
    names = ", ".join(f"{d.number} {d.name}" for d in DECKS)
    raise CnnvizError(f"unknown lecture deck {name!r}: use one of {names} (`cnnviz lecture --list`)")
