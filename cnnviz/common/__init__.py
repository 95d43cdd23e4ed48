"""Plumbing every family shares: method declarations, errors, progress and
cancel, atomic file writes, and where data, caches and devices are."""
from .declare import Family, Method, Option
from .errors import Cancelled, CnnvizError
from .progress import CancelToken, ProgressFn

__all__ = ["Family", "Method", "Option", "CnnvizError", "Cancelled", "CancelToken", "ProgressFn"]
