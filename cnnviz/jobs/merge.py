"""Merging partial results by the algebra of each job.

Top-k per channel is a commutative monoid: the k best of a union are the k
best of the parts' k best. Ties are broken by (image, position), the order in
which a single sequential pass meets them, so a merge in any order gives the
sequential pass's result exactly.
"""
from __future__ import annotations

import numpy as np


def merge_top_k(a: tuple, b: tuple, k: int) -> tuple:
    """The ``k`` best of two (values, image, position) triples of (C, k_a) and
    (C, k_b) arrays: highest value first, then lower image, then lower position."""
    values, image, position = (np.concatenate([x, y], axis=1) for x, y in zip(a, b))
    order = np.lexsort((position, image, -values.astype(np.float64)), axis=1)[:, :k]
    return tuple(np.take_along_axis(x, order, axis=1) for x in (values, image, position))


def add(a: dict, b: dict) -> dict:
    """Sums merged by adding (counts, loss sums, confusion matrices)."""
    return {key: a.get(key, 0) + b[key] for key in b} | {key: a[key] for key in a if key not in b}
