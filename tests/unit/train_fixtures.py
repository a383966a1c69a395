"""Small projects for the Train stage tests: trimmed slices of the sample data, or any frame.

The sample files are large for a unit test (32k and 17k rows), so the tests train on a few
thousand rows: the first rows of adult.csv with the whitespace trimmed (so the charter's
positive class '>50K' is a value), and every 5th hour of the bike data without the two
leaking columns (casual + registered = cnt).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from app.services import ingest, problem, roles
from app.services.demo import DEMO_CHARTERS
from storage import training as store_runs
from storage.db import ProjectStore

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
POSITIVE = ">50K"


@functools.cache
def _adult_all() -> pl.DataFrame:
    frame = pl.read_csv(SAMPLE / "adult.csv")
    return frame.with_columns(pl.col(pl.String).str.strip_chars())


def adult_frame(n: int = 3000) -> pl.DataFrame:
    """The first ``n`` rows of adult.csv with text trimmed."""
    return _adult_all().head(n)


def bikes_frame(every: int = 5) -> pl.DataFrame:
    """Every ``every``-th hour of the bike data, without casual and registered."""
    frame = pl.read_csv(SAMPLE / "bike_sharing_hour.csv").drop("casual", "registered")
    return frame.gather_every(every)


def charter(name: str, **changes: Any) -> dict[str, Any]:
    """A demo charter with some fields changed."""
    data = copy.deepcopy(DEMO_CHARTERS[name])
    data.update(changes)
    return data


def regression_charter(target: str, metric: str = "mae", **changes: Any) -> dict[str, Any]:
    """The bikes charter retargeted, without a time column unless given."""
    return charter(
        "bikes",
        target=target,
        time_column=changes.pop("time_column", None),
        primary_metric=metric,
        threshold=changes.pop("threshold", 1.0),
        constraints=[],
        **changes,
    )


def classification_charter(
    target: str, task: str = "binary", positive: str | None = None, **changes: Any
) -> dict[str, Any]:
    """The adult charter retargeted (f1 for binary, accuracy for multiclass)."""
    return charter(
        "adult",
        task=task,
        target=target,
        positive_class=positive,
        primary_metric="f1" if task == "binary" else "accuracy",
        threshold=0.5,
        constraints=[],
        **changes,
    )


def make_project(
    root: Path,
    name: str,
    frame: pl.DataFrame | None,
    charter_data: dict[str, Any] | None,
    column_roles: dict[str, str] | None = None,
) -> ProjectStore:
    """A project at ``root`` with ``charter_data`` saved and ``frame`` imported as ``name``."""
    root.mkdir(parents=True, exist_ok=True)
    store = ProjectStore.create(root / "project", name)
    if charter_data is not None:
        problem.save_charter(store, charter_data)
    if frame is not None:
        path = root / f"{name}.csv"
        frame.write_csv(path)
        ingest.import_file(store, path, name=name)
    if column_roles:
        roles.set_roles(store, name, column_roles)  # type: ignore[arg-type]
    return store


def table_name(store: ProjectStore, dataset: str, version: int = 1) -> str:
    with store.connect() as con:
        row = con.execute(
            "SELECT table_name FROM datasets WHERE name = ? AND version = ?", [dataset, version]
        ).fetchone()
    assert row is not None
    return str(row[0])


def holdout_ids(store: ProjectStore, dataset: str, version: int = 1) -> np.ndarray:
    with store.connect() as con:
        return store_runs.holdout_ids(con, dataset, version)


def counts(store: ProjectStore) -> dict[str, int]:
    """Rows of the Train stage tables and the event log."""
    out: dict[str, int] = {}
    with store.connect() as con:
        for table in ("runs", "train_sessions", "splits", "holdout_rows", "models", "events"):
            row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            out[table] = int(row[0])
    return out


def train_and_choose(store: ProjectStore, model: str = "logreg", cv: int = 3) -> int:
    """Train one candidate, refit it as the chosen model and return its run id."""
    from app.domain.training import TrainSettings
    from app.services import models, training

    session = training.train(store, TrainSettings(models=[model], cv=cv))
    with store.connect() as con:
        (run,) = store_runs.list_runs(con, session=session)
    models.choose(store, run.id)
    return run.id


def table_count(store: ProjectStore, table: str) -> int:
    """Rows of one table of the project."""
    with store.connect() as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def passed_project(root: Path) -> tuple[ProjectStore, int]:
    """1,500 adult rows, a chosen logistic regression that passed the gate (f1 >= 0.3):
    what the Deploy stage starts from."""
    from app.domain.evaluation import GateOutcome
    from app.services import evaluation as ev

    store = make_project(
        root, "adult", adult_frame(1500), charter("adult", threshold=0.3, constraints=[])
    )
    run_id = train_and_choose(store)
    evaluation = ev.evaluate(store, run_id, resamples=200, importance=False)
    assert evaluation.gate.outcome is GateOutcome.PASS, evaluation.gate.summary
    return store, run_id
