"""Dataset versions, column roles and project state: rows <-> domain, plus table helpers.

Every function takes an open connection so an import (or a recipe run) can create the data
table, its metadata row, its roles and its event in one transaction. Identifiers are always
quoted with ``quote_ident``: column names may hold spaces, quotes, ``[markup]`` or keywords.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

import duckdb

from app.domain.dataset import ColumnRole, DatasetVersion, ImportOptions, SourceKind
from storage.schema import first_row

_KIND_PREFIX = re.compile(r"^(?:[A-Z][A-Za-z]* )+Error: ")
_IN_FILE = re.compile(r' in file "[^"]*"')


def duckdb_message(exc: BaseException) -> str:
    """The first line of a DuckDB error without its "Invalid Input Error: " prefix or path."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return _IN_FILE.sub("", _KIND_PREFIX.sub("", first)).strip()


CURRENT_DATASET = "current_dataset"
"""project_state key holding the name of the dataset the stages work on."""
CURRENT_VERSION = "current_version:"
"""project_state key prefix (+ dataset name) of the version a dataset's work continues from."""

_COLUMNS = (
    "name, version, table_name, parent_version, kind, source_path, source_table, file_hash, "
    "options, recipe, n_rows, n_cols, fingerprint, warnings, created_at"
)


def quote_ident(name: str) -> str:
    """``name`` as a DuckDB identifier: double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a SQL string literal (single quotes doubled; DuckDB has no backslash escapes)."""
    return "'" + text.replace("'", "''") + "'"


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether a table of that exact name exists in the project's main schema."""
    row = first_row(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ?",
            [table],
        )
    )
    return bool(row and row[0])


def new_table_name(con: duckdb.DuckDBPyConnection, name: str, version: int) -> str:
    """A free table name ``data_<slug>_v<version>`` (ASCII slug, suffixed if taken)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")[:40] or "dataset"
    base = f"data_{slug}_v{version}"
    candidate, n = base, 1
    while table_exists(con, candidate):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def table_columns(
    con: duckdb.DuckDBPyConnection, table: str, schema: str = "main"
) -> list[tuple[str, str]]:
    """(column name, DuckDB type) of ``table`` in order (``schema="temp"`` for temp tables)."""
    database = "temp" if schema == "temp" else None
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = coalesce(?, current_database()) AND schema_name = 'main' "
        "AND table_name = ? ORDER BY column_index",
        [database, table],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def fingerprint_table(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str]:
    """(row count, content fingerprint) of ``table``, independent of row order.

    The fingerprint is the SHA-256 of the row count, the column names and types, and the sum
    modulo 2**64 of DuckDB's ``hash()`` over each whole row. A sum (not XOR) keeps duplicate
    rows from cancelling out. DuckDB's hash is stable within a DuckDB version, so compare
    fingerprints made by the same mlwb installation.
    """
    columns = table_columns(con, table)
    row_hash = "hash(" + ", ".join(quote_ident(c) for c, _ in columns) + ")"
    row = first_row(
        con.execute(
            f"SELECT count(*), coalesce(sum({row_hash}::HUGEINT) % 18446744073709551616, 0)::VARCHAR "
            f"FROM {quote_ident(table)}"
        )
    )
    assert row is not None
    n_rows, total = int(row[0]), row[1]
    schema = json.dumps(columns, ensure_ascii=False)
    digest = hashlib.sha256(f"{n_rows}\n{schema}\n{total}".encode()).hexdigest()
    return n_rows, digest


def next_version(con: duckdb.DuckDBPyConnection, name: str) -> int:
    """The number the next version of dataset ``name`` gets (1 for a new name)."""
    row = first_row(
        con.execute("SELECT coalesce(max(version), 0) + 1 FROM datasets WHERE name = ?", [name])
    )
    return int(row[0]) if row else 1


def insert_version(con: duckdb.DuckDBPyConnection, v: DatasetVersion) -> None:
    """Store the metadata row of a new version (its table must already exist)."""
    con.execute(
        f"INSERT INTO datasets ({_COLUMNS.replace(', created_at', '')}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            v.name,
            v.version,
            v.table_name,
            v.parent_version,
            v.kind.value if v.kind else None,
            v.source_path,
            v.source_table,
            v.file_hash,
            v.options.model_dump_json() if v.options else None,
            json.dumps(v.recipe, default=str),
            v.n_rows,
            v.n_cols,
            v.fingerprint,
            json.dumps(v.warnings, ensure_ascii=False),
        ],
    )


def _version_row(row: tuple[Any, ...]) -> DatasetVersion:
    return DatasetVersion(
        name=row[0],
        version=row[1],
        table_name=row[2],
        parent_version=row[3],
        kind=SourceKind(row[4]) if row[4] else None,
        source_path=row[5],
        source_table=row[6],
        file_hash=row[7],
        options=ImportOptions.model_validate_json(row[8]) if row[8] else None,
        recipe=json.loads(row[9]),
        n_rows=row[10],
        n_cols=row[11],
        fingerprint=row[12],
        warnings=json.loads(row[13]),
        created_at=row[14],
    )


def current_version(con: duckdb.DuckDBPyConnection, name: str) -> DatasetVersion | None:
    """The version ``name``'s work continues from: the pointer set by a recipe change or
    undo, else the newest version; None when the dataset does not exist."""
    raw = get_state(con, CURRENT_VERSION + name)
    found = get_version(con, name, int(raw)) if raw and raw.isdigit() else None
    return found or get_version(con, name)


def set_current_version(con: duckdb.DuckDBPyConnection, name: str, version: int) -> None:
    """Point ``name``'s current version at ``version`` (which must exist)."""
    set_state(con, CURRENT_VERSION + name, str(int(version)))


def get_version(
    con: duckdb.DuckDBPyConnection, name: str, version: int | None = None
) -> DatasetVersion | None:
    """One version of ``name`` (the newest when ``version`` is None), or None.

    Use ``current_version`` for "the version the user works on"; after an undo it is older
    than the newest.
    """
    if version is None:
        row = first_row(
            con.execute(
                f"SELECT {_COLUMNS} FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1",
                [name],
            )
        )
    else:
        row = first_row(
            con.execute(
                f"SELECT {_COLUMNS} FROM datasets WHERE name = ? AND version = ?", [name, version]
            )
        )
    return _version_row(row) if row else None


def list_versions(con: duckdb.DuckDBPyConnection, name: str | None = None) -> list[DatasetVersion]:
    """Every version (of one dataset, or all), by name then version."""
    where, args = ("WHERE name = ?", [name]) if name else ("", [])
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM datasets {where} ORDER BY name, version", args
    ).fetchall()
    return [_version_row(r) for r in rows]


def find_import(
    con: duckdb.DuckDBPyConnection, file_hash: str, options: ImportOptions
) -> DatasetVersion | None:
    """An earlier import of the same file bytes with the same resolved options, if any."""
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM datasets WHERE file_hash = ? ORDER BY name, version",
        [file_hash],
    ).fetchall()
    for row in rows:
        found = _version_row(row)
        if found.options == options:
            return found
    return None


def dataset_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of all datasets."""
    return [r[0] for r in con.execute("SELECT DISTINCT name FROM datasets ORDER BY 1").fetchall()]


# -- column roles ---------------------------------------------------------------------------


def get_roles(con: duckdb.DuckDBPyConnection, dataset: str) -> dict[str, ColumnRole]:
    """Stored roles of ``dataset``'s columns (columns without a row are features)."""
    rows = con.execute(
        "SELECT column_name, role FROM column_roles WHERE dataset = ?", [dataset]
    ).fetchall()
    return {r[0]: ColumnRole(r[1]) for r in rows}


def put_roles(con: duckdb.DuckDBPyConnection, dataset: str, roles: dict[str, ColumnRole]) -> None:
    """Insert or replace the roles of the given columns."""
    for column, role in roles.items():
        con.execute(
            "INSERT OR REPLACE INTO column_roles (dataset, column_name, role) VALUES (?, ?, ?)",
            [dataset, column, ColumnRole(role).value],
        )


# -- project state --------------------------------------------------------------------------


def get_state(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """A project_state value, or None."""
    row = first_row(con.execute("SELECT value FROM project_state WHERE key = ?", [key]))
    return row[0] if row else None


def set_state(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    """Insert or replace a project_state value."""
    con.execute("INSERT OR REPLACE INTO project_state (key, value) VALUES (?, ?)", [key, value])
