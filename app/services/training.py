"""The Train stage: a locked holdout, cross-validated candidates and a resumable leaderboard.

``train`` runs a session: it locks the holdout of the current dataset version (once), loads
the training part into memory (the holdout is never read), builds each candidate's
preprocessing + model pipeline, cross-validates it fold by fold and stores every run the
moment it ends. Cancelling stops at the next fold boundary; finished runs stay, and
``train(resume=True)`` continues the candidates and search trials still missing. A candidate
that raises is stored as failed and the others go on.
"""

from __future__ import annotations

import math
import os
import pickle
import platform
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit, TimeSeriesSplit

from app.domain.charter import Charter
from app.domain.dataset import DatasetVersion
from app.domain.metrics import METRICS, Direction, TaskType
from app.domain.project import CharterVersion
from app.domain.training import (
    CANDIDATES,
    HOLDOUT_SHARE,
    CandidateSpec,
    FoldResult,
    LeaderboardRow,
    Run,
    RunStatus,
    Split,
    TrainSettings,
)
from app.errors import MlwbError
from app.services import browse, scoring
from app.services.features import FeatureSet, build_pipeline, feature_set, select_sql
from app.services.fit_threads import fit_threads
from app.services.roles import column_roles
from storage import datasets as ds
from storage import profiles
from storage import repositories as repo
from storage import training as store_runs
from storage.artifacts import process_alive
from storage.db import ProjectStore, mlwb_version

TIE_LEVEL = 0.05
"""p-value above which a candidate is 'statistically indistinguishable' from the leader."""
HIGH_CARDINALITY = 1_000
"""A categorical feature with more levels than this gets a note (encoders cap its levels)."""
HALVING_FACTOR = 3
"""Successive halving keeps the best third of configurations at each rung."""

Listener = Callable[["TrainEvent"], None]
Stop = Callable[[], bool]

_IN_PROCESS = threading.Lock()


class TrainingCancelled(MlwbError):
    """The user stopped training; finished runs were kept."""


@dataclass
class TrainEvent:
    """Progress of a session, for a progress bar or a live table."""

    kind: str
    """``start``, ``candidate``, ``fold``, ``run``, ``done``."""
    candidate: str = ""
    trial: int = 0
    trials: int = 1
    fold: int = 0
    folds: int = 0
    elapsed: float = 0.0
    run: Run | None = None
    message: str = ""
    fraction: float = 0.0


@dataclass
class TrainData:
    """The training part of a dataset version, ready for cross-validation."""

    version: DatasetVersion
    charter: Charter
    split: Split
    features: FeatureSet
    X: pd.DataFrame
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    cv_kind: str
    notes: list[str] = field(default_factory=list)
    charter_version: int | None = None

    @property
    def task(self) -> TaskType:
        """The charter's task."""
        return self.charter.task

    @property
    def positive(self) -> str | None:
        """The positive class (binary)."""
        return self.charter.positive_class


def _nothing(event: TrainEvent) -> None:
    """A listener that ignores events."""


def _never() -> bool:
    return False


def libraries() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced."""
    import scipy
    import sklearn
    import statsmodels

    return {
        "mlwb": mlwb_version(),
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "statsmodels": statsmodels.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
    }


# -- the charter and the split ----------------------------------------------------------------


def _charter(store: ProjectStore) -> Charter:
    return current_charter(store).charter


def current_charter(store: ProjectStore) -> CharterVersion:
    """The latest charter version; a clear error without one or without a target."""
    with store.connect() as con:
        found = repo.latest_charter(con)
    if found is None:
        raise MlwbError(
            "there is no charter, so there is no target to train for",
            hint="save a charter first (Problem screen, or mlwb problem set)",
        )
    if not found.charter.target:
        raise MlwbError(
            "the charter names no target column",
            hint="set the target in the charter (mlwb problem set --target COLUMN)",
        )
    return found


def charter_task(store: ProjectStore) -> TaskType:
    """The task of the current charter (a clear error without one)."""
    return _charter(store).task


def _target_column(columns: list[tuple[str, str]], charter: Charter, ref: str) -> tuple[str, str]:
    for name, kind in columns:
        if name == charter.target:
            return name, kind
    for name, kind in columns:
        if name.lower() == charter.target.lower():
            return name, kind
    raise MlwbError(
        f"the charter's target {charter.target!r} is not a column of {ref}",
        hint="fix the target in the charter or import the right data",
    )


def _time_column(columns: list[tuple[str, str]], charter: Charter) -> str | None:
    if not charter.time_column:
        return None
    for name, _ in columns:
        if name.lower() == charter.time_column.lower():
            return name
    return None


def ensure_split(
    store: ProjectStore, version: DatasetVersion | None = None, seed: int = 42
) -> Split:
    """The locked holdout of ``version`` (the current one by default), made now if needed."""
    charter = _charter(store)
    found = version or _current(store)
    with store.connect() as con:
        existing = store_runs.get_split(con, found.name, found.version)
    if existing is not None:
        return existing
    return _make_split(store, found, charter, seed)


def _current(store: ProjectStore) -> DatasetVersion:
    found = browse.current_dataset(store)
    if found is None:
        raise MlwbError(
            "there is no data to train on", hint="import data first (mlwb data import FILE)"
        )
    return found


def _check_target(kind: str, charter: Charter, column: str) -> None:
    numeric = kind.upper().startswith(
        ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "U", "FLOAT", "DOUBLE", "DECIMAL")
    )
    if charter.task is TaskType.REGRESSION and not numeric:
        raise MlwbError(
            f"the target {column!r} is {kind}, but regression needs numbers",
            hint="cast it to a number in the Data stage (cast step), or make the charter's task "
            "classification",
        )


def _make_split(store: ProjectStore, found: DatasetVersion, charter: Charter, seed: int) -> Split:
    """Draw and lock the holdout of ``found``."""
    split, holdout = draw_split(store, found, charter, seed)
    return lock_split(store, split, holdout)


def lock_split(store: ProjectStore, split: Split, holdout: np.ndarray) -> Split:
    """Store a drawn split (unless one was locked meanwhile, which then wins)."""
    with store.transaction() as con:
        existing = store_runs.get_split(con, split.dataset, split.version)
        if existing is not None:
            return existing
        store_runs.put_split(con, split, holdout)
        repo.record_event(
            con,
            "train",
            "holdout_locked",
            f"{split.dataset}@{split.version}: holdout locked, {split.text()}",
            split.model_dump(mode="json"),
        )
    return split


def draw_split(
    store: ProjectStore, found: DatasetVersion, charter: Charter, seed: int
) -> tuple[Split, np.ndarray]:
    """The holdout of ``found`` as the charter asks for it, not yet stored: (split, row ids)."""
    q = ds.quote_ident
    with store.connect() as con:
        columns = ds.table_columns(con, found.table_name)
        target, kind = _target_column(columns, charter, found.ref)
        _check_target(kind, charter, target)
        time_col = _time_column(columns, charter)
        order = f"{q(time_col)}, rowid" if time_col else "rowid"
        target_sql = (
            f"CAST({q(target)} AS VARCHAR)" if charter.task.is_classification else q(target)
        )
        extra = f", {q(time_col)} AS t" if time_col else ""
        if time_col:
            missing = ds.first_row(
                con.execute(
                    f"SELECT count(*) FROM {q(found.table_name)} WHERE {q(time_col)} IS NULL "
                    f"AND {q(target)} IS NOT NULL"
                )
            )
            if missing and missing[0]:
                raise MlwbError(
                    f"the time column {time_col!r} has {missing[0]:,} missing value(s) in "
                    f"{found.ref}, so those rows cannot be placed before or after the holdout",
                    hint="drop or fill them in the Data stage, or clear the charter's time column",
                )
        data = con.execute(
            f"SELECT rowid AS r, {target_sql} AS y{extra} FROM {q(found.table_name)} "
            f"WHERE {q(target)} IS NOT NULL ORDER BY {order}"
        ).fetchnumpy()
    rows = np.asarray(data["r"], dtype=np.int64)
    n = len(rows)
    if n == 0:
        raise MlwbError(
            f"every value of the target {target!r} is missing in {found.ref}",
            hint="import data with the target filled in, or pick another target",
        )
    y = np.asarray(data["y"])
    if charter.task.is_classification:
        labels, counts = np.unique(y.astype(str), return_counts=True)
        if len(labels) < 2:
            raise MlwbError(
                f"the target {target!r} has one class only ({str(labels[0])!r}) in {found.ref}",
                hint="a classifier needs at least two classes; check the data or the target",
            )
        if charter.task is TaskType.BINARY and charter.positive_class not in labels:
            raise MlwbError(
                f"the charter's positive class {charter.positive_class!r} is not a value of "
                f"{target!r} in {found.ref} (values: "
                f"{', '.join(repr(str(v)) for v in labels[:10])})",
                hint="clean the target in the Data stage (e.g. trim whitespace) or correct the "
                "positive class in the charter",
            )
    n_hold = max(1, int(round(n * HOLDOUT_SHARE)))
    if n - n_hold < 2:
        raise MlwbError(
            f"{found.ref} has {n} row(s) with a target, too few to hold out {HOLDOUT_SHARE:.0%} "
            "and still train",
            hint="import more data",
        )
    cutoff = None
    if time_col:
        times = np.asarray(data["t"])
        cutoff_value = times[n - n_hold]
        # Every row at or after the cutoff is held out, so training never sees the future.
        holdout = rows[times >= cutoff_value]
        cutoff = str(cutoff_value)
        if np.issubdtype(times.dtype, np.datetime64):
            stamp = pd.Timestamp(cutoff_value)
            cutoff = stamp.date().isoformat() if stamp == stamp.normalize() else str(stamp)
        kind_name = "time"
    elif charter.task.is_classification:
        small = [f"{str(label)!r} ({c})" for label, c in zip(labels, counts, strict=True) if c < 2]
        if small:
            raise MlwbError(
                f"class(es) {', '.join(small)} of {target!r} have fewer than 2 rows, so a "
                "stratified holdout cannot include them",
                hint="merge rare classes or drop those rows in the Data stage",
            )
        if n_hold < len(labels) or n - n_hold < len(labels):
            raise MlwbError(
                f"{found.ref} has {n:,} rows with a target but {len(labels)} classes: a "
                f"stratified holdout of {n_hold:,} rows cannot hold every class",
                hint="merge rare classes in the Data stage, or import more rows",
            )
        sss = StratifiedShuffleSplit(n_splits=1, test_size=n_hold, random_state=seed)
        _, test_idx = next(sss.split(np.zeros(n), y.astype(str)))
        holdout = rows[test_idx]
        kind_name = "stratified"
    else:
        rng = np.random.default_rng(seed)
        holdout = rows[rng.permutation(n)[:n_hold]]
        kind_name = "random"
    holdout = np.sort(holdout)
    split = Split(
        dataset=found.name,
        version=found.version,
        fingerprint=found.fingerprint,
        kind=kind_name,  # type: ignore[arg-type]
        test_size=HOLDOUT_SHARE,
        seed=seed,
        target=target,
        time_column=time_col,
        n_train=n - len(holdout),
        n_holdout=len(holdout),
        cutoff=cutoff,
        created_at=datetime.now(UTC),
    )
    return split, holdout


# -- loading the training part ----------------------------------------------------------------


def load_training(
    store: ProjectStore,
    cv: int = 5,
    seed: int = 42,
    version: DatasetVersion | None = None,
) -> TrainData:
    """The training part of ``version`` (current by default) with its folds; checks inputs."""
    charter_version = current_charter(store)
    found = version or _current(store)
    with store.connect() as con:
        split = store_runs.get_split(con, found.name, found.version)
    pending = None
    if split is None:
        # Drawn now, locked only once every check passed: a refused training leaves no trace.
        split, pending = draw_split(store, found, charter_version.charter, seed)
    data = _load_training(store, charter_version, found, split, cv, seed, version, pending)
    if pending is not None:
        data.split = lock_split(store, split, pending)
    return data


def _load_training(
    store: ProjectStore,
    charter_version: CharterVersion,
    found: DatasetVersion,
    split: Split,
    cv: int,
    seed: int,
    version: DatasetVersion | None,
    pending: np.ndarray | None,
) -> TrainData:
    charter = charter_version.charter
    q = ds.quote_ident
    with store.connect() as con:
        columns = ds.table_columns(con, found.table_name)
        roles = ds.get_roles(con, found.name)
    if version is None:
        roles = dict(column_roles(store, found.name))
    target, _ = _target_column(columns, charter, found.ref)
    features = feature_set(columns, roles, target)
    notes: list[str] = []
    if not features.columns:
        raise MlwbError(
            f"{found.ref} has no feature columns: every column other than the target has the "
            "role id, time or ignore",
            hint="mark some columns as features (mlwb data roles COLUMN=feature)",
        )
    order = "rowid"
    if split.time_column:
        order = f"{q(split.time_column)}, rowid"
    select = select_sql(features, q, charter.task.is_classification)
    if pending is None:
        holdout_sql = "holdout_rows h WHERE h.dataset = ? AND h.version = ? AND"
        params: list[Any] = [found.name, found.version]
    else:
        holdout_sql = "_pending_holdout h WHERE"
        params = []
    body = (
        f"FROM {q(found.table_name)} t WHERE {q(target)} IS NOT NULL AND NOT EXISTS ("
        f"SELECT 1 FROM {holdout_sql} h.row_id = t.rowid)"
    )
    with store.connect() as con:
        if pending is not None:
            con.register("_pending_holdout", pa.table({"row_id": pa.array(pending)}))
        stats_row = _feature_stats(con, features, body, params)
        frame = con.execute(f"SELECT {select} {body} ORDER BY {order}", params).df()
    constant = [c for c, distinct in stats_row.items() if distinct <= 1]
    for c in constant:
        features.excluded[c] = "constant in the training part"
        for group in (features.numeric, features.categorical, features.dates):
            if c in group:
                group.remove(c)
    if constant:
        notes.append(f"left out constant column(s): {', '.join(constant)}")
    if not features.columns:
        raise MlwbError(
            f"every feature of {found.ref} is constant (or entirely missing) in the training part",
            hint="there is nothing to learn from; check the data and the column roles",
        )
    for c in features.categorical:
        if stats_row.get(c, 0) > HIGH_CARDINALITY:
            notes.append(
                f"{c!r} has {stats_row[c]:,} levels: one-hot keeps the 50 most frequent, "
                "trees the 250 most frequent (rarer levels share one code)"
            )
    notes += _leakage_notes(store, found, features)
    y = frame[target].to_numpy()
    if charter.task is TaskType.BINARY:
        values = sorted({str(v) for v in np.unique(y.astype(str))})
        if charter.positive_class not in values:
            raise MlwbError(
                f"the charter's positive class {charter.positive_class!r} is not a value of "
                f"{target!r} in {found.ref} (values: {', '.join(repr(v) for v in values[:10])})",
                hint="clean the target in the Data stage (e.g. trim whitespace) or correct the "
                "positive class in the charter",
            )
        if len(values) > 2:
            raise MlwbError(
                f"the charter says binary, but {target!r} has {len(values)} classes in {found.ref}",
                hint="make the task multiclass in the charter, or merge classes in the Data stage",
            )
    X = frame.drop(columns=[target])
    folds, cv_kind = make_folds(y, charter.task, split, cv, seed)
    return TrainData(
        version=found,
        charter=charter,
        split=split,
        features=features,
        X=X,
        y=y,
        folds=folds,
        cv_kind=cv_kind,
        notes=notes,
        charter_version=charter_version.version,
    )


def load_part(
    store: ProjectStore,
    version: DatasetVersion,
    features: FeatureSet,
    task: TaskType,
    holdout: bool,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The feature columns and target of the training part or (``holdout``) the holdout of a
    version, in the types models read, ordered by time (time splits) or row."""
    q = ds.quote_ident
    with store.connect() as con:
        split = store_runs.get_split(con, version.name, version.version)
    if split is None:
        raise MlwbError(f"{version.ref} has no locked holdout yet", hint="train first (mlwb train)")
    target = features.target
    select = select_sql(features, q, task.is_classification)
    order = f"{q(split.time_column)}, rowid" if split.time_column else "rowid"
    negate = "" if holdout else "NOT "
    sql = (
        f"SELECT {select} FROM {q(version.table_name)} t WHERE {q(target)} IS NOT NULL AND "
        f"{negate}EXISTS (SELECT 1 FROM holdout_rows h WHERE h.dataset = ? AND h.version = ? "
        f"AND h.row_id = t.rowid) ORDER BY {order}"
    )
    with store.connect() as con:
        frame = con.execute(sql, [version.name, version.version]).df()
    y = frame[target].to_numpy()
    return frame.drop(columns=[target]), y


def _leakage_notes(store: ProjectStore, found: DatasetVersion, features: FeatureSet) -> list[str]:
    """Warn when the version's profile flags possible target leakage in a feature."""
    with store.connect() as con:
        if repo.count_rows(con, "profiles") is None:
            return []
        profile = profiles.latest_profile(con, found.name, found.version, found.fingerprint)
    if profile is None:
        return []
    leaky = sorted(
        {c for a in profile.alerts if a.kind == "leakage" for c in a.columns}
        & set(features.columns)
    )
    if not leaky:
        return []
    return [
        f"possible target leakage: {', '.join(leaky)} (Explore); scores may be too good to be "
        "true — set their role to ignore if they are not known at prediction time"
    ]


def _feature_stats(con: Any, features: FeatureSet, body: str, params: list[Any]) -> dict[str, int]:
    """Distinct non-missing values per feature in the training part (approximate above 1k)."""
    q = ds.quote_ident
    columns = features.columns
    if not columns:
        return {}
    parts = [f"approx_count_distinct({q(c)})" for c in columns]
    row = ds.first_row(con.execute(f"SELECT {', '.join(parts)} {body}", params))
    assert row is not None
    return {c: int(v or 0) for c, v in zip(columns, row, strict=True)}


def make_folds(
    y: np.ndarray, task: TaskType, split: Split, cv: int, seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """Cross-validation folds of the training part: time-ordered, stratified or plain k-fold."""
    n = len(y)
    if n < cv * 2 if split.kind == "time" else n < cv:
        raise MlwbError(
            f"the training part has {n} row(s), too few for {cv} folds",
            hint=f"use fewer folds (--cv {max(2, min(cv - 1, n // 2))}) or more data",
        )
    X0 = np.zeros(n)
    if split.kind == "time":
        return [(a, b) for a, b in TimeSeriesSplit(n_splits=cv).split(X0)], "time"
    if task.is_classification:
        labels, counts = np.unique(y.astype(str), return_counts=True)
        small = [f"{str(label)!r} ({c})" for label, c in zip(labels, counts, strict=True) if c < cv]
        if small:
            fewest = int(counts.min())
            raise MlwbError(
                f"class(es) {', '.join(small)} of the target have fewer training rows than the "
                f"{cv} folds",
                hint=f"use --cv {max(2, fewest)} or fewer"
                if fewest >= 2
                else "merge rare classes or drop those rows in the Data stage",
            )
        skf = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
        return list(skf.split(X0, y)), "stratified"
    kf = KFold(n_splits=cv, shuffle=True, random_state=seed)
    return list(kf.split(X0)), "kfold"


# -- cross-validating one configuration -------------------------------------------------------


def subsample_rows(idx: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or len(idx) <= limit:
        return idx
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(idx, size=limit, replace=False))


def _stats(values: list[float | None]) -> tuple[float | None, float | None]:
    if not values or any(v is None for v in values):
        return None, None
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())


def cross_validate_config(
    data: TrainData,
    spec: CandidateSpec,
    params: dict[str, Any],
    seed: int,
    session: int,
    trial: int = 0,
    on_fold: Callable[[int], None] | None = None,
    should_stop: Stop | None = None,
    time_limit: float | None = None,
    row_fraction: float = 1.0,
) -> Run:
    """Cross-validate one configuration; failures and cancels are recorded in the Run."""
    stop = should_stop or _never
    started = datetime.now(UTC)
    clock = time.perf_counter()
    folds: list[FoldResult] = []
    status = RunStatus.DONE
    error: str | None = None
    model_bytes: int | None = None
    subsample: int | None = None
    notes = list(data.notes)
    metric_names = scoring.metric_names(data.task)
    try:
        template = build_pipeline(spec, params, data.task, seed, data.features)
        for i, (train_idx, valid_idx) in enumerate(data.folds):
            if stop():
                status = RunStatus.CANCELLED
                error = f"cancelled after {i} of {len(data.folds)} folds"
                break
            limit = spec.row_limit
            if row_fraction < 1.0:
                limit = max(20, int(len(train_idx) * row_fraction))
                limit = min(limit, spec.row_limit or limit)
            used = subsample_rows(train_idx, limit, seed + i)
            if len(used) < len(train_idx) and spec.row_limit and len(used) == spec.row_limit:
                subsample = len(used)
            model = clone(template)
            t0 = time.perf_counter()
            with fit_threads(model):
                model.fit(data.X.iloc[used], data.y[used])
            fit_s = time.perf_counter() - t0
            X_valid = data.X.iloc[valid_idx]
            t1 = time.perf_counter()
            pred = scoring.predict(model, X_valid, data.task)
            predict_s = time.perf_counter() - t1
            values = scoring.score(data.task, data.y[valid_idx], pred, data.positive)
            folds.append(
                FoldResult(
                    fold=i,
                    n_train=len(used),
                    n_valid=len(valid_idx),
                    metrics={m: values.get(m) for m in metric_names},
                    fit_seconds=fit_s,
                    predict_seconds=predict_s,
                )
            )
            if i == len(data.folds) - 1:
                model_bytes = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
            if on_fold:
                on_fold(i + 1)
            if time_limit and time.perf_counter() - clock > time_limit and i < len(data.folds) - 1:
                status = RunStatus.FAILED
                error = (
                    f"time limit of {time_limit:g} s reached after fold {i + 1} of "
                    f"{len(data.folds)}; raise the limit or pick lighter parameters"
                )
                break
    except Exception as exc:  # a failing candidate is recorded; the session goes on
        status = RunStatus.FAILED
        error = f"{type(exc).__name__}: {exc}".strip()[:2000]
    if subsample:
        notes.append(f"fitted on a seeded subsample of {subsample:,} rows per fold (row limit)")
    if row_fraction < 1.0:
        notes.append(f"fitted on {row_fraction:.0%} of each training fold (halving rung)")
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    if status is RunStatus.DONE:
        for m in metric_names:
            mean[m], std[m] = _stats([f.metrics.get(m) for f in folds])
    n_valid = sum(f.n_valid for f in folds)
    return Run(
        session=session,
        candidate=spec.key,
        params=params,
        trial=trial,
        status=status,
        error=error,
        folds=folds,
        mean=mean,
        std=std,
        fit_seconds=float(np.mean([f.fit_seconds for f in folds])) if folds else 0.0,
        predict_ms_per_1k=1e6 * sum(f.predict_seconds for f in folds) / n_valid
        if n_valid
        else None,
        model_bytes=model_bytes,
        subsample=subsample,
        dataset=data.version.name,
        version=data.version.version,
        fingerprint=data.version.fingerprint,
        seed=seed,
        cv=len(data.folds),
        cv_kind=data.cv_kind,  # type: ignore[arg-type]
        split=data.split.text(),
        libraries=libraries(),
        started_at=started,
        duration=time.perf_counter() - clock,
        notes=notes,
        charter_version=data.charter_version,
        features=data.features.columns,
    )


# -- sessions ---------------------------------------------------------------------------------


def trial_params(
    spec: CandidateSpec, base: dict[str, Any], seed: int, count: int
) -> list[dict[str, Any]]:
    """The configurations a search tries, in order: ``base`` first, then seeded samples."""
    rng = random.Random(f"{seed}:{spec.key}")
    out = [dict(base)]
    seen = {repr(sorted(base.items()))}
    attempts = 0
    while len(out) < count and attempts < count * 20:
        attempts += 1
        sample = {p.name: p.sample(rng) if p.search else base[p.name] for p in spec.params}
        key = repr(sorted(sample.items()))
        if key not in seen:
            seen.add(key)
            out.append(sample)
    return out


def _claim(store: ProjectStore) -> None:
    """Refuse a second training on the project; sessions of dead processes become 'failed'."""
    with store.transaction() as con:
        for s in store_runs.running_sessions(con):
            if s.pid and s.pid != os.getpid() and process_alive(s.pid):
                raise MlwbError(
                    f"a training (session {s.id}) is already running in this project (pid {s.pid})",
                    hint="wait for it to finish or cancel it, then start again",
                )
            if s.pid != os.getpid():
                store_runs.finish_session(con, s.id, "failed")


def train(
    store: ProjectStore,
    settings: TrainSettings,
    on_event: Listener | None = None,
    should_stop: Stop | None = None,
    resume: bool = False,
) -> int:
    """Run (or with ``resume`` continue) a training session; returns the session id.

    Raises ``TrainingCancelled`` when stopped (finished runs are kept). Only one session runs
    per project at a time, across processes.
    """
    emit = on_event or _nothing
    stop = should_stop or _never
    if not _IN_PROCESS.acquire(blocking=False):
        raise MlwbError(
            "a training is already running in this window",
            hint="wait for it to finish or cancel it (ctrl+c in the CLI, Cancel in the TUI)",
        )
    try:
        _claim(store)
        previous = None
        if resume:
            with store.connect() as con:
                previous = store_runs.latest_session(con)
            if previous is None:
                raise MlwbError("there is no training session to resume", hint="start one")
            settings = previous.settings
        charter = _charter(store)
        _validate(settings, charter.task)
        version = None
        if previous is not None:
            version = browse.get_version(store, previous.dataset, previous.version)
        data = load_training(store, settings.cv, settings.seed, version)
        done: dict[str, int] = {}
        if previous is not None:
            with store.connect() as con:
                for run in store_runs.list_runs(con, session=previous.id):
                    if run.status is not RunStatus.CANCELLED:
                        done[run.candidate] = done.get(run.candidate, 0) + 1
        with store.transaction() as con:
            if previous is not None:
                session = previous.id
                con.execute(
                    "UPDATE train_sessions SET status = 'running', pid = ?, finished_at = NULL "
                    "WHERE id = ?",
                    [os.getpid(), session],
                )
                action, verb = "session_resumed", "resumed"
            else:
                session = store_runs.start_session(
                    con, data.version.name, data.version.version, settings, os.getpid()
                )
                action, verb = "session_started", "started"
            repo.record_event(
                con,
                "train",
                action,
                f"training session {session} {verb} on {data.version.ref}: "
                f"{', '.join(settings.models)}; {settings.cv}-fold {data.cv_kind} CV, "
                f"seed {settings.seed}",
                {"session": session, "settings": settings.model_dump(mode="json")},
            )
        emit(
            TrainEvent(
                kind="start",
                message="\n".join(
                    [f"session {session}: {data.split.text()}", *(f"note: {n}" for n in data.notes)]
                ),
            )
        )
        status = "done"
        try:
            _run_session(data, settings, session, done, emit, stop, store)
        except (TrainingCancelled, KeyboardInterrupt):
            status = "cancelled"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            with store.transaction() as con:
                store_runs.finish_session(con, session, status)
                repo.record_event(
                    con,
                    "train",
                    f"session_{status}",
                    f"training session {session} {status}",
                    {"session": session},
                )
        emit(TrainEvent(kind="done", fraction=1.0, message=f"session {session} {status}"))
        return session
    finally:
        _IN_PROCESS.release()


def _validate(settings: TrainSettings, task: TaskType) -> None:
    problems = []
    for key in settings.models:
        spec = CANDIDATES[key]
        if task not in spec.tasks:
            problems.append(f"{key} ({spec.label}) does not fit {task.label}")
    for key, values in settings.params.items():
        if key not in CANDIDATES:
            problems.append(f"parameters given for unknown model {key!r}")
            continue
        try:
            CANDIDATES[key].resolve(values)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise MlwbError("; ".join(problems), hint="fix the model list or the parameters")


def _run_session(
    data: TrainData,
    settings: TrainSettings,
    session: int,
    done: dict[str, int],
    emit: Listener,
    stop: Stop,
    store: ProjectStore,
) -> None:
    total = len(settings.models)
    for position, key in enumerate(settings.models):
        spec = CANDIDATES[key]
        base = spec.resolve(settings.params.get(key))
        count = settings.trials(spec)
        if settings.search == "halving" and count > 1:
            if done.get(key):
                continue
            _halving(data, settings, spec, base, session, emit, stop, store, position, total)
            continue
        trials = trial_params(spec, base, settings.seed, count)
        started = time.perf_counter()
        for trial, params in enumerate(trials):
            if trial < done.get(key, 0):
                continue
            if stop():
                raise TrainingCancelled("training cancelled; finished runs were kept")
            if (
                trial > 0
                and settings.budget_seconds
                and time.perf_counter() - started > settings.budget_seconds
            ):
                break
            run = _one(
                data,
                settings,
                spec,
                params,
                session,
                trial,
                len(trials),
                emit,
                stop,
                position,
                total,
            )
            _store(store, run)
            emit(
                TrainEvent(
                    kind="run",
                    candidate=key,
                    trial=trial,
                    trials=len(trials),
                    run=run,
                    fraction=(position + (trial + 1) / len(trials)) / total,
                )
            )
            if run.status is RunStatus.CANCELLED:
                raise TrainingCancelled("training cancelled; finished runs were kept")
            if run.status is RunStatus.FAILED and trial == 0:
                break


def _one(
    data: TrainData,
    settings: TrainSettings,
    spec: CandidateSpec,
    params: dict[str, Any],
    session: int,
    trial: int,
    trials: int,
    emit: Listener,
    stop: Stop,
    position: int,
    total: int,
    row_fraction: float = 1.0,
) -> Run:
    folds = len(data.folds)
    clock = time.perf_counter()
    emit(
        TrainEvent(
            kind="candidate",
            candidate=spec.key,
            trial=trial,
            trials=trials,
            folds=folds,
            fraction=(position + trial / trials) / total,
        )
    )

    def on_fold(i: int) -> None:
        emit(
            TrainEvent(
                kind="fold",
                candidate=spec.key,
                trial=trial,
                trials=trials,
                fold=i,
                folds=folds,
                elapsed=time.perf_counter() - clock,
                fraction=(position + (trial + i / folds) / trials) / total,
            )
        )

    return cross_validate_config(
        data,
        spec,
        params,
        settings.seed,
        session,
        trial,
        on_fold,
        stop,
        settings.time_limit_seconds,
        row_fraction,
    )


def _store(store: ProjectStore, run: Run) -> Run:
    with store.transaction() as con:
        run_id = store_runs.insert_run(con, run)
    run.id = run_id
    return run


def _halving(
    data: TrainData,
    settings: TrainSettings,
    spec: CandidateSpec,
    base: dict[str, Any],
    session: int,
    emit: Listener,
    stop: Stop,
    store: ProjectStore,
    position: int,
    total: int,
) -> None:
    """Successive halving: many configurations on a share of the rows, the best third
    promoted to three times the rows, until the survivors run on all of it (stored)."""
    count = settings.trials(spec)
    configs = trial_params(spec, base, settings.seed, count)
    rungs = max(1, math.ceil(math.log(max(len(configs), 1), HALVING_FACTOR)))
    metric = data.charter.primary_metric
    sign = 1 if METRICS[metric].direction is Direction.MAXIMIZE else -1
    history: list[str] = []
    survivors = list(enumerate(configs))
    for rung in range(rungs):
        fraction = 1.0 / HALVING_FACTOR ** (rungs - rung)
        scored: list[tuple[float, int, dict[str, Any]]] = []
        for trial, params in survivors:
            if stop():
                raise TrainingCancelled("training cancelled; finished runs were kept")
            run = _one(
                data,
                settings,
                spec,
                params,
                session,
                trial,
                len(configs),
                emit,
                stop,
                position,
                total,
                fraction,
            )
            value = run.mean.get(metric)
            scored.append((sign * value if value is not None else -math.inf, trial, params))
        scored.sort(key=lambda item: item[0], reverse=True)
        keep = max(1, math.ceil(len(scored) / HALVING_FACTOR))
        history.append(f"{len(scored)} on {fraction:.0%} of rows")
        survivors = [(t, p) for _, t, p in scored[:keep]]
    note = "successive halving: " + " → ".join(history) + f" → {len(survivors)} on all rows"
    for trial, params in survivors:
        run = _one(
            data, settings, spec, params, session, trial, len(configs), emit, stop, position, total
        )
        run.notes.append(note)
        _store(store, run)
        emit(
            TrainEvent(
                kind="run",
                candidate=spec.key,
                trial=trial,
                trials=len(configs),
                run=run,
                fraction=(position + 1) / total,
            )
        )
        if run.status is RunStatus.CANCELLED:
            raise TrainingCancelled("training cancelled; finished runs were kept")


# -- the leaderboard --------------------------------------------------------------------------


def nadeau_bengio(a: list[float], b: list[float], n_train: float, n_test: float) -> float:
    """Two-sided p-value of the corrected resampled t-test (Nadeau & Bengio, 2003) for the
    fold-wise differences ``a - b``: the variance is inflated by ``1/k + n_test/n_train``
    because cross-validation folds share training rows."""
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    k = len(diffs)
    if k < 2:
        return float("nan")
    mean = diffs.mean()
    var = diffs.var(ddof=1)
    if var == 0:
        return 1.0 if mean == 0 else 0.0
    t = mean / math.sqrt((1 / k + n_test / n_train) * var)
    return float(2 * stats.t.sf(abs(t), df=k - 1))


@dataclass
class Leaderboard:
    """The best run per candidate on one dataset version, sorted by the primary metric."""

    rows: list[LeaderboardRow]
    primary: str
    task: TaskType
    split: Split | None
    failed: list[Run]
    version: DatasetVersion | None


def leaderboard(store: ProjectStore, version: DatasetVersion | None = None) -> Leaderboard:
    """Best finished run per candidate on ``version`` (current by default), ranked."""
    charter = _charter(store)
    found = version or browse.current_dataset(store)
    metric = charter.primary_metric
    if found is None:
        return Leaderboard([], metric, charter.task, None, [], None)
    with store.connect() as con:
        runs = store_runs.list_runs(con, found.name, found.version)
        split = store_runs.get_split(con, found.name, found.version)
    done = [r for r in runs if r.status is RunStatus.DONE and r.mean.get(metric) is not None]
    if done:
        # Compare like with like: the folds, seed and input columns of the latest run.
        latest = max(done, key=lambda r: r.id)
        done = [
            r
            for r in done
            if r.cv == latest.cv
            and r.seed == latest.seed
            and r.cv_kind == latest.cv_kind
            and r.features == latest.features
        ]
    sign = 1 if METRICS[metric].direction is Direction.MAXIMIZE else -1
    best: dict[str, Run] = {}
    counts: dict[str, int] = {}
    for r in done:
        counts[r.candidate] = counts.get(r.candidate, 0) + 1
        if r.candidate not in best or sign * r.mean[metric] > sign * best[r.candidate].mean[metric]:  # type: ignore[operator]
            best[r.candidate] = r
    ordered = sorted(best.values(), key=lambda r: sign * r.mean[metric], reverse=True)  # type: ignore[operator]
    rows: list[LeaderboardRow] = []
    leader = ordered[0] if ordered else None
    for i, r in enumerate(ordered):
        p = None
        tied = False
        if leader is not None and r is not leader and _comparable(leader, r, metric):
            a = leader.fold_values(metric)
            b = r.fold_values(metric)
            n_train = float(np.mean([f.n_train for f in leader.folds]))
            n_test = float(np.mean([f.n_valid for f in leader.folds]))
            p = nadeau_bengio(a, b, n_train, n_test)  # type: ignore[arg-type]
            tied = bool(p > TIE_LEVEL)
        rows.append(
            LeaderboardRow(rank=i + 1, run=r, trials=counts[r.candidate], p_value=p, tied=tied)
        )
    latest_failed: dict[str, Run] = {}
    for r in runs:
        if r.status is not RunStatus.DONE and r.candidate not in best:
            latest_failed[r.candidate] = r
    return Leaderboard(rows, metric, charter.task, split, list(latest_failed.values()), found)


def _comparable(a: Run, b: Run, metric: str) -> bool:
    """Whether two runs were scored on the same folds with the metric in every fold."""
    return (
        a.cv == b.cv
        and a.seed == b.seed
        and a.cv_kind == b.cv_kind
        and a.fingerprint == b.fingerprint
        and len(a.folds) == len(b.folds)
        and all(v is not None for v in a.fold_values(metric) + b.fold_values(metric))
    )
