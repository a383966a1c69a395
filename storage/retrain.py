"""What the Retrain stage reads and writes besides the other stages' tables.

Comparisons are kept in the audit trail (``events`` with stage ``retrain``), so the whole
history of champion/challenger decisions can be queried with SQL. Every function takes an open
connection so the caller owns the transaction.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import polars as pl

from app.domain.training import Run
from storage.schema import first_row

STAGE = "retrain"


def latest_details(
    con: duckdb.DuckDBPyConnection, action: str
) -> tuple[int, dict[str, Any]] | None:
    """The id and details of the newest ``retrain`` event with ``action``, if any."""
    row = first_row(
        con.execute(
            "SELECT id, details FROM events WHERE stage = ? AND action = ? ORDER BY id DESC LIMIT 1",
            [STAGE, action],
        )
    )
    if row is None:
        return None
    details = row[1]
    return int(row[0]), json.loads(details) if isinstance(details, str) else dict(details)


def all_details(con: duckdb.DuckDBPyConnection, action: str) -> list[dict[str, Any]]:
    """The details of every ``retrain`` event with ``action``, oldest first."""
    rows = con.execute(
        "SELECT details FROM events WHERE stage = ? AND action = ? ORDER BY id", [STAGE, action]
    ).fetchall()
    return [json.loads(r[0]) if isinstance(r[0], str) else dict(r[0]) for r in rows]


def monitored_labels(con: duckdb.DuckDBPyConnection, batch: int) -> pl.DataFrame:
    """The stored labels of a batch's scored rows: ``row`` (1-based position in the file),
    ``key`` and ``label`` (text), only rows that have a label."""
    return con.sql(
        "SELECT row, key, label FROM monitor_predictions "
        f"WHERE batch = {int(batch)} AND label IS NOT NULL ORDER BY row"
    ).pl()


def add_run_notes(con: duckdb.DuckDBPyConnection, run_id: int, notes: list[str]) -> Run | None:
    """Append ``notes`` to a stored run's notes (its lineage); returns the updated run."""
    row = first_row(con.execute("SELECT body FROM runs WHERE id = ?", [run_id]))
    if row is None:
        return None
    run = Run.model_validate_json(row[0])
    updated = run.model_copy(update={"notes": [*run.notes, *notes]})
    con.execute("UPDATE runs SET body = ? WHERE id = ?", [updated.model_dump_json(), run_id])
    return updated
