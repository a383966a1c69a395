"""Column roles (feature, target, id, time, ignore): suggested at import, edited by the user.

Roles belong to a dataset name, not to one version, so they survive recipe versions; a column
without a stored role is a feature. Suggestions: the charter's target and time column, ID-like
columns (a name such as ``id``/``customer_id`` and every value distinct), and date/time columns.
"""

from __future__ import annotations

import re

import duckdb

from app.domain.charter import Charter
from app.domain.dataset import ColumnRole
from app.errors import MlwbError
from storage import datasets as ds
from storage import repositories as repo
from storage.db import ProjectStore

_ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid)$|^(id|uuid|guid)([_\W]|$)", re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$")
_TIME_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS")
_ID_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
    "VARCHAR",
)


def _match(name: str | None, columns: list[str]) -> str | None:
    """``name`` as spelled in ``columns`` (exact first, then ignoring case)."""
    if not name:
        return None
    if name in columns:
        return name
    lowered = {c.lower(): c for c in columns}
    return lowered.get(name.lower())


def suggest_roles(
    con: duckdb.DuckDBPyConnection, table: str, charter: Charter | None
) -> dict[str, ColumnRole]:
    """Roles for a freshly imported table (only non-feature roles are returned)."""
    columns = ds.table_columns(con, table)
    names = [c for c, _ in columns]
    roles: dict[str, ColumnRole] = {}
    target = _match(charter.target, names) if charter else None
    time = _match(charter.time_column, names) if charter else None
    if time:
        roles[time] = ColumnRole.TIME
    else:
        for name, kind in columns:
            if kind.upper() in _TIME_TYPES:
                roles[name] = ColumnRole.TIME
    candidates = [
        n
        for n, kind in columns
        if kind.upper() in _ID_TYPES and (_ID_NAME.search(n) or _CAMEL_ID.search(n)) and n != target
    ]
    if candidates:
        parts = ["count(*)"]
        for n in candidates:
            parts += [f"count(DISTINCT {ds.quote_ident(n)})", f"count({ds.quote_ident(n)})"]
        row = ds.first_row(con.execute(f"SELECT {', '.join(parts)} FROM {ds.quote_ident(table)}"))
        assert row is not None
        for i, n in enumerate(candidates):
            if row[0] and row[1 + 2 * i] == row[0] == row[2 + 2 * i]:
                roles[n] = ColumnRole.ID
    if target:
        roles[target] = ColumnRole.TARGET
    return roles


def _current_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    version = ds.current_version(con, name)
    if version is None:
        raise MlwbError(f"there is no dataset {name!r}", hint="list datasets with: mlwb data list")
    return [c for c, _ in ds.table_columns(con, version.table_name)]


def column_roles(store: ProjectStore, name: str) -> dict[str, ColumnRole]:
    """Role of every column of the current version of ``name``, in column order."""
    with store.connect() as con:
        columns = _current_columns(con, name)
        stored = ds.get_roles(con, name)
    return {c: stored.get(c, ColumnRole.FEATURE) for c in columns}


def set_roles(
    store: ProjectStore, name: str, changes: dict[str, ColumnRole | str]
) -> dict[str, ColumnRole]:
    """Change some columns' roles in one transaction; returns every column's role.

    There is at most one target: naming a new one makes the old target a feature.
    """
    if not changes:
        return column_roles(store, name)
    parsed: dict[str, ColumnRole] = {}
    for column, role in changes.items():
        try:
            parsed[column] = ColumnRole(str(role).strip().lower())
        except ValueError:
            allowed = ", ".join(r.value for r in ColumnRole)
            raise MlwbError(
                f"{role!r} is not a column role", hint=f"use one of: {allowed}"
            ) from None
    if sum(r is ColumnRole.TARGET for r in parsed.values()) > 1:
        raise MlwbError("only one column can be the target", hint="name a single target column")
    with store.transaction() as con:
        columns = _current_columns(con, name)
        resolved: dict[str, ColumnRole] = {}
        for column, role in parsed.items():
            found = _match(column, columns)
            if found is None:
                raise MlwbError(
                    f"{column!r} is not a column of {name}",
                    hint="see the columns with: mlwb data roles",
                )
            resolved[found] = role
        stored = ds.get_roles(con, name)
        if ColumnRole.TARGET in resolved.values():
            for column, role in stored.items():
                if role is ColumnRole.TARGET and column not in resolved:
                    resolved[column] = ColumnRole.FEATURE
        changed = {c: r for c, r in resolved.items() if stored.get(c, ColumnRole.FEATURE) != r}
        if changed:
            ds.put_roles(con, name, changed)
            summary = ", ".join(f"{c} -> {r.value}" for c, r in changed.items())
            repo.record_event(
                con,
                "data",
                "roles_set",
                f"{name}: {summary}"[:500],
                {"dataset": name, "roles": {c: r.value for c, r in changed.items()}},
            )
        stored = ds.get_roles(con, name)
    return {c: stored.get(c, ColumnRole.FEATURE) for c in columns}


def set_role(
    store: ProjectStore, name: str, column: str, role: ColumnRole | str
) -> dict[str, ColumnRole]:
    """Change one column's role; returns every column's role."""
    return set_roles(store, name, {column: role})
