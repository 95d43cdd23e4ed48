"""The ``cnnviz lecture`` command: a lecture deck's gallery regenerated in one
run (see :mod:`cnnviz.lectures`)."""
from __future__ import annotations

import sys

from ..common.errors import CnnvizError
from ..lectures import DECKS, Item, find_deck, run_lecture
from .common import ProgressBar, nonnegative_int


def cmd_lecture(args) -> int:
    if args.list:
        print(f"{'#':>2}  {'name':<8} {'deck':<42} {'items':>5} {'pending':>7}")
        for d in DECKS:
            runnable = sum(isinstance(i, Item) for i in d.items)
            print(f"{d.number:>2}  {d.name:<8} {d.author + ', ' + d.title:<42} {runnable:>5} "
                  f"{len(d.items) - runnable:>7}")
        return 0
    if args.deck is None:
        raise CnnvizError("give a deck (a name or number, see `cnnviz lecture --list`)")
    deck = find_deck(args.deck)
    form = "full" if args.full else "smoke" if args.smoke else "short"
    out = args.out or f"lecture_{deck.name}"
    result = run_lecture(deck, out, form=form, seed=args.seed, force=args.force,
                         progress=None if args.quiet else ProgressBar())
    for entry in result.items:
        line = entry.get("value") or entry.get("why", "")
        print(f"{entry['status']:>8}  {entry['key']}: {line}")
    counts = result.counts
    print(f"{counts['done']} computed, {counts['reused']} reused, {counts['failed']} failed, {counts['pending']} "
          f"not reproduced; wrote {result.html}", file=sys.stderr)
    return 0 if not counts["failed"] else 2


def register(sub, model_opts) -> None:
    """Add this family's commands to the ``cnnviz`` parser."""
    p = sub.add_parser("lecture", help="regenerate a lecture deck's figures and numbers into one HTML report",
                       description="Run every reproducible item of a lecture deck (building the deck's models, "
                                   "training them by a short recipe, or --full for the architecture's epochs) and "
                                   "write DIR/index.html with the PNGs beside it: each item shows the deck's "
                                   "caption and number beside cnnviz's, the difference, and the exact command. "
                                   "A rerun into the same folder reuses what is done.")
    p.add_argument("deck", nargs="?", metavar="DECK",
                   help="; ".join(f"{d.number} or {d.name} ({d.author}, {d.title})" for d in DECKS))
    p.add_argument("--list", action="store_true", help="list the decks and their items")
    p.add_argument("--out", metavar="DIR", help="the report folder (default ./lecture_NAME)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--full", action="store_true", help="train for the architectures' own epochs on all images")
    form.add_argument("--smoke", action="store_true",
                      help="one epoch on 500 images: checks the gallery in seconds (its numbers mean little)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--force", action="store_true", help="recompute every item (replacing the folder's results)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_lecture)
