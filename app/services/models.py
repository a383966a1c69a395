"""Choosing a run: refit it on the whole training part and keep the model in the project.

Models are saved with skops, never with plain pickle, and loaded back only when every type the
file names is on an explicit allow-list (skops' own trusted scikit-learn and NumPy types plus
``EXTRA_TRUSTED``). A file that names anything else is refused with the type in the message.
``rerun`` repeats a run's cross-validation from its stored settings and reports whether every
fold metric came out the same.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from app.domain.training import CANDIDATES, Run, RunStatus
from app.errors import MlwbError
from app.runtime.safe_load import TRUSTED, load_skops
from app.services import browse
from app.services import training as tr
from app.services.features import build_pipeline, feature_names
from app.services.fit_threads import fit_threads
from app.services.sm_estimators import summary_text
from storage import datasets as ds
from storage import repositories as repo
from storage import training as store_runs
from storage.artifacts import atomic_path
from storage.db import ProjectStore

EXTRA_TRUSTED = TRUSTED


def model_path(store: ProjectStore, run_id: int) -> Path:
    """Where the refitted model of a run is kept."""
    return store.artifacts / "models" / f"run-{run_id}.skops"


def save_model(model: Any, path: Path) -> tuple[int, str]:
    """Write ``model`` with skops atomically; returns (bytes, sha256)."""
    data = sio.dumps(model)
    with atomic_path(path) as temp:
        temp.write_bytes(data)
    return len(data), hashlib.sha256(data).hexdigest()


def load_model(path: Path, expected_sha256: str | None = None) -> Any:
    """Load a skops file, refusing any type outside the allow-list (and a changed file)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MlwbError(f"cannot read the model file {path}: {exc.strerror}") from exc
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise MlwbError(
            f"the model file {path} changed since it was saved (its SHA-256 does not match)",
            hint="choose the run again to refit it (mlwb train --choose RUN)",
        )
    return load_skops(data, str(path))


@dataclass
class ChosenModel:
    """A refitted run saved in the project."""

    run: Run
    path: Path
    bytes: int
    sha256: str
    seconds: float
    n_rows: int


def choose(store: ProjectStore, run_id: int) -> ChosenModel:
    """Refit run ``run_id`` on the whole training part, save it, and make it the chosen run."""
    run = _get_run(store, run_id)
    if run.status is not RunStatus.DONE:
        raise MlwbError(
            f"run {run_id} is {run.status.value}, so it cannot be chosen",
            hint="choose a finished run (mlwb runs list)",
        )
    version = browse.get_version(store, run.dataset, run.version)
    if version.fingerprint != run.fingerprint:
        raise MlwbError(f"the data of run {run_id} changed since it ran", hint="train again")
    data = tr.load_training(store, run.cv, run.seed, version)
    spec = CANDIDATES[run.candidate]
    pipeline = build_pipeline(spec, run.params, data.task, run.seed, data.features)
    # The same seeded row limit as in cross-validation.
    rows = tr.subsample_rows(np.arange(len(data.y)), spec.row_limit, run.seed)
    started = time.perf_counter()
    with fit_threads(pipeline):
        pipeline.fit(data.X.iloc[rows], data.y[rows])
    seconds = time.perf_counter() - started
    path = model_path(store, run_id)
    size, digest = save_model(pipeline, path)
    body = {
        "candidate": run.candidate,
        "params": run.params,
        "dataset": run.dataset,
        "version": run.version,
        "fingerprint": run.fingerprint,
        "features": data.features.columns,
        "numeric": data.features.numeric,
        "categorical": data.features.categorical,
        "dates": data.features.dates,
        "target": data.features.target,
        "encoded_features": feature_names(pipeline),
        "n_rows": len(rows),
        "fit_seconds": seconds,
        "task": data.task.value,
        "positive_class": data.positive,
    }
    try:
        with store.transaction() as con:
            store_runs.put_model(con, run_id, str(path.relative_to(store.root)), size, digest, body)
            ds.set_state(con, store_runs.CHOSEN_RUN, str(run_id))
            repo.record_event(
                con,
                "train",
                "run_chosen",
                f"run {run_id} ({run.label}) chosen and refitted on {len(rows):,} training rows; "
                f"model {size / 1e6:.1f} MB",
                {"run": run_id, "bytes": size, "sha256": digest, "seconds": seconds},
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ChosenModel(run, path, size, digest, seconds, len(rows))


def chosen_run(store: ProjectStore) -> Run | None:
    """The chosen run, if any."""
    with store.connect() as con:
        value = ds.get_state(con, store_runs.CHOSEN_RUN)
        return store_runs.get_run(con, int(value)) if value else None


def load_chosen(store: ProjectStore) -> tuple[Run, Any, dict[str, Any]]:
    """The chosen run, its fitted pipeline (verified and allow-listed) and the model record."""
    run = chosen_run(store)
    if run is None:
        raise MlwbError("no run has been chosen", hint="choose one: mlwb train --choose RUN")
    with store.connect() as con:
        record = store_runs.get_model(con, run.id)
    if record is None:
        raise MlwbError(f"run {run.id} has no stored model", hint="mlwb train --choose RUN")
    model = load_model(store.root / record["path"], record["sha256"])
    return run, model, record


def _get_run(store: ProjectStore, run_id: int) -> Run:
    with store.connect() as con:
        run = store_runs.get_run(con, run_id)
    if run is None:
        raise MlwbError(f"there is no run {run_id}", hint="list runs with: mlwb runs list")
    return run


@dataclass
class Rerun:
    """A run repeated from its stored settings, and whether it matched."""

    original: Run
    again: Run
    identical: bool
    differences: list[str]


def rerun(store: ProjectStore, run_id: int) -> Rerun:
    """Repeat run ``run_id`` (same data version, split, folds, seed and parameters)."""
    original = _get_run(store, run_id)
    version = browse.get_version(store, original.dataset, original.version)
    data = tr.load_training(store, original.cv, original.seed, version)
    spec = CANDIDATES[original.candidate]
    again = tr.cross_validate_config(
        data, spec, original.params, original.seed, original.session, original.trial
    )
    again.rerun_of = run_id
    differences: list[str] = []
    for a, b in zip(original.folds, again.folds, strict=False):
        for metric, value in a.metrics.items():
            if b.metrics.get(metric) != value:
                differences.append(
                    f"fold {a.fold} {metric}: {value!r} then {b.metrics.get(metric)!r}"
                )
    if len(original.folds) != len(again.folds):
        differences.append(f"{len(original.folds)} folds then {len(again.folds)}")
    if again.status is not original.status:
        differences.append(f"status {original.status.value} then {again.status.value}")
    with store.transaction() as con:
        new_id = store_runs.insert_run(con, again)
        repo.record_event(
            con,
            "train",
            "run_rerun",
            f"run {run_id} rerun as run {new_id}: "
            + (
                "identical fold metrics" if not differences else f"{len(differences)} difference(s)"
            ),
            {"run": run_id, "rerun": new_id, "differences": differences[:50]},
        )
    again.id = new_id
    return Rerun(original, again, not differences, differences)


def fit_for_summary(store: ProjectStore, run: Run) -> tuple[Any, list[str]]:
    """The run's pipeline fitted on the training part (the stored model when it has one)."""
    with store.connect() as con:
        record = store_runs.get_model(con, run.id)
    if record is not None:
        model = load_model(store.root / record["path"], record["sha256"])
        return model, feature_names(model)
    version = browse.get_version(store, run.dataset, run.version)
    data = tr.load_training(store, run.cv, run.seed, version)
    spec = CANDIDATES[run.candidate]
    pipeline = build_pipeline(spec, run.params, data.task, run.seed, data.features)
    rows = tr.subsample_rows(np.arange(len(data.y)), spec.row_limit, run.seed)
    with fit_threads(pipeline):
        pipeline.fit(data.X.iloc[rows], data.y[rows])
    return pipeline, feature_names(pipeline)


def interpretable_summary(store: ProjectStore, run: Run) -> str | None:
    """The coefficient table of a statsmodels run (None for other models or failed runs)."""
    spec = CANDIDATES.get(run.candidate)
    if spec is None or spec.family != "statsmodels" or run.status is not RunStatus.DONE:
        return None
    try:
        model, names = fit_for_summary(store, run)
    except Exception as exc:  # the summary is extra; say why it is missing
        return f"(no coefficient table: {exc})"
    return summary_text(model[-1], names)
