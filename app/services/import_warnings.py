"""Dirt worth knowing about right after an import, found with two aggregate queries.

Empty columns, text padded with spaces (adult.csv's ``", "`` separator), missing-value
markers such as ``?``, numbers stored as text, decimal commas and nested values. Each warning
names the columns and says how to fix it at import or in the cleaning recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from storage import datasets as ds

_MARKERS = ("?", "na", "n/a", "#n/a", "null", "none", "nan", "-", "--", ".", "missing")
SCAN_ROWS = 50_000
"""Text checks read every row of tables up to this size (adult: all 32,561)..."""
LARGE_SCAN_ROWS = 20_000
"""...and the first rows of larger ones: a whole-table scan doubled import time and memory."""
_NESTED = ("STRUCT", "MAP", "UNION")


@dataclass(frozen=True)
class TextScan:
    """The text checks' aggregates over the first rows of a table (see ``text_scan``)."""

    columns: list[tuple[str, str]]
    """The columns scanned (name, type): the table's, for the scan to apply to it."""
    scanned: int
    """Rows scanned (all of them when the table has at most ``SCAN_ROWS``)."""
    values: tuple[Any, ...]
    """Per text column: non-null count; then six aggregates per text column."""


def _text_columns(columns: list[tuple[str, str]]) -> list[str]:
    return [c for c, t in columns if t.upper() == "VARCHAR"]


def column_counts_sql(columns: list[tuple[str, str]]) -> list[str]:
    """``count(*)`` and the non-null count of every column (one aggregate each)."""
    return ["count(*)", *(f"count({ds.quote_ident(name)})" for name, _ in columns)]


def text_scan(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[tuple[str, str]], total: int
) -> TextScan | None:
    """The text checks over the rows of ``relation`` that ``data_warnings`` looks at.

    ``total`` is the number of rows in ``relation``: all are scanned up to ``SCAN_ROWS``,
    else the first ``LARGE_SCAN_ROWS``. None when there is no text column.
    """
    text = _text_columns(columns)
    if not text:
        return None
    limit = total if total <= SCAN_ROWS else LARGE_SCAN_ROWS
    # The checks run once per distinct value of each column (weighted by its count), not once
    # per row: text columns repeat their values, which makes this 2-3x faster than per row.
    markers = "[" + ", ".join(ds.quote_literal(m) for m in _MARKERS) + "]"
    slots = [f"c{i}" for i in range(len(text))]
    picked = ", ".join(f"{ds.quote_ident(n)} AS {c}" for n, c in zip(text, slots, strict=True))
    query = f"""
        WITH counted AS (
            SELECT slot, value, count(*) AS n
            FROM (SELECT {picked} FROM (SELECT * FROM {relation} LIMIT {limit}))
            UNPIVOT INCLUDE NULLS (value FOR slot IN ({", ".join(slots)}))
            GROUP BY ALL
        ), checked AS (
            SELECT slot, value, n, trim(value) AS trimmed,
                list_contains({markers}, lower(trim(value))) AS marker
            FROM counted
        )
        SELECT slot, sum(n),
            coalesce(sum(n) FILTER (WHERE value IS NOT NULL), 0),
            coalesce(sum(n) FILTER (WHERE value <> trimmed), 0),
            min(value) FILTER (WHERE value <> trimmed),
            coalesce(sum(n) FILTER (WHERE marker), 0),
            first(value ORDER BY n DESC, value) FILTER (WHERE marker),
            coalesce(sum(n) FILTER (WHERE try_cast(trimmed AS DOUBLE) IS NULL), 0),
            coalesce(sum(n) FILTER (WHERE regexp_full_match(trimmed, '-?[0-9]*,[0-9]+')), 0)
        FROM checked GROUP BY slot
    """
    found = {r[0]: r[1:] for r in con.execute(query).fetchall()}
    rows = [found.get(c, (0, 0, 0, None, 0, None, 0, 0)) for c in slots]
    non_null = [int(r[1]) for r in rows]
    checks = [v for r in rows for v in (int(r[2]), r[3], int(r[4]), r[5], int(r[6]), int(r[7]))]
    return TextScan(columns=list(columns), scanned=int(rows[0][0]), values=(*non_null, *checks))


def head_text_scan(con: duckdb.DuckDBPyConnection, relation: str) -> TextScan | None:
    """The text checks over the first ``LARGE_SCAN_ROWS`` rows of a source ``relation``.

    An import runs this on a second connection while its main one copies the source into a
    table, so the checks cost no time. The result is the table's ``text_scan`` whenever the
    table has more than ``SCAN_ROWS`` rows (or fewer than ``LARGE_SCAN_ROWS``);
    ``data_warnings`` checks that (``scan_fits``) and otherwise scans the (small) table.
    """
    query = f"SELECT * FROM {relation} LIMIT {LARGE_SCAN_ROWS}"
    columns = [(d[0], str(d[1])) for d in con.execute(f"DESCRIBE {query}").fetchall()]
    return text_scan(con, f"({query})", columns, LARGE_SCAN_ROWS)


def scan_fits(scan: TextScan, columns: list[tuple[str, str]], total: int) -> bool:
    """Whether ``scan`` is what ``text_scan`` of a table (``columns``, ``total`` rows) gives."""
    wanted = total if total <= SCAN_ROWS else LARGE_SCAN_ROWS
    return scan.columns == list(columns) and scan.scanned == wanted


def data_warnings(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: list[tuple[str, str]],
    counts: tuple[int, list[int]] | None = None,
    scan: TextScan | None = None,
) -> list[str]:
    """Dirt worth knowing before cleaning: empty columns, padded text, markers, mixed types.

    ``counts`` (rows, non-null count per column) and ``scan`` (``text_scan`` of
    ``relation``, e.g. from ``head_text_scan``) save the queries when the caller has them.
    """
    warnings: list[str] = []
    nested = [c for c, t in columns if t.upper().startswith(_NESTED) or t.endswith("]")]
    if nested:
        warnings.append(
            f"nested values (lists/structs) in {_names(nested)}; unnest or drop them in the recipe"
        )
    if not columns:
        return warnings
    if counts is None:
        full = ds.first_row(
            con.execute(f"SELECT {', '.join(column_counts_sql(columns))} FROM {relation}")
        )
        assert full is not None
        counts = int(full[0]), list(full[1:])
    total, non_null_counts = counts
    if not total:
        return warnings
    text = _text_columns(columns)
    if not text:
        scan = None
    elif scan is None or not scan_fits(scan, columns, total):
        scan = text_scan(con, relation, columns, total)
    scanned = scan.scanned if scan else total
    where = f" in the first {scanned:,} rows" if scanned < total else ""
    text_counts = dict(zip(text, scan.values[: len(text)], strict=True)) if scan else {}
    rest = scan.values[len(text) :] if scan else ()
    empty = [c for (c, _), n in zip(columns, non_null_counts, strict=True) if n == 0]
    if empty:
        warnings.append(f"no values at all in {_names(empty)}")
    non_null = text_counts
    padded: list[tuple[str, str]] = []
    marked: dict[str, list[tuple[str, int]]] = {}
    comma: list[str] = []
    for i, name in enumerate(text):
        spaces, example, n_markers, marker, non_numeric, commas = rest[6 * i : 6 * i + 6]
        if non_null[name] and commas / non_null[name] >= 0.8:
            comma.append(name)
            continue
        if spaces:
            padded.append((name, example))
        if n_markers:
            marked.setdefault(marker, []).append((name, n_markers))
        numeric = non_null[name] - non_numeric
        if non_null[name] and non_numeric and numeric / non_null[name] >= 0.8:
            warnings.append(
                f"{name!r} is text but {numeric / non_null[name]:.1%} of its values are numbers; "
                "mark the others as missing with --null, or convert the type in the recipe"
            )
    if comma:
        warnings.append(
            f"numbers with a decimal comma in {_names(comma)} are read as text; "
            "import with --decimal ',' (and the right --delimiter)"
        )
    if padded:
        name, example = padded[0]
        warnings.append(
            f"text values with leading or trailing spaces in {_names([p[0] for p in padded])} "
            f"(e.g. {example!r} in {name!r}); a trim step in the recipe removes them"
        )
    for marker, found in marked.items():
        n = sum(k for _, k in found)
        warnings.append(
            f"{marker!r} looks like a missing-value marker ({n:,} values{where} in "
            f"{_names([c for c, _ in found])}); import with --null {marker!r} or use the "
            "recipe's marker step"
        )
    return warnings


def _names(columns: list[str], most: int = 5) -> str:
    shown = ", ".join(repr(c) for c in columns[:most])
    extra = f" and {len(columns) - most} more" if len(columns) > most else ""
    return f"{len(columns)} column(s): {shown}{extra}" if len(columns) > 1 else shown
