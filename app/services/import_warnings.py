"""Dirt worth knowing about right after an import, found with one aggregate query.

Empty columns, text padded with spaces (adult.csv's ``", "`` separator), missing-value
markers such as ``?``, numbers stored as text, decimal commas and nested values. Each warning
names the columns and says how to fix it at import or in the cleaning recipe.
"""

from __future__ import annotations

import duckdb

from storage import datasets as ds

_MARKERS = ("?", "na", "n/a", "#n/a", "null", "none", "nan", "-", "--", ".", "missing")
SCAN_ROWS = 50_000
"""Text checks read every row of tables up to this size (adult: all 32,561)..."""
LARGE_SCAN_ROWS = 20_000
"""...and the first rows of larger ones: a whole-table scan doubled import time and memory."""
_NESTED = ("STRUCT", "MAP", "UNION")


def data_warnings(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[tuple[str, str]]
) -> list[str]:
    """Dirt worth knowing before cleaning: empty columns, padded text, markers, mixed types."""
    warnings: list[str] = []
    nested = [c for c, t in columns if t.upper().startswith(_NESTED) or t.endswith("]")]
    if nested:
        warnings.append(
            f"nested values (lists/structs) in {_names(nested)}; unnest or drop them in the recipe"
        )
    if not columns:
        return warnings
    markers = ", ".join(ds.quote_literal(m) for m in _MARKERS)
    counts_sql = ["count(*)", *(f"count({ds.quote_ident(name)})" for name, _ in columns)]
    full = ds.first_row(con.execute(f"SELECT {', '.join(counts_sql)} FROM {relation}"))
    assert full is not None
    total, counts = full[0], full[1:]
    if not total:
        return warnings
    text = [c for c, t in columns if t.upper() == "VARCHAR"]
    parts = ["count(*)", *(f"count({ds.quote_ident(name)})" for name in text)]
    for name in text:
        q = ds.quote_ident(name)
        parts += [
            f"count_if({q} <> trim({q}))",
            f"min({q}) FILTER (WHERE {q} <> trim({q}))",
            f"count_if(lower(trim({q})) IN ({markers}))",
            f"mode({q}) FILTER (WHERE lower(trim({q})) IN ({markers}))",
            f"count_if(try_cast(trim({q}) AS DOUBLE) IS NULL)",
            f"count_if(regexp_full_match(trim({q}), '-?[0-9]*,[0-9]+'))",
        ]
    limit = total if total <= SCAN_ROWS else LARGE_SCAN_ROWS
    sample = f"(SELECT * FROM {relation} LIMIT {limit})"
    row = ds.first_row(con.execute(f"SELECT {', '.join(parts)} FROM {sample}")) if text else None
    scanned = row[0] if row else total
    where = f" in the first {scanned:,} rows" if scanned < total else ""
    text_counts = dict(zip(text, row[1 : 1 + len(text)], strict=True)) if row else {}
    rest = row[1 + len(text) :] if row else []
    empty = [c for (c, _), n in zip(columns, counts, strict=True) if n == 0]
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
