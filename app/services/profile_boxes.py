"""Box plots by target: per target class (or quartile bin of a numeric target), the quartiles,
range and counts beyond Tukey's fences of every numeric feature, in DuckDB.

One query per batch of columns: a ``GROUP BY`` of the target's groups gives each column's
count, min, max and quartiles per group (exact ``quantile_cont``, or ``approx_quantile`` on
tables too big for exact quantiles), and a join of the rows with those quartiles counts the
values beyond each group's fences. No rows reach Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from app.domain.profile import BoxPlot, GroupBox, SemanticType, TargetBoxes
from app.services.profile_columns import TargetSpec
from app.services.profile_stats import ColumnWork, Query, batches, number
from storage.datasets import quote_ident, quote_literal

BOX_CLASSES = 8
"""Classes that get a box (the most frequent ones): more boxes than lines in the pane help
nobody."""
BOX_COLUMNS = 32
"""Columns per grouped query (each adds eight aggregates per target group)."""
LEVELS = (0.25, 0.5, 0.75)


@dataclass
class BoxGrouping:
    """How rows are grouped by the target: SQL for the group key and the rows that count."""

    target: str
    kind: Literal["class", "quartile"]
    key_sql: str
    """A VARCHAR per row: the class, or the index of the target's quartile bin."""
    where: str
    labels: dict[str, str] = field(default_factory=dict)
    """Group key -> label, in display order."""


def _short(value: float) -> str:
    return f"{value:.4g}"


def grouping(spec: TargetSpec | None, target: ColumnWork | None) -> BoxGrouping | None:
    """Groups by the target's most frequent classes, or by its quartile bins (regression)."""
    if spec is None or target is None:
        return None
    y = target.q
    if spec.task != "regression":
        classes = [c.value for c in spec.classes[:BOX_CLASSES]]
        if not classes:
            return None
        listed = ", ".join(quote_literal(c) for c in classes)
        return BoxGrouping(
            target=spec.column,
            kind="class",
            key_sql=f"{y}::VARCHAR",
            where=f"{y}::VARCHAR IN ({listed})",
            labels={c: c for c in classes},
        )
    quartiles = [target.quantile(level) for level in LEVELS]
    cuts = sorted({q for q in quartiles if q is not None})
    if not cuts:
        return None
    v = target.as_double()
    cases = " ".join(f"WHEN {v} <= {cut!r} THEN '{i}'" for i, cut in enumerate(cuts))
    labels = {"0": f"≤ {_short(cuts[0])}"}
    for i in range(1, len(cuts)):
        labels[str(i)] = f"{_short(cuts[i - 1])} – {_short(cuts[i])}"
    labels[str(len(cuts))] = f"> {_short(cuts[-1])}"
    return BoxGrouping(
        target=spec.column,
        kind="quartile",
        key_sql=f"CASE {cases} ELSE '{len(cuts)}' END",
        where=f"isfinite({v})",
        labels=labels,
    )


def box_columns(
    works: Sequence[ColumnWork], semantics: dict[str, SemanticType], target: str
) -> list[ColumnWork]:
    """The numeric features that get boxes by target (not the target, not empty)."""
    return [
        w
        for w in works
        if semantics.get(w.name) is SemanticType.NUMERIC and w.name != target and w.finite
    ]


def _value_sql(c: ColumnWork) -> str:
    if c.family == "float":
        return f"CASE WHEN isfinite({c.q}) THEN {c.q} END"
    return f"{c.q}::DOUBLE"


def boxes_sql(
    table: str, columns: Sequence[ColumnWork], group: BoxGrouping, exact: bool, factor: float
) -> str:
    """One query: per group, each column's count, min, max, quartiles and fence counts."""
    function = "quantile_cont" if exact else "approx_quantile"
    levels = ", ".join(f"{p:g}" for p in LEVELS)
    values = ", ".join(f"{_value_sql(c)} AS v{c.index}" for c in columns)
    stats = ", ".join(
        f"count(v{i}) AS n{i}, min(v{i}) AS lo{i}, max(v{i}) AS hi{i}, "
        f"{function}(v{i}, [{levels}]) AS q{i}"
        for i in (c.index for c in columns)
    )
    beyond = ", ".join(
        f"count_if(s.v{i} < q.q{i}[1] - {factor!r} * (q.q{i}[3] - q.q{i}[1])) AS b{i}, "
        f"count_if(s.v{i} > q.q{i}[3] + {factor!r} * (q.q{i}[3] - q.q{i}[1])) AS a{i}"
        for i in (c.index for c in columns)
    )
    picked = ", ".join(
        f"q.n{i}, q.lo{i}, q.hi{i}, q.q{i}, o.b{i}, o.a{i}" for i in (c.index for c in columns)
    )
    return (
        f"WITH s AS (SELECT {group.key_sql} AS g, {values} FROM {quote_ident(table)} "
        f"WHERE {group.where}), "
        f"q AS (SELECT g, {stats} FROM s GROUP BY g), "
        f"o AS (SELECT s.g, {beyond} FROM s JOIN q ON s.g = q.g GROUP BY s.g) "
        f"SELECT q.g, {picked} FROM q JOIN o ON q.g = o.g"
    )


def _box(cells: Sequence[Any], factor: float) -> tuple[int, BoxPlot] | None:
    """(count, box) from one column's six cells of a result row; None without values."""
    n, low, high, quartiles, below, above = cells
    if not n or quartiles is None or low is None or high is None:
        return None
    q1, median, q3 = (number(q) for q in quartiles)
    if q1 is None or median is None or q3 is None:
        return None
    box = BoxPlot.tukey(
        (q1, median, q3), (float(low), float(high)), factor, (int(below), int(above))
    )
    return int(n), box


def box_pass(
    query: Query,
    table: str,
    columns: Sequence[ColumnWork],
    group: BoxGrouping,
    exact: bool,
    factor: float,
    found: dict[str, TargetBoxes],
) -> Iterator[int]:
    """Run the grouped queries batch by batch, filling ``found`` (column -> boxes); yields
    the columns done."""
    done = 0
    order = list(group.labels)
    for batch in batches(columns, BOX_COLUMNS):
        rows = {str(r[0]): r for r in query(boxes_sql(table, batch, group, exact, factor))}
        for j, c in enumerate(batch):
            boxes = []
            for key in order:
                row = rows.get(key)
                made = _box(row[1 + 6 * j : 7 + 6 * j], factor) if row is not None else None
                if made is not None:
                    boxes.append(GroupBox(label=group.labels[key], count=made[0], box=made[1]))
            if boxes:
                found[c.name] = TargetBoxes(
                    target=group.target,
                    grouping=group.kind,
                    iqr_factor=factor,
                    exact=exact,
                    boxes=boxes,
                )
        done += len(batch)
        yield done
