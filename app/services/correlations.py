"""Associations between columns on the profile's seeded sample, and mutual information.

* numeric pairs: Pearson's r and Spearman's rho (Pearson on average ranks), each on the rows
  where both values are finite, ranks recomputed on exactly those rows (as scipy does);
* categorical pairs: Cramér's V with Bergsma's bias correction (2013);
* numeric-categorical pairs: the correlation ratio eta (sqrt of between-group over total sum
  of squares);
* mutual information with the target: scikit-learn's k-nearest-neighbour estimator (k=3) on a
  seeded sub-sample, categorical features marked discrete. sklearn is imported here, lazily.

All arithmetic is vectorised NumPy over codes and ranks; no Python loop touches rows.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from app.domain.profile import CorrelationPair, Correlations, Feature, ProfileSettings

MIN_PAIR_ROWS = 3
"""Pairs with fewer complete rows get no value."""
MI_FEATURES = 50
"""At most this many features enter the mutual-information ranking."""
MI_NEIGHBOURS = 3
WORKERS = min(4, os.cpu_count() or 1)
"""Threads for the pairs: NumPy releases the GIL on whole-array work."""


@dataclass
class _Numeric:
    values: np.ndarray
    finite: np.ndarray
    groups: np.ndarray
    """Per row, the index of its value among the column's distinct finite values in ascending
    order (equal values share one; 0 for rows that are not finite)."""
    n_groups: int


RADIX_SPAN = 65_535
"""Whole numbers spanning at most this many are sorted as 16-bit keys (NumPy's radix sort)."""


def _numeric(series: pl.Series) -> _Numeric:
    values = series.cast(pl.Float64).fill_null(float("nan")).to_numpy().astype(np.float64)
    finite = np.isfinite(values)
    positions = np.flatnonzero(finite)
    order = positions[_argsort(values[positions])]
    ordered = values[order]
    groups = np.zeros(len(values), dtype=np.intp)
    n_groups = 0
    if len(ordered):
        # equal values (0.0 and -0.0 too) share a group; ranks average over each group
        ids = np.empty(len(ordered), dtype=np.intp)
        ids[0] = 0
        np.not_equal(ordered[1:], ordered[:-1], out=ids[1:])
        np.cumsum(ids, out=ids)
        groups[order] = ids
        n_groups = int(ids[-1]) + 1
    return _Numeric(values, finite, groups, n_groups)


def _argsort(values: np.ndarray) -> np.ndarray:
    """Positions that sort ``values`` (finite). Equal values may come in any order: ranks
    average over ties. Whole numbers in a narrow range (counts, ages, codes) take a radix
    sort of 16-bit offsets, about ten times faster than a comparison sort."""
    if len(values):
        low, high = float(values.min()), float(values.max())
        if high - low <= RADIX_SPAN and np.array_equal(values, np.rint(values)):
            return np.argsort((values - low).astype(np.uint16), kind="stable")
    return np.argsort(values)


def _codes(series: pl.Series) -> np.ndarray:
    """Integer codes 0..k-1 of the distinct values (in no particular order); -1 for null."""
    uniques = series.drop_nulls().unique()
    codes = pl.arange(0, len(uniques), dtype=pl.Int64, eager=True)
    mapped = series.replace_strict(uniques, codes, default=-1, return_dtype=pl.Int64)
    return mapped.to_numpy()


class _Scratch:
    """Buffers one thread reuses from pair to pair.

    A fresh array per intermediate result of a 50,000-row sample costs more in page faults
    (the allocator hands large blocks back to the system and takes them again) than the
    arithmetic on it, so the pairs write their intermediate results into these instead.
    """

    def __init__(self, rows: int) -> None:
        self.keep = np.empty(rows, dtype=bool)
        self.x = np.empty(rows, dtype=np.float64)
        self.y = np.empty(rows, dtype=np.float64)
        self.work = np.empty(rows, dtype=np.float64)
        self.half = np.empty(rows, dtype=np.float64)
        self.codes = np.empty(rows, dtype=np.intp)


def _ranks_within(
    column: _Numeric, keep: np.ndarray, out: np.ndarray, scratch: _Scratch
) -> np.ndarray:
    """Average ranks (1-based) of ``column``'s values on the rows ``keep`` selects (all of
    them finite in ``column``), in row order, written to ``out`` (one slot per kept row).

    A value's rank is the number of kept values up to and including its group of equal
    values, less half the group's size minus one: whole and half numbers, so exact.
    """
    n = len(out)
    groups = np.compress(keep, column.groups, out=scratch.codes[:n])
    counts = np.bincount(groups, minlength=column.n_groups)
    half = scratch.half[: len(counts)]
    np.subtract(counts, 1, out=half)
    np.multiply(half, 0.5, out=half)
    np.cumsum(counts, out=counts)
    np.subtract(counts, half, out=half)
    return np.take(half, groups, out=out)


def _pearson(x: np.ndarray, y: np.ndarray, work: np.ndarray | None = None) -> float | None:
    """Pearson's r of ``x`` and ``y``; with ``work`` (a buffer as long as they are), ``x`` and
    ``y`` are centred in place."""
    if len(x) < MIN_PAIR_ROWS:
        return None
    # element-wise sums, not np.dot: BLAS threads contend with DuckDB's and run 100x slower
    if work is None:
        dx, dy = x - x.mean(), y - y.mean()
        sxx, syy, sxy = (dx * dx).sum(), (dy * dy).sum(), (dx * dy).sum()
    else:
        dx = np.subtract(x, x.mean(), out=x)
        dy = np.subtract(y, y.mean(), out=y)
        sxx = np.multiply(dx, dx, out=work).sum()
        syy = np.multiply(dy, dy, out=work).sum()
        sxy = np.multiply(dx, dy, out=work).sum()
    denominator = math.sqrt(float(sxx) * float(syy))
    if denominator == 0:
        return None
    return max(-1.0, min(1.0, float(sxy) / denominator))


def numeric_pair(
    a: _Numeric, b: _Numeric, scratch: _Scratch | None = None
) -> tuple[float | None, float | None, int]:
    """(Pearson r, Spearman rho, complete rows) of two numeric columns."""
    s = scratch or _Scratch(len(a.values))
    keep = np.logical_and(a.finite, b.finite, out=s.keep[: len(a.values)])
    n = int(np.count_nonzero(keep))
    if n < MIN_PAIR_ROWS:
        return None, None, n
    x, y, work = s.x[:n], s.y[:n], s.work[:n]
    r = _pearson(np.compress(keep, a.values, out=x), np.compress(keep, b.values, out=y), work)
    rho = _pearson(_ranks_within(a, keep, x, s), _ranks_within(b, keep, y, s), work)
    return r, rho, n


def cramers_v(a: np.ndarray, b: np.ndarray) -> tuple[float | None, int]:
    """Bias-corrected Cramér's V (Bergsma 2013) of two code arrays (-1 = missing)."""
    keep = (a >= 0) & (b >= 0)
    x, y = a[keep], b[keep]
    n = len(x)
    if n < MIN_PAIR_ROWS:
        return None, n
    rows, cols = int(x.max()) + 1, int(y.max()) + 1
    table = np.bincount(x * cols + y, minlength=rows * cols).reshape(rows, cols)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0].astype(np.float64)
    r, k = table.shape
    if r < 2 or k < 2:
        return None, n
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = chi2 / n
    phi2_corrected = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    k_corrected = k - (k - 1) ** 2 / (n - 1)
    denominator = min(k_corrected - 1, r_corrected - 1)
    if denominator <= 0:
        return None, n
    return min(1.0, math.sqrt(phi2_corrected / denominator)), n


def correlation_ratio(
    codes: np.ndarray, values: _Numeric, scratch: _Scratch | None = None
) -> tuple[float | None, int]:
    """eta: sqrt(between-category sum of squares / total sum of squares)."""
    s = scratch or _Scratch(len(codes))
    keep = np.greater_equal(codes, 0, out=s.keep[: len(codes)])
    np.logical_and(keep, values.finite, out=keep)
    n = int(np.count_nonzero(keep))
    if n < MIN_PAIR_ROWS:
        return None, n
    c = np.compress(keep, codes, out=s.codes[:n])
    y = np.compress(keep, values.values, out=s.y[:n])
    counts = np.bincount(c)
    sums = np.bincount(c, weights=y)
    present = counts > 0
    means = sums[present] / counts[present]
    grand = y.mean()
    deviations = np.subtract(y, grand, out=s.work[:n])
    total = float(np.square(deviations, out=deviations).sum())
    if total == 0:
        return None, n
    between = float((counts[present] * (means - grand) ** 2).sum())
    return min(1.0, math.sqrt(between / total)), n


def compute_correlations(
    sample: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    target: str | None,
    settings: ProfileSettings,
    note: str = "",
) -> Correlations:
    """Every pair's association on ``sample``, strongest first, and the matrices."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        nums = dict(zip(numeric, pool.map(lambda c: _numeric(sample[c]), numeric), strict=True))
        cats = {c: _codes(sample[c]) for c in categorical}
        numeric_pairs = list(itertools.combinations(numeric, 2))
        categorical_pairs = list(itertools.combinations(categorical, 2))
        mixed_pairs = [(a, b) for a in categorical for b in numeric]
        # one task per first column: a task per pair costs more in handing over than the
        # pair's arithmetic on a sample of this size
        scratches = threading.local()

        def scratch() -> _Scratch:
            if not hasattr(scratches, "buffers"):
                scratches.buffers = _Scratch(sample.height)
            return scratches.buffers

        numeric_results = pool.map(
            lambda chunk: [numeric_pair(nums[a], nums[b], scratch()) for a, b in chunk],
            _by_first(numeric_pairs),
        )
        categorical_results = pool.map(
            lambda chunk: [cramers_v(cats[a], cats[b]) for a, b in chunk],
            _by_first(categorical_pairs),
        )
        mixed_results = pool.map(
            lambda chunk: [correlation_ratio(cats[a], nums[b], scratch()) for a, b in chunk],
            _by_first(mixed_pairs),
        )
        numeric_values = [v for chunk in numeric_results for v in chunk]
        categorical_values = [v for chunk in categorical_results for v in chunk]
        mixed_values = [v for chunk in mixed_results for v in chunk]
    pairs: list[CorrelationPair] = []
    association: dict[frozenset[str], float] = {}
    pearson: dict[frozenset[str], float] = {}
    spearman: dict[frozenset[str], float] = {}
    for (a, b), (r, rho, n) in zip(numeric_pairs, numeric_values, strict=True):
        if r is not None:
            pairs.append(CorrelationPair(a=a, b=b, method="pearson", value=round(r, 6), n=n))
            pearson[frozenset((a, b))] = association[frozenset((a, b))] = r
        if rho is not None:
            pairs.append(CorrelationPair(a=a, b=b, method="spearman", value=round(rho, 6), n=n))
            spearman[frozenset((a, b))] = rho
    for (a, b), (v, n) in zip(categorical_pairs, categorical_values, strict=True):
        if v is not None:
            pairs.append(CorrelationPair(a=a, b=b, method="cramers_v", value=round(v, 6), n=n))
            association[frozenset((a, b))] = v
    for (a, b), (eta, n) in zip(mixed_pairs, mixed_values, strict=True):
        if eta is not None:
            pairs.append(
                CorrelationPair(a=b, b=a, method="correlation_ratio", value=round(eta, 6), n=n)
            )
            association[frozenset((a, b))] = eta
    pairs.sort(key=lambda p: (-abs(p.value), p.a, p.b, p.method))
    columns = _matrix_columns(numeric + categorical, association, target, settings.matrix_columns)

    def matrix(values: dict[frozenset[str], float]) -> list[list[float | None]]:
        return [
            [1.0 if a == b else _round(values.get(frozenset((a, b)))) for b in columns]
            for a in columns
        ]

    matrices = {
        "association": matrix(association),
        "pearson": matrix(pearson),
        "spearman": matrix(spearman),
    }
    for name in ("pearson", "spearman"):
        for i, a in enumerate(columns):
            for j, b in enumerate(columns):
                if a not in nums or b not in nums:
                    matrices[name][i][j] = None
    return Correlations(
        sample_size=sample.height,
        pairs=pairs,
        columns=columns,
        matrices=matrices,
        note=note,
    )


def _by_first(pairs: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """``pairs`` in runs that share their first column, in order."""
    return [list(run) for _, run in itertools.groupby(pairs, key=lambda p: p[0])]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _matrix_columns(
    candidates: list[str],
    association: dict[frozenset[str], float],
    target: str | None,
    limit: int,
) -> list[str]:
    strongest = dict.fromkeys(candidates, 0.0)
    for key, value in association.items():
        for column in key:
            strongest[column] = max(strongest[column], abs(value))
    ranked = sorted(candidates, key=lambda c: (c != target, -strongest[c], candidates.index(c)))
    return ranked[:limit]


def mutual_information(
    sample: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    target: str,
    classification: bool,
    settings: ProfileSettings,
) -> tuple[list[Feature], int]:
    """Features ranked by mutual information with the target, and the rows used.

    Rows without a target are left out; a seeded sub-sample of ``settings.mi_sample_size``
    rows keeps the k-nearest-neighbour estimator fast. Missing numbers are filled with the
    column's median and missing categories get their own code.
    """
    features = [c for c in numeric + categorical if c != target][:MI_FEATURES]
    frame = sample.filter(pl.col(target).is_not_null())
    if not classification:
        frame = frame.filter(pl.col(target).cast(pl.Float64).is_finite())
    if frame.height > settings.mi_sample_size:
        frame = frame.sample(settings.mi_sample_size, seed=settings.seed)
    if not features or frame.height < 20:
        return [], frame.height
    from sklearn.feature_selection import mutual_info_classif, mutual_info_regression

    columns: list[np.ndarray] = []
    discrete: list[bool] = []
    for c in features:
        if c in categorical:
            columns.append((_codes(frame[c]) + 1).astype(np.float64))
            discrete.append(True)
        else:
            values = frame[c].cast(pl.Float64).to_numpy().astype(np.float64)
            finite = np.isfinite(values)
            fill = float(np.median(values[finite])) if finite.any() else 0.0
            columns.append(np.where(finite, values, fill))
            discrete.append(False)
    x = np.column_stack(columns)
    if classification:
        y = _codes(frame[target])
        scores = mutual_info_classif(
            x,
            y,
            discrete_features=np.array(discrete),
            n_neighbors=MI_NEIGHBOURS,
            random_state=settings.seed,
        )
    else:
        y_float = frame[target].cast(pl.Float64).to_numpy().astype(np.float64)
        scores = mutual_info_regression(
            x,
            y_float,
            discrete_features=np.array(discrete),
            n_neighbors=MI_NEIGHBOURS,
            random_state=settings.seed,
        )
    ranked = sorted(zip(features, scores, strict=True), key=lambda p: (-p[1], p[0]))
    return [
        Feature(column=c, mutual_information=round(float(s), 6)) for c, s in ranked
    ], frame.height
