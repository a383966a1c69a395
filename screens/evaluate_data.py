"""What the Evaluate screen's workers read: the stored evaluation, the runs, holdout scores.

Each function runs inside a thread worker. ``read_stored`` is deliberately light: the
evaluation services import scikit-learn when they load (seconds on a cold start), so the
stored evaluation is read the way the lifecycle service reads it, and the screen can show it
at once. ``run_choices`` and ``holdout_scores`` need the ML stack and come after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.domain.charter import Charter
from app.domain.evaluation import Evaluation
from app.domain.metrics import METRICS
from screens.evaluate_format import LABEL_METRICS
from storage.db import ProjectStore


@dataclass
class StoredState:
    """The evaluation to show first, the chosen run and the charter's current version."""

    evaluation: Evaluation | None
    run_id: int | None
    """The run it belongs to (or, without an evaluation, the run asked for or chosen)."""
    chosen: int | None
    charter_version: int | None
    charter: Charter | None
    """The current charter (the live threshold is checked against it)."""
    has_model: bool = True
    """Whether the run has a refitted model (evaluating one without refits and chooses it)."""

    @property
    def task(self) -> str | None:
        """The charter's task (``binary``, ``multiclass``, ``regression``)."""
        return self.charter.task.value if self.charter else None


@dataclass
class RunChoice:
    """One entry of the run picker."""

    run_id: int
    text: str


def read_stored(store: ProjectStore, run_id: int | None = None) -> StoredState:
    """The latest evaluation of ``run_id`` (default: the chosen run, else the latest of any
    run), without importing the ML libraries."""
    from app.services.problem import current_charter
    from storage import datasets as ds
    from storage import repositories as repo
    from storage import training as store_runs

    with store.connect() as con:
        value = ds.get_state(con, store_runs.CHOSEN_RUN)
        chosen = int(value) if value else None
        found = None
        if repo.count_rows(con, "evaluations") is not None:
            wanted = run_id if run_id is not None else chosen
            if wanted is not None:
                found = store_runs.latest_evaluation(con, wanted)
            elif run_id is None:
                found = store_runs.latest_evaluation(con)
    charter = current_charter(store)
    shown = found.run_id if found is not None else (run_id if run_id is not None else chosen)
    has_model = True
    if shown is not None:
        with store.connect() as con:
            has_model = store_runs.get_model(con, shown) is not None
    return StoredState(
        found,
        shown,
        chosen,
        charter.version if charter else None,
        charter.charter if charter else None,
        has_model,
    )


def run_choices(store: ProjectStore, chosen: int | None) -> list[RunChoice]:
    """Finished runs of the current dataset version, best first (the leaderboard), with the
    chosen run marked and each run's last gate outcome."""
    from app.services import training as tr
    from storage import repositories as repo
    from storage import training as store_runs

    board = tr.leaderboard(store)
    metric = board.primary
    label = METRICS[metric].label if metric in METRICS else metric
    runs = [row.run for row in board.rows]
    choices: list[RunChoice] = []
    with store.connect() as con:
        has_table = repo.count_rows(con, "evaluations") is not None
        if chosen is not None and chosen not in {r.id for r in runs}:
            found = store_runs.get_run(con, chosen)
            if found is not None:
                runs.insert(0, found)
        for run in runs:
            mean = run.mean.get(metric)
            score = f"{label} {mean:.4f}" if mean is not None else label
            name = f"run {run.id}" + (" (chosen)" if run.id == chosen else "")
            parts = [name, run.label, score]
            last = store_runs.latest_evaluation(con, run.id) if has_table else None
            if last is not None:
                parts.append(last.gate.outcome.label)
            choices.append(RunChoice(run.id, " · ".join(parts)))
    return choices


def holdout_scores(store: ProjectStore, evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    """Truth and positive-class scores on the holdout (the service loads scikit-learn, so it
    is imported here, in the worker, not at start-up)."""
    from app.services import evaluation as ev

    return ev.holdout_scores(store, evaluation)


def threshold_grid(truth: np.ndarray, score: np.ndarray, primary: str) -> dict[str, np.ndarray]:
    """Precision, recall and F1 (and the primary metric when it is a label metric) over the
    threshold grid the service tunes on."""
    from app.services import evaluation as ev

    names = sorted({"precision", "recall", "f1", primary} & set(LABEL_METRICS))
    return ev.threshold_curve(truth, score, names)
