"""Monitoring: new batches scored by the production bundle and compared with its baseline.

``add_batch`` reads a CSV, Parquet or NDJSON file in chunks (bounded memory for the rows),
replays the bundle's row-wise recipe and checks every row against the contract (the same
``Bundle.predict`` as ``mlwb predict`` and the server), scores the valid rows, and compares the
features the model read with the bundle's training baseline (``drift``: statistics only, the
training data is never needed). Contract breaks are counted per column; the prediction
distribution is compared with the holdout's; labels in the batch (or arriving later through
``add_labels``) give the primary metric with a bootstrap interval against the evaluation.

The batch's status (ok / warn / alert) comes from named levels (``app.domain.monitor``): the
importance-weighted share of drifted features, the share of rejected rows, the metric against
the charter, and scoring latency against a latency constraint. A recommendation (retrain,
inspect upstream data, accept as the new normal) says what to do; ``decide`` records what the
user chose. A failed batch stores nothing but an event saying why.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from app.domain.metrics import LATENCY_METRIC, TaskType
from app.domain.monitor import (
    ALERT_SHARE,
    REJECT_ALERT,
    REJECT_WARN,
    WARN_SHARE,
    BatchReport,
    ColumnViolations,
    Decision,
    MonitorBatch,
    Performance,
    Reason,
    Status,
    Violations,
)
from app.errors import MlwbError
from app.services import bootstrap as bs
from app.services import drift, problem, registry
from app.services import evaluation as ev
from app.services.bundle import Bundle, load_bundle
from app.services.ingest import IMPORT_MEMORY_LIMIT, file_sha256
from app.services.predict import file_format, id_column, source_sql
from storage import monitor as store_monitor
from storage import repositories as repo
from storage.artifacts import TEMP_PREFIX
from storage.db import ProjectStore

STAGE = "monitor"
CHUNK_ROWS = 100_000
RESAMPLES = 500
"""Bootstrap resamples for a batch's metric interval (a batch is scored often: fewer than the
evaluation's 1,000, still a stable 95 % interval)."""
SEED = 0

Progress = Callable[[float, str], None]
Stop = Callable[[], bool]


class MonitorCancelled(MlwbError):
    """The user stopped adding a batch; nothing was stored."""


def _nothing(fraction: float, text: str) -> None:
    return None


def _never() -> bool:
    return False


# -- the production bundle ----------------------------------------------------------------------


def production(store: ProjectStore) -> tuple[int, Bundle]:
    """The production version number and its loaded bundle."""
    versions = registry.list_versions(store)
    current = next((v for v in versions if "production" in v.aliases), None)
    path = registry.production_bundle(store)
    if current is None or path is None:
        raise MlwbError(
            "there is no production bundle to monitor with yet",
            hint="deploy one and promote it (Deploy stage: mlwb deploy, then "
            "mlwb registry promote VERSION)",
        )
    return current.version, load_bundle(path)


def _importance(store: ProjectStore, bundle: Bundle) -> dict[str, float]:
    evaluation = ev.latest(store, bundle.metadata.run_id)
    if evaluation is None or not evaluation.importance:
        return {}
    return {i.feature: max(float(i.mean), 0.0) for i in evaluation.importance}


# -- reading and scoring a file in chunks -------------------------------------------------------


class _Accumulated:
    """What the chunks add up to, in bounded memory: each feature's and the prediction's
    histogram in the baseline's bins, contract breaks counted per column, and the scored rows
    (position, key, prediction, score, label) staged in a Parquet file under the project's
    artifacts until the batch is stored in one transaction."""

    def __init__(self, bundle: Bundle, store: ProjectStore) -> None:
        self.bundle = bundle
        names = {c.name for c in bundle.contract.columns}
        self.features = drift.HistogramAccumulator(
            [fb for fb in bundle.baseline.features if fb.name in names]
        )
        reference = bundle.baseline.prediction
        self.prediction = drift.HistogramAccumulator([reference] if reference else [])
        self.violations = _ViolationCounts()
        self.n_rows = 0
        self.n_scored = 0
        self.seconds = 0.0
        self.has_keys = False
        self.has_labels = False
        store.artifacts.mkdir(parents=True, exist_ok=True)
        self.path = (
            store.artifacts / f"{TEMP_PREFIX}{os.getpid()}-monitor-{uuid.uuid4().hex}.parquet"
        )
        self._writer: pq.ParquetWriter | None = None

    def add(self, frame: pd.DataFrame, key: str | None, label: str | None, offset: int) -> None:
        started = time.perf_counter()
        result = self.bundle.predict(frame)
        self.seconds += time.perf_counter() - started
        preds = result.predictions
        positions = preds["row"].to_numpy(dtype=np.int64)
        if result.features is not None:
            self.features.add(result.features, len(preds))
        predictions = preds["prediction"].astype(str).to_numpy(dtype=object)
        score = preds["probability"] if "probability" in preds else preds["prediction"]
        scores = pd.to_numeric(score, errors="coerce").to_numpy(dtype=np.float64)
        reference = self.bundle.baseline.prediction
        if reference is not None:
            values = predictions if reference.kind == "categorical" else scores
            self.prediction.add({reference.name: values}, len(preds))
        keys = labels = None
        if key is not None:
            self.has_keys = True
            keys = frame[key].astype(str).to_numpy(dtype=object)[positions]
        if label is not None:
            self.has_labels = True
            raw = pd.Series(frame[label].to_numpy(dtype=object)[positions], dtype=object)
            labels = raw.map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)
        self._write(positions + offset, keys, predictions, scores, labels)
        self.violations.add(result.rejects["reason"].tolist(), preds["flags"].tolist())
        self.n_rows += len(frame)
        self.n_scored += len(preds)

    def _write(
        self,
        rows: np.ndarray,
        keys: np.ndarray | None,
        predictions: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray | None,
    ) -> None:
        table = pa.table(
            {
                "row": pa.array(rows + 1, pa.int64()),
                "key": _text(keys, len(rows)),
                "prediction": pa.array(predictions, pa.string()),
                "score": pa.array(scores, pa.float64(), from_pandas=True),
                "label": _text(labels, len(rows)),
            },
            schema=STAGED,
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, STAGED)
        self._writer.write_table(table)

    def staged(self) -> Path | None:
        """The staged rows, complete (``None`` when no row was scored)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.path if self.path.exists() else None

    def scored(self, columns: list[str]) -> pa.Table:
        """Some columns of the scored rows (read back from the staged file)."""
        path = self.staged()
        if path is None:
            return STAGED.empty_table().select(columns)
        return pq.read_table(path, columns=columns)

    def close(self) -> None:
        """Drop the staged rows."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.path.unlink(missing_ok=True)


STAGED = pa.schema(
    [
        ("row", pa.int64()),
        ("key", pa.string()),
        ("prediction", pa.string()),
        ("score", pa.float64()),
        ("label", pa.string()),
    ]
)
"""The scored rows of a batch, as ``monitor_predictions`` holds them (without the batch id)."""


def _text(values: np.ndarray | None, n: int) -> pa.Array:
    """Text values as an Arrow string array (None or NaN: null); all null without values."""
    if values is None:
        return pa.nulls(n, pa.string())
    return pa.array(values, pa.string(), from_pandas=True)


def _read(
    acc: _Accumulated,
    path: Path,
    label: str | None,
    key: str | None,
    on_progress: Progress,
    should_stop: Stop,
) -> tuple[list[str], list[str], str | None]:
    """Score the file's chunks into ``acc``; the extra columns, the optional raw columns
    absent, the key."""
    bundle = acc.bundle
    fmt = file_format(path, "batch")
    con = duckdb.connect()
    try:
        for all_varchar in (False, True):
            source = source_sql(path, fmt, all_varchar)
            try:
                described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
                total = int(con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0])
                break
            except duckdb.Error as exc:
                if fmt != "csv" or all_varchar:
                    raise MlwbError(
                        f"cannot read {path.name} as {fmt.upper()}: {str(exc).splitlines()[0]}",
                        hint="check the file is complete and in the format its extension says",
                    ) from exc
        columns = [str(d[0]) for d in described] if path.stat().st_size else []
        if not columns or total == 0:
            raise MlwbError(
                f"{path.name} has no rows to monitor", hint="give a file with at least one row"
            )
        if label is not None and label not in columns:
            raise MlwbError(
                f"{path.name} has no label column {label!r}",
                hint="columns are: " + ", ".join(columns[:20]),
            )
        if key is not None and key not in columns:
            raise MlwbError(
                f"{path.name} has no key column {key!r}",
                hint="columns are: " + ", ".join(columns[:20]),
            )
        absent = [c for c in bundle.input_columns if c not in columns]
        if absent:
            raise MlwbError(
                f"{path.name} is missing column(s) the model needs: " + ", ".join(absent),
                hint="the bundle's raw_input.json and contract list every column a row needs",
            )
        key = key or id_column(bundle, columns)
        types = {str(d[0]): str(d[1]) for d in described}
        text = [n for n, kind in bundle.raw.columns.items() if kind == "String"] or [
            c.name for c in bundle.contract.columns if c.kind == "categorical"
        ]
        casts = [
            f'CAST("{n}" AS VARCHAR) AS "{n}"' for n in text if n in types and types[n] != "VARCHAR"
        ]
        replace = f" REPLACE ({', '.join(casts)})" if casts else ""
        reader = con.sql(f"SELECT *{replace} FROM {source}").to_arrow_reader(CHUNK_ROWS)
        on_progress(0.02, f"scoring {total:,} rows")
        while True:
            if should_stop():
                raise MonitorCancelled("adding the batch was cancelled; nothing was stored")
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (OSError, pa.ArrowException, duckdb.Error) as exc:
                raise MlwbError(
                    f"cannot read {path.name}: {str(exc).splitlines()[0]}",
                    hint="check the file is complete and well formed (try all-text columns)",
                ) from exc
            acc.add(batch.to_pandas(), key, label, acc.n_rows)
            on_progress(0.02 + 0.7 * acc.n_rows / total, f"{acc.n_rows:,} of {total:,} rows scored")
        extra = [c for c in columns if c not in bundle.known_columns and c not in {label, key}]
        target = bundle.contract.target
        absent = [c for c in bundle.raw.columns if c not in columns and c != target]
        return extra, absent, key
    finally:
        con.close()


# -- contract violations ------------------------------------------------------------------------

_REASON = re.compile(r"^(?P<column>.+?): (?P<what>.*)$")
_FLAG = re.compile(r"^(?P<column>.+?)=.* (?P<what>below training min|above training max|not seen)")


class _ViolationCounts:
    """Contract breaks counted per column as the chunks pass (from the per-row reasons of the
    rejected rows and the flags of the scored ones)."""

    def __init__(self) -> None:
        self.by_column: dict[str, ColumnViolations] = {}
        self.other = 0
        self.rejected = 0

    def of(self, name: str) -> ColumnViolations:
        if name not in self.by_column:
            self.by_column[name] = ColumnViolations(column=name)
        return self.by_column[name]

    def add(self, reasons: list[str], flags: list[str]) -> None:
        self.rejected += len(reasons)
        for joined in reasons:
            for part in joined.split("; "):
                match = _REASON.match(part)
                if match is None:
                    self.other += 1
                elif match["what"].startswith("missing"):
                    self.of(match["column"]).missing_not_allowed += 1
                else:
                    self.of(match["column"]).type_failures += 1
        for joined in flags:
            if not joined:
                continue
            for part in joined.split("; "):
                match = _FLAG.match(part)
                if match is None:
                    continue
                if match["what"] == "not seen":
                    self.of(match["column"]).unseen += 1
                else:
                    self.of(match["column"]).out_of_range += 1

    def result(
        self, extra: list[str], absent: list[str], rates: dict[str, tuple[float | None, float]]
    ) -> Violations:
        for name, (rate, base) in rates.items():
            v = self.of(name)
            v.missing_rate, v.baseline_missing_rate = rate, base
        return Violations(
            missing_columns=absent,
            extra_columns=extra,
            columns=sorted(self.by_column.values(), key=lambda v: (-v.total, v.column)),
            rejected_rows=self.rejected,
            other_rejects=self.other,
        )


# -- performance --------------------------------------------------------------------------------


def normalise_labels(labels: np.ndarray, classes: list[str]) -> tuple[np.ndarray, int, str]:
    """Labels as text matched to the model's classes: surrounding spaces and a trailing dot
    (``>50K.``) are dropped when that makes a label a known class. Returns the labels (None
    where missing or unknown), the count of unknown ones and a note."""
    text = pd.Series(labels, dtype=object).map(lambda v: None if pd.isna(v) else str(v).strip())
    known = set(classes)
    fixed = text.map(lambda v: v if v is None or v in known else v.rstrip(".").strip())
    changed = int(((fixed != text) & fixed.isin(known)).sum())
    unknown = fixed.notna() & ~fixed.isin(known)
    n_unknown = int(unknown.sum())
    fixed[unknown] = None
    notes = []
    if changed:
        notes.append(f"{changed:,} label(s) read after dropping a trailing '.'")
    if n_unknown:
        shown = ", ".join(repr(v) for v in text[unknown].unique()[:3])
        notes.append(f"{n_unknown:,} label(s) are no class the model knows ({shown}); left out")
    return fixed.to_numpy(dtype=object), n_unknown, "; ".join(notes)


def performance(
    bundle: Bundle,
    labels: np.ndarray,
    predictions: np.ndarray,
    scores: np.ndarray,
    store: ProjectStore,
) -> tuple[Performance | None, str]:
    """The primary metric on the labelled rows with a bootstrap interval, or None."""
    meta = bundle.metadata
    task = TaskType(meta.task)
    version = problem.current_charter(store)
    charter = version.charter if version else None
    primary = charter.primary_metric if charter else next(iter(meta.metrics), None)
    if primary is None:
        return None, "no primary metric to compute"
    note = ""
    if task is TaskType.REGRESSION:
        y = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce").to_numpy(
            dtype=np.float64
        )
        keep = ~np.isnan(y)
    else:
        classes = [str(c) for c in np.asarray(bundle.model.classes_)]
        y, _, note = normalise_labels(labels, classes)
        keep = pd.notna(pd.Series(y, dtype=object)).to_numpy(dtype=bool)
    y = y[keep]
    if len(y) == 0:
        return None, note or "no labelled rows"
    classes_arr = np.asarray(bundle.model.classes_).astype(str) if task.is_classification else None
    scored = ev.Scored.from_predictions(
        task,
        y.astype(str) if task.is_classification else y,
        predictions[keep],
        scores[keep],
        classes_arr,
        meta.positive_class,
        meta.threshold,
    )
    point = ev.point_metrics(scored, only=primary).get(primary)
    low = high = None
    if point is not None and len(y) >= 2:
        samples = bs.bootstrap(len(y), RESAMPLES, SEED, {"m": ev.bootstrap_fns(scored)})["m"]
        if primary in samples:
            low, high = bs.percentile_interval(samples[primary], ev.CONFIDENCE)
    base = meta.metrics.get(primary)
    higher = ev.higher_is_better(primary)
    threshold = charter.threshold if charter else float("nan")
    meets = None
    if point is not None and charter is not None:
        meets = point >= threshold if higher else point <= threshold
    if task.is_classification:
        shares = pd.Series(y).value_counts(normalize=True)
        distribution = {str(k): float(v) for k, v in shares.items()}
    else:
        distribution = {"mean": float(np.mean(y)), "std": float(np.std(y))}
    return (
        Performance(
            metric=primary,
            label=ev.metric_label(primary),
            higher_is_better=higher,
            value=point,
            low=low,
            high=high,
            n_labelled=len(y),
            resamples=RESAMPLES,
            baseline=base.value if base else None,
            baseline_low=base.low if base else None,
            baseline_high=base.high if base else None,
            threshold=threshold,
            meets_threshold=meets,
            label_distribution=distribution,
        ),
        note,
    )


# -- status and recommendation ------------------------------------------------------------------


def judge(report: BatchReport, n_rows: int, store: ProjectStore) -> BatchReport:
    """Set the report's status, reasons and recommendation from the named levels."""
    reasons: list[Reason] = []
    d = report.drift
    share = d.weighted_drifted_share if d.weighted_drifted_share is not None else d.drifted_share
    how = "importance-weighted " if d.weighted_drifted_share is not None else ""
    if share is not None and d.n_drifted:
        names = ", ".join(report.top_features[:5])
        if d.weighted_drifted_share is None:
            # Without importances every drifted feature may matter: at least a warning.
            level = Status.ALERT if share >= ALERT_SHARE else Status.WARN
            rule = f"any drifted feature warns, alert at {ALERT_SHARE:.0%}"
        else:
            level = (
                Status.ALERT
                if share >= ALERT_SHARE
                else Status.WARN
                if share >= WARN_SHARE
                else Status.OK
            )
            rule = f"warn at {WARN_SHARE:.0%}, alert at {ALERT_SHARE:.0%}"
        light = " — they carry little of what the model relies on" if level is Status.OK else ""
        reasons.append(
            Reason(
                status=level,
                text=f"{d.n_drifted} of {d.n_assessed} features drifted ({how}share "
                f"{share:.0%}; {rule}): {names}{light}",
            )
        )
    rejected = report.violations.rejected_rows
    if n_rows and rejected:
        rate = rejected / n_rows
        level = (
            Status.ALERT
            if rate >= REJECT_ALERT
            else Status.WARN
            if rate >= REJECT_WARN
            else Status.OK
        )
        reasons.append(
            Reason(
                status=level,
                text=f"{rejected:,} row{'s' if rejected != 1 else ''} ({rate:.1%}) "
                "break the contract",
            )
        )
    if report.prediction_drift is not None and report.prediction_drift.drifted:
        # Informative, not a level: the holdout's scores are a sample of one period, and the
        # status rests on the inputs, the contract, the labels and latency.
        reasons.append(
            Reason(
                status=Status.OK,
                text="the prediction distribution differs from the holdout's "
                f"(severity {report.prediction_drift.severity:.1f})",
            )
        )
    perf = report.performance
    if perf is not None and perf.value is not None:
        if perf.meets_threshold is False:
            reasons.append(
                Reason(
                    status=Status.ALERT,
                    text=f"{perf.label} {perf.value:.3f} misses the charter's "
                    f"{'>=' if perf.higher_is_better else '<='} {perf.threshold:g}",
                )
            )
        elif perf.baseline_low is not None and perf.high is not None and perf.low is not None:
            worse = (
                perf.high < perf.baseline_low
                if perf.higher_is_better
                else perf.low > (perf.baseline_high or float("inf"))
            )
            if worse:
                reasons.append(
                    Reason(
                        status=Status.WARN,
                        text=f"{perf.label} {perf.value:.3f} is below the holdout's interval",
                    )
                )
    version = problem.current_charter(store)
    if version is not None and report.latency_ms_per_1000 is not None:
        for c in version.charter.constraints:
            if c.metric == LATENCY_METRIC and report.latency_ms_per_1000 / 1000 > c.value:
                reasons.append(
                    Reason(
                        status=Status.WARN,
                        text=f"scoring took {report.latency_ms_per_1000 / 1000:.2f} ms per row "
                        f"(constraint {c.text()})",
                    )
                )
    status = max((r.status for r in reasons), key=lambda s: s.rank, default=Status.OK)
    recommendation, text = _recommend(status, reasons, report)
    return report.model_copy(
        update={
            "status": status,
            "reasons": sorted(reasons, key=lambda r: -r.status.rank),
            "recommendation": recommendation,
            "recommendation_text": text,
        }
    )


def _recommend(
    status: Status, reasons: list[Reason], report: BatchReport
) -> tuple[Decision | None, str]:
    perf = report.performance
    if status is Status.OK:
        if report.drift.n_drifted:
            return None, (
                "nothing to do now: the features that moved carry little of what the model "
                "relies on; keep watching them"
            )
        return None, "nothing to do: the batch looks like the training data"
    if perf is not None and perf.meets_threshold is False:
        return Decision.RETRAIN, (
            "retrain: the model misses the charter on this batch's labels (Retrain stage)"
        )
    if report.violations.rejected_rows and any("contract" in r.text for r in reasons):
        return Decision.INSPECT, (
            "inspect upstream data: rows break the contract (see the violations per column)"
        )
    if perf is not None and perf.meets_threshold and status is Status.WARN:
        return Decision.ACCEPT, (
            "accept as the new normal: the inputs moved but the model still meets the charter"
        )
    if perf is not None and perf.meets_threshold:
        return Decision.INSPECT, (
            "inspect the drifted features: much of what the model relies on moved, though it "
            "still meets the charter on these labels; accept it if the change is expected "
            "(a season, a new market), retrain before it slips"
        )
    return Decision.INSPECT, (
        "inspect the drifted features upstream, and add labels (mlwb monitor labels) to see "
        "whether performance suffers"
    )


# -- adding a batch -----------------------------------------------------------------------------


def add_batch(
    store: ProjectStore,
    path: str | Path,
    name: str | None = None,
    label_column: str | None = None,
    key_column: str | None = None,
    on_progress: Progress | None = None,
    should_stop: Stop | None = None,
) -> MonitorBatch:
    """Score ``path`` with the production bundle, measure drift and store the batch."""
    path = Path(path)
    report_progress = on_progress or _nothing
    stop = should_stop or _never
    started = time.perf_counter()
    try:
        if not path.is_file():
            raise MlwbError(f"there is no batch file {path}", hint="check the path")
        version, bundle = production(store)
        file_hash = file_sha256(path)
        acc = _Accumulated(bundle, store)
        try:
            extra, absent, key = _read(acc, path, label_column, key_column, report_progress, stop)
            report_progress(0.75, "measuring drift")
            violations = (extra, absent)
            batch = _build(
                store, bundle, version, acc, violations, key, label_column, path, name, file_hash
            )
            if label_column is not None:
                _shadow(store, batch, bundle, path, label_column, report_progress)
            report_progress(0.9, "storing the batch")
            batch.report.seconds = time.perf_counter() - started
            _store(store, batch, acc)
        finally:
            acc.close()
    except MlwbError as exc:
        with store.transaction() as con:
            repo.record_event(
                con,
                STAGE,
                "add_failed",
                f"batch {path.name} was not added: {exc.message}",
                {"path": str(path), "error": exc.message, "hint": exc.hint},
            )
        raise
    report_progress(1.0, f"batch {batch.id} stored: {batch.status.value}")
    return batch


def _build(
    store: ProjectStore,
    bundle: Bundle,
    version: int,
    acc: _Accumulated,
    columns: tuple[list[str], list[str]],
    key: str | None,
    label: str | None,
    path: Path,
    name: str | None,
    file_hash: str,
) -> MonitorBatch:
    importance = _importance(store, bundle)
    batch_drift = drift.batch_drift_of_histograms(
        bundle.baseline, acc.features.result(), acc.n_scored, importance or None
    )
    rates = {
        f.name: (f.missing_rate, f.baseline_missing_rate)
        for f in batch_drift.features
        if f.missing_rate is not None and abs(f.missing_rate - f.baseline_missing_rate) >= 0.01
    }
    violations = acc.violations.result(*columns, rates)
    prediction_drift = None
    reference = bundle.baseline.prediction
    if reference is not None and acc.n_scored:
        prediction_drift = drift.drift_of_histogram(
            reference, acc.prediction.result()[reference.name]
        )
    perf = None
    note = ""
    if label is not None:
        rows = acc.scored(["label", "prediction", "score"])
        perf, note = performance(
            bundle,
            rows["label"].to_numpy(zero_copy_only=False).astype(object),
            rows["prediction"].to_numpy(zero_copy_only=False).astype(object),
            rows["score"].to_numpy(zero_copy_only=False).astype(np.float64),
            store,
        )
    n_scored = acc.n_scored
    report = BatchReport(
        drift=batch_drift,
        prediction_drift=prediction_drift,
        violations=violations,
        performance=perf,
        latency_ms_per_1000=acc.seconds / acc.n_rows * 1e6 if acc.n_rows else None,
        status=Status.OK,
        top_features=list(batch_drift.drifted_features)[:10],
        importance=importance,
    )
    report = judge(report, acc.n_rows, store)
    if note:
        report.reasons.append(Reason(status=Status.OK, text=note))
    with store.connect() as con:
        batch_id = store_monitor.next_id(con)
    return MonitorBatch(
        id=batch_id,
        name=name or path.stem,
        source=str(path),
        file_hash=file_hash,
        bundle_version=version,
        n_rows=acc.n_rows,
        n_scored=n_scored,
        n_rejected=acc.n_rows - n_scored,
        status=report.status,
        drifted_share=batch_drift.drifted_share,
        key_column=key,
        report=report,
    )


def _shadow(
    store: ProjectStore,
    batch: MonitorBatch,
    bundle: Bundle,
    path: Path,
    label: str,
    report_progress: Progress,
) -> None:
    """Score the labelled rows with the shadowed challenger too, when one is shadowed."""
    from app.services import shadow

    if shadow.current(store) is None:
        return
    report_progress(0.85, "scoring the shadowed challenger on the labelled rows")
    try:
        result = shadow.score_batch(store, bundle, path, label)
    except MlwbError as exc:
        batch.report.reasons.append(
            Reason(status=Status.OK, text=f"shadow challenger not scored: {exc.message}")
        )
        return
    if result is not None:
        batch.report.shadow = result
        text = shadow.line(batch.id, batch.name, result)
        batch.report.reasons.append(Reason(status=Status.OK, text=f"shadow: {text}"))


def _store(store: ProjectStore, batch: MonitorBatch, acc: _Accumulated) -> None:
    staged = acc.staged()
    with store.transaction() as con:
        store_monitor.insert_batch(con, batch)
        if staged is not None:
            # the same cap as an import: a large batch's rows stream in, spilling beyond it
            con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
            try:
                con.execute(
                    "INSERT INTO monitor_predictions SELECT ?, row, key, prediction, score, label "
                    "FROM read_parquet(?)",
                    [batch.id, str(staged)],
                )
            finally:
                con.execute("RESET memory_limit")
        repo.record_event(
            con,
            STAGE,
            "add",
            f"batch {batch.id} ({batch.name}, {batch.n_rows:,} rows): {batch.status.value}"
            + (
                f"; recommend {batch.report.recommendation.value}"
                if batch.report.recommendation
                else ""
            ),
            {
                "batch": batch.id,
                "status": batch.status.value,
                "bundle_version": batch.bundle_version,
                "drifted": batch.report.top_features,
                "rejected": batch.n_rejected,
            },
        )


# -- batches from the prediction log -----------------------------------------------------------

LOG_SOURCE = "prediction log"


def add_log_batch(
    store: ProjectStore,
    name: str | None = None,
    on_progress: Progress | None = None,
) -> MonitorBatch:
    """Monitor the rows the server scored with the production bundle since the last batch
    taken from the prediction log (``<project>/logs/predictions``)."""
    from app.runtime.predictor import MODEL
    from app.services.prediction_log import log_directory, logged_columns, read_log, read_rows

    report_progress = on_progress or _nothing
    started = time.perf_counter()
    try:
        version, bundle = production(store)
        directory = log_directory(store, bundle.path)
        entries = read_log(directory)
        # A log batch records the time of the last entry it took (as its file hash).
        taken = [b.file_hash for b in list_batches(store) if b.source == LOG_SOURCE]
        model = bundle.manifest.files[MODEL]
        entries = entries.filter(
            (entries["source"] == "serve") & (entries["model_sha256"] == model)
        )
        if taken:
            since = max(datetime.fromisoformat(t) for t in taken if t)
            entries = entries.filter(entries["time"] > since)
        rows = read_rows(directory)
        rows = rows.filter(rows["entry"].is_in(entries["entry"].to_list()))
        if rows.is_empty():
            raise MlwbError(
                f"no rows served by production bundle v{version} are in the prediction log "
                "since the last batch taken from it",
                hint="serve predictions first (mlwb serve --project P), or add a file: "
                "mlwb monitor add FILE",
            )
        last = entries["time"].max().isoformat()
        frame = rows.select(list(logged_columns(bundle))).to_pandas()
        report_progress(0.1, f"scoring {len(frame):,} logged rows")
        acc = _Accumulated(bundle, store)
        try:
            acc.add(frame, None, None, 0)
            report_progress(0.75, "measuring drift")
            batch = _build(
                store,
                bundle,
                version,
                acc,
                ([], []),
                None,
                None,
                Path(LOG_SOURCE),
                name or f"served until {entries['time'].max():%Y-%m-%d %H:%M}",
                last,
            )
            batch = batch.model_copy(update={"source": LOG_SOURCE})
            batch.report.seconds = time.perf_counter() - started
            _store(store, batch, acc)
        finally:
            acc.close()
    except MlwbError as exc:
        with store.transaction() as con:
            repo.record_event(
                con,
                STAGE,
                "add_failed",
                f"no batch from the prediction log: {exc.message}",
                {"error": exc.message, "hint": exc.hint},
            )
        raise
    report_progress(1.0, f"batch {batch.id} stored: {batch.status.value}")
    return batch


# -- late labels, decisions, reading ------------------------------------------------------------


def add_labels(
    store: ProjectStore,
    batch_id: int,
    path: str | Path,
    key: str,
    label_column: str | None = None,
) -> MonitorBatch:
    """Join labels that arrived later (``key`` -> label) to a batch's scored rows and compute
    its performance. The label column defaults to the charter's target."""
    path = Path(path)
    batch = get_batch(store, batch_id)
    if batch.key_column is None:
        raise MlwbError(
            f"batch {batch_id} was added without a key column, so labels cannot be joined",
            hint="add the batch again with --key ID (its ID column)",
        )
    fmt = file_format(path, "labels")
    if not path.is_file():
        raise MlwbError(f"there is no labels file {path}", hint="check the path")
    version, bundle = production(store)
    label = label_column or bundle.contract.target
    con = duckdb.connect()
    try:
        frame = con.execute(f"SELECT * FROM {source_sql(path, fmt, True)}").df()
    except duckdb.Error as exc:
        raise MlwbError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
    for needed, what in ((key, "key"), (label, "label")):
        if needed not in frame.columns:
            raise MlwbError(
                f"{path.name} has no {what} column {needed!r}",
                hint="columns are: " + ", ".join(map(str, frame.columns[:20])),
            )
    labels = frame[[key, label]].dropna(subset=[key]).drop_duplicates(subset=[key], keep="last")
    labels[key] = labels[key].astype(str).str.strip()
    with store.connect() as con:
        scored = con.execute(
            "SELECT key, prediction, score FROM monitor_predictions WHERE batch = ? ORDER BY row",
            [batch_id],
        ).df()
    merged = scored.merge(labels, how="left", left_on="key", right_on=key)
    matched = int(merged[label].notna().sum())
    unmatched = len(labels) - int(labels[key].isin(scored["key"]).sum())
    if matched == 0:
        raise MlwbError(
            f"none of the {len(labels):,} keys in {path.name} match a row of batch {batch_id}",
            hint=f"the batch's key column is {batch.key_column!r}; check the keys are the same IDs",
        )
    perf, note = performance(
        bundle,
        merged[label].to_numpy(dtype=object),
        merged["prediction"].astype(str).to_numpy(dtype=object),
        merged["score"].to_numpy(dtype=np.float64),
        store,
    )
    if perf is not None:
        perf.unmatched_keys = unmatched
    report = batch.report.model_copy(update={"performance": perf})
    report = judge(report, batch.n_rows, store)
    if note:
        report.reasons.append(Reason(status=Status.OK, text=note))
    if unmatched:
        report.reasons.append(
            Reason(status=Status.OK, text=f"{unmatched:,} label key(s) matched no scored row")
        )
    updated = batch.model_copy(update={"report": report, "status": report.status})
    with store.transaction() as con:
        con.register("label_rows", merged[["key", label]].rename(columns={label: "label"}))
        con.execute(
            "UPDATE monitor_predictions SET label = CAST(l.label AS VARCHAR) FROM label_rows l "
            "WHERE monitor_predictions.batch = ? AND monitor_predictions.key = l.key "
            "AND l.label IS NOT NULL",
            [batch_id],
        )
        con.unregister("label_rows")
        store_monitor.update_report(con, updated)
        repo.record_event(
            con,
            STAGE,
            "labels",
            f"labels for batch {batch_id}: {matched:,} rows matched; {updated.status.value}",
            {"batch": batch_id, "matched": matched, "unmatched": unmatched, "path": str(path)},
        )
    return updated


def decide(store: ProjectStore, batch_id: int, decision: str, note: str = "") -> MonitorBatch:
    """Record what the user decided about a batch's recommendation."""
    try:
        choice = Decision(decision)
    except ValueError as exc:
        raise MlwbError(
            f"unknown decision {decision!r}",
            hint="choose one of: " + ", ".join(d.value for d in Decision),
        ) from exc
    batch = get_batch(store, batch_id)
    with store.transaction() as con:
        store_monitor.set_decision(con, batch_id, choice.value, note.strip() or None)
        repo.record_event(
            con,
            STAGE,
            "decide",
            f"batch {batch_id}: decided to {choice.value}"
            + (f" ({note.strip()})" if note.strip() else ""),
            {
                "batch": batch_id,
                "decision": choice.value,
                "recommended": batch.report.recommendation,
                "note": note,
            },
        )
    return get_batch(store, batch_id)


def list_batches(store: ProjectStore) -> list[MonitorBatch]:
    """Every monitored batch, oldest first."""
    with store.connect() as con:
        if repo.count_rows(con, "monitor_batches") is None:
            return []
        return store_monitor.list_batches(con)


def get_batch(store: ProjectStore, batch_id: int) -> MonitorBatch:
    with store.connect() as con:
        found = store_monitor.get_batch(con, batch_id)
    if found is None:
        raise MlwbError(f"there is no batch {batch_id}", hint="list batches: mlwb monitor list")
    return found
