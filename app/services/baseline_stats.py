"""Training statistics for monitoring: quantile bins, quantiles, moments, level frequencies.

Only NumPy and pandas: the drift statistics and the bundle builder share these, and drift
measurement stays light (no scikit-learn).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from app.runtime.contract import MISSING_LEVEL, Baseline, FeatureBaseline, InputContract

QUANTILES = {
    "q01": 0.01,
    "q05": 0.05,
    "q25": 0.25,
    "q50": 0.5,
    "q75": 0.75,
    "q95": 0.95,
    "q99": 0.99,
}
BINS = 10
TOP_LEVELS = 50
"""Levels with their own frequency in the baseline; the rest are counted as ``other``."""


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per bin: below ``edges[0]``, each of the ``len(edges) - 1`` bins (the last one
    closed), above ``edges[-1]``."""
    index = np.searchsorted(edges, values, side="right")
    index[values == edges[-1]] = len(edges) - 1
    return np.bincount(index, minlength=len(edges) + 1)


def numeric_baseline(name: str, kind: Any, values: np.ndarray) -> FeatureBaseline:
    """Quantile bins, quantiles and moments of one numeric (or datetime-as-seconds) feature."""
    n = len(values)
    present = values[~np.isnan(values)]
    missing = n - len(present)
    out = FeatureBaseline(
        name=name, kind=kind, n_rows=n, missing=missing, missing_rate=missing / n if n else 0.0
    )
    if len(present):
        edges = np.quantile(present, np.linspace(0, 1, BINS + 1))
        out.edges = [float(e) for e in edges]
        out.counts = [int(c) for c in bin_counts(present, edges)]
        qs = np.quantile(present, list(QUANTILES.values()))
        out.quantiles = {k: float(q) for k, q in zip(QUANTILES, qs, strict=True)}
        out.mean = float(present.mean())
        out.std = float(present.std())
    return out


def baseline_of(X: pd.DataFrame, contract: InputContract) -> Baseline:
    """Training statistics of every feature of ``X`` (no raw values), for monitoring."""
    features: list[FeatureBaseline] = []
    for c in contract.columns:
        if c.kind == "numeric":
            values = X[c.name].to_numpy(dtype=np.float64)
            features.append(numeric_baseline(c.name, c.kind, values))
        elif c.kind == "datetime":
            stamps = pd.to_datetime(X[c.name])
            # Seconds since the epoch whatever the resolution (pandas 3 reads microseconds).
            since = (stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
            seconds = since.to_numpy(dtype=np.float64, na_value=np.nan)
            features.append(numeric_baseline(c.name, c.kind, seconds.astype(np.float64)))
        else:
            text = X[c.name].astype(str)
            n = len(text)
            missing = int((text == MISSING_LEVEL).sum())
            counts = text[text != MISSING_LEVEL].value_counts(sort=True)
            top = counts.head(TOP_LEVELS)
            features.append(
                FeatureBaseline(
                    name=c.name,
                    kind=c.kind,
                    n_rows=n,
                    missing=missing,
                    missing_rate=missing / n if n else 0.0,
                    frequencies={str(k): int(v) for k, v in top.items()},
                    other=int(counts.sum() - top.sum()),
                )
            )
    return Baseline(n_rows=len(X), features=features)
