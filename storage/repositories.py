"""Typed reads and writes of project records: project info, events and charters.

Each function takes an open connection so callers can group several writes in one
transaction (``ProjectStore.transaction``).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from app.domain.charter import Charter
from app.domain.project import CharterVersion, Event, ProjectInfo
from storage.schema import first_row, schema_version


def project_info(con: duckdb.DuckDBPyConnection) -> ProjectInfo:
    """The project's name, creation record and schema version."""
    row = first_row(con.execute("SELECT name, created_at, created_by FROM project_info LIMIT 1"))
    if row is None:
        raise LookupError("project_info is empty")
    return ProjectInfo(
        name=row[0], created_at=row[1], created_by=row[2], schema_version=schema_version(con) or 0
    )


def record_event(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    action: str,
    summary: str,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one audit event; returns its id."""
    row = first_row(
        con.execute(
            "INSERT INTO events (stage, action, summary, details) VALUES (?, ?, ?, ?) RETURNING id",
            [stage, action, summary, json.dumps(details or {}, default=str)],
        )
    )
    assert row is not None
    return int(row[0])


def list_events(con: duckdb.DuckDBPyConnection, limit: int = 100) -> list[Event]:
    """The most recent events, newest first."""
    rows = con.execute(
        "SELECT id, happened_at, stage, action, summary, details FROM events ORDER BY id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [
        Event(id=r[0], at=r[1], stage=r[2], action=r[3], summary=r[4], details=json.loads(r[5]))
        for r in rows
    ]


def insert_charter(con: duckdb.DuckDBPyConnection, charter: Charter, note: str) -> int:
    """Store ``charter`` as the next version; returns the new version number."""
    row = first_row(con.execute("SELECT coalesce(max(version), 0) + 1 FROM charters"))
    assert row is not None
    number = int(row[0])
    con.execute(
        "INSERT INTO charters (version, note, body) VALUES (?, ?, ?)",
        [number, note, charter.model_dump_json()],
    )
    return number


def _charter_row(row: tuple[Any, ...]) -> CharterVersion:
    return CharterVersion(
        version=row[0], saved_at=row[1], note=row[2], charter=Charter.model_validate_json(row[3])
    )


def latest_charter(con: duckdb.DuckDBPyConnection) -> CharterVersion | None:
    """The newest charter version, or None before the first save."""
    row = first_row(
        con.execute(
            "SELECT version, saved_at, note, body FROM charters ORDER BY version DESC LIMIT 1"
        )
    )
    return _charter_row(row) if row else None


def charter_version(con: duckdb.DuckDBPyConnection, number: int) -> CharterVersion | None:
    """One charter version by number."""
    row = first_row(
        con.execute(
            "SELECT version, saved_at, note, body FROM charters WHERE version = ?", [number]
        )
    )
    return _charter_row(row) if row else None


def charter_history(con: duckdb.DuckDBPyConnection) -> list[CharterVersion]:
    """Every charter version, newest first."""
    rows = con.execute(
        "SELECT version, saved_at, note, body FROM charters ORDER BY version DESC"
    ).fetchall()
    return [_charter_row(r) for r in rows]


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    """Rows in ``table``, or None when the table does not exist (yet)."""
    exists = first_row(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])
    )
    if not exists or not exists[0]:
        return None
    row = first_row(con.execute(f'SELECT count(*) FROM "{table}"'))
    return int(row[0]) if row else 0
