"""Building a deployable bundle from a chosen, evaluated run, and loading one to predict.

``build_bundle`` writes ``<out_dir>/<project>-run<id>-v<n>/`` (built in a temporary folder and
renamed into place) and the same files as a ``.zip`` beside it. ``load_bundle`` verifies the
manifest's SHA-256 of every file, refuses a newer bundle format, and loads the model only
through the skops allow-list. ``Bundle.predict`` validates rows against the input contract:
rows that break it are returned as rejects with a reason, never dropped silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from app.domain.evaluation import GateOutcome
from app.domain.metrics import TaskType
from app.domain.recipe import DateParts, DeriveColumn, Rename, Step, parse_step
from app.errors import MlwbError
from app.runtime.contract import (
    CATEGORY_CAP,
    MISSING_LEVEL,
    BundleMetadata,
    ColumnContract,
    FeatureBaseline,
    InputContract,
    Manifest,
    MetricValue,
    RawInput,
)
from app.runtime.predictor import (
    BASELINE,
    CARD,
    CONTRACT,
    FILES,
    MANIFEST,
    METADATA,
    MODEL,
    RAW,
    SCHEMA,
    Bundle,
    Prediction,
    open_bundle,
    sha256,
)
from app.services import browse, models
from app.services import evaluation as ev
from app.services import training as tr
from app.services.baseline_stats import (
    QUANTILES,
    TOP_LEVELS,
    baseline_of,
    bin_counts,
    numeric_baseline,
)
from app.services.cleaning import root_version
from app.services.expressions import compile_expression
from app.services.features import FeatureSet
from app.services.model_card import model_card
from app.services.recipe import replay_rowwise, schema_after
from storage import datasets as ds
from storage import training as store_runs
from storage.artifacts import TEMP_PREFIX
from storage.db import ProjectStore, mlwb_version

__all__ = [
    "QUANTILES",
    "FILES",
    "MANIFEST",
    "MODEL",
    "Bundle",
    "Prediction",
    "baseline_of",
    "bin_counts",
    "contract_of",
    "numeric_baseline",
    "build_bundle",
    "load_bundle",
]

# -- building -----------------------------------------------------------------------------------


def contract_of(X: pd.DataFrame, features: FeatureSet, task: str) -> InputContract:
    """The input contract of model-ready training rows ``X``."""
    columns: list[ColumnContract] = []
    for name in features.numeric:
        values = X[name].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        columns.append(
            ColumnContract(
                name=name,
                kind="numeric",
                nullable=bool(len(finite) < len(values)),
                min=float(finite.min()) if len(finite) else None,
                max=float(finite.max()) if len(finite) else None,
            )
        )
    for name in features.categorical:
        counts = X[name].astype(str).value_counts(sort=True)
        levels = [str(v) for v in counts.index]
        columns.append(
            ColumnContract(
                name=name,
                kind="categorical",
                nullable=MISSING_LEVEL in levels,
                categories=levels[:CATEGORY_CAP],
                more_categories=len(levels) > CATEGORY_CAP,
            )
        )
    for name in features.dates:
        columns.append(
            ColumnContract(name=name, kind="datetime", nullable=bool(X[name].isna().any()))
        )
    return InputContract(columns=columns, target=features.target, task=task)


def prediction_baseline(
    store: ProjectStore,
    version: Any,
    features: FeatureSet,
    task: TaskType,
    evaluation: Any,
) -> tuple[FeatureBaseline | None, int]:
    """The model's prediction distribution on the locked holdout (out of sample, as new rows
    will be scored), and the holdout size."""
    with store.connect() as con:
        record = store_runs.get_model(con, evaluation.run_id)
    if record is None:
        return None, 0
    model = models.load_model(store.root / record["path"], record["sha256"])
    X, y = tr.load_part(store, version, features, task, holdout=True)
    if not len(X):
        return None, 0
    scored = ev.Scored(task, y, model, X, evaluation.positive_class, evaluation.threshold)
    if task is TaskType.MULTICLASS:
        counts = pd.Series(scored.labels.astype(str)).value_counts(sort=True)
        top = counts.head(TOP_LEVELS)
        return (
            FeatureBaseline(
                name="prediction",
                kind="categorical",
                n_rows=len(X),
                missing=0,
                missing_rate=0.0,
                frequencies={str(k): int(v) for k, v in top.items()},
                other=int(counts.sum() - top.sum()),
            ),
            len(X),
        )
    values = scored.score if task is TaskType.BINARY else scored.values
    assert values is not None
    name = "score" if task is TaskType.BINARY else "prediction"
    return numeric_baseline(name, "numeric", np.asarray(values, dtype=np.float64)), len(X)


def _type_name(dtype: pl.DataType) -> str:
    name = type(dtype).__name__
    if name in {"Categorical", "Enum"}:
        return "String"
    if name == "Decimal":
        return "Float64"
    return name


def _required(schema: dict[str, pl.DataType], steps: list[Step], features: FeatureSet) -> list[str]:
    """The raw columns some feature is computed from: the features traced back through the
    row-wise steps (renames, derived columns, date parts)."""
    needed = set(features.columns)
    for i in reversed(range(len(steps))):
        step = steps[i]
        if isinstance(step, Rename):
            back = {new: old for old, new in step.mapping.items()}
            needed = {back.get(n, n) for n in needed}
        elif isinstance(step, DeriveColumn) and step.name in needed:
            before = schema_after(steps[:i], schema) if i else schema
            if not step.replace:
                needed.discard(step.name)
            needed |= set(compile_expression(step.expression, before)[1])
        elif isinstance(step, DateParts):
            made = needed & set(step.new_columns())
            if made:
                needed -= made
                needed.add(step.column)
    return [c for c in schema if c in needed]


def raw_input(store: ProjectStore, version: Any, features: FeatureSet) -> RawInput:
    """The raw columns, import null markers and row-wise recipe steps new rows go through."""
    with store.connect() as con:
        root = root_version(con, version)
        schema = dict(
            con.sql(f"SELECT * FROM {ds.quote_ident(root.table_name)} LIMIT 0").pl().schema
        )
    steps = [step for step in map(parse_step, version.recipe) if step.rowwise]
    return RawInput(
        columns={name: _type_name(dtype) for name, dtype in schema.items()},
        required=_required(schema, steps, features),
        null_markers=list(root.options.null_markers) if root.options else [],
        steps=[step.model_dump(mode="json") for step in steps],
    )


def _next_name(out_dir: Path, stem: str) -> str:
    n = 1
    while (out_dir / f"{stem}-v{n}").exists() or (out_dir / f"{stem}-v{n}.zip").exists():
        n += 1
    return f"{stem}-v{n}"


def build_bundle(
    store: ProjectStore,
    run_id: int | None = None,
    out_dir: Path | None = None,
    override_reason: str | None = None,
) -> Path:
    """Write the bundle of run ``run_id`` (the chosen run by default) under ``out_dir``
    (``artifacts/bundles`` of the project by default); returns the bundle folder."""
    if run_id is None:
        chosen = models.chosen_run(store)
        if chosen is None:
            raise MlwbError("no run has been chosen", hint="choose one: mlwb train --choose RUN")
        run_id = chosen.id
    with store.connect() as con:
        run = store_runs.get_run(con, run_id)
        record = store_runs.get_model(con, run_id)
    if run is None:
        raise MlwbError(f"there is no run {run_id}", hint="list runs with: mlwb runs list")
    if record is None:
        raise MlwbError(
            f"run {run_id} has no stored model to bundle",
            hint=f"choose it first to refit it: mlwb train --choose {run_id}",
        )
    evaluation = ev.latest(store, run_id)
    if evaluation is None:
        raise MlwbError(
            f"run {run_id} has not been evaluated, so it has no gate result",
            hint=f"evaluate it first: mlwb evaluate {run_id}",
        )
    outcome = evaluation.gate.outcome
    reason = (override_reason or "").strip() or None
    if outcome is not GateOutcome.PASS and reason is None:
        raise MlwbError(
            f"the latest evaluation of run {run_id} did not pass the gate "
            f"({outcome.label}: {evaluation.gate.summary})",
            hint='improve the model, or deploy anyway with --override-gate "reason"',
        )
    model_file = store.root / record["path"]
    model_bytes = model_file.read_bytes() if model_file.is_file() else None
    if model_bytes is None or sha256(model_bytes) != record["sha256"]:
        raise MlwbError(
            f"the stored model of run {run_id} is missing or changed since it was saved",
            hint=f"choose the run again to refit it: mlwb train --choose {run_id}",
        )

    task = TaskType(record["task"])
    features = FeatureSet.from_record(record)
    version = browse.get_version(store, run.dataset, run.version)
    X, _ = tr.load_part(store, version, features, task, holdout=False)
    contract = contract_of(X, features, task.value)
    baseline = baseline_of(X, contract)
    baseline.prediction, baseline.prediction_rows = prediction_baseline(
        store, version, features, task, evaluation
    )
    raw = raw_input(store, version, features)
    threshold = (
        evaluation.threshold if evaluation.threshold is not None else record.get("threshold")
    )
    if task is TaskType.BINARY and threshold is None:
        threshold = 0.5
    import skops

    metadata = BundleMetadata(
        mlwb_version=mlwb_version(),
        created_at=datetime.now(UTC),
        project=store.name,
        run_id=run_id,
        candidate=run.candidate,
        params=run.params,
        charter_version=evaluation.charter_version,
        dataset=f"{run.dataset}@{run.version}",
        fingerprint=run.fingerprint,
        task=task.value,
        target=features.target,
        positive_class=record.get("positive_class"),
        threshold=threshold if task is TaskType.BINARY else None,
        metrics={
            m.name: MetricValue(value=m.model.value, low=m.model.low, high=m.model.high)
            for m in evaluation.metrics
        },
        evaluation_id=evaluation.id,
        gate=outcome.value,
        override_reason=reason,
        libraries={**tr.libraries(), "skops": skops.__version__},
    )
    contents: dict[str, bytes] = {
        MODEL: model_bytes,
        CONTRACT: contract.model_dump_json(indent=2).encode(),
        SCHEMA: json.dumps(contract.json_schema(), indent=2).encode(),
        BASELINE: baseline.model_dump_json(indent=2).encode(),
        METADATA: metadata.model_dump_json(indent=2).encode(),
        CARD: model_card(store, run_id).encode(),
        RAW: raw.model_dump_json(indent=2).encode(),
    }
    manifest = Manifest(files={name: sha256(data) for name, data in contents.items()})
    contents[MANIFEST] = manifest.model_dump_json(indent=2).encode()

    out_dir = out_dir if out_dir is not None else store.artifacts / "bundles"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MlwbError(f"cannot create {out_dir}: {exc.strerror}") from exc
    name = _next_name(out_dir, f"{_slug(store.name)}-run{run_id}")
    temp_dir = out_dir / f"{TEMP_PREFIX}{os.getpid()}-{name}"
    temp_zip = out_dir / f"{TEMP_PREFIX}{os.getpid()}-{name}.zip"
    final = out_dir / name
    try:
        temp_dir.mkdir()
        for file, data in contents.items():
            (temp_dir / file).write_bytes(data)
        with zipfile.ZipFile(temp_zip, "w", zipfile.ZIP_DEFLATED) as archive:
            for file, data in contents.items():
                archive.writestr(f"{name}/{file}", data)
        os.replace(temp_dir, final)
        os.replace(temp_zip, out_dir / f"{name}.zip")
    except OSError as exc:
        shutil.rmtree(final, ignore_errors=True)
        raise MlwbError(f"cannot write the bundle to {out_dir}: {exc.strerror}") from exc
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
        temp_zip.unlink(missing_ok=True)
    return final


# -- loading ------------------------------------------------------------------------------------


def replay(frame: pl.DataFrame, steps: list[dict[str, Any]]) -> pl.DataFrame:
    """The row-wise recipe ``steps`` (as stored in a bundle) applied to new raw rows."""
    return replay_rowwise(frame, [parse_step(step) for step in steps])


def load_bundle(path: Path) -> Bundle:
    """Open a bundle folder or ``.zip``: verify every file and load the model (allow-list)."""
    return open_bundle(path, prepare=replay)


def _slug(text: str) -> str:
    """``text`` as a file-name part: lower case letters, digits, dots, dashes."""
    slug = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return slug[:60] or "project"
