"""The app's words for the library's errors: cnnviz's messages are written
for the command line and the API (option labels as ``method.option=value``,
hints about batch arguments) and may quote a library's internals (imageio's
plugin search); in a dialog or a panel the user should read what went wrong
in the app's terms. Every job's error passes through :func:`user_text`, in
one place (the worker), as does every dialog's (``MainWindow.error``)."""
from __future__ import annotations

import re

_REWRITES: tuple[tuple[re.Pattern, str], ...] = (
    # imageio found no plugin for the file: the library's plugin search means nothing to the user
    (re.compile(r"\s*\(Could not find a backend to open [^)]*\)|\s*\(?Could not find a backend[^:;)]*\)?"), ""),
    # an option named as on the command line (integrated_gradients.steps=0): the editor names the option
    (re.compile(r"\b[a-z_+]+\.([a-z_]+)=('?[^\s:,;']*'?)"), r"\1 \2"),
    (re.compile(r"\bgive e\.g\. [a-z_]+ "), "give e.g. "),
    # API hints for batches of images: the app attacks one image
    (re.compile(r",? or use target='random' for batches"), ""),
)


def user_text(message: str) -> str:
    """``message`` in the app's terms (its first line, where the rewrites apply; the rest kept for the details)."""
    if not message:
        return message
    first, _, rest = message.partition("\n")
    for pattern, replacement in _REWRITES:
        first = pattern.sub(replacement, first)
    first = re.sub(r"\s{2,}", " ", first).strip()
    return first + (("\n" + rest) if rest else "")
