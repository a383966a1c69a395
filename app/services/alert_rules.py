"""The alert rules of single columns, and what every rule reads (``AlertContext``).

Marker values, spellings, numbers or dates stored as text and sentinel values are found by the
Data stage's own detectors (``app.services.suggest``), run on value counts computed in DuckDB:
exact when a column has at most 2,000 distinct values, else on a seeded sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from app.domain.profile import (
    Alert,
    ColumnProfile,
    Correlations,
    SemanticType,
    TargetSummary,
)
from app.domain.suggestion import Suggestion
from app.domain.thresholds import AlertThresholds
from app.services import suggest
from app.services.profile_stats import ColumnWork

UNSEEN_SHOWN = 10
"""Unseen categories named in an alert's evidence."""
DETECTOR_SAMPLE = 20_000
"""Rows of the seeded sample the value detectors read for columns with too many distinct
values to count them all (markers, numbers or dates as text)."""


@dataclass
class AlertContext:
    """What the alert rules read: the profile's parts plus raw value counts and the sample."""

    n_rows: int
    columns: list[ColumnProfile]
    works: dict[str, ColumnWork]
    thresholds: AlertThresholds
    duplicates: int = 0
    target: TargetSummary | None = None
    correlations: Correlations = field(default_factory=Correlations)
    sample: pl.DataFrame | None = None
    split: str = ""
    seed: int = 0
    target_column: str | None = None
    """The target's name, for the column rules; taken from ``target`` when that is given
    (the column rules can run before the target summary, which waits for the correlations)."""
    detector_sample: pl.DataFrame | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.target is not None:
            self.target_column = self.target.column
        sample = self.sample
        if sample is not None and sample.height > DETECTOR_SAMPLE:
            sample = sample.sample(DETECTOR_SAMPLE, seed=self.seed)
        self.detector_sample = sample


def ratio(part: int, whole: int) -> float:
    """``part / whole`` rounded to 6 places (0 when there is no whole)."""
    return round(part / whole, 6) if whole else 0.0


def _col(name: str) -> str:
    """A column reference in the recipe expression language."""
    return f"col({json.dumps(name, ensure_ascii=False)})"


def from_suggestion(s: Suggestion, note: str = "") -> Alert:
    evidence = dict(s.evidence)
    if note:
        evidence["counted_on"] = note
    return Alert(
        severity=s.severity,
        kind=s.kind,  # type: ignore[arg-type]
        columns=list(s.columns),
        message=s.message,
        evidence=evidence,
        step=s.step.model_dump(mode="json") if s.step is not None else None,
    )


# -- per-column alerts ------------------------------------------------------------------------


def column_alerts(ctx: AlertContext, c: ColumnProfile) -> list[Alert]:
    t = ctx.thresholds
    is_target = ctx.target_column is not None and c.name == ctx.target_column
    if c.count == 0:
        return [
            Alert(
                severity="medium",
                kind="constant",
                columns=[c.name],
                message=f"{c.name} is empty in all {ctx.n_rows:,} rows: it carries no information",
                evidence={"value": None, "rows": ctx.n_rows, "missing": c.missing},
                step={"kind": "drop_columns", "columns": [c.name]},
            )
        ]
    found: list[Alert] = []
    found += _constant(ctx, c, is_target)
    share = c.missing / ctx.n_rows
    if share >= t.missing_share:
        found.append(_missing(c, share, t))
    if c.role.value == "feature" and not is_target:
        if c.semantic_type is SemanticType.ID:
            exact = "" if c.distinct_exact else " (estimated)"
            found.append(
                Alert(
                    severity="medium",
                    kind="unique",
                    columns=[c.name],
                    message=f"{c.name} has a different value in (nearly) every row{exact}: "
                    "an identifier, not a feature",
                    evidence={
                        "distinct": c.distinct,
                        "rows": ctx.n_rows,
                        "distinct_exact": c.distinct_exact,
                    },
                    step={"kind": "drop_columns", "columns": [c.name]},
                )
            )
        if c.semantic_type is SemanticType.CATEGORICAL and (c.distinct or 0) > t.high_cardinality:
            found.append(
                Alert(
                    severity="low",
                    kind="high_cardinality",
                    columns=[c.name],
                    message=f"{c.name} has {c.distinct:,} categories (over {t.high_cardinality}): "
                    "one-hot encoding gets wide and rare categories overfit",
                    evidence={"distinct": c.distinct, "threshold": t.high_cardinality},
                )
            )
        found += _unseen(ctx, c)
    if c.numeric is not None:
        found += _numeric_alerts(ctx, c, is_target)
    if c.dates is not None and c.dates.gaps is not None:
        found += _gaps(c, t)
    detected = _detector_alerts(ctx, c, is_target)
    if any(a.kind in ("numbers_as_text", "dates_as_text") for a in detected):
        found = [a for a in found if a.kind != "high_cardinality"]
    return found + detected


def _constant(ctx: AlertContext, c: ColumnProfile, is_target: bool) -> list[Alert]:
    if c.distinct == 1 and c.distinct_exact:
        value = c.top_values[0].value if c.top_values else None
        return [
            Alert(
                severity="medium",
                kind="constant",
                columns=[c.name],
                message=f"{c.name} holds one value ({value!r}) in every row that has one: "
                "it carries no information",
                evidence={"value": value, "rows": c.count, "missing": c.missing},
                step=None if is_target else {"kind": "drop_columns", "columns": [c.name]},
            )
        ]
    if not c.top_values:
        return []
    top = c.top_values[0]
    share = ratio(top.count, c.count)
    if share < ctx.thresholds.near_constant_share:
        return []
    return [
        Alert(
            severity="low",
            kind="near_constant",
            columns=[c.name],
            message=f"{c.name} is {top.value!r} in {share:.1%} of rows with a value: "
            "too little variation to learn from",
            evidence={"value": top.value, "count": top.count, "share": share},
            step=None if is_target else {"kind": "drop_columns", "columns": [c.name]},
        )
    ]


def _missing(c: ColumnProfile, share: float, t: AlertThresholds) -> Alert:
    evidence = {"missing": c.missing, "share": round(share, 6), "threshold": t.missing_share}
    if share >= t.mostly_missing_share:
        return Alert(
            severity="high",
            kind="high_missing",
            columns=[c.name],
            message=f"{c.name} is missing in {c.missing:,} rows ({share:.1%}): mostly imputation; "
            "drop it?",
            evidence=evidence,
            step={"kind": "drop_columns", "columns": [c.name]},
        )
    method = "median" if c.semantic_type is SemanticType.NUMERIC else "mode"
    return Alert(
        severity="medium",
        kind="high_missing",
        columns=[c.name],
        message=f"{c.name} is missing in {c.missing:,} rows ({share:.1%}); fill with its {method}?",
        evidence=evidence,
        step={"kind": "fill_missing", "column": c.name, "method": method},
    )


def _unseen(ctx: AlertContext, c: ColumnProfile) -> list[Alert]:
    work = ctx.works.get(c.name)
    if (
        work is None
        or not work.unseen
        or c.semantic_type not in (SemanticType.CATEGORICAL, SemanticType.BOOLEAN)
    ):
        return []
    names = [g.key for g in work.values if g.holdout == g.n][:UNSEEN_SHOWN]
    shown = ", ".join(repr(v) for v in names[:3])
    return [
        Alert(
            severity="low",
            kind="unseen_categories",
            columns=[c.name],
            message=f"{work.unseen:,} categor{'y' if work.unseen == 1 else 'ies'} of {c.name} "
            f"occur only in the holdout part ({shown}): a model will meet them unseen",
            evidence={
                "categories": work.unseen,
                "rows": work.unseen_rows,
                "examples": names,
                "split": ctx.split,
            },
        )
    ]


def _numeric_alerts(ctx: AlertContext, c: ColumnProfile, is_target: bool) -> list[Alert]:
    t, s = ctx.thresholds, c.numeric
    assert s is not None
    found: list[Alert] = []
    if s.infinities:
        found.append(
            Alert(
                severity="medium",
                kind="infinite_values",
                columns=[c.name],
                message=f"{c.name} holds {s.infinities:,} infinite value(s): most models fail "
                "on them; turn them into missing values?",
                evidence={"infinities": s.infinities, "rows": ctx.n_rows},
                step={
                    "kind": "derive_column",
                    "name": c.name,
                    "expression": f"if_else(abs({_col(c.name)}) > 1e308, None, {_col(c.name)})",
                    "replace": True,
                },
            )
        )
    if c.semantic_type is not SemanticType.NUMERIC or is_target:
        return found
    if s.skewness is not None and abs(s.skewness) >= t.skew_abs:
        step = None
        if s.min is not None and s.negatives == 0:  # -inf counts as negative
            step = {
                "kind": "derive_column",
                "name": f"{c.name}_log1p",
                "expression": f"log1p({_col(c.name)})",
            }
        found.append(
            Alert(
                severity="low",
                kind="high_skew",
                columns=[c.name],
                message=f"{c.name} is highly skewed (skewness {s.skewness:.2f}); "
                "a log transform may help",
                evidence={"skewness": round(s.skewness, 6), "threshold": t.skew_abs},
                step=step,
            )
        )
    zeros_share = ratio(s.zeros, c.count)
    if zeros_share >= t.zeros_share:
        found.append(
            Alert(
                severity="low",
                kind="many_zeros",
                columns=[c.name],
                message=f"{c.name} is 0 in {s.zeros:,} rows ({zeros_share:.1%}): "
                "does 0 mean 'none' or 'not measured'?",
                evidence={"zeros": s.zeros, "share": zeros_share, "threshold": t.zeros_share},
            )
        )
    o = c.outliers
    spread = s.iqr
    if (
        o is not None
        and spread  # with an IQR of 0 every value off the mode is an "outlier": no alert
        and s.finite
        and ratio(o.iqr_count, s.finite) >= t.outlier_share
    ):
        share = ratio(o.iqr_count, s.finite)
        found.append(
            Alert(
                severity="low",
                kind="outliers",
                columns=[c.name],
                message=f"{c.name} has {o.iqr_count:,} values ({share:.1%}) outside "
                f"[{o.lower_fence:.6g}, {o.upper_fence:.6g}] (IQR x{o.iqr_factor:g}); "
                f"{o.z_count:,} beyond |z| {o.z_limit:g}",
                evidence={
                    "below": o.below,
                    "above": o.above,
                    "share": share,
                    "lower_fence": o.lower_fence,
                    "upper_fence": o.upper_fence,
                    "iqr_factor": o.iqr_factor,
                    "z_count": o.z_count,
                    "z_limit": o.z_limit,
                },
                step={
                    "kind": "clip_outliers",
                    "column": c.name,
                    "method": "iqr",
                    "factor": o.iqr_factor,
                },
            )
        )
    return found


def _gaps(c: ColumnProfile, t: AlertThresholds) -> list[Alert]:
    g = c.dates.gaps if c.dates else None
    if g is None or not g.gaps or g.regular_share < t.regular_step_share:
        return []
    return [
        Alert(
            severity="low",
            kind="time_gaps",
            columns=[c.name],
            message=f"{c.name} steps by {g.step_text} but has {g.gaps:,} gap(s), "
            f"{g.missing_periods:,} step(s) missing in all; largest from {g.largest_from} "
            f"to {g.largest_to}",
            evidence=g.model_dump(),
        )
    ]


def _counts_for(ctx: AlertContext, c: ColumnProfile) -> tuple[pl.DataFrame | None, str]:
    """The column's value counts (V, N): exact from SQL, else from the sample."""
    work = ctx.works.get(c.name)
    if work is not None and work.values_complete:
        frame = pl.DataFrame(
            {suggest.V: [g.key for g in work.values], suggest.N: [g.n for g in work.values]},
            schema={suggest.V: pl.String, suggest.N: pl.UInt32},
        )
        return frame, ""
    sample = ctx.detector_sample
    if sample is not None and c.name in sample.columns:
        rows = _extreme_rows(sample, c.name) if c.numeric is not None else sample
        counts = suggest.value_counts(rows, c.name)
        if counts.schema[suggest.V] != pl.String:
            counts = counts.with_columns(pl.col(suggest.V).cast(pl.String))
        return counts, f"a sample of {sample.height:,} rows"
    return None, ""


EXTREME_VALUES = 5
"""Distinct values at each end of a number column that the extreme-value detector needs
(``suggest.extremes_in_counts`` reads four at each end, and no table of fewer than ten)."""


def _extreme_rows(sample: pl.DataFrame, name: str) -> pl.DataFrame:
    """The rows of ``sample`` holding one of the ``EXTREME_VALUES`` smallest or largest
    distinct numbers of column ``name`` (every row when it has no more distinct numbers).

    A number column's only detector reads the ends of its value counts, so counting just the
    values there gives it the same table ends as counting them all, at a fraction of the
    cost on a column of nearly unique values (grouping, sorting and casting every value).
    """
    values = sample.get_column(name).drop_nulls().to_numpy()
    if values.dtype.kind not in "iuf":  # decimals: count them all
        return sample
    if values.dtype.kind == "f":
        values = values[~np.isnan(values)]
    distinct = np.unique(values)
    if len(distinct) <= 2 * EXTREME_VALUES:
        return sample
    low, high = distinct[EXTREME_VALUES - 1].item(), distinct[-EXTREME_VALUES].item()
    at_ends = (pl.col(name) <= low) | (pl.col(name) >= high)
    if values.dtype.kind == "f":  # Polars orders NaN above every number
        at_ends &= pl.col(name).is_not_nan()
    return sample.select(name).filter(at_ends)


def _detector_alerts(ctx: AlertContext, c: ColumnProfile, is_target: bool) -> list[Alert]:
    text = c.dtype.upper() == "VARCHAR"
    numeric = c.numeric is not None
    if not (text or numeric):
        return []
    counts, note = _counts_for(ctx, c)
    if counts is None or not counts.height:
        return []
    sample = ctx.detector_sample
    height = sample.height if note and sample is not None else ctx.n_rows
    found: list[Suggestion] = []
    if text:
        found += suggest.markers_in_counts(c.name, counts, height)
        typed, numbers = suggest.typed_text_in_counts(c.name, counts)
        found += typed
        if counts.height <= suggest.MAX_CATEGORIES and not typed:
            found += suggest.spellings_in_counts(c.name, counts)
    else:
        numbers = counts.with_columns(pl.col(suggest.V).cast(pl.Float64))
    if numbers is not None and not is_target:
        found += suggest.extremes_in_counts(c.name, numbers)
    return [from_suggestion(s, note) for s in found]
