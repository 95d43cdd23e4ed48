"""Plumbing every family shares: errors, progress and cancel, atomic file
writes, and where data, caches and devices are."""
from .errors import Cancelled, CnnvizError
from .progress import CancelToken, ProgressFn

__all__ = ["CnnvizError", "Cancelled", "CancelToken", "ProgressFn"]
