"""Methods declared once, for every family (attribution methods, attacks,
synthesis objectives): a :class:`Method` names its function, label and typed
:class:`Option` s; a :class:`Family` finds a method by name or alias, checks
and converts options (Python values or command-line text), parses
``--option method.key=value`` strings and writes the ``--help`` text. The API,
the command line and the app's option editors all read the same declarations,
so a method's options are written down once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from .errors import CnnvizError


@dataclass(frozen=True)
class Option:
    """One keyword option of a method: enough to parse it, check it and build an editor for it."""

    name: str
    kind: type                   # bool, int, float or str
    default: object
    help: str
    optional: bool = False       # None allowed: the method then chooses (e.g. a patch size from the image)
    choices: tuple = ()          # the allowed values when they form a fixed set
    minimum: Optional[float] = None   # smallest allowed number
    maximum: Optional[float] = None   # largest allowed number
    engine: bool = False         # changes speed and memory only, never the result

    def convert(self, value, label: str):
        """``value`` (a Python value or command-line text) checked and in this
        option's type, or a CnnvizError naming ``label`` and the fix."""
        if value is None or (isinstance(value, str) and not value.strip() and self.optional):
            if self.optional:
                return None
            raise CnnvizError(f"{label} needs a value: e.g. {label}={self.default}")
        try:
            converted = as_kind(value, self.kind)
        except (TypeError, ValueError):
            raise CnnvizError(f"{label}={value!r} is not a valid {self.kind.__name__}: "
                              f"give e.g. {label}={self.default if self.default is not None else 1}") from None
        if self.choices and converted not in self.choices:
            raise CnnvizError(f"{label}={converted!r} is not one of {', '.join(map(str, self.choices))}")
        if self.kind in (int, float):
            if not math.isfinite(converted):
                raise CnnvizError(f"{label}={value!r} is not a finite number")
            if self.minimum is not None and converted < self.minimum:
                raise CnnvizError(f"{label}={converted} is too small: use at least {self.minimum:g}")
            if self.maximum is not None and converted > self.maximum:
                raise CnnvizError(f"{label}={converted} is too large: use at most {self.maximum:g}")
        return converted


def as_kind(value, kind: type):
    """``value`` (text or a number) as ``kind``, or ValueError/TypeError;
    stricter than ``kind(value)``: 2.5 is not an int, True is not a number."""
    if kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return text in ("true", "1", "yes")
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    if kind in (int, float) and isinstance(value, (bool, np.bool_)):
        raise ValueError(value)
    return kind(value.strip() if isinstance(value, str) else value)


@dataclass(frozen=True)
class Method:
    """One method of a family: ``function(model, images, target, **fixed, **options)``.
    Families that need more say so in a subclass (attacks add their norms)."""

    name: str
    label: str                   # as people write it, for titles
    function: Callable
    options: tuple = ()
    fixed: dict = field(default_factory=dict)   # keyword arguments always passed (e.g. signed=True)
    aliases: tuple = ()
    values: str = ""             # what the result's values are, for colour-bar captions
    tip: str = ""                # one sentence for people choosing a method (tool tips, --help)
    refuses: dict = field(default_factory=dict)  # options people expect that it lacks: {name: why, and what instead}
    slow: bool = False           # seconds to minutes on a large input: run last, and the app waits to be asked
    explains: str = ""           # the class score it explains ("logit"), unless a ``score`` option chooses it
    cost: int = 1                # model passes per image at the default options, roughly: what a caller with a
                                 # time budget (the app's Live) schedules by
    concepts: bool = False       # its maps come with one map per concept of the class it found on a dataset
                                 # (extras "concept_maps" (N, H, W, k) and "importances" (N, k)): it needs
                                 # the class's images, so it is run only when named, never by "all"

    @property
    def takes_layer(self) -> bool:
        """Whether it works at a chosen layer (it has an option ``layer``)."""
        return any(o.name == "layer" for o in self.options)

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        if name in self.refuses:
            raise CnnvizError(f"{self.name} has no option {name!r}: {self.refuses[name]}")
        raise CnnvizError(f"{self.name} has no option {name!r}: its options are "
                          f"{', '.join(o.name for o in self.options) or 'none'}")

    def defaults(self) -> dict:
        """The keyword options and their defaults."""
        return {o.name: o.default for o in self.options}

    def check(self, options: dict) -> dict:
        """``options`` each checked and converted, or a CnnvizError naming the
        option and what it takes."""
        return {key: self.option(key).convert(value, f"{self.name}.{key}") for key, value in options.items()}


class Family:
    """The declared methods of one family, found by name or alias.

    ``noun`` is what the family calls a member in messages ("method",
    "attack"); ``help_command`` is where a user reads the options (e.g.
    "cnnviz explain --help"); ``choose_flag`` is the command-line flag that
    chooses members (e.g. "--methods")."""

    def __init__(self, noun: str, declared: Sequence[Method], help_command: str, choose_flag: str):
        self.noun = noun
        self.help_command = help_command
        self.choose_flag = choose_flag
        self.declared = tuple(declared)
        self.registry: dict[str, Method] = {m.name: m for m in self.declared}
        self.names = tuple(self.registry)
        self.aliases = {alias: m.name for m in self.declared for alias in m.aliases}

    def __iter__(self):
        return iter(self.declared)

    def __contains__(self, name) -> bool:
        return self.key(name) in self.registry

    def key(self, name: str) -> str:
        """``name`` in lower case with underscores, aliases resolved (may be unknown)."""
        key = str(name).strip().lower().replace("-", "_")
        return self.aliases.get(key, key)

    def name(self, name: str) -> str:
        """The canonical name of a member (hyphens, case and aliases allowed)."""
        key = self.key(name)
        if key not in self.registry:
            raise CnnvizError(f"unknown {self.noun} {name!r}: use {', '.join(self.names)}")
        return key

    def get(self, name: str) -> Method:
        """The declaration of a member, by name or alias."""
        return self.registry[self.name(name)]

    def check_options(self, name: str, options: dict) -> dict:
        """``options`` for member ``name``, each checked and converted."""
        return self.get(name).check(options)

    def convert_option(self, name: str, option: str, text):
        """``text`` as a value of ``name``'s ``option`` (empty: None, the
        member's automatic choice, for optional options), or a CnnvizError."""
        m = self.get(name)
        return m.option(option).convert(text, f"{m.name}.{option}")

    def parse_options(self, items: Sequence[str], chosen: Sequence[str], flag: str = "--option") -> dict:
        """``["patch=8", "occlusion.samples=50"]`` to ``{member: {option: value}}``.
        An option without a prefix goes to every chosen member that has it;
        one for a member that is not chosen is refused."""
        names = [self.name(m) for m in chosen]
        parsed: dict = {name: {} for name in names}
        for item in items:
            key, sep, raw = item.partition("=")
            if not sep:
                raise CnnvizError(f"{flag} {item!r}: write NAME=VALUE or {self.noun.upper()}.NAME=VALUE, "
                                  f"e.g. {self._example()}")
            prefix, _, option = key.strip().rpartition(".")
            if prefix:
                target = self.name(prefix)
                if target not in names:
                    raise CnnvizError(f"{flag} {item!r} is for {target}, which is not being run: "
                                      f"add it to {self.choose_flag} or drop the option")
                targets = [target]
            else:
                targets = [n for n in names if option in self.registry[n].defaults()]
                if not targets:
                    raise CnnvizError(f"no chosen {self.noun} has an option {option!r}: see `{self.help_command}`")
            for name in targets:
                parsed[name][option] = self.convert_option(name, option, raw)
        return parsed

    def _example(self) -> str:
        for m in self.declared:
            for o in m.options:
                if o.default is not None and not o.engine:
                    return f"{o.name}={o.default}"
        return "name=value"

    def option_specs(self, name: str, engine: bool = False) -> list[Option]:
        """A member's options for generic editors; options that change only
        speed are left out unless ``engine``."""
        return [o for o in self.get(name).options if engine or not o.engine]

    def names_help(self) -> str:
        """The members' names, each with its aliases, for ``--help``."""
        return ", ".join(m.name + (f" ({', '.join(m.aliases)})" if m.aliases else "") for m in self.declared)

    def options_help(self) -> str:
        """Every member's options with their defaults and meaning, for ``--help``."""
        lines = []
        for m in self.declared:
            shown = [o for o in m.options if not o.engine]
            lines.append(f"  {m.name}" + ("" if shown else ": no options"))
            for o in shown:
                value = f"{o.name}={'auto' if o.default is None else o.default}"
                choices = f" ({', '.join(map(str, o.choices))})" if o.choices else ""
                lines.append(f"    {value:<26}{o.help}{choices}")
        return "\n".join(lines)
