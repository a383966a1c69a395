"""Splits, training sessions, runs and models in the project database.

Every function takes an open connection so the caller owns the transaction. Runs are stored
as they finish (one short transaction each), so a cancelled or crashed session keeps every
finished candidate.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from app.domain.evaluation import Evaluation
from app.domain.training import Run, Session, Split, TrainSettings
from storage.schema import first_row

CHOSEN_RUN = "chosen_run"
"""project_state key of the run chosen for evaluation (its model is refitted and stored)."""


def get_split(con: duckdb.DuckDBPyConnection, dataset: str, version: int) -> Split | None:
    """The locked holdout of that version, or None before the first training."""
    row = first_row(
        con.execute("SELECT body FROM splits WHERE dataset = ? AND version = ?", [dataset, version])
    )
    return Split.model_validate_json(row[0]) if row else None


def put_split(con: duckdb.DuckDBPyConnection, split: Split, holdout: np.ndarray) -> None:
    """Lock ``split`` with its holdout ``row_id``s (DuckDB rowids of the version's table)."""
    con.execute(
        "INSERT INTO splits (dataset, version, fingerprint, body) VALUES (?, ?, ?, ?)",
        [split.dataset, split.version, split.fingerprint, split.model_dump_json()],
    )
    rows = pa.table({"row_id": pa.array(np.asarray(holdout, dtype=np.int64))})
    con.register("_holdout_rows", rows)
    try:
        con.execute(
            "INSERT INTO holdout_rows SELECT ?, ?, row_id FROM _holdout_rows",
            [split.dataset, split.version],
        )
    finally:
        con.unregister("_holdout_rows")


def holdout_ids(con: duckdb.DuckDBPyConnection, dataset: str, version: int) -> np.ndarray:
    """The holdout's row ids, ascending."""
    found = con.execute(
        "SELECT row_id FROM holdout_rows WHERE dataset = ? AND version = ? ORDER BY row_id",
        [dataset, version],
    ).fetchnumpy()
    return np.asarray(found["row_id"], dtype=np.int64)


def start_session(
    con: duckdb.DuckDBPyConnection, dataset: str, version: int, settings: TrainSettings, pid: int
) -> int:
    """Record a running session; returns its id."""
    row = first_row(
        con.execute(
            "INSERT INTO train_sessions (dataset, version, status, pid, settings) "
            "VALUES (?, ?, 'running', ?, ?) RETURNING id",
            [dataset, version, pid, settings.model_dump_json()],
        )
    )
    assert row is not None
    return int(row[0])


def finish_session(con: duckdb.DuckDBPyConnection, session: int, status: str) -> None:
    """Mark a session done, cancelled or failed."""
    con.execute(
        "UPDATE train_sessions SET status = ?, finished_at = current_timestamp, pid = NULL "
        "WHERE id = ?",
        [status, session],
    )


def _session(row: tuple[Any, ...]) -> Session:
    return Session(
        id=row[0],
        dataset=row[1],
        version=row[2],
        status=row[3],
        pid=row[4],
        started_at=row[5],
        finished_at=row[6],
        settings=TrainSettings.model_validate_json(row[7]),
    )


_SESSION_COLUMNS = "id, dataset, version, status, pid, started_at, finished_at, settings"


def get_session(con: duckdb.DuckDBPyConnection, session: int) -> Session | None:
    """One session by id."""
    row = first_row(
        con.execute(f"SELECT {_SESSION_COLUMNS} FROM train_sessions WHERE id = ?", [session])
    )
    return _session(row) if row else None


def latest_session(con: duckdb.DuckDBPyConnection, dataset: str | None = None) -> Session | None:
    """The most recent session (of ``dataset`` when given)."""
    where = "WHERE dataset = ?" if dataset else ""
    row = first_row(
        con.execute(
            f"SELECT {_SESSION_COLUMNS} FROM train_sessions {where} ORDER BY id DESC LIMIT 1",
            [dataset] if dataset else [],
        )
    )
    return _session(row) if row else None


def running_sessions(con: duckdb.DuckDBPyConnection) -> list[Session]:
    """Sessions still marked running (their process may have died)."""
    rows = con.execute(
        f"SELECT {_SESSION_COLUMNS} FROM train_sessions WHERE status = 'running' ORDER BY id"
    ).fetchall()
    return [_session(r) for r in rows]


def insert_run(con: duckdb.DuckDBPyConnection, run: Run) -> int:
    """Store a finished run; returns its id (also set on the stored body)."""
    row = first_row(con.execute("SELECT nextval('runs_id_seq')"))
    assert row is not None
    run_id = int(row[0])
    body = run.model_copy(update={"id": run_id})
    con.execute(
        "INSERT INTO runs (id, session, dataset, version, candidate, status, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            run.session,
            run.dataset,
            run.version,
            run.candidate,
            run.status.value,
            body.model_dump_json(),
        ],
    )
    return run_id


def get_run(con: duckdb.DuckDBPyConnection, run_id: int) -> Run | None:
    """One run by id."""
    row = first_row(con.execute("SELECT body FROM runs WHERE id = ?", [run_id]))
    return Run.model_validate_json(row[0]) if row else None


def list_runs(
    con: duckdb.DuckDBPyConnection,
    dataset: str | None = None,
    version: int | None = None,
    session: int | None = None,
) -> list[Run]:
    """Runs, oldest first, filtered by dataset, version and session."""
    clauses: list[str] = []
    values: list[Any] = []
    for column, value in (("dataset", dataset), ("version", version), ("session", session)):
        if value is not None:
            clauses.append(f"{column} = ?")
            values.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = con.execute(f"SELECT body FROM runs {where} ORDER BY id", values).fetchall()
    return [Run.model_validate_json(r[0]) for r in rows]


def put_model(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    path: str,
    size: int,
    sha256: str,
    body: dict[str, Any],
) -> None:
    """Record (or replace) the stored model of a run."""
    con.execute("DELETE FROM models WHERE run_id = ?", [run_id])
    con.execute(
        "INSERT INTO models (run_id, path, bytes, sha256, body) VALUES (?, ?, ?, ?, ?)",
        [run_id, path, size, sha256, json.dumps(body)],
    )


def get_model(con: duckdb.DuckDBPyConnection, run_id: int) -> dict[str, Any] | None:
    """The stored model record of a run: path, bytes, sha256 and its body fields."""
    row = first_row(
        con.execute(
            "SELECT path, bytes, sha256, created_at, body FROM models WHERE run_id = ?", [run_id]
        )
    )
    if row is None:
        return None
    return {
        "run_id": run_id,
        "path": row[0],
        "bytes": int(row[1]),
        "sha256": row[2],
        "created_at": row[3],
        **json.loads(row[4]),
    }


def insert_evaluation(con: duckdb.DuckDBPyConnection, evaluation: Evaluation) -> int:
    """Store an evaluation; returns its id."""
    row = first_row(con.execute("SELECT nextval('evaluations_id_seq')"))
    assert row is not None
    eval_id = int(row[0])
    body = evaluation.model_copy(update={"id": eval_id})
    con.execute(
        "INSERT INTO evaluations (id, run_id, charter_version, outcome, body) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            eval_id,
            evaluation.run_id,
            evaluation.charter_version,
            evaluation.gate.outcome.value,
            body.model_dump_json(),
        ],
    )
    return eval_id


def latest_evaluation(
    con: duckdb.DuckDBPyConnection, run_id: int | None = None
) -> Evaluation | None:
    """The most recent evaluation (of ``run_id`` when given)."""
    where = "WHERE run_id = ?" if run_id is not None else ""
    row = first_row(
        con.execute(
            f"SELECT body FROM evaluations {where} ORDER BY id DESC LIMIT 1",
            [run_id] if run_id is not None else [],
        )
    )
    return Evaluation.model_validate_json(row[0]) if row else None


def update_model_body(con: duckdb.DuckDBPyConnection, run_id: int, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into a stored model's record (e.g. the decision threshold)."""
    row = first_row(con.execute("SELECT body FROM models WHERE run_id = ?", [run_id]))
    if row is None:
        return
    body = {**json.loads(row[0]), **changes}
    con.execute("UPDATE models SET body = ? WHERE run_id = ?", [json.dumps(body), run_id])
