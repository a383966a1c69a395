"""Exact statistics from a column's complete value-count table (value, rows) with NumPy.

A column with at most a few thousand distinct values is counted in DuckDB once (one small
``GROUP BY``); its quantiles, central moments, outlier counts, histogram, per-bin target
values and text lengths then follow exactly from that table, with no further scan of the data.
"""

from __future__ import annotations

import math

import numpy as np

from app.domain.profile import QUANTILES, TextStats


def weighted_quantiles(
    values: np.ndarray, counts: np.ndarray, levels: tuple[float, ...]
) -> list[float]:
    """Quantiles with linear interpolation between order statistics (DuckDB's quantile_cont,
    numpy's default): position (n - 1)·p in the sorted, expanded values."""
    order = np.argsort(values, kind="stable")
    v, c = values[order], counts[order]
    ends = np.cumsum(c)  # rank (0-based) of the last copy of each value is ends - 1
    n = int(ends[-1])
    out = []
    for p in levels:
        h = (n - 1) * p
        low = math.floor(h)
        i = int(np.searchsorted(ends, low, side="right"))
        j = int(np.searchsorted(ends, min(low + 1, n - 1), side="right"))
        out.append(float(v[i] + (h - low) * (v[j] - v[i])))
    return out


def central_sums(values: np.ndarray, counts: np.ndarray, mean: float) -> tuple[float, float, float]:
    """Sums of (x - mean)^2, ^3 and ^4 over the expanded values."""
    d = values - mean
    d2 = d * d
    return (
        float((counts * d2).sum()),
        float((counts * d2 * d).sum()),
        float((counts * d2 * d2).sum()),
    )


def bin_indices(values: np.ndarray, low: float, width: float, bins: int) -> np.ndarray:
    """The histogram bin of each value (the top edge falls in the last bin)."""
    index = np.floor((values - low) / width).astype(np.int64)
    return np.clip(index, 0, bins - 1)


def binned(
    values: np.ndarray, counts: np.ndarray, low: float, width: float, bins: int
) -> np.ndarray:
    """Rows per histogram bin."""
    return np.bincount(bin_indices(values, low, width, bins), weights=counts, minlength=bins)


def text_stats(keys: list[str], counts: np.ndarray) -> TextStats:
    """Length (characters) and whitespace statistics of a text column from its value counts."""
    if not keys:
        return TextStats()
    lengths = np.array([len(k) for k in keys], dtype=np.float64)
    trimmed = [k.strip(" ") for k in keys]
    padded = np.array([t != k for t, k in zip(trimmed, keys, strict=True)])
    empty = np.array([t == "" for t in trimmed])
    total = float(counts.sum())
    return TextStats(
        min_length=int(lengths.min()),
        mean_length=round(float((lengths * counts).sum()) / total, 4) if total else None,
        max_length=int(lengths.max()),
        empty=int(counts[empty].sum()),
        padded=int(counts[padded].sum()),
    )


def level_index(level: float) -> int:
    """Position of ``level`` in ``QUANTILES``."""
    return QUANTILES.index(level)
