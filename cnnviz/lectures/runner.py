"""Running a deck's gallery: every reproducible item computed into one output
folder (a PNG per figure), a manifest that records each finished item (written
atomically after each, so a rerun or a run interrupted halfway reuses what is
done), and one HTML report from a Jinja2 template shipped with the package."""
from __future__ import annotations

import datetime as _dt
import json
import shlex
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..common.errors import Cancelled, CnnvizError, one_line
from ..common.fileio import atomic_path, save_figure, write_json
from ..common.progress import CancelToken, ProgressFn, check, report, stage
from .base import FORMS, Deck, Item, Lab, Pending
from .decks import DECKS, find_deck

MANIFEST = "manifest.json"
REPORT = "index.html"


@dataclass
class LectureReport:
    deck: Deck
    folder: Path
    html: Path
    items: list[dict]              # the manifest's entries, in deck order

    @property
    def counts(self) -> dict:
        kinds = [e["status"] for e in self.items]
        return {k: kinds.count(k) for k in ("done", "reused", "failed", "pending")}


def run_lecture(deck: Union[str, int, Deck], out: Union[str, Path], form: str = "short", seed: int = 0,
                force: bool = False, progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> LectureReport:
    """Run every reproducible item of ``deck`` (a short name, a number or a
    :class:`Deck`) into ``out`` and write ``out/index.html``. ``form``: smoke,
    short (default) or full (see :data:`~cnnviz.lectures.base.RECIPES`). A
    rerun into the same folder reuses the items already done; ``force``
    recomputes them. An item that fails is reported as failed, and the others
    still run; :class:`Cancelled` stops at once (what is done stays done)."""
    deck = deck if isinstance(deck, Deck) else find_deck(deck)
    if form not in FORMS:
        raise CnnvizError(f"unknown form {form!r}: use one of {', '.join(FORMS)}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise CnnvizError(f"{folder} is a file: give a folder for the lecture report (--out DIR)")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(folder, deck, form, seed, force)
    lab = Lab(folder, form, seed, None, cancel)
    entries = []
    for k, item in enumerate(deck.items):
        check(cancel)
        lab.progress = stage(progress, k, len(deck.items), item.key)
        report(lab.progress, 0, 1, "starting")
        done = manifest["items"].get(item.key)
        if isinstance(item, Pending):
            entry = _pending(item)
        elif done and done["status"] in ("done", "reused") and all((folder / f).is_file() for f in done["files"]):
            entry = {**done, "status": "reused"}
        else:
            entry = _run_item(item, lab)
        manifest["items"][item.key] = entry
        entries.append(entry)
        write_json(folder / MANIFEST, manifest)           # atomic: an interruption keeps every finished item
    report(progress, len(deck.items) * 1000, len(deck.items) * 1000, "writing the report")
    html = _render(deck, folder, manifest, entries)
    return LectureReport(deck, folder, html, entries)


def _manifest(folder: Path, deck: Deck, form: str, seed: int, force: bool) -> dict:
    path = folder / MANIFEST
    fresh = {"deck": deck.name, "form": form, "seed": seed, "items": {}}
    if not path.is_file() or force:
        return fresh
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return fresh
    if (manifest.get("deck"), manifest.get("form"), manifest.get("seed")) != (deck.name, form, seed):
        raise CnnvizError(f"{folder} holds the {manifest.get('form')} gallery of {manifest.get('deck')} (seed "
                          f"{manifest.get('seed')}): give another --out, or --force to replace it")
    manifest.setdefault("items", {})
    return manifest


def _pending(item: Pending) -> dict:
    return {"key": item.key, "status": "pending", "caption": item.caption, "deck_value": item.deck_value,
            "source": item.source, "why": item.why, "files": []}


def _run_item(item: Item, lab: Lab) -> dict:
    from ..plots import mark_untrained  # matplotlib: heavy, loaded with the first figure

    entry = {"key": item.key, "caption": item.caption, "deck_value": item.deck_value, "source": item.source,
             "files": []}
    start = time.perf_counter()
    try:
        outcome = item.run(lab)
    except Cancelled:
        raise
    except Exception as exc:       # one failed item is reported; the others still run
        why = str(exc) if isinstance(exc, CnnvizError) else f"{type(exc).__name__}: {exc}"
        return {**entry, "status": "failed", "why": one_line(why, 600),
                "traceback": "" if isinstance(exc, CnnvizError) else traceback.format_exc(limit=6)}
    if outcome.figure is not None:
        mark_untrained(outcome.figure, not outcome.untrained)
        name = f"{item.key}.png"
        save_figure(outcome.figure, lab.path(name), dpi=100)
        entry["files"] = [name]
    return {**entry, "status": "done", "value": outcome.value, "difference": outcome.difference,
            "commands": outcome.commands, "untrained": outcome.untrained,
            "seconds": round(time.perf_counter() - start, 1),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def _render(deck: Deck, folder: Path, manifest: dict, entries: list[dict]) -> Path:
    import jinja2  # only the report needs it

    from .. import __version__  # cnnviz/__init__ imports the lab this module uses: a real cycle

    env = jinja2.Environment(loader=jinja2.PackageLoader("cnnviz.lectures", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    form, seed = manifest["form"], manifest["seed"]
    command = ["cnnviz", "lecture", deck.name, *([] if form == "short" else [f"--{form}"]),
               *([f"--seed {seed}"] if seed else []), "--out", shlex.quote(str(folder))]
    html = env.get_template("report.html.j2").render(
        deck=deck, entries=entries, form=form, seed=seed, version=__version__, decks=DECKS,
        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), command=" ".join(command))
    path = folder / REPORT
    with atomic_path(path) as tmp:
        Path(tmp).write_text(html, "utf-8")
    return path
