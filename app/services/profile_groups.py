"""The GROUP BY passes of a profile (B: value counts, D: bins, buckets, candidates) and the
exact statistics that follow from complete value counts.

Each column's GROUP BY is one branch of a ``UNION ALL`` query, so a batch of columns is one
round trip. Every group carries its rows, its holdout rows (for unseen categories), its rows
with a target and the target's measures (rate, mean or class shares), plus three extra counts
that histogram bins use for outliers. Window functions add the number of groups (the exact
distinct count) and the categories found only in the holdout part, before the top-k cut.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.domain.dataset import ColumnRole
from app.domain.profile import QUANTILES
from app.services import profile_counts as counts
from app.services.profile_stats import (
    ColumnWork,
    Group,
    Query,
    batches,
    fences,
    number,
    plan_bins,
)
from storage.datasets import quote_ident, quote_literal

BRANCHES_PER_QUERY = 48
"""GROUP BY branches per UNION ALL query."""
UNPIVOT_MAX_ROWS = 20_000
"""Up to this many rows, wide tables count values with UNPIVOT (see ``unpivot_counts``)."""
UNPIVOT_MIN_COLUMNS = 50
"""... when at least this many columns have their values counted."""
UNPIVOT_COLUMNS = 500
"""Columns per UNPIVOT query (rows x columns cells are materialised as text)."""
EXTRAS = 3


@dataclass
class TargetAggregates:
    """SQL of what every group measures about the target, and of the holdout rows."""

    sql: list[str]
    """One aggregate per measure (a rate, a mean, or a class share)."""
    count_sql: str
    """Rows of the group whose target counts towards the measures ('0' without a target)."""
    holdout: str
    """SQL condition true for rows in the holdout part of the split."""


@dataclass
class Branch:
    """One column's GROUP BY in a ``UNION ALL`` query (see ``_branch``)."""

    work: ColumnWork
    kind: str
    grouped: str
    """The GROUP BY itself: key, n and whichever of h, tn, measures t0... and extras e0...
    vary (the others are in ``constants``)."""
    limit: int | None
    """Keep only the top groups by rows (and count all groups), or every group."""
    n_measures: int
    holdout: bool = False
    """Whether the groups count their holdout rows (see ``counts_holdout``); without, ``h``
    and the unseen counts are 0."""
    constants: dict[str, str] = field(default_factory=dict)
    """Columns of every group that are the same literal (``h`` without ``holdout``, ``tn``
    without a target, unused extras): added after grouping, so the groups (and the
    materialised ones above all) do not carry them."""

    def _column(self, name: str) -> str:
        constant = self.constants.get(name)
        return name if constant is None else f"{constant} AS {name}"

    def parts(self, name: str) -> tuple[str | None, str]:
        """(common table expression or None, SELECT) of this branch; ``name`` names the CTE.

        Without ``limit`` every group comes back and Python sorts and counts them. With it,
        the groups are materialised once (a CTE) and read twice: the top groups by rows, and
        one aggregate counting all groups (the exact distinct count) and those found only in
        the holdout part. (Window functions over all groups cost about twice as much.)
        """
        i = self.work.index
        names = ["h", "tn", *(f"t{j}" for j in range(self.n_measures))]
        names += [f"e{j}" for j in range(EXTRAS)]
        outer = "".join(f", {self._column(n)}" for n in names)
        if self.limit is None:
            return None, (
                f"SELECT {i} AS i, key::VARCHAR AS k, n{outer}, 0 AS groups, "
                f"0 AS unseen, 0 AS unseen_rows FROM ({self.grouped})"
            )
        cte = f"{name} AS MATERIALIZED ({self.grouped})"
        unseen = (
            "count_if(h = n) AS unseen, sum(CASE WHEN h = n THEN n ELSE 0 END) AS unseen_rows"
            if self.holdout
            else "0 AS unseen, 0 AS unseen_rows"
        )
        select = (
            f"SELECT {i} AS i, key::VARCHAR AS k, n{outer}, groups, unseen, unseen_rows "
            f"FROM (SELECT * FROM {name} ORDER BY n DESC, key LIMIT {int(self.limit)}), "
            f"(SELECT count(*) AS groups, {unseen} FROM {name}) "
            "ORDER BY n DESC, key"
        )
        return cte, select


def _branch(
    c: ColumnWork,
    kind: str,
    key: str,
    where: str,
    table: str,
    agg: TargetAggregates,
    limit: int | None = None,
    extras: Sequence[str] = (),
    holdout: bool = False,
) -> Branch:
    """One column's GROUP BY: every group carries its rows, holdout rows (with ``holdout``,
    else 0), rows with a target, the target's measures and ``extras`` (histogram outlier
    counts)."""
    columns = {"h": f"count_if({agg.holdout})" if holdout else "0", "tn": agg.count_sql}
    columns.update((f"t{j}", sql) for j, sql in enumerate(agg.sql))
    columns.update((f"e{j}", sql) for j, sql in enumerate([*extras, *["0"] * EXTRAS][:EXTRAS]))
    constants = {name: sql for name, sql in columns.items() if sql == "0"}
    varying = "".join(
        f", {sql} AS {name}" for name, sql in columns.items() if name not in constants
    )
    grouped = (
        f"SELECT {key} AS key, count(*) AS n{varying} FROM {quote_ident(table)} "
        f"WHERE {where} GROUP BY 1"
    )
    return Branch(c, kind, grouped, limit, len(agg.sql), holdout, constants)


def counts_holdout(c: ColumnWork) -> bool:
    """Whether a column's value counts need each value's holdout rows: only categorical and
    boolean columns get the unseen-categories alert (``alert_rules._unseen``), and floats,
    decimals, dates and times, identifiers and integers with too many values to be codes
    (over ``FULL_COUNTS_LIMIT``) never have those types (``profile_columns.semantic_type``).
    Histogram bins, time buckets and candidates' counts never need them."""
    if c.role is ColumnRole.ID or c.family not in ("int", "bool", "string"):
        return False
    return c.family != "int" or c.values_mode == "all"


def value_branches(
    columns: Sequence[ColumnWork], table: str, agg: TargetAggregates, top_k: int
) -> list[Branch]:
    """Pass B: value counts (every value when there are few, else the top ``top_k``)."""
    out = []
    for c in columns:
        if c.values_mode not in ("all", "top"):
            continue
        q = c.q
        where = f"NOT isnan({q})" if c.family == "float" else f"{q} IS NOT NULL"
        limit = None if c.values_mode == "all" else top_k
        out.append(
            _branch(c, c.values_mode, q, where, table, agg, limit, holdout=counts_holdout(c))
        )
    return out


def detail_branches(
    columns: Sequence[ColumnWork],
    table: str,
    agg: TargetAggregates,
    top_k: int,
    iqr_factor: float,
    z_limit: float,
    kinds: Collection[str] = ("candidates", "bins", "buckets"),
) -> list[Branch]:
    """Pass D: histogram bins with outlier counts, time buckets, candidate counts (of
    ``kinds``)."""
    out = []
    for c in columns:
        q = c.q
        if "candidates" in kinds and c.values_mode == "candidates" and c.candidates:
            listed = ", ".join(_literal(v) for v in c.candidates)
            out.append(_branch(c, "candidates", q, f"{q} IN ({listed})", table, agg, top_k))
        if "bins" in kinds and c.numeric and c.n_bins and not c.from_counts:
            v = c.as_double()
            key = f"least(floor(({v} - {c.bin_low!r}) / {c.bin_width!r}), {c.n_bins - 1})::BIGINT"
            extras = ["0", "0", "0"]
            bounds = fences(c, iqr_factor)
            if bounds is not None:
                c.lower_fence, c.upper_fence = bounds
                extras[:2] = [f"count_if({v} < {bounds[0]!r})", f"count_if({v} > {bounds[1]!r})"]
            std, mean = c.std, c.mean
            if std and mean is not None:
                extras[2] = f"count_if(abs({v} - {mean!r}) > {z_limit * std!r})"
            out.append(_branch(c, "bins", key, c.finite_filter(), table, agg, None, extras))
        if "buckets" in kinds and c.temporal and c.bucket_unit:
            key = f"date_trunc('{c.bucket_unit}', {q})"
            out.append(_branch(c, "buckets", key, f"{q} IS NOT NULL", table, agg))
    return out


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return quote_literal(str(value)) + "::DOUBLE"
        return repr(value)
    return quote_literal(str(value))


def unpivot_counts(
    query: Query,
    columns: Sequence[ColumnWork],
    table: str,
    agg: TargetAggregates,
    target: str | None,
) -> Iterator[int]:
    """Pass B for wide, short tables: every column's value counts from one UNPIVOT per batch.

    A GROUP BY branch costs about a millisecond of planning whatever the rows, so for a few
    thousand rows and hundreds of columns one UNPIVOT (values as text) is several times faster.
    ``target`` is the quoted target column the measures refer to (projected alongside).
    """
    done = 0
    measures = "".join(f", {sql} AS t{j}" for j, sql in enumerate(agg.sql))
    for batch in batches(columns, UNPIVOT_COLUMNS):
        values = ", ".join(
            f"CASE WHEN NOT isnan({c.q}) THEN {c.q}::VARCHAR END AS v{c.index}"
            if c.family == "float"
            else f"{c.q}::VARCHAR AS v{c.index}"
            for c in batch
        )
        carried = f", {target}" if target else ""
        names = ", ".join(f"v{c.index}" for c in batch)
        sql = (
            f"SELECT col, v, count(*) AS n, count_if(__mlwb_h) AS h, {agg.count_sql} AS tn"
            f"{measures} FROM (UNPIVOT (SELECT {values}, {agg.holdout} AS __mlwb_h{carried} "
            f"FROM {quote_ident(table)}) ON {names} INTO NAME col VALUE v) GROUP BY col, v"
        )
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for row in query(sql):
            rows.setdefault(row[0], []).append(row)
        for c in batch:
            _store(c, "all", rows.get(f"v{c.index}", []), len(agg.sql))
        done += len(batch)
        yield done


def run_branches(query: Query, branches: list[Branch], n_measures: int) -> Iterator[int]:
    """Run the branches, batched into UNION ALL queries, and store the groups; yields per batch."""
    done = 0
    for batch in batches(branches, BRANCHES_PER_QUERY):
        ctes, selects = [], []
        for j, branch in enumerate(batch):
            cte, select = branch.parts(f"__mlwb_g{j}")
            if cte is not None:
                ctes.append(cte)
            selects.append(f"SELECT {j} AS b, * FROM ({select})")
        sql = "\nUNION ALL\n".join(selects)
        if ctes:
            sql = "WITH " + ",\n".join(ctes) + "\n" + sql
        rows: dict[int, list[tuple[Any, ...]]] = {}
        for row in query(sql):
            rows.setdefault(int(row[0]), []).append(row[1:])
        for j, branch in enumerate(batch):
            _store(branch.work, branch.kind, rows.get(j, []), n_measures)
        done += len(batch)
        yield done


def _sort_key(c: ColumnWork) -> Any:
    """Most rows first, ties in the column's own order (numbers as numbers)."""
    if c.numeric:
        return lambda g: (-g.n, float(g.key))
    return lambda g: (-g.n, g.key)


def _groups(rows: list[tuple[Any, ...]], n_measures: int, extras: bool) -> list[Group]:
    """Groups from result rows (b or col, key, n, h, tn, measures..., extras...)."""
    m = n_measures
    if not m and not extras:
        return [Group(key=r[1], n=r[2], holdout=r[3]) for r in rows]
    return [
        Group(
            key=r[1],
            n=r[2],
            holdout=r[3],
            with_target=int(r[4] or 0),
            target=[number(v) for v in r[5 : 5 + m]],
            extras=[int(v or 0) for v in r[5 + m : 5 + m + EXTRAS]] if extras else [],
        )
        for r in rows
    ]


def _store(c: ColumnWork, kind: str, rows: list[tuple[Any, ...]], n_measures: int) -> None:
    found = _groups(rows, n_measures, kind == "bins")
    after = 5 + n_measures + EXTRAS
    if kind == "all":
        c.values = sorted(found, key=_sort_key(c))
        c.exact_distinct = len(found)
        c.values_complete = True
        only_holdout = [g for g in found if g.holdout == g.n]
        c.unseen, c.unseen_rows = len(only_holdout), sum(g.n for g in only_holdout)
    elif kind == "top":
        c.values = found
        c.exact_distinct = int(rows[0][after]) if rows else 0
        c.values_complete = c.exact_distinct <= len(found)
        c.unseen = int(rows[0][after + 1]) if rows else 0
        c.unseen_rows = int(rows[0][after + 2] or 0) if rows else 0
    elif kind == "candidates":
        c.values = found
    elif kind == "bins":
        c.bins = sorted(found, key=lambda g: int(g.key))
        c.below = sum(g.extras[0] for g in found)
        c.above = sum(g.extras[1] for g in found)
        c.z_count = sum(g.extras[2] for g in found)
    else:
        c.buckets = sorted(found, key=lambda g: g.key)


# -- statistics from complete value counts ----------------------------------------------------


def derive_from_counts(c: ColumnWork, max_bins: int, iqr_factor: float, z_limit: float) -> None:
    """Quantiles, moments, outliers, histogram and per-bin target of a numeric column, or text
    statistics of a text column, from its complete value counts."""
    if not c.from_counts:
        return
    n = np.array([g.n for g in c.values], dtype=np.float64)
    if c.family == "string":
        c.text = counts.text_stats([g.key for g in c.values], n)
        return
    if not c.numeric or c.mean is None:
        return
    x = np.array([float(g.key) for g in c.values], dtype=np.float64)
    finite = np.isfinite(x)
    groups = [g for g, keep in zip(c.values, finite, strict=True) if keep]
    x, n = x[finite], n[finite]
    if not len(x):
        return
    c.quantiles = list(counts.weighted_quantiles(x, n, QUANTILES))
    c.m2, c.m3, c.m4 = counts.central_sums(x, n, c.mean)
    bounds = fences(c, iqr_factor)
    if bounds is not None:
        c.lower_fence, c.upper_fence = bounds
        c.below, c.above = int(n[x < bounds[0]].sum()), int(n[x > bounds[1]].sum())
    std = c.std
    if std:
        c.z_count = int(n[np.abs(x - c.mean) > z_limit * std].sum())
    plan_bins(c, max_bins)
    if not c.n_bins:
        return
    index = counts.bin_indices(x, c.bin_low, c.bin_width, c.n_bins)
    rows = np.bincount(index, weights=n, minlength=c.n_bins)
    measures = len(groups[0].target) if groups else 0
    with_target = np.array([g.with_target for g in groups], dtype=np.float64)
    target_rows = np.bincount(index, weights=with_target, minlength=c.n_bins)
    sums = []
    for j in range(measures):
        values = np.array([g.target[j] if g.target[j] is not None else 0.0 for g in groups])
        sums.append(np.bincount(index, weights=values * with_target, minlength=c.n_bins))
    c.bins = [
        Group(
            key=str(b),
            n=int(rows[b]),
            with_target=int(target_rows[b]),
            target=[float(s[b] / target_rows[b]) if target_rows[b] else None for s in sums],
        )
        for b in range(c.n_bins)
        if rows[b]
    ]
