"""Monitored batches and their scored rows in the project database.

Every function takes an open connection so the caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

import duckdb

from app.domain.monitor import BatchReport, MonitorBatch
from storage.schema import first_row

_COLUMNS = (
    "id, name, source, file_hash, bundle_version, created_at, n_rows, n_scored, n_rejected, "
    "status, drifted_share, key_column, decision, decision_note, decided_at, body"
)


def _batch(row: tuple[Any, ...]) -> MonitorBatch:
    names = [c.strip() for c in _COLUMNS.split(",")]
    data = dict(zip(names, row, strict=True))
    body = data.pop("body")
    data["report"] = BatchReport.model_validate_json(body) if isinstance(body, str) else body
    return MonitorBatch.model_validate(data)


def next_id(con: duckdb.DuckDBPyConnection) -> int:
    row = first_row(con.execute("SELECT coalesce(max(id), 0) FROM monitor_batches"))
    return int(row[0]) + 1 if row else 1


def insert_batch(con: duckdb.DuckDBPyConnection, batch: MonitorBatch) -> None:
    """Store one batch (its report as JSON)."""
    con.execute(
        "INSERT INTO monitor_batches (id, name, source, file_hash, bundle_version, n_rows, "
        "n_scored, n_rejected, status, drifted_share, key_column, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            batch.id,
            batch.name,
            batch.source,
            batch.file_hash,
            batch.bundle_version,
            batch.n_rows,
            batch.n_scored,
            batch.n_rejected,
            batch.status.value,
            batch.drifted_share,
            batch.key_column,
            batch.report.model_dump_json(),
        ],
    )


def update_report(con: duckdb.DuckDBPyConnection, batch: MonitorBatch) -> None:
    """Replace a batch's report and status (labels arrived)."""
    con.execute(
        "UPDATE monitor_batches SET status = ?, body = ? WHERE id = ?",
        [batch.status.value, batch.report.model_dump_json(), batch.id],
    )


def set_decision(
    con: duckdb.DuckDBPyConnection, batch_id: int, decision: str, note: str | None
) -> None:
    con.execute(
        "UPDATE monitor_batches SET decision = ?, decision_note = ?, "
        "decided_at = current_timestamp WHERE id = ?",
        [decision, note, batch_id],
    )


def get_batch(con: duckdb.DuckDBPyConnection, batch_id: int) -> MonitorBatch | None:
    row = first_row(con.execute(f"SELECT {_COLUMNS} FROM monitor_batches WHERE id = ?", [batch_id]))
    return _batch(row) if row else None


def list_batches(con: duckdb.DuckDBPyConnection) -> list[MonitorBatch]:
    """Every batch, oldest first."""
    rows = con.execute(f"SELECT {_COLUMNS} FROM monitor_batches ORDER BY id").fetchall()
    return [_batch(r) for r in rows]


def find_by_hash(con: duckdb.DuckDBPyConnection, file_hash: str) -> MonitorBatch | None:
    row = first_row(
        con.execute(
            f"SELECT {_COLUMNS} FROM monitor_batches WHERE file_hash = ? ORDER BY id LIMIT 1",
            [file_hash],
        )
    )
    return _batch(row) if row else None
