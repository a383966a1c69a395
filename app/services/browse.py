"""Looking at datasets: which exist, pages of rows, column summaries, safe user filters.

Every read runs in DuckDB and returns only what is shown: a page is ``LIMIT``/``OFFSET`` on
the table, a summary is one aggregate query. A user's filter is an SQL expression, parsed by
DuckDB (``json_serialize_sql``) and checked against an allow-list before it runs, so it can
compare columns and values but never read files, attach databases or run other statements.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import polars as pl

from app.domain.charter import DataFacts
from app.domain.dataset import ColumnRole, ColumnSummary, DatasetVersion, parse_ref
from app.errors import MlwbError
from storage import datasets as ds
from storage.db import ProjectStore

EXACT_DISTINCT_ROWS = 1_000_000
"""Up to this many rows ``distinct`` is exact; above it, approx_count_distinct (HyperLogLog)."""
TOP_VALUES = 3
MAX_PAGE = 10_000
TARGET_VALUES = 50

FILTER_HINT = "write a condition on columns, e.g. age > 40 AND \"native-country\" = 'Cuba'"

_ALLOWED_CLASSES = {
    "COLUMN_REF",
    "CONSTANT",
    "COMPARISON",
    "CONJUNCTION",
    "OPERATOR",
    "FUNCTION",
    "CAST",
    "BETWEEN",
    "CASE",
    "TYPE",
}
_ALLOWED_FUNCTIONS = {
    # operators
    *("+", "-", "*", "/", "//", "%", "^", "**", "||"),
    *("~~", "!~~", "~~*", "!~~*", "~~~", "!~~~", "list_value"),
    # text
    *("lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "length", "strlen"),
    *("contains", "starts_with", "ends_with", "prefix", "suffix", "concat", "substr"),
    *("substring", "left", "right", "replace", "regexp_matches", "regexp_full_match"),
    *("like_escape", "ilike_escape", "strpos", "position", "reverse", "lpad", "rpad"),
    # numbers
    *("abs", "round", "floor", "ceil", "ceiling", "sqrt", "ln", "log", "log10", "log2"),
    *("exp", "pow", "power", "sign", "isnan", "isinf", "isfinite", "least", "greatest"),
    *("ifnull", "nullif", "mod", "trunc", "even"),
    # dates
    *("year", "month", "day", "hour", "minute", "second", "dayofweek", "dayofyear"),
    *("week", "quarter", "date_part", "datepart", "date_trunc", "datetrunc", "epoch"),
    *("strftime", "strptime", "make_date", "date_diff", "datediff", "today", "current_date"),
}
_FORBIDDEN_KEYS = {"node", "from_table", "select_list", "subquery"}


# -- datasets -------------------------------------------------------------------------------


def list_datasets(store: ProjectStore) -> list[DatasetVersion]:
    """Every version of every dataset, by name then version."""
    with store.connect() as con:
        return ds.list_versions(con)


def list_versions(store: ProjectStore, name: str | None = None) -> list[DatasetVersion]:
    """Every version of one dataset (or of all), oldest first."""
    with store.connect() as con:
        return ds.list_versions(con, name)


def get_version(store: ProjectStore, name: str, version: int | None = None) -> DatasetVersion:
    """One dataset version (its current one when ``version`` is None); a clear error if not."""
    with store.connect() as con:
        return require_version(con, name, version)


def require_version(
    con: duckdb.DuckDBPyConnection, name: str, version: int | None
) -> DatasetVersion:
    """``get_version`` on an open connection."""
    current = version is None
    found = ds.current_version(con, name) if current else ds.get_version(con, name, version)
    if found is not None:
        return found
    known = ds.dataset_names(con)
    if name in known:
        raise MlwbError(
            f"dataset {name!r} has no version {version}",
            hint=f"list its versions with: mlwb data list --dataset {name}",
        )
    shown = ", ".join(known[:8]) or "none yet"
    raise MlwbError(
        f"there is no dataset {name!r} (datasets: {shown})",
        hint="import one with: mlwb data import FILE",
    )


def current_dataset(store: ProjectStore) -> DatasetVersion | None:
    """The current version of the project's current dataset, or None before any import."""
    with store.connect() as con:
        name = ds.get_state(con, ds.CURRENT_DATASET)
        return ds.current_version(con, name) if name else None


def resolve(store: ProjectStore, ref: str | None) -> DatasetVersion:
    """``NAME[@VERSION]``, or the current dataset when ``ref`` is None."""
    if ref:
        name, version = parse_ref(ref)
        return get_version(store, name, version)
    found = current_dataset(store)
    if found is None:
        raise MlwbError("this project has no dataset yet", hint="import one: mlwb data import FILE")
    return found


# -- filters --------------------------------------------------------------------------------


def _parse(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    row = ds.first_row(con.execute("SELECT json_serialize_sql(?)", [sql]))
    assert row is not None
    return json.loads(row[0])


def _strip_locations(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip_locations(v)
            for k, v in node.items()
            if not k.startswith("query_location") and k != "where_clause"
        }
    if isinstance(node, list):
        return [_strip_locations(v) for v in node]
    return node


def _check_node(node: Any, columns: dict[str, str], expr: str) -> None:
    """Walk a parsed expression; refuse anything but columns, values, operators, allowed calls."""
    if isinstance(node, list):
        for item in node:
            _check_node(item, columns, expr)
        return
    if not isinstance(node, dict):
        return
    if _FORBIDDEN_KEYS & node.keys():
        raise MlwbError(f"the filter {expr!r} contains a query", hint=FILTER_HINT)
    kind = node.get("class")
    if kind is not None:
        if kind not in _ALLOWED_CLASSES:
            what = {"SUBQUERY": "a subquery", "PARAMETER": "a parameter", "STAR": "*"}.get(
                kind, kind.lower()
            )
            raise MlwbError(f"the filter {expr!r} may not use {what}", hint=FILTER_HINT)
        if kind == "COLUMN_REF":
            name = node["column_names"][0]
            if name.lower() not in columns:
                raise MlwbError(
                    f"the filter names {name!r}, which is not a column",
                    hint="quote column names in double quotes and text values in single "
                    "quotes, e.g. \"native-country\" = 'Cuba'",
                )
        if kind == "FUNCTION":
            function = str(node.get("function_name", "")).lower()
            if (
                function not in _ALLOWED_FUNCTIONS
                or node.get("schema")
                or node.get("catalog")
                or node.get("filter")
                or node.get("distinct")
            ):
                raise MlwbError(
                    f"the filter {expr!r} may not call {function}()",
                    hint="filters may use comparisons, AND/OR/NOT, LIKE, IN, BETWEEN, IS NULL "
                    "and simple text, number and date functions",
                )
    for value in node.values():
        _check_node(value, columns, expr)


def filtered_select(con: duckdb.DuckDBPyConnection, table: str, where: str | None) -> str:
    """``SELECT * FROM table [WHERE (where)]`` after checking ``where`` is a safe condition."""
    base = f"SELECT * FROM {ds.quote_ident(table)}"
    if where is None or not where.strip():
        return base
    if "\x00" in where:
        raise MlwbError("the filter contains a NUL character", hint=FILTER_HINT)
    sql = f"{base} WHERE ({where}\n)"
    parsed = _parse(con, sql)
    if parsed.get("error"):
        message = " ".join(str(parsed.get("error_message", "it is not valid")).split())
        if ";" in where:
            message = "a filter is one condition; ';' is not allowed"
        raise MlwbError(f"cannot read the filter {where!r}: {message}", hint=FILTER_HINT)
    statements = parsed.get("statements", [])
    if len(statements) != 1:
        raise MlwbError(f"the filter {where!r} holds more than one statement", hint=FILTER_HINT)
    node = statements[0].get("node", {})
    reference = _parse(con, base)["statements"][0]["node"]
    if _strip_locations(node) != _strip_locations(reference) or "where_clause" not in node:
        raise MlwbError(f"the filter {where!r} changes the query around it", hint=FILTER_HINT)
    columns = {c.lower(): t for c, t in ds.table_columns(con, table)}
    _check_node(node["where_clause"], columns, where)
    return sql


def check_filter(store: ProjectStore, version: DatasetVersion, where: str) -> None:
    """Raise MlwbError unless ``where`` is a safe, valid filter on ``version``."""
    with store.connect() as con:
        sql = filtered_select(con, version.table_name, where)
        _run(con, f"EXPLAIN {sql}", where)


def _run(con: duckdb.DuckDBPyConnection, sql: str, where: str | None) -> list[tuple[Any, ...]]:
    try:
        return con.execute(sql).fetchall()
    except duckdb.Error as exc:
        if not where:
            raise
        message = ds.duckdb_message(exc)
        raise MlwbError(f"the filter {where!r} failed: {message}", hint=FILTER_HINT) from exc


# -- rows -----------------------------------------------------------------------------------


def _column(con: duckdb.DuckDBPyConnection, table: str, name: str) -> str:
    for column, _ in ds.table_columns(con, table):
        if column == name or column.lower() == name.lower():
            return column
    raise MlwbError(f"{name!r} is not a column of this dataset", hint="sort by an existing column")


def row_count(
    store: ProjectStore, name: str, version: int | None = None, where: str | None = None
) -> int:
    """Rows of a dataset version, optionally only those matching ``where``."""
    with store.connect() as con:
        found = require_version(con, name, version)
        if not where:
            return found.n_rows
        sql = filtered_select(con, found.table_name, where)
        return int(_run(con, f"SELECT count(*) FROM ({sql})", where)[0][0])


def page(
    store: ProjectStore,
    name: str,
    version: int | None,
    offset: int,
    limit: int,
    order_by: str | None = None,
    descending: bool = False,
    where: str | None = None,
) -> pl.DataFrame:
    """Rows ``offset .. offset+limit`` (file order, or sorted; nulls last) as a Polars frame."""
    offset, limit = max(0, int(offset)), max(0, min(int(limit), MAX_PAGE))
    with store.connect() as con:
        found = require_version(con, name, version)
        sql = filtered_select(con, found.table_name, where)
        if order_by:
            column = ds.quote_ident(_column(con, found.table_name, order_by))
            direction = "DESC" if descending else "ASC"
            sql += f"\nORDER BY {column} {direction} NULLS LAST, rowid"
        sql += f"\nLIMIT {limit} OFFSET {offset}"
        try:
            return con.sql(sql).pl()
        except duckdb.Error as exc:
            message = ds.duckdb_message(exc)
            raise MlwbError(f"the filter {where!r} failed: {message}", hint=FILTER_HINT) from exc


# -- summaries ------------------------------------------------------------------------------

_ORDERED = (
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT"),
    *("UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "DATE", "TIME"),
    "INTERVAL",
)


def column_summary(
    store: ProjectStore, name: str, version: int | None = None
) -> list[ColumnSummary]:
    """Type, missing, distinct and min/max (numbers, dates) or top values (text) per column."""
    with store.connect() as con:
        found = require_version(con, name, version)
        table = ds.quote_ident(found.table_name)
        columns = ds.table_columns(con, found.table_name)
        roles = ds.get_roles(con, name)
        approx = found.n_rows > EXACT_DISTINCT_ROWS
        parts = ["count(*)"]
        for column, kind in columns:
            q = ds.quote_ident(column)
            parts.append(f"count({q})")
            parts.append(f"approx_count_distinct({q})" if approx else f"count(DISTINCT {q})")
            if _is_ordered(kind):
                parts += [f"min({q})::VARCHAR", f"max({q})::VARCHAR"]
        row = ds.first_row(con.execute(f"SELECT {', '.join(parts)} FROM {table}"))
        assert row is not None
        total, values = int(row[0]), list(row[1:])
        result: list[ColumnSummary] = []
        for column, kind in columns:
            present, distinct = int(values.pop(0)), int(values.pop(0))
            low = high = None
            top: list[tuple[str | None, int]] = []
            if _is_ordered(kind):
                low, high = values.pop(0), values.pop(0)
            elif present:
                q = ds.quote_ident(column)
                top = [
                    (r[0], int(r[1]))
                    for r in con.execute(
                        f"SELECT {q}::VARCHAR AS v, count(*) AS n FROM {table} WHERE {q} IS NOT NULL "
                        f"GROUP BY v ORDER BY n DESC, v LIMIT {TOP_VALUES}"
                    ).fetchall()
                ]
            result.append(
                ColumnSummary(
                    name=column,
                    type=kind,
                    role=roles.get(column, ColumnRole.FEATURE),
                    missing=total - present,
                    missing_pct=round(100.0 * (total - present) / total, 2) if total else 0.0,
                    distinct=distinct,
                    distinct_approx=approx,
                    min=low,
                    max=high,
                    top_values=top,
                )
            )
    return result


def _is_ordered(kind: str) -> bool:
    upper = kind.upper()
    return not upper.endswith("]") and upper.startswith(_ORDERED)


def data_facts(con: duckdb.DuckDBPyConnection, target: str | None = None) -> DataFacts | None:
    """The current dataset's columns (and the target's values) for checking a charter."""
    name = ds.get_state(con, ds.CURRENT_DATASET)
    found = ds.current_version(con, name) if name else None
    if found is None:
        return None
    columns = dict(ds.table_columns(con, found.table_name))
    values = None
    if target and target in columns:
        q = ds.quote_ident(target)
        rows = con.execute(
            f"SELECT DISTINCT {q}::VARCHAR FROM {ds.quote_ident(found.table_name)} "
            f"WHERE {q} IS NOT NULL LIMIT {TARGET_VALUES + 1}"
        ).fetchall()
        values = sorted(r[0] for r in rows) if len(rows) <= TARGET_VALUES else None
    return DataFacts(columns=columns, target_values=values, source=f"dataset {found.ref}")
