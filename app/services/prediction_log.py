"""The prediction log: every served request and every scored batch, for the Monitor stage.

Each entry records when, from where (``serve`` or ``batch``), with which bundle (its run,
creation time and the SHA-256 of its model file), how many rows came in, were scored and were
rejected, how long it took, and a small summary of the inputs and predictions. Served requests
also keep their rows: the contract columns as validated, with the prediction, probability,
flags and errors of each, so monitoring can compute drift from the log alone.

Entries are buffered in memory and written by a background thread every ``flush_rows`` logged
rows or ``flush_seconds`` seconds, and on ``close`` — never one write per request. Each flush
writes append-only Parquet part files (``entries-*.parquet`` and ``rows-*.parquet``) under a
temporary name and renames them into place, so readers never see half a file. The log lives in
``<project>/logs/predictions/`` when the project is known, else in ``<bundle folder>.log/``
next to the bundle. It never touches the project database: the server runs in another process
than the TUI, and DuckDB allows one writer.

Batch scoring (``mlwb predict``) logs one entry per file with counts and a summary::

    summary = BatchSummary(bundle)
    for chunk in chunks:
        result = bundle.predict(chunk)
        summary.add(result)
    log.record_batch(rows=..., scored=..., rejected=..., latency_ms=..., summary=summary)
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from app.runtime.predictor import MODEL, Batch, Bundle, Prediction

logger = logging.getLogger(__name__)

SERVE, BATCH = "serve", "batch"
TEMP_PREFIX = ".tmp-"
HISTOGRAM_BINS = 10
"""Probability histogram bins over [0, 1] in the prediction summary."""
MAX_BUFFERED_ROWS = 1_000_000
"""Rows kept in memory while flushes keep failing; older entries' rows are dropped beyond."""

ENTRY_SCHEMA: dict[str, Any] = {
    "entry": pl.String,
    "time": pl.Datetime("us", "UTC"),
    "source": pl.String,
    "bundle": pl.String,
    "run_id": pl.Int64,
    "bundle_created_at": pl.Datetime("us", "UTC"),
    "model_sha256": pl.String,
    "rows": pl.Int64,
    "scored": pl.Int64,
    "rejected": pl.Int64,
    "latency_ms": pl.Float64,
    "summary": pl.String,
}
"""Columns of ``read_log`` (``summary`` is JSON: ``inputs`` and ``predictions``)."""


def log_directory(store: Any | None, bundle_path: str | Path) -> Path:
    """Where the log of ``bundle_path`` goes: ``<project>/logs/predictions`` with a project
    store, else ``<bundle folder>.log`` next to the bundle (``x.zip`` -> ``x.log``)."""
    if store is not None:
        return Path(store.root) / "logs" / "predictions"
    path = Path(bundle_path)
    stem = path.name[: -len(".zip")] if path.name.endswith(".zip") else path.name
    return path.with_name(f"{stem}.log")


# -- summaries ----------------------------------------------------------------------------------


@dataclass
class _Moments:
    """Count, sum, min and max of numbers, mergeable across chunks."""

    n: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, values: np.ndarray) -> None:
        values = values[np.isfinite(values)]
        if len(values):
            self.n += len(values)
            self.total += float(values.sum())
            self.low = min(self.low, float(values.min()))
            self.high = max(self.high, float(values.max()))

    def as_dict(self) -> dict[str, Any]:
        if not self.n:
            return {"n": 0}
        return {"n": self.n, "mean": self.total / self.n, "min": self.low, "max": self.high}


@dataclass
class BatchSummary:
    """Inputs and predictions of a batch in a few numbers, accumulated chunk by chunk.

    Inputs: per contract column the rows seen and missing, and mean/min/max of numeric
    columns. Predictions: rows per predicted class and a histogram of the probability
    (classification), or mean/min/max of the prediction (regression).
    """

    bundle: Bundle
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, _Moments] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)
    histogram: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    probability: _Moments = field(default_factory=_Moments)
    prediction: _Moments = field(default_factory=_Moments)

    def add(self, result: Prediction, inputs: Any | None = None) -> None:
        """Count one chunk's ``result``; ``inputs`` (its rows, pandas/polars/list of dicts)
        adds the input summary."""
        scored = len(result.predictions)
        rejected = len(result.rejects)
        self.scored += scored
        self.rejected += rejected
        self.rows += scored + rejected
        if scored:
            frame = result.predictions
            self._add_predictions(frame["prediction"], frame.get("probability"))
        if inputs is not None:
            self._add_inputs(_as_pandas(inputs))

    def add_batch(self, batch: Batch) -> None:
        """Count one chunk's ``Bundle.predict_batch`` result, inputs included (the same as
        ``add(batch.prediction(), batch.features())`` without building pandas frames)."""
        scored = len(batch.rows) if batch.decisions is not None else 0
        rejected = len(batch.reject_rows)
        self.scored += scored
        self.rejected += rejected
        self.rows += scored + rejected
        if not scored:
            return
        decisions = batch.decisions or {}
        self._add_predictions(decisions["prediction"], decisions.get("probability"))
        features = batch.polars_features()
        if features is not None:
            self._add_inputs(features)

    def _add_predictions(self, prediction: Any, probability: Any | None) -> None:
        if self.bundle.metadata.task == "regression":
            values = pd.to_numeric(pd.Series(prediction), errors="coerce")
            self.prediction.add(values.to_numpy(float))
            return
        for label, n in pd.Series(prediction).astype(str).value_counts().items():
            self.classes[str(label)] = self.classes.get(str(label), 0) + int(n)
        if probability is not None:
            self._add_probability(pd.to_numeric(pd.Series(probability), errors="coerce"))

    def _add_probability(self, values: Any) -> None:
        p = np.asarray(values, dtype=float)
        self.probability.add(p)
        p = p[np.isfinite(p)]
        counts, _ = np.histogram(np.clip(p, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))
        self.histogram = [a + int(b) for a, b in zip(self.histogram, counts, strict=True)]

    def _add_inputs(self, frame: pd.DataFrame | pl.DataFrame) -> None:
        if isinstance(frame, pl.DataFrame):
            self._add_polars_inputs(frame)
            return
        for c in self.bundle.contract.columns:
            if c.name not in frame.columns:
                continue
            s = frame[c.name]
            self.missing[c.name] = self.missing.get(c.name, 0) + int(s.isna().sum())
            if c.kind == "numeric":
                values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
                self.numbers.setdefault(c.name, _Moments()).add(values)

    def _add_polars_inputs(self, frame: pl.DataFrame) -> None:
        """``_add_inputs`` of the model's view of the rows (numbers with NaN for missing,
        categories as text) as ``Batch.polars_features`` gives it."""
        for c in self.bundle.contract.columns:
            if c.name not in frame.columns:
                continue
            s = frame[c.name]
            missing = s.null_count() + (int(s.is_nan().sum()) if s.dtype.is_float() else 0)
            self.missing[c.name] = self.missing.get(c.name, 0) + missing
            if c.kind == "numeric":
                values = s.cast(pl.Float64, strict=False).to_numpy()
                self.numbers.setdefault(c.name, _Moments()).add(values)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        inputs: dict[str, Any] = {}
        for name, missing in self.missing.items():
            inputs[name] = {"missing": missing}
            if name in self.numbers:
                inputs[name] |= self.numbers[name].as_dict()
        if self.bundle.metadata.task == "regression":
            predictions: dict[str, Any] = self.prediction.as_dict()
        else:
            predictions = {"classes": dict(sorted(self.classes.items()))}
            if self.probability.n:
                predictions["probability"] = self.probability.as_dict() | {
                    "histogram": self.histogram
                }
        return {"inputs": inputs, "predictions": predictions}


def _as_pandas(rows: Any) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, pl.DataFrame):
        return rows.to_pandas()
    return pd.DataFrame.from_records(list(rows))


# -- the log ------------------------------------------------------------------------------------


@dataclass
class _Entry:
    entry: str
    time: datetime
    source: str
    rows: int
    scored: int
    rejected: int
    latency_ms: float
    summary: dict[str, Any] | None
    records: list[dict[str, Any]] | None
    results: list[dict[str, Any]] | None


class PredictionLog:
    """A buffered, append-only log of predictions in ``directory`` (created on first write).

    ``record`` (served requests) and ``record_batch`` (batches) only append to memory; a
    background thread writes every ``flush_rows`` logged rows or ``flush_seconds`` seconds.
    ``flush`` writes now; ``close`` stops the thread and writes what is left. Thread-safe.
    """

    def __init__(
        self,
        directory: str | Path,
        bundle: Bundle,
        flush_rows: int = 1_000,
        flush_seconds: float = 5.0,
    ) -> None:
        self.directory = Path(directory)
        self.bundle = bundle
        self.flush_rows = max(1, int(flush_rows))
        self.flush_seconds = float(flush_seconds)
        self.session = uuid.uuid4().hex[:12]
        self._seq = 0
        self._buffer: list[_Entry] = []
        self._buffered_rows = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.entries_written = 0
        self.flush_errors = 0
        self._identity = {
            "bundle": str(bundle.path),
            "run_id": int(bundle.metadata.run_id),
            "bundle_created_at": bundle.metadata.created_at,
            "model_sha256": bundle.manifest.files.get(MODEL, ""),
        }
        self._columns = logged_columns(bundle)
        self._thread: threading.Thread | None = None
        if self.flush_seconds > 0:
            self._thread = threading.Thread(
                target=self._run, name="mlwb-prediction-log", daemon=True
            )
            self._thread.start()

    # -- recording ----------------------------------------------------------------------------

    def record(
        self,
        source: str,
        rows: list[dict[str, Any]] | pd.DataFrame | pl.DataFrame | None,
        predictions: list[dict[str, Any]] | pd.DataFrame | None,
        rejects: int | pd.DataFrame | None,
        latency_ms: float,
        summary: BatchSummary | dict[str, Any] | None = None,
    ) -> None:
        """Log one request or batch.

        ``rows`` are the input rows (kept for ``serve``; None logs counts only).
        ``predictions`` is either a list of per-row results in input order (as the server
        returns them: ``prediction``/``probability``/``flags`` or ``errors``) or the
        ``predictions`` frame of a ``Prediction``; ``rejects`` the rejects frame or a count.
        """
        results = _results(predictions, rejects) if predictions is not None else None
        n_rejected = _count(rejects)
        if results is not None:
            scored = sum(1 for r in results if "errors" not in r)
            if isinstance(predictions, list):
                n_rejected = len(results) - scored
        else:
            scored = 0
        n_rows = scored + n_rejected
        if rows is not None:
            n_rows = max(n_rows, _length(rows))
        keep_rows = source == SERVE and rows is not None
        records = _records(rows) if keep_rows else None
        self._append(
            source,
            n_rows,
            scored,
            n_rejected,
            latency_ms,
            summary.as_dict() if isinstance(summary, BatchSummary) else summary,
            records,
            results if keep_rows else None,
        )

    def record_batch(
        self,
        rows: int,
        scored: int,
        rejected: int,
        latency_ms: float,
        summary: BatchSummary | dict[str, Any] | None = None,
    ) -> None:
        """Log a whole batch (``mlwb predict``) by its counts and summary only."""
        data = summary.as_dict() if isinstance(summary, BatchSummary) else summary
        self._append(BATCH, rows, scored, rejected, latency_ms, data, None, None)

    def _append(
        self,
        source: str,
        rows: int,
        scored: int,
        rejected: int,
        latency_ms: float,
        summary: dict[str, Any] | None,
        records: list[dict[str, Any]] | None,
        results: list[dict[str, Any]] | None,
    ) -> None:
        if source not in (SERVE, BATCH):
            raise ValueError(f"source must be {SERVE!r} or {BATCH!r}, not {source!r}")
        with self._lock:
            if self._closed:
                raise RuntimeError("the prediction log is closed")
            self._seq += 1
            entry = _Entry(
                f"{self.session}-{self._seq}",
                datetime.now(UTC),
                source,
                int(rows),
                int(scored),
                int(rejected),
                float(latency_ms),
                summary,
                records,
                results,
            )
            self._buffer.append(entry)
            self._buffered_rows += max(1, len(records) if records is not None else 1)
            full = self._buffered_rows >= self.flush_rows
        if full:
            if self._thread is not None:
                self._wake.set()
            else:
                self.flush()

    # -- writing ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a write failed: keep serving, keep the entries for later
                logger.exception("the prediction log could not be written to %s", self.directory)
            if self._closed:
                return

    def flush(self) -> int:
        """Write the buffered entries now; returns how many were written."""
        with self._write_lock:
            with self._lock:
                entries, self._buffer = self._buffer, []
                self._buffered_rows = 0
            if not entries:
                return 0
            try:
                self._write(entries)
            except OSError:
                self.flush_errors += 1
                with self._lock:  # put them back in front, bounded
                    self._buffer = entries + self._buffer
                    self._buffered_rows = sum(len(e.records or [None]) for e in self._buffer)
                    while self._buffered_rows > MAX_BUFFERED_ROWS and len(self._buffer) > 1:
                        dropped = self._buffer.pop(0)
                        self._buffered_rows -= len(dropped.records or [None])
                raise
            self.entries_written += len(entries)
            return len(entries)

    def _write(self, entries: list[_Entry]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        rows = self._rows_frame(entries)
        served = served_summaries(self.bundle, rows) if rows is not None else {}
        stamp = (
            f"{entries[0].time:%Y%m%dT%H%M%S%f}-{self.session}-{entries[0].entry.rsplit('-', 1)[1]}"
        )
        frame = pl.DataFrame(
            {
                "entry": [e.entry for e in entries],
                "time": [e.time for e in entries],
                "source": [e.source for e in entries],
                "bundle": [self._identity["bundle"]] * len(entries),
                "run_id": [self._identity["run_id"]] * len(entries),
                "bundle_created_at": [self._identity["bundle_created_at"]] * len(entries),
                "model_sha256": [self._identity["model_sha256"]] * len(entries),
                "rows": [e.rows for e in entries],
                "scored": [e.scored for e in entries],
                "rejected": [e.rejected for e in entries],
                "latency_ms": [e.latency_ms for e in entries],
                "summary": [_summary_json(e, served) for e in entries],
            },
            schema=ENTRY_SCHEMA,
        )
        # Rows first: an entry file never names rows that are not written yet.
        if rows is not None:
            _write_parquet(rows, self.directory / f"rows-{stamp}.parquet")
        _write_parquet(frame, self.directory / f"entries-{stamp}.parquet")

    def _rows_frame(self, entries: list[_Entry]) -> pl.DataFrame | None:
        kept = [e for e in entries if e.records is not None and e.results is not None]
        if not kept:
            return None
        data: dict[str, list[Any]] = {"entry": [], "row": []}
        for c in self._columns:
            data[c] = []
        for name in ("prediction", "probability", "flags", "errors"):
            data[name] = []
        for e in kept:
            assert e.records is not None and e.results is not None
            for i, (record, result) in enumerate(zip(e.records, e.results, strict=False)):
                data["entry"].append(e.entry)
                data["row"].append(i)
                for c in self._columns:
                    data[c].append(record.get(c))
                data["prediction"].append(result.get("prediction"))
                data["probability"].append(result.get("probability"))
                data["flags"].append("; ".join(result.get("flags") or []) or None)
                data["errors"].append("; ".join(result.get("errors") or []) or None)
        schema: dict[str, Any] = {"entry": pl.String, "row": pl.Int64}
        for name, kind in self._columns.items():
            schema[name] = pl.Float64 if kind == "numeric" else pl.String
            data[name] = [_cell(v, kind) for v in data[name]]
        regression = self.bundle.metadata.task == "regression"
        schema["prediction"] = pl.Float64 if regression else pl.String
        data["prediction"] = [
            None if v is None else (float(v) if regression else str(v)) for v in data["prediction"]
        ]
        schema |= {"probability": pl.Float64, "flags": pl.String, "errors": pl.String}
        return pl.DataFrame(data, schema=schema)

    def close(self) -> None:
        """Stop the background thread and write what is left (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is not None:
            self._wake.set()
            self._thread.join()
        self.flush()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _summary_json(entry: _Entry, served: dict[str, dict[str, Any]]) -> str:
    if entry.summary is not None:
        return json.dumps(entry.summary, default=str)
    return json.dumps(served.get(entry.entry, {}), default=str)


def served_summaries(bundle: Bundle, rows: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """``BatchSummary.as_dict`` of each served entry in ``rows`` (a flush's logged rows: the
    inputs as logged, ``prediction``, ``probability`` and ``errors``), for all entries at once
    in two Polars group-bys. Building one summary per request in Python held the flush
    thread on the GIL for ~150 ms per 1,000 requests, and requests waited for it."""
    contract = bundle.contract.columns
    regression = bundle.metadata.task == "regression"
    scored = pl.col("errors").is_null()
    finite = "__finite"
    aggs: list[pl.Expr] = [pl.len().alias("__rows")]
    for c in contract:
        if c.name not in rows.schema:
            continue
        col = pl.col(c.name)
        float_kind = rows.schema[c.name].is_float()
        missing = col.is_null() | col.is_nan() if float_kind else col.is_null()
        aggs.append(missing.sum().alias(f"{c.name}\x00missing"))
        if c.kind == "numeric":
            aggs += _moment_aggs(col.cast(pl.Float64, strict=False), c.name)
    if regression:
        aggs += _moment_aggs(pl.col("prediction").filter(scored), "\x00prediction")
    else:
        aggs += _moment_aggs(pl.col("probability").filter(scored), "\x00probability")
    by_entry = {r["entry"]: r for r in rows.group_by("entry").agg(aggs).to_dicts()}
    classes: dict[str, dict[str, int]] = {}
    histograms: dict[str, list[int]] = {}
    if not regression:
        counted = (
            rows.filter(scored & pl.col("prediction").is_not_null())
            .group_by("entry", "prediction")
            .len()
            .sort("entry", "prediction")
        )
        for entry, label, n in counted.iter_rows():
            classes.setdefault(entry, {})[label] = n
        p = rows.filter(scored & pl.col("probability").is_finite())
        if p.height:
            edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
            values = np.clip(p["probability"].to_numpy(), 0.0, 1.0)
            bins = np.minimum(np.searchsorted(edges, values, side="right") - 1, HISTOGRAM_BINS - 1)
            binned = (
                p.select("entry")
                .with_columns(pl.Series(finite, bins))
                .group_by("entry", finite)
                .len()
            )
            for entry, k, n in binned.iter_rows():
                histograms.setdefault(entry, [0] * HISTOGRAM_BINS)[k] = n
    out: dict[str, dict[str, Any]] = {}
    logged = set(rows.columns)
    columns = [(c.name, c.kind == "numeric", c.name in logged) for c in contract]
    for entry, r in by_entry.items():
        inputs: dict[str, Any] = {}
        for name, numeric, present in columns:
            if not present:  # never logged: missing in every row, as r.get gives
                inputs[name] = (
                    {"missing": r["__rows"], "n": 0} if numeric else {"missing": r["__rows"]}
                )
                continue
            inputs[name] = {"missing": r[name + "\x00missing"]}
            if numeric:
                inputs[name] |= _moments(r, name)
        if regression:
            predictions = _moments(r, "\x00prediction")
        else:
            predictions = {"classes": classes.get(entry, {})}
            probability = _moments(r, "\x00probability")
            if probability["n"]:
                predictions["probability"] = probability | {
                    "histogram": histograms.get(entry, [0] * HISTOGRAM_BINS)
                }
        out[entry] = {"inputs": inputs, "predictions": predictions}
    return out


def _moment_aggs(values: pl.Expr, name: str) -> list[pl.Expr]:
    """Count, sum, min and max of the finite ``values`` (``_Moments`` in a group-by)."""
    kept = values.filter(values.is_finite())
    return [
        kept.count().alias(f"{name}\x00n"),
        kept.sum().alias(f"{name}\x00total"),
        kept.min().alias(f"{name}\x00min"),
        kept.max().alias(f"{name}\x00max"),
    ]


def _moments(row: dict[str, Any], name: str) -> dict[str, Any]:
    """``_Moments.as_dict`` from ``_moment_aggs``' columns of one group."""
    n = int(row[f"{name}\x00n"] or 0)
    if not n:
        return {"n": 0}
    return {
        "n": n,
        "mean": float(row[f"{name}\x00total"]) / n,
        "min": float(row[f"{name}\x00min"]),
        "max": float(row[f"{name}\x00max"]),
    }


def logged_columns(bundle: Bundle) -> dict[str, str]:
    """The input columns a served row is logged with, and their kind (``numeric`` or text):
    the raw columns the bundle reads (so a logged row can be scored again exactly as it
    arrived), or the contract's columns for a bundle without raw input."""
    if bundle.raw.columns:
        numeric = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"}
        numeric |= {"Float32", "Float64"}
        return {
            name: "numeric" if kind in numeric else "text"
            for name, kind in bundle.raw.columns.items()
            if name != bundle.contract.target
        }
    return {c.name: c.kind for c in bundle.contract.columns}


def _cell(value: Any, kind: str) -> Any:
    """A logged input value as its column type: numbers as float (else null), text as text."""
    if value is None:
        return None
    if kind == "numeric":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        try:
            return float(str(value))
        except ValueError:
            return None
    return value if isinstance(value, str) else str(value)


def _write_parquet(frame: pl.DataFrame, target: Path) -> None:
    temp = target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{target.name}")
    try:
        frame.write_parquet(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _count(rejects: int | pd.DataFrame | None) -> int:
    if rejects is None:
        return 0
    if isinstance(rejects, int):
        return rejects
    return len(rejects)


def _length(rows: Any) -> int:
    return len(rows)


def _records(rows: Any) -> list[dict[str, Any]]:
    if isinstance(rows, list):
        return rows
    if isinstance(rows, pl.DataFrame):
        return rows.to_dicts()
    return rows.to_dict("records")


def _results(
    predictions: list[dict[str, Any]] | pd.DataFrame, rejects: int | pd.DataFrame | None
) -> list[dict[str, Any]]:
    """Per-row results in input order from a list (as is) or a ``Prediction``'s frames."""
    if isinstance(predictions, list):
        return predictions
    out: dict[int, dict[str, Any]] = {}
    for record in predictions.to_dict("records"):
        row = int(record.pop("row"))
        flags = record.pop("flags", "") or ""
        record["flags"] = flags.split("; ") if flags else []
        out[row] = record
    if isinstance(rejects, pd.DataFrame):
        for row, reason in zip(rejects["row"], rejects["reason"], strict=True):
            out[int(row)] = {"errors": str(reason).split("; ")}
    return [out[k] for k in sorted(out)]


# -- reading ------------------------------------------------------------------------------------


def _parts(directory: Path, kind: str) -> list[Path]:
    if not Path(directory).is_dir():
        return []
    return sorted(Path(directory).glob(f"{kind}-*.parquet"))


def read_log(directory: str | Path) -> pl.DataFrame:
    """Every entry of the log in ``directory``, oldest first (``ENTRY_SCHEMA``); empty when
    nothing has been logged yet."""
    parts = _parts(Path(directory), "entries")
    if not parts:
        return pl.DataFrame(schema=ENTRY_SCHEMA)
    return pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed").sort(
        "time", maintain_order=True
    )


def read_rows(directory: str | Path) -> pl.DataFrame:
    """Every logged served row (``entry``, ``row``, the contract columns, ``prediction``,
    ``probability``, ``flags``, ``errors``), oldest entry first. Rows of bundles with
    different contracts are stacked with nulls where a column is absent."""
    parts = _parts(Path(directory), "rows")
    if not parts:
        return pl.DataFrame(schema={"entry": pl.String, "row": pl.Int64})
    return pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed")


def latency_ms(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()`` value)."""
    return (time.perf_counter() - start) * 1000.0
