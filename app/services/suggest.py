"""Data-quality suggestions for the Data stage, each with evidence and a ready-to-apply step.

``suggest`` looks at a frame (all of it: pass a sample for very large tables) and finds marker
values, stray spaces, inconsistent spellings, numbers and dates stored as text, constant and
ID-like columns, duplicate and empty rows, missing values, suspicious spikes at the extremes,
and possible target leakage. Every suggestion says how many rows are affected and carries a
step (frozen on this frame where it needs data) that fixes it.
"""

from __future__ import annotations

import difflib
import itertools
from typing import Any

import polars as pl

from app.domain.recipe import (
    Cast,
    DropColumns,
    DropDuplicates,
    DropMissing,
    FillMissing,
    MergeSpellings,
    NullMarkers,
    TrimWhitespace,
)
from app.domain.suggestion import Suggestion
from app.errors import MlwbError
from app.services.recipe import freeze_step
from app.services.recipe_steps import cast_parts, is_number, is_text
from app.services.spelling import cluster_spellings, compare_labels

__all__ = ["Suggestion", "compare_labels", "suggest"]

_RANK = {"high": 0, "medium": 1, "low": 2}

MARKER_STRINGS = (
    "?", "??", "NA", "N/A", "n/a", "na", "N.A.", "#N/A", "#NA", "NULL", "null", "Null",
    "None", "none", "NaN", "nan", "-nan", "-", "--", ".", "", "missing", "MISSING",
)  # fmt: skip
"""Text that usually means 'no value' (compared after stripping spaces)."""
SENTINEL_NUMBERS = (-200, -999, -9999, -99999, -99, 999, 9999, 99999, 999999)
"""Numbers that usually mean 'no value' when they sit at an extreme of a column."""
NUMBER_PATTERNS = {
    "plain": r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$",
    "thousands": r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$",
    "decimal_comma": r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$",
}
DATE_PATTERNS = {
    "%Y-%m-%d": r"^\d{4}-\d{2}-\d{2}$",
    "%Y-%m-%d %H:%M:%S": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
    "%Y-%m-%dT%H:%M:%S": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$",
}
TEXT_SHARE = 0.95
"""Share of a text column's values that must parse before it is called numbers/dates as text."""
LEAKAGE_SHARE = 0.99
MAX_CATEGORIES = 2000


V, N = "__value", "__count"
"""Column names of value-count tables (never clash with the user's names)."""


def _counts(df: pl.DataFrame, column: str) -> pl.DataFrame:
    """Distinct non-null values of ``column`` (as ``V``) with their counts (``N``)."""
    counts = df.select(pl.col(column).alias(V)).group_by(V).agg(pl.len().alias(N))
    return counts.drop_nulls(V).sort([N, V], descending=[True, False])


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def suggest(frame: pl.DataFrame | pl.LazyFrame, target: str | None = None) -> list[Suggestion]:
    """All suggestions for ``frame``, most severe first (then in column order)."""
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if target is not None and target not in df.columns:
        close = difflib.get_close_matches(target, df.columns, n=1)
        raise MlwbError(
            f"there is no target column {target!r}",
            hint=f"did you mean {close[0]!r}?" if close else "choose a column of the dataset",
        )
    found: list[Suggestion] = []
    found += _empty_rows(df)
    rows = df.filter(~pl.all_horizontal(pl.all().is_null())) if df.width else df
    found += _duplicates(rows)
    found += _whitespace(rows)
    for column, dtype in rows.schema.items():
        found += _column_suggestions(rows, column, dtype, target)
    if target is not None:
        found += _leakage(rows, target)
    order = {c: i for i, c in enumerate(df.columns)}
    found.sort(
        key=lambda s: (_RANK[s.severity], min((order.get(c, 0) for c in s.columns), default=-1))
    )
    return found


def _empty_rows(df: pl.DataFrame) -> list[Suggestion]:
    if not df.width:
        return []
    empty = df.select(pl.all_horizontal(pl.all().is_null()).sum()).item()
    if not empty:
        return []
    return [
        Suggestion(
            kind="empty_rows",
            columns=[],
            severity="low",
            message=f"{empty:,} row(s) are empty in every column (e.g. blank lines at the end)",
            evidence={"rows": empty},
            step=DropMissing(how="all"),
        )
    ]


def _duplicates(df: pl.DataFrame) -> list[Suggestion]:
    if not df.width or not df.height:
        return []
    extra = df.height - df.select(pl.struct(pl.all()).n_unique()).item()
    if not extra:
        return []
    share = _share(extra, df.height)
    return [
        Suggestion(
            kind="duplicates",
            columns=[],
            severity="high" if share >= 0.05 else "medium",
            message=f"{extra:,} row(s) repeat an earlier row exactly ({share:.2%} of rows)",
            evidence={"duplicates": extra, "rows": df.height, "share": share},
            step=DropDuplicates(),
        )
    ]


def _whitespace(df: pl.DataFrame) -> list[Suggestion]:
    text = [c for c, t in df.schema.items() if is_text(t)]
    if not text:
        return []
    counts = df.select((pl.col(c) != pl.col(c).str.strip_chars()).sum() for c in text).row(0)
    affected = {c: int(n) for c, n in zip(text, counts, strict=True) if n}
    if not affected:
        return []
    shown = ", ".join(f"{c} ({n:,})" for c, n in list(affected.items())[:4])
    return [
        Suggestion(
            kind="whitespace",
            columns=list(affected),
            severity="medium",
            message=f"values start or end with spaces in {len(affected)} column(s): {shown}",
            evidence={"values_per_column": affected},
            step=TrimWhitespace(columns=list(affected)),
        )
    ]


def _column_suggestions(
    df: pl.DataFrame, column: str, dtype: pl.DataType, target: str | None
) -> list[Suggestion]:
    height = df.height
    if not height:
        return []
    nulls = df[column].null_count()
    if nulls == height:
        return [_constant(column, None, height)]
    found: list[Suggestion] = []
    counts = _counts(df, column)
    if counts.height == 1 and not nulls:
        return [_constant(column, counts[V][0], height)]
    id_type = dtype.is_integer() or is_text(dtype)
    if column != target and height >= 20 and counts.height == height and id_type:
        found.append(
            Suggestion(
                kind="id_like",
                columns=[column],
                severity="medium",
                message=f"{column} has a different value in every row: an identifier, not a feature",
                evidence={"distinct": counts.height, "rows": height},
                step=DropColumns(columns=[column]),
            )
        )
    if nulls:
        found.append(_missing(df, column, nulls, height))
    numeric_counts: pl.DataFrame | None = None
    if is_text(dtype):
        found += _markers(column, counts, height)
        text_found, numeric_counts = _typed_text(column, counts)
        found += text_found
        if counts.height <= MAX_CATEGORIES and not text_found:
            found += _spellings(column, counts)
    elif is_number(dtype):
        numeric_counts = counts.with_columns(pl.col(V).cast(pl.Float64))
    if numeric_counts is not None and column != target:
        found += _extremes(column, numeric_counts)
    return found


def _constant(column: str, value: Any, height: int) -> Suggestion:
    what = "is empty" if value is None else f"holds one value ({value!r})"
    return Suggestion(
        kind="constant" if value is not None else "mostly_missing",
        columns=[column],
        severity="medium",
        message=f"{column} {what} in all {height:,} rows: it carries no information",
        evidence={"value": value, "rows": height},
        step=DropColumns(columns=[column]),
    )


def _missing(df: pl.DataFrame, column: str, nulls: int, height: int) -> Suggestion:
    share = _share(nulls, height)
    if share >= 0.5:
        return Suggestion(
            kind="mostly_missing",
            columns=[column],
            severity="medium",
            message=f"{column} is missing in {nulls:,} rows ({share:.1%})",
            evidence={"missing": nulls, "share": share},
            step=DropColumns(columns=[column]),
        )
    method = "median" if is_number(df.schema[column]) else "mode"
    step = freeze_step(FillMissing(column=column, method=method), df)
    return Suggestion(
        kind="missing_values",
        columns=[column],
        severity="low",
        message=f"{column} is missing in {nulls:,} rows ({share:.1%}); fill with its {method}?",
        evidence={"missing": nulls, "share": share},
        step=step,
    )


def _markers(column: str, counts: pl.DataFrame, height: int) -> list[Suggestion]:
    hits = (
        counts.with_columns(pl.col(V).str.strip_chars())
        .filter(pl.col(V).is_in(MARKER_STRINGS))
        .group_by(V)
        .agg(pl.col(N).sum())
        .sort([N, V], descending=[True, False])
    )
    if not hits.height or hits[N].sum() == counts[N].sum():
        return []
    markers = dict(zip(hits[V].to_list(), hits[N].to_list(), strict=True))
    total = sum(markers.values())
    shown = ", ".join(repr(m) for m in markers)
    return [
        Suggestion(
            kind="missing_markers",
            columns=[column],
            severity="medium",
            message=f"{shown} in {column} look like missing values ({total:,} rows); turn them into null",
            evidence={"count": total, "markers": markers, "share": _share(total, height)},
            step=NullMarkers(columns=[column], markers=list(markers)),
        )
    ]


def _typed_text(column: str, counts: pl.DataFrame) -> tuple[list[Suggestion], pl.DataFrame | None]:
    """Numbers or dates stored as text, and the parsed numbers (value, n) for extreme checks."""
    key = pl.col(V).str.strip_chars()
    values = counts.filter(~key.is_in(MARKER_STRINGS))
    total = int(values[N].sum())
    if not total:
        return [], None
    tallies = values.select(
        *[
            (key.str.contains(p).cast(pl.Int64) * pl.col(N)).sum().alias(k)
            for k, p in NUMBER_PATTERNS.items()
        ],
        *[
            (key.str.contains(p).cast(pl.Int64) * pl.col(N)).sum().alias(k)
            for k, p in DATE_PATTERNS.items()
        ],
    ).row(0, named=True)
    best_number = max(NUMBER_PATTERNS, key=lambda k: tallies[k])  # ties keep the first: plain
    if tallies[best_number] and tallies[best_number] >= TEXT_SHARE * total:
        step = Cast(
            column=column,
            to="float",
            thousands_sep={"thousands": ",", "decimal_comma": "."}.get(best_number),
            decimal_comma=best_number == "decimal_comma",
        )
        parsed_expr, _ = cast_parts(step.model_copy(update={"column": V}), pl.String())
        parsed = counts.select(parsed_expr.value, pl.col(N)).drop_nulls(V)
        parsed = parsed.group_by(V).agg(pl.col(N).sum())
        whole = parsed.select((pl.col(V).round(0) == pl.col(V)).all()).item()
        failed = int(counts[N].sum() - parsed[N].sum())
        bad = counts.filter(parsed_expr.value.is_null())[V].head(5).to_list()
        step = step.model_copy(
            update={"to": "int" if whole else "float", "on_error": "null" if failed else "reject"}
        )
        style = {
            "plain": "",
            "thousands": " with ',' thousands",
            "decimal_comma": " with a decimal comma",
        }
        note = f"; {failed:,} value(s) will become null" if failed else ""
        suggestion = Suggestion(
            kind="numbers_as_text",
            columns=[column],
            severity="medium",
            message=f"{column} holds numbers stored as text{style[best_number]}{note}",
            evidence={
                "parsed": int(parsed[N].sum()),
                "failed": failed,
                "examples_failed": bad,
                "style": best_number,
            },
            step=step,
        )
        return [suggestion], parsed
    best_date = max(DATE_PATTERNS, key=lambda k: tallies[k])
    if tallies[best_date] and tallies[best_date] >= TEXT_SHARE * total:
        to = "date" if best_date == "%Y-%m-%d" else "datetime"
        step = Cast(
            column=column,
            to=to,
            format=best_date,
            on_error="reject" if tallies[best_date] == total else "null",
        )
        suggestion = Suggestion(
            kind="dates_as_text",
            columns=[column],
            severity="low",
            message=f"{column} holds {to}s stored as text ({best_date}); convert to use date parts",
            evidence={"parsed": tallies[best_date], "values": total, "format": best_date},
            step=step,
        )
        return [suggestion], None
    return [], None


def _spellings(column: str, counts: pl.DataFrame) -> list[Suggestion]:
    mapping = dict(zip(counts[V].to_list(), counts[N].to_list(), strict=True))
    clusters = cluster_spellings(mapping)
    if not clusters:
        return []
    groups = {next(iter(c)): list(c)[1:] for c in clusters}
    rows = sum(sum(list(c.values())[1:]) for c in clusters)
    shown = "; ".join(" / ".join(repr(v) for v in c) for c in clusters[:3])
    return [
        Suggestion(
            kind="spellings",
            columns=[column],
            severity="medium",
            message=f"{column} spells {len(clusters)} categor{'y' if len(clusters) == 1 else 'ies'} in several ways: {shown}",
            evidence={"clusters": clusters, "rows_changed": rows},
            step=MergeSpellings(column=column, groups=groups),
        )
    ]


def _extremes(column: str, numbers: pl.DataFrame) -> list[Suggestion]:
    """A value repeated at the minimum or maximum and far from the rest: a marker or a fault."""
    table = numbers.filter(pl.col(V).is_not_nan()).sort(V)
    if table.height < 10:
        return []
    values, ns = table[V].to_list(), table[N].to_list()
    found = []
    for side in ("minimum", "maximum"):
        order = range(table.height) if side == "minimum" else range(table.height - 1, -1, -1)
        idx = list(itertools.islice(order, 4))
        value, count = values[idx[0]], ns[idx[0]]
        nearest = values[idx[1]]
        neighbours = max(ns[i] for i in idx[1:])
        other_end = values[-1] if side == "minimum" else values[0]
        rest = abs(other_end - nearest)
        isolated = rest > 0 and abs(value - nearest) >= 0.05 * rest
        spike = count >= 5 * neighbours
        sentinel = value in SENTINEL_NUMBERS
        if not (
            (sentinel and count >= 2 and (spike or isolated)) or (isolated and spike and count >= 3)
        ):
            continue
        text = f"{int(value)}" if float(value).is_integer() else f"{value:g}"
        message = (
            f"{text} appears {count:,} times at the {side} of {column}, far from the next value "
            f"{nearest:g} ({neighbours:,} rows at most nearby): "
        )
        message += (
            "a code for missing or a top-code?"
            if sentinel
            else "a sensor fault or a code for missing?"
        )
        found.append(
            Suggestion(
                kind="missing_markers" if sentinel else "suspicious_value",
                columns=[column],
                severity="medium" if sentinel else "low",
                message=message,
                evidence={
                    "value": value,
                    "count": count,
                    "side": side,
                    "next_value": nearest,
                    "next_count": ns[idx[1]],
                },
                step=NullMarkers(columns=[column], markers=[text]),
            )
        )
    return found


def _leakage(df: pl.DataFrame, target: str) -> list[Suggestion]:
    """Columns that (nearly) determine the target: pure categories, or sums equal to it."""
    y = df[target]
    known = df.filter(pl.col(target).is_not_null())
    if not known.height:
        return []
    found: list[Suggestion] = []
    numeric_target = is_number(y.dtype) and y.n_unique() > 20
    if not numeric_target:
        return _categorical_leakage(known, target)
    numeric = [c for c, t in df.schema.items() if c != target and is_number(t)][:40]
    tolerance = 1e-9 * (pl.col(target).abs() + 1)
    checks = {(c,): (pl.col(c) - pl.col(target)).abs() <= tolerance for c in numeric}
    for a, b in itertools.combinations(numeric, 2):
        checks[(a, "+", b)] = (pl.col(a) + pl.col(b) - pl.col(target)).abs() <= tolerance
        checks[(a, "-", b)] = (pl.col(a) - pl.col(b) - pl.col(target)).abs() <= tolerance
        checks[(b, "-", a)] = (pl.col(b) - pl.col(a) - pl.col(target)).abs() <= tolerance
    # screen every formula on a sample, then confirm the few candidates on all rows
    sample = known.sample(min(known.height, 5000), seed=0) if known.height > 5000 else known
    screen = sample.select(
        e.fill_null(False).mean().alias(str(i)) for i, e in enumerate(checks.values())
    ).row(0)
    candidates = {
        f: e for (f, e), share in zip(checks.items(), screen, strict=True) if share >= 0.95
    }
    if not candidates:
        return found
    shares = known.select(
        e.fill_null(False).mean().alias(str(i)) for i, e in enumerate(candidates.values())
    ).row(0)
    for formula, share in zip(candidates, shares, strict=True):
        if share is not None and share >= LEAKAGE_SHARE:
            columns = [p for p in formula if p not in ("+", "-")]
            text = " ".join(formula)
            found.append(
                _leak(columns, target, share, f"{text} == {target} in {share:.1%} of rows")
            )
    return found


def _purity(frame: pl.DataFrame, column: str, target: str) -> pl.LazyFrame:
    """Share of rows whose target is the majority target of their ``column`` value."""
    return (
        frame.lazy()
        .group_by(column, target)
        .agg(pl.len().alias(N))
        .group_by(column)
        .agg(pl.col(N).max())
        .select(pl.col(N).sum() / frame.height)
    )


def _categorical_leakage(known: pl.DataFrame, target: str) -> list[Suggestion]:
    """Categories whose every value maps to one target value, with enough rows per value."""
    baseline = known[target].value_counts()["count"].max() / known.height
    limit = min(MAX_CATEGORIES, max(2, known.height // 20))
    columns = [
        c
        for c, t in known.schema.items()
        if c != target and (is_text(t) or t.is_integer() or t == pl.Boolean)
    ]
    if not columns:
        return []
    distinct = known.select(pl.col(columns).n_unique()).row(0, named=True)
    columns = [c for c in columns if distinct[c] <= limit]
    # screen on a sample, confirm the candidates on every row
    sample = known.sample(20_000, seed=0) if known.height > 20_000 else known
    screened = pl.collect_all([_purity(sample, c, target) for c in columns])
    columns = [
        c for c, r in zip(columns, screened, strict=True) if r.item() >= LEAKAGE_SHARE - 0.02
    ]
    found = []
    for column, result in zip(
        columns, pl.collect_all([_purity(known, c, target) for c in columns]), strict=True
    ):
        purity = result.item()
        if purity >= LEAKAGE_SHARE and purity > baseline + 0.05:
            what = f"{column} alone predicts {target} for {purity:.1%} of rows"
            found.append(_leak([column], target, purity, what))
    return found


def _leak(columns: list[str], target: str, share: float, what: str) -> Suggestion:
    return Suggestion(
        kind="leakage",
        columns=columns,
        severity="high",
        message=f"possible target leakage: {what}; a model would not have {', '.join(columns)} when predicting",
        evidence={"share": round(share, 6), "relation": what, "target": target},
        step=DropColumns(columns=columns),
    )


# -- the same detectors for callers that count values elsewhere (the Explore profile) --------
# Each takes a value-count table (columns ``V`` and ``N``, most frequent first) instead of rows,
# so a profile can count values in DuckDB and still find exactly what the Data stage finds.

markers_in_counts = _markers
"""``(column, counts, rows)`` -> marker-value suggestions of a text column."""
typed_text_in_counts = _typed_text
"""``(column, counts)`` -> (numbers/dates stored as text suggestions, parsed numbers or None)."""
spellings_in_counts = _spellings
"""``(column, counts)`` -> inconsistent-spelling suggestions of a text column."""
extremes_in_counts = _extremes
"""``(column, numeric counts)`` -> sentinel or suspicious values at a column's extremes."""
leakage_in_frame = _leakage
"""``(frame, target)`` -> columns that (nearly) determine the target, on rows of a sample."""
value_counts = _counts
"""``(frame, column)`` -> the value-count table of a column of rows."""
