"""Registered bundle versions and their aliases in the project database.

Every function takes an open connection so the caller owns the transaction. An alias
(``candidate``, ``production``, ``archived``) points at one version at a time; the history of
promotions and rollbacks is kept in the events table by the service.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
from pydantic import BaseModel, Field

from storage.schema import first_row

SHADOW = "shadow"
"""The alias of a challenger scored beside production (``app.services.shadow``)."""
ALIASES = ("candidate", "production", "archived", SHADOW)


class BundleVersion(BaseModel):
    """One registered bundle."""

    version: int
    run_id: int
    path: str
    """The bundle folder, relative to the project root when inside it."""
    zip_path: str
    sha256: str
    """SHA-256 of the zip."""
    created_at: datetime
    gate: str
    override_reason: str | None = None
    aliases: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


_COLUMNS = "version, run_id, path, zip_path, sha256, created_at, gate, override_reason, body"


def _row(row: tuple[Any, ...], aliases: list[str]) -> BundleVersion:
    return BundleVersion(
        version=row[0],
        run_id=row[1],
        path=row[2],
        zip_path=row[3],
        sha256=row[4],
        created_at=row[5],
        gate=row[6],
        override_reason=row[7],
        aliases=aliases,
        metadata=json.loads(row[8]),
    )


def next_version(con: duckdb.DuckDBPyConnection) -> int:
    """The number the next registered bundle gets."""
    row = first_row(con.execute("SELECT coalesce(max(version), 0) FROM bundles"))
    return int(row[0]) + 1 if row else 1


def insert_bundle(
    con: duckdb.DuckDBPyConnection,
    version: int,
    run_id: int,
    path: str,
    zip_path: str,
    sha256: str,
    gate: str,
    override_reason: str | None,
    body: dict[str, Any],
) -> None:
    """Register one bundle."""
    con.execute(
        "INSERT INTO bundles (version, run_id, path, zip_path, sha256, gate, override_reason, "
        "body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [version, run_id, path, zip_path, sha256, gate, override_reason, json.dumps(body)],
    )


def aliases(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """alias -> version."""
    rows = con.execute("SELECT alias, version FROM bundle_aliases").fetchall()
    return {str(a): int(v) for a, v in rows}


def set_alias(con: duckdb.DuckDBPyConnection, alias: str, version: int | None) -> None:
    """Point ``alias`` at ``version`` (moving it), or remove it when ``version`` is None."""
    con.execute("DELETE FROM bundle_aliases WHERE alias = ?", [alias])
    if version is not None:
        con.execute("INSERT INTO bundle_aliases (alias, version) VALUES (?, ?)", [alias, version])


def get_bundle(con: duckdb.DuckDBPyConnection, version: int) -> BundleVersion | None:
    """One registered version with its aliases, or None."""
    row = first_row(con.execute(f"SELECT {_COLUMNS} FROM bundles WHERE version = ?", [version]))
    if row is None:
        return None
    names = sorted(a for a, v in aliases(con).items() if v == version)
    return _row(row, names)


def list_bundles(con: duckdb.DuckDBPyConnection) -> list[BundleVersion]:
    """Every registered version, newest first, with its aliases."""
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases(con).items():
        by_version.setdefault(version, []).append(alias)
    rows = con.execute(f"SELECT {_COLUMNS} FROM bundles ORDER BY version DESC").fetchall()
    return [_row(r, sorted(by_version.get(int(r[0]), []))) for r in rows]


def production_history(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Versions that were production, oldest first, replayed from the deploy events: a
    promotion pushes its version, a rollback pops the current one."""
    rows = con.execute(
        "SELECT action, details FROM events WHERE stage = 'deploy' "
        "AND action IN ('promote', 'rollback') ORDER BY id"
    ).fetchall()
    history: list[int] = []
    for action, details in rows:
        version = json.loads(details).get("version")
        if action == "promote" and version is not None:
            history.append(int(version))
        elif action == "rollback" and history:
            history.pop()
    return history
