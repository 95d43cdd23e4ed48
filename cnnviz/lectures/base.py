"""What a lecture gallery is made of: a :class:`Deck` of :class:`Item` s (the
deck's caption and number beside a function computing cnnviz's figure and
number, and the exact commands that reproduce it) and :class:`Pending` items
cnnviz cannot reproduce yet, with why; and the :class:`Lab` every item runs
in (the output folder, the training recipe of the run, its models trained
once and reused by every item that needs them).

Nothing in an item is copied from a run: the deck's side is what the deck
says (or :data:`NOT_RECORDED`), cnnviz's side is computed when the item runs.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from ..common.errors import CnnvizError
from ..common.progress import CancelToken, ProgressFn, check
from ..data.datasets import class_sample
from ..data.sources import load_dataset
from ..lab.training import train
from ..models import zoo

NOT_RECORDED = "deck number not recorded"
FORMS = ("smoke", "short", "full")


@dataclass
class Outcome:
    """cnnviz's side of an item, as computed by this run."""

    value: str                      # cnnviz's number(s), as text
    difference: str                 # how it differs from the deck's, stated
    commands: list[str]             # the exact commands that reproduce it
    figure: object = None           # a matplotlib Figure, or None for a number only
    untrained: bool = False         # computed from random weights: the report says so


@dataclass(frozen=True)
class Item:
    """A reproducible item of a deck."""

    key: str                        # unique in the deck; names its PNG
    caption: str                    # the deck's caption, or what its slide shows
    deck_value: str                 # the deck's number as the deck gives it, or NOT_RECORDED
    source: str                     # where cnnviz knows the deck's side from
    run: Callable[["Lab"], Outcome]


@dataclass(frozen=True)
class Pending:
    """An item of a deck that cnnviz does not reproduce (yet), and why."""

    key: str
    caption: str
    deck_value: str
    source: str
    why: str


@dataclass(frozen=True)
class Deck:
    name: str                       # short name: mueller, sick, mattie, sakr, wolter
    number: int
    author: str
    title: str
    items: tuple[Union[Item, Pending], ...]


# ---------------------------------------------------------------- the lab an item runs in

@dataclass(frozen=True)
class Recipe:
    """How long models train in a run: ``smoke`` (seconds, for the test
    suite: the numbers mean little), ``short`` (minutes on a laptop CPU) or
    ``full`` (the architecture's own epochs on all images)."""

    epochs: Optional[int]           # None: the architecture's recipe
    limit: Optional[int]            # training images (class-balanced); None: all
    test_limit: Optional[int]       # test images scored; None: all


RECIPES = {"smoke": Recipe(1, 500, 200), "short": Recipe(2, 6000, 2000), "full": Recipe(None, None, None)}


@dataclass
class Lab:
    out: Path
    form: str = "short"
    seed: int = 0
    progress: Optional[ProgressFn] = None
    cancel: Optional[CancelToken] = None
    _models: dict = field(default_factory=dict)

    @property
    def recipe(self) -> Recipe:
        return RECIPES[self.form]

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)

    def shown(self, path: Path) -> str:
        """A path as commands show it (quoted for the shell)."""
        return shlex.quote(str(path))

    def train_flags(self, arch: str) -> list[str]:
        r = self.recipe
        epochs = r.epochs if r.epochs is not None else zoo.ARCHITECTURES[arch].epochs
        flags = ["--epochs", str(epochs), "--seed", str(self.seed)]
        return flags + (["--limit", str(r.limit)] if r.limit else [])

    def trained(self, arch: str, key: Optional[str] = None, flags: tuple[str, ...] = (), **options):
        """(model, card, command) of ``arch`` trained by this run's recipe and
        the extra CLI ``flags`` (with the same meaning in ``options`` for the
        API): trained once into ``models/KEY.keras`` and reused (also by a
        rerun, when the card's command is the same)."""
        key = key or arch
        path = self.path("models", f"{key}.keras")
        command = " ".join(["cnnviz", "train", arch, *self.train_flags(arch), *flags, "--out", self.shown(path),
                            "--force"])
        if key in self._models:
            return (*self._models[key], command)
        card = zoo.read_card(path) if path.is_file() else {}
        if card.get("command") == command:
            model = zoo.load_model_file(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            r = self.recipe
            result = train(arch, epochs=r.epochs, limit=r.limit, seed=self.seed, out=str(path), force=True,
                           command=command, progress=self.progress, cancel=self.cancel, **options)
            model, card = result.model, result.card
        self._models[key] = (model, card)
        return model, card, command

    def test_folder(self, dataset: str, per_class: int) -> Path:
        """A folder of ``per_class`` test images of each class as PNG files
        (``data/DATASET_test/<class>/<index>.png``), for commands that read
        images from files; written once."""
        from skimage.io import imsave

        folder = self.path("data", f"{dataset}_test")
        done = folder / ".complete"
        if done.is_file():
            return folder
        data = load_dataset(dataset)
        y = np.asarray(data.y_test).reshape(-1)
        for i in class_sample(y, per_class, self.seed):
            check(self.cancel)
            target = folder / data.classes[y[i]] / f"{i:05d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            image = data.x_test[i]
            imsave(target, image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image, check_contrast=False)
        done.write_text("")
        return folder


# ---------------------------------------------------------------- stating differences

def count_difference(deck: Optional[int], ours: int, approximate: bool = False) -> str:
    """The difference of a count from the deck's, stated."""
    if deck is None:
        return f"{NOT_RECORDED}: cnnviz's count is {ours:,}"
    if ours == deck:
        return "none: the same count"
    gap = ours - deck
    if approximate:
        side = "above" if gap > 0 else "below"
        return f"the deck rounds: cnnviz's {ours:,} is {abs(gap):,} ({abs(gap) / deck:.1%}) {side}"
    return f"{abs(gap):,} {'more' if gap > 0 else 'fewer'} than the deck's {deck:,}"


def accuracy_difference(lab: Lab, deck: Optional[float], ours: float, what: str) -> str:
    recipe = {"smoke": "a one-epoch smoke run on 500 images", "short": "the short recipe",
              "full": "the architecture's full recipe"}[lab.form]
    if deck is None:
        return f"{NOT_RECORDED}; {what} after {recipe}: {ours:.2%}"
    return f"{ours - deck:+.2%} against the deck's {deck:.2%} ({what}, {recipe})"


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CnnvizError(message)
