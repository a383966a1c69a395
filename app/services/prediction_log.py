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

Batch scoring (``mlwb predict``) logs one entry per file with counts and a summary
(``app.services.prediction_summary``)::

    summary = BatchSummary(bundle)
    for chunk in chunks:
        result = bundle.predict(chunk)
        summary.add(result)
    log.record_batch(rows=..., scored=..., rejected=..., latency_ms=..., summary=summary)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from app.runtime.predictor import MODEL, Bundle
from app.services.prediction_summary import BatchSummary, logged_value, served_summaries

logger = logging.getLogger(__name__)

SERVE, BATCH = "serve", "batch"
TEMP_PREFIX = ".tmp-"
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
            data[name] = [logged_value(v, kind) for v in data[name]]
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
