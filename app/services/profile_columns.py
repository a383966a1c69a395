"""From a column's raw pass results to its ``ColumnProfile``: semantic type, statistics,
histogram, bars, time series, target relation and outliers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from app.domain.dataset import ColumnRole
from app.domain.profile import (
    QUANTILES,
    ColumnProfile,
    DateStats,
    Histogram,
    NumericStats,
    Outliers,
    SemanticType,
    TargetBoxes,
    TargetRelation,
    TargetRow,
    TimeGaps,
    TopValue,
)
from app.domain.thresholds import AlertThresholds
from app.services.profile_stats import ColumnWork, Group

CATEGORICAL_INT_MAX = 10
"""Integer columns with at most this many distinct values are codes (categorical)."""
TEXT_MEAN_LENGTH = 40
"""Text values this long on average are free text, not categories."""
TEXT_DISTINCT_SHARE = 0.5
"""Text columns with distinct values in over half their rows (and more than 50) are free text."""
MIN_ID_ROWS = 20
"""An identifier needs at least this many rows: 3 distinct values in 3 rows prove nothing."""
HLL_TOLERANCE = 0.05
"""When the distinct count is a HyperLogLog estimate (a few % off on large tables), an
identifier needs a distinct share this much below ``id_distinct_share``."""
TARGET_ROWS = 30
"""Categories shown in a column's target relation."""
_BAR_TYPES = (SemanticType.CATEGORICAL, SemanticType.BOOLEAN, SemanticType.TEXT)
BOOLEAN_WORDS = (
    {"true", "false"},
    {"yes", "no"},
    {"y", "n"},
    {"t", "f"},
    {"0", "1"},
)


@dataclass
class TargetSpec:
    """The target as the passes see it: what is measured per group, and how."""

    column: str
    task: Literal["binary", "multiclass", "regression"]
    kind: Literal["rate", "mean", "distribution"]
    measures: list[str]
    sql: list[str]
    count_sql: str = "0"
    """Rows of a group whose target counts towards the measures."""
    positive: str | None = None
    classes: list[TopValue] = field(default_factory=list)


def _is_unique(c: ColumnWork, n_rows: int, thresholds: AlertThresholds) -> bool:
    distinct = c.distinct or 0
    share = thresholds.id_distinct_share
    if c.exact_distinct is None:
        share -= HLL_TOLERANCE
    return n_rows >= MIN_ID_ROWS and distinct >= share * n_rows


def semantic_type(c: ColumnWork, n_rows: int, thresholds: AlertThresholds) -> SemanticType:
    """What the column means, from its storage type, role and values (see the constants)."""
    if c.role is ColumnRole.ID:
        return SemanticType.ID
    if c.family == "bool":
        return SemanticType.BOOLEAN
    if c.temporal:
        return SemanticType.DATETIME
    if c.family == "other":
        return SemanticType.OTHER
    distinct = c.distinct or 0
    if c.numeric:
        if c.family == "int" and distinct <= 2 and c.min in (0.0, 1.0) and c.max in (0.0, 1.0):
            return SemanticType.BOOLEAN if distinct == 2 else SemanticType.CATEGORICAL
        if c.family == "int" and _is_unique(c, n_rows, thresholds):
            return SemanticType.ID
        if c.family == "int" and distinct <= CATEGORICAL_INT_MAX:
            return SemanticType.CATEGORICAL
        return SemanticType.NUMERIC
    if distinct == 2 and c.values_complete:
        words = {g.key.strip().lower() for g in c.values}
        if any(words == pair for pair in BOOLEAN_WORDS):
            return SemanticType.BOOLEAN
    if _is_unique(c, n_rows, thresholds):
        return SemanticType.ID
    mean_length = c.text.mean_length if c.text else None
    if (mean_length or 0) >= TEXT_MEAN_LENGTH or (
        distinct > 50 and distinct >= TEXT_DISTINCT_SHARE * max(c.count, 1)
    ):
        return SemanticType.TEXT
    return SemanticType.CATEGORICAL


# -- statistics -----------------------------------------------------------------------------


def skewness(n: int, m2: float | None, m3: float | None) -> float | None:
    """Adjusted Fisher-Pearson skewness from central sums (pandas' ``skew``)."""
    if n < 3 or not m2 or m3 is None:
        return None
    g1 = (m3 / n) / (m2 / n) ** 1.5
    return g1 * math.sqrt(n * (n - 1)) / (n - 2)


def kurtosis(n: int, m2: float | None, m4: float | None) -> float | None:
    """Bias-corrected excess kurtosis from central sums (pandas' ``kurt``)."""
    if n < 4 or not m2 or m4 is None:
        return None
    adjust = 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))
    return n * (n + 1) * (n - 1) * m4 / ((n - 2) * (n - 3) * m2**2) - adjust


def numeric_stats(c: ColumnWork, exact_quantiles: bool) -> NumericStats:
    """A numeric column's statistics from its pass results."""
    n = c.finite
    quantiles = (
        {f"{p:g}": v for p, v in zip(QUANTILES, c.quantiles, strict=True)}
        if len(c.quantiles) == len(QUANTILES)
        else {f"{p:g}": None for p in QUANTILES}
    )
    return NumericStats(
        min=c.min,
        max=c.max,
        mean=c.mean,
        std=c.std,
        quantiles=quantiles,
        quantiles_exact=exact_quantiles,
        skewness=skewness(n, c.m2, c.m3),
        kurtosis=kurtosis(n, c.m2, c.m4),
        zeros=c.zeros,
        negatives=c.negatives,
        infinities=c.infinities,
        nans=c.nans,
        finite=n,
    )


def histogram(c: ColumnWork) -> Histogram | None:
    """Bin edges and counts from the bin groups (empty bins included)."""
    if not c.n_bins:
        return None
    counts = [0] * c.n_bins
    for g in c.bins:
        counts[int(g.key)] = g.n
    edges = [c.bin_low + i * c.bin_width for i in range(c.n_bins + 1)]
    if c.n_bins == 1 and c.max is not None and c.min == c.max:
        edges = [c.min, c.max]
    return Histogram(edges=edges, counts=counts, rule=c.bin_rule)


def bars(c: ColumnWork, top_k: int) -> list[tuple[str, int]]:
    """The top categories with counts, then the rest as one 'other' bar."""
    if not c.values:
        return []
    shown = [(g.key, g.n) for g in c.values[:top_k]]
    rest = c.count - sum(n for _, n in shown)
    distinct = c.distinct or len(c.values)
    if rest > 0:
        others = max(distinct - len(shown), 1)
        shown.append((f"other ({others:,} value{'s' if others != 1 else ''})", rest))
    return shown


def _bin_label(c: ColumnWork, index: int) -> str:
    low = c.bin_low + index * c.bin_width
    high = low + c.bin_width
    if c.family == "int":
        top = int(high) - 1
        return f"{int(low)}" if top <= int(low) else f"{int(low)}-{top}"
    close = "]" if index == c.n_bins - 1 else ")"
    return f"[{low:.4g}, {high:.4g}{close}"


def target_relation(
    c: ColumnWork, semantic: SemanticType, spec: TargetSpec | None
) -> TargetRelation | None:
    """The target's rate or mean per category, bin or time bucket of this column."""
    if spec is None or c.name == spec.column or not spec.measures:
        return None
    groups: list[Group]
    labels: list[str]
    if semantic is SemanticType.NUMERIC and c.bins:
        groups = sorted(c.bins, key=lambda g: int(g.key))
        labels = [_bin_label(c, int(g.key)) for g in groups]
    elif semantic is SemanticType.DATETIME and c.buckets:
        groups, labels = c.buckets, [g.key for g in c.buckets]
    elif c.values and semantic in (
        SemanticType.CATEGORICAL,
        SemanticType.BOOLEAN,
        SemanticType.NUMERIC,
    ):
        groups = c.values[:TARGET_ROWS]
        labels = [g.key for g in groups]
    else:
        return None
    rows = [
        TargetRow(label=label, count=g.n, values=list(g.target))
        for label, g in zip(labels, groups, strict=True)
    ]
    return TargetRelation(target=spec.column, kind=spec.kind, measures=spec.measures, rows=rows)


def outliers(c: ColumnWork, thresholds: AlertThresholds) -> Outliers | None:
    """IQR-fence and z-score outlier counts of a numeric column."""
    if c.lower_fence is None or c.upper_fence is None:
        return None
    return Outliers(
        iqr_factor=thresholds.iqr_factor,
        lower_fence=c.lower_fence,
        upper_fence=c.upper_fence,
        below=c.below,
        above=c.above,
        z_limit=thresholds.z_limit,
        z_count=c.z_count,
    )


def _duration_text(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} s"


def time_gaps(row: Sequence[Any] | None) -> TimeGaps | None:
    """TimeGaps from the gap query's row (epoch milliseconds), or None without steps.

    The row holds: usual step, steps, regular steps, gaps, missing steps, start of the
    largest gap, its length.
    """
    if not row or row[0] is None or not row[1]:
        return None
    usual, steps, regular, gaps, missing, largest_at, largest = (
        float(row[0]),
        int(row[1]),
        int(row[2]),
        int(row[3]),
        int(row[4] or 0),
        row[5],
        row[6],
    )
    start = end = None
    if gaps and largest_at is not None and largest is not None:
        start = datetime.fromtimestamp(float(largest_at) / 1000, UTC)
        end = datetime.fromtimestamp((float(largest_at) + float(largest)) / 1000, UTC)
    step_seconds = usual / 1000.0
    return TimeGaps(
        step_seconds=step_seconds,
        step_text=_duration_text(step_seconds),
        regular_share=round(regular / steps, 6),
        gaps=gaps,
        missing_periods=missing,
        largest_from=start.strftime("%Y-%m-%d %H:%M:%S") if start else None,
        largest_to=end.strftime("%Y-%m-%d %H:%M:%S") if end else None,
    )


def column_profile(
    c: ColumnWork,
    n_rows: int,
    semantic: SemanticType,
    spec: TargetSpec | None,
    thresholds: AlertThresholds,
    top_k: int,
    exact_quantiles: bool,
    gaps: TimeGaps | None = None,
    gap_note: str = "",
    target_boxes: TargetBoxes | None = None,
) -> ColumnProfile:
    """Assemble one column's profile."""
    missing = n_rows - c.count
    note = ""
    if not c.values and c.values_mode == "" and c.count and c.family != "other":
        note = "nearly every value is distinct; top values were not counted"
    elif c.values_mode == "candidates":
        note = "top values: the most frequent in the sample, counted exactly in all rows"
    dates = None
    if c.temporal:
        span = None
        if c.epoch_min is not None and c.epoch_max is not None:
            span = round((c.epoch_max - c.epoch_min) / 86400.0, 6)
        dates = DateStats(
            min=c.date_min, max=c.date_max, span_days=span, gaps=gaps, gap_note=gap_note
        )
    return ColumnProfile(
        name=c.name,
        dtype=c.dtype,
        semantic_type=semantic,
        role=c.role,
        count=c.count,
        missing=missing,
        missing_pct=round(100.0 * missing / n_rows, 4) if n_rows else 0.0,
        distinct=c.distinct,
        distinct_exact=c.exact_distinct is not None,
        top_values=[TopValue(value=g.key, count=g.n) for g in c.values[:top_k]],
        top_values_note=note,
        numeric=numeric_stats(c, exact_quantiles) if c.numeric else None,
        text=c.text,
        dates=dates,
        true_count=c.true_count,
        histogram=histogram(c) if c.numeric else None,
        bars=bars(c, top_k) if semantic in _BAR_TYPES else [],
        time_series=[(g.key, g.n) for g in c.buckets],
        time_unit=c.bucket_unit,
        target_relation=target_relation(c, semantic, spec),
        outliers=outliers(c, thresholds) if c.numeric else None,
        target_boxes=target_boxes,
    )
