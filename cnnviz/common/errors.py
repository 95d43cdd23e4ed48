"""The one exception type cnnviz raises for problems a user can fix, and
turning any other exception's text into one readable line."""
from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Lines of TensorFlow's and Keras' framing, never the problem itself.
_FRAMING = re.compile(r"^(Traceback \(most recent call last\)|Graph execution error|Detected at node|in user code"
                      r"|Exception encountered when calling|Arguments received by|Call arguments received by"
                      r"|During handling of the above|The above exception|•)")
_USER_CODE_ERROR = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception): (.+)$")
_TF_TAGS = re.compile(r"\{\{function_node [^}]*\}\}|\s*\[Op:[^\]]*\]|\s*\[\[\{\{node [^}]*\}\}\]\]")


class CnnvizError(Exception):
    """A user-facing error: one line naming the problem and the fix."""


class Cancelled(CnnvizError):
    """Long work was cancelled by the caller."""


def one_line(text: str, limit: int = 300) -> str:
    """The meaningful line of an error text: ANSI colour codes, TensorFlow's
    "in user code" file listings and Keras' call framing removed."""
    text = _ANSI.sub("", str(text))
    lines = text.splitlines()
    if any(line.lstrip().startswith('File "') for line in lines):
        listed = [m.group(1) for m in map(_USER_CODE_ERROR.match, lines) if m]
        if "in user code:" in text and listed:
            return _cut(listed[-1], limit)           # the error at the end of the listing
        lines = [line for line in lines if not line[:1].isspace()]     # drop the listing itself
    for line in lines:
        line = _TF_TAGS.sub("", line).strip()
        if line and not _FRAMING.match(line):
            return _cut(line, limit)
    return ""


def _cut(line: str, limit: int) -> str:
    line = _TF_TAGS.sub("", line).strip()
    return line if len(line) <= limit else line[:limit - 3].rstrip() + "..."


def short(exc: BaseException, limit: int = 200) -> str:
    """An exception's meaningful line, for embedding in a one-line error."""
    return one_line(str(exc), limit) or type(exc).__name__
