"""Summaries of predictions for the prediction log: a batch's (``BatchSummary``, accumulated
chunk by chunk) and every served request's of a flush at once (``served_summaries``).

Inputs: per contract column the rows seen and missing, and count/mean/min/max of the finite
values of numeric columns. Predictions: rows per predicted class and a histogram of the
probability (classification), or count/mean/min/max of the prediction (regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from app.runtime.predictor import Batch, Bundle, Prediction

HISTOGRAM_BINS = 10
"""Probability histogram bins over [0, 1] in the prediction summary."""


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


def logged_value(value: Any, kind: str) -> Any:
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
