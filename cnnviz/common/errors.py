"""The one exception type cnnviz raises for problems a user can fix."""


class CnnvizError(Exception):
    """A user-facing error: one line naming the problem and the fix."""


class Cancelled(CnnvizError):
    """Long work was cancelled by the caller."""


def short(exc: BaseException) -> str:
    """The first line of an exception's message, for embedding in a one-line error."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:160]
