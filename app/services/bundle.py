"""Building a deployable bundle from a chosen, evaluated run, and loading one to predict.

``build_bundle`` writes ``<out_dir>/<project>-run<id>-v<n>/`` (built in a temporary folder and
renamed into place) and the same files as a ``.zip`` beside it. ``load_bundle`` verifies the
manifest's SHA-256 of every file, refuses a newer bundle format, and loads the model only
through the skops allow-list. ``Bundle.predict`` validates rows against the input contract:
rows that break it are returned as rejects with a reason, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from app.domain.bundle import (
    BUNDLE_FORMAT,
    CATEGORY_CAP,
    Baseline,
    BundleMetadata,
    ColumnContract,
    FeatureBaseline,
    InputContract,
    Manifest,
    MetricValue,
)
from app.domain.evaluation import GateOutcome
from app.domain.metrics import TaskType
from app.errors import MlwbError
from app.services import browse, models
from app.services import evaluation as ev
from app.services import training as tr
from app.services.features import MISSING_LEVEL, FeatureSet
from app.services.model_card import model_card
from storage import training as store_runs
from storage.artifacts import TEMP_PREFIX
from storage.db import ProjectStore, mlwb_version

MODEL = "model.skops"
CONTRACT = "contract.json"
SCHEMA = "contract.schema.json"
BASELINE = "baseline.json"
METADATA = "metadata.json"
CARD = "model_card.md"
MANIFEST = "manifest.json"
FILES = (MODEL, CONTRACT, SCHEMA, BASELINE, METADATA, CARD)
"""Every file the manifest lists (the manifest itself is the seventh)."""

QUANTILES = {
    "q01": 0.01,
    "q05": 0.05,
    "q25": 0.25,
    "q50": 0.5,
    "q75": 0.75,
    "q95": 0.95,
    "q99": 0.99,
}
BINS = 10
TOP_LEVELS = 50
"""Levels with their own frequency in the baseline; the rest are counted as ``other``."""


# -- building -----------------------------------------------------------------------------------


def _contract(X: pd.DataFrame, features: FeatureSet, task: str) -> InputContract:
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


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per bin: below ``edges[0]``, each of the ``len(edges) - 1`` bins (the last one
    closed), above ``edges[-1]``."""
    index = np.searchsorted(edges, values, side="right")
    index[values == edges[-1]] = len(edges) - 1
    return np.bincount(index, minlength=len(edges) + 1)


def _numeric_baseline(name: str, kind: Any, values: np.ndarray) -> FeatureBaseline:
    n = len(values)
    present = values[~np.isnan(values)]
    missing = n - len(present)
    out = FeatureBaseline(
        name=name, kind=kind, n_rows=n, missing=missing, missing_rate=missing / n if n else 0.0
    )
    if len(present):
        edges = np.quantile(present, np.linspace(0, 1, BINS + 1))
        out.edges = [float(e) for e in edges]
        out.counts = [int(c) for c in bin_counts(present, edges)]
        qs = np.quantile(present, list(QUANTILES.values()))
        out.quantiles = {k: float(q) for k, q in zip(QUANTILES, qs, strict=True)}
        out.mean = float(present.mean())
        out.std = float(present.std())
    return out


def _baseline(X: pd.DataFrame, contract: InputContract) -> Baseline:
    features: list[FeatureBaseline] = []
    for c in contract.columns:
        if c.kind == "numeric":
            values = X[c.name].to_numpy(dtype=np.float64)
            features.append(_numeric_baseline(c.name, c.kind, values))
        elif c.kind == "datetime":
            stamps = pd.to_datetime(X[c.name])
            seconds = np.where(stamps.isna(), np.nan, stamps.astype("int64") / 1e9)
            features.append(_numeric_baseline(c.name, c.kind, seconds.astype(np.float64)))
        else:
            text = X[c.name].astype(str)
            n = len(text)
            missing = int((text == MISSING_LEVEL).sum())
            counts = text[text != MISSING_LEVEL].value_counts(sort=True)
            top = counts.head(TOP_LEVELS)
            features.append(
                FeatureBaseline(
                    name=c.name,
                    kind=c.kind,
                    n_rows=n,
                    missing=missing,
                    missing_rate=missing / n if n else 0.0,
                    frequencies={str(k): int(v) for k, v in top.items()},
                    other=int(counts.sum() - top.sum()),
                )
            )
    return Baseline(n_rows=len(X), features=features)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    if model_bytes is None or _sha(model_bytes) != record["sha256"]:
        raise MlwbError(
            f"the stored model of run {run_id} is missing or changed since it was saved",
            hint=f"choose the run again to refit it: mlwb train --choose {run_id}",
        )

    task = TaskType(record["task"])
    features = FeatureSet.from_record(record)
    version = browse.get_version(store, run.dataset, run.version)
    X, _ = tr.load_part(store, version, features, task, holdout=False)
    contract = _contract(X, features, task.value)
    baseline = _baseline(X, contract)
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
    }
    manifest = Manifest(files={name: _sha(data) for name, data in contents.items()})
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


def _read_files(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    if path.is_file() and zipfile.is_zipfile(path):
        out: dict[str, bytes] = {}
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    out[info.filename.rsplit("/", 1)[-1]] = archive.read(info)
        return out
    if not path.exists():
        raise MlwbError(f"there is no bundle at {path}", hint="give a bundle folder or .zip")
    raise MlwbError(f"{path} is neither a bundle folder nor a .zip", hint="mlwb deploy builds one")


def _parse(model: Any, name: str, data: bytes) -> Any:
    try:
        return model.model_validate_json(data)
    except ValueError as exc:
        raise MlwbError(f"the bundle's {name} cannot be read: {exc}") from exc


def load_bundle(path: Path) -> Bundle:
    """Open a bundle folder or ``.zip``: verify every file and load the model (allow-list)."""
    path = Path(path)
    files = _read_files(path)
    if MANIFEST not in files:
        raise MlwbError(
            f"{path} is not a complete bundle: {MANIFEST} is missing",
            hint="build the bundle again (mlwb deploy)",
        )
    try:
        raw = json.loads(files[MANIFEST])
        found = int(raw.get("bundle_format", 0))
    except (ValueError, TypeError, AttributeError) as exc:
        raise MlwbError(f"the bundle's {MANIFEST} cannot be read: {exc}") from exc
    if found > BUNDLE_FORMAT:
        raise MlwbError(
            f"{path} has bundle format {found}, newer than this mlwb supports "
            f"(format {BUNDLE_FORMAT})",
            hint="upgrade mlwb to load it",
        )
    manifest = _parse(Manifest, MANIFEST, files[MANIFEST])
    missing = [f for f in (*FILES, *manifest.files) if f not in files]
    if missing:
        raise MlwbError(
            f"{path} is missing file(s): " + ", ".join(sorted(set(missing))),
            hint="build the bundle again (mlwb deploy)",
        )
    unlisted = [f for f in FILES if f not in manifest.files]
    changed = [f for f, digest in manifest.files.items() if _sha(files[f]) != digest]
    if unlisted or changed:
        raise MlwbError(
            f"refusing {path}: file(s) changed since the bundle was built (SHA-256 mismatch): "
            + ", ".join(sorted(changed + unlisted)),
            hint="the bundle was tampered with or damaged; build it again (mlwb deploy)",
        )
    metadata = _parse(BundleMetadata, METADATA, files[METADATA])
    if metadata.bundle_format > BUNDLE_FORMAT:
        raise MlwbError(
            f"{path} has bundle format {metadata.bundle_format}, newer than this mlwb supports "
            f"(format {BUNDLE_FORMAT})",
            hint="upgrade mlwb to load it",
        )
    contract = _parse(InputContract, CONTRACT, files[CONTRACT])
    baseline = _parse(Baseline, BASELINE, files[BASELINE])
    with tempfile.TemporaryDirectory() as temp:
        model_file = Path(temp) / MODEL
        model_file.write_bytes(files[MODEL])
        try:
            model = models.load_model(model_file, manifest.files[MODEL])
        except MlwbError as exc:
            raise MlwbError(
                exc.message.replace(str(model_file), f"{path} ({MODEL})"), exc.hint
            ) from exc
    return Bundle(
        path=path,
        metadata=metadata,
        contract=contract,
        baseline=baseline,
        manifest=manifest,
        model=model,
        card=files[CARD].decode(),
    )


# -- predicting ---------------------------------------------------------------------------------


class Prediction(NamedTuple):
    """What ``Bundle.predict`` returns."""

    predictions: pd.DataFrame
    """One row per scored input row: ``row`` (its position in the input), ``prediction``,
    probabilities (classification), ``threshold`` (binary) and ``flags``."""
    rejects: pd.DataFrame
    """One row per rejected input row: ``row`` and ``reason``."""
    ignored_columns: list[str]
    """Input columns the contract does not name (ignored)."""


def _as_pandas(frame: Any) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame.reset_index(drop=True)
    if isinstance(frame, list | tuple):
        if not all(isinstance(r, dict) for r in frame):
            raise MlwbError("input rows must be dicts of column -> value")
        return pd.DataFrame.from_records(list(frame))
    if hasattr(frame, "to_pandas") and hasattr(frame, "columns"):
        return frame.to_pandas()
    raise MlwbError(
        f"cannot predict on a {type(frame).__name__}",
        hint="give a pandas or polars DataFrame, or a list of dicts",
    )


def _missing_mask(s: pd.Series) -> np.ndarray:
    blank = s.map(lambda v: isinstance(v, str) and not v.strip())
    return np.asarray(s.isna() | blank.astype(bool), dtype=bool)


@dataclass
class Bundle:
    """A loaded, verified bundle."""

    path: Path
    metadata: BundleMetadata
    contract: InputContract
    baseline: Baseline
    manifest: Manifest
    model: Any
    card: str = ""

    def predict(self, frame: Any) -> Prediction:
        """Validate ``frame`` (pandas, polars or a list of dicts) and score the valid rows."""
        data = _as_pandas(frame)
        names = [c.name for c in self.contract.columns]
        ignored = [str(c) for c in data.columns if c not in names]
        if len(data) == 0 and len(data.columns) == 0:
            return Prediction(self._empty(), _rejects([], []), ignored)
        absent = [n for n in names if n not in data.columns]
        if absent:
            raise MlwbError(
                "the input is missing column(s): " + ", ".join(absent),
                hint="the contract names every column a row needs (contract.schema.json)",
            )
        n = len(data)
        reasons: list[list[str]] = [[] for _ in range(n)]
        flags: list[list[str]] = [[] for _ in range(n)]
        clean: dict[str, Any] = {}
        for c in self.contract.columns:
            clean[c.name] = self._column(c, data[c.name], reasons, flags)
        X = pd.DataFrame(clean, columns=names)
        ok = np.array([not r for r in reasons], dtype=bool)
        rows = np.flatnonzero(ok)
        rejects = _rejects(
            [int(i) for i in np.flatnonzero(~ok)],
            ["; ".join(reasons[i]) for i in np.flatnonzero(~ok)],
        )
        if not len(rows):
            return Prediction(self._empty(), rejects, ignored)
        out = self._score(X.iloc[rows].reset_index(drop=True))
        out.insert(0, "row", rows)
        out["flags"] = ["; ".join(flags[i]) for i in rows]
        return Prediction(out, rejects, ignored)

    def _column(
        self,
        c: ColumnContract,
        s: pd.Series,
        reasons: list[list[str]],
        flags: list[list[str]],
    ) -> Any:
        missing = _missing_mask(s)
        if c.kind == "numeric":
            values = pd.to_numeric(s.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
            bad = np.isnan(values) & ~missing
            for i in np.flatnonzero(bad):
                reasons[i].append(f"{c.name}: {s.iloc[i]!r} is not a number")
            empty = (missing | ~np.isfinite(values)) & ~bad
            if not c.nullable:
                for i in np.flatnonzero(empty):
                    reasons[i].append(
                        f"{c.name}: missing (null, NaN or inf) but training had no missing values"
                    )
            values = np.where(np.isfinite(values), values, np.nan)
            if c.min is not None and c.max is not None:
                with np.errstate(invalid="ignore"):
                    for i in np.flatnonzero(values < c.min):
                        flags[i].append(f"{c.name}={values[i]:g} below training min {c.min:g}")
                    for i in np.flatnonzero(values > c.max):
                        flags[i].append(f"{c.name}={values[i]:g} above training max {c.max:g}")
            return values
        if c.kind == "categorical":
            text = np.where(missing, MISSING_LEVEL, s.astype(str).to_numpy(dtype=object))
            if not c.more_categories:
                known = set(c.categories)
                for i, v in enumerate(text):
                    if v not in known:
                        flags[i].append(f"{c.name}={v!r} not seen in training")
            return text.astype(object)
        stamps = pd.to_datetime(s.where(~missing), errors="coerce", format="mixed")
        bad = np.asarray(stamps.isna(), dtype=bool) & ~missing
        for i in np.flatnonzero(bad):
            reasons[i].append(f"{c.name}: {s.iloc[i]!r} is not a date/time")
        if not c.nullable:
            for i in np.flatnonzero(missing):
                reasons[i].append(f"{c.name}: missing but training had no missing values")
        return stamps

    def _empty(self) -> pd.DataFrame:
        columns = ["row", "prediction"]
        if self.metadata.task == TaskType.BINARY.value:
            columns += ["probability", "threshold"]
        elif self.metadata.task == TaskType.MULTICLASS.value:
            classes = np.asarray(self.model.classes_).astype(str)
            columns += ["probability"] + [f"probability_{k}" for k in classes]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*columns, "flags"]})

    def _score(self, X: pd.DataFrame) -> pd.DataFrame:
        task = TaskType(self.metadata.task)
        if task is TaskType.REGRESSION:
            return pd.DataFrame({"prediction": np.asarray(self.model.predict(X), dtype=float)})
        classes = np.asarray(self.model.classes_).astype(str)
        if task is TaskType.BINARY:
            positive = str(self.metadata.positive_class)
            column = int(np.flatnonzero(classes == positive)[0])
            cut = self.metadata.threshold
            if hasattr(self.model, "predict_proba"):
                score = np.asarray(self.model.predict_proba(X), dtype=float)[:, column]
                cut = 0.5 if cut is None else cut
            else:
                raw = np.asarray(self.model.decision_function(X), dtype=float)
                score = raw if column == 1 else -raw
                cut = 0.0 if cut is None else cut
            labels = np.where(score >= cut, positive, classes[1 - column])
            return pd.DataFrame({"prediction": labels, "probability": score, "threshold": cut})
        proba = np.asarray(self.model.predict_proba(X), dtype=float)
        out = pd.DataFrame(
            {"prediction": classes[np.argmax(proba, axis=1)], "probability": proba.max(axis=1)}
        )
        for k, name in enumerate(classes):
            out[f"probability_{name}"] = proba[:, k]
        return out


def _rejects(rows: list[int], reasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"row": pd.Series(rows, dtype="int64"), "reason": pd.Series(reasons, dtype=object)}
    )


def _slug(text: str) -> str:
    """``text`` as a file-name part: lower case letters, digits, dots, dashes."""
    slug = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return slug[:60] or "project"
