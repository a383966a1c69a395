"""The deployable bundle: input contract, raw input, training baseline, metadata, manifest.

A bundle is a folder (and the same as a ``.zip``) holding the fitted model and these models
as JSON, so a bundle can be checked and used without the project it came from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

BUNDLE_FORMAT = 1
"""The newest bundle layout this mlwb reads and writes."""

MISSING_LEVEL = "(missing)"
"""The category a missing categorical value becomes (missingness can carry signal)."""

CATEGORY_CAP = 1_000
"""Allowed categories kept per column (the most frequent ones)."""

ColumnKind = Literal["numeric", "categorical", "datetime"]


class ColumnContract(BaseModel):
    """One input column: its kind, whether it may be missing and what training saw."""

    name: str
    kind: ColumnKind
    nullable: bool
    min: float | None = None
    """Smallest value seen in training (numeric columns)."""
    max: float | None = None
    """Largest value seen in training (numeric columns)."""
    categories: list[str] = Field(default_factory=list)
    """Levels seen in training, most frequent first (at most ``CATEGORY_CAP``)."""
    more_categories: bool = False
    """Training had more levels than ``categories`` lists."""


class InputContract(BaseModel):
    """What one input row must look like."""

    columns: list[ColumnContract]
    target: str
    task: str

    def column(self, name: str) -> ColumnContract:
        """The contract of column ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema for one input row (numeric ranges are descriptions, not limits)."""
        properties: dict[str, Any] = {}
        for c in self.columns:
            prop: dict[str, Any]
            if c.kind == "numeric":
                prop = {"type": ["number", "null"] if c.nullable else "number"}
                if c.min is not None and c.max is not None:
                    prop["description"] = (
                        f"seen in training: {c.min:g} to {c.max:g} "
                        "(values outside are scored but flagged)"
                    )
            elif c.kind == "categorical":
                prop = {"type": ["string", "null"]}
                if c.more_categories:
                    prop["description"] = (
                        f"{len(c.categories):,} most frequent levels listed in the contract; "
                        "unseen levels are scored but flagged"
                    )
                else:
                    prop["enum"] = [*c.categories, None]
            else:
                prop = {"type": ["string", "null"] if c.nullable else "string"}
                prop["format"] = "date-time"
            properties[c.name] = prop
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "mlwb input row",
            "type": "object",
            "properties": properties,
            "required": [c.name for c in self.columns],
            "additionalProperties": True,
        }


class RawInput(BaseModel):
    """The rows a bundle takes: raw columns as imported, before the row-wise recipe steps.

    ``steps`` are the row-wise steps of the cleaning recipe (JSON, replayed on every batch and
    every served row); ``required`` are the raw columns some model feature is computed from.
    Other raw columns may be left out of the input: they are read as missing.
    """

    columns: dict[str, str] = Field(default_factory=dict)
    """Raw column name -> Polars type name (``Int64``, ``Float64``, ``String``, ``Date``...)."""
    required: list[str] = Field(default_factory=list)
    null_markers: list[str] = Field(default_factory=list)
    """Strings the import read as missing (``?``, ``NA``...); the same happens to new rows."""
    steps: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def replays(self) -> bool:
        """True when new rows go through recipe steps before the contract."""
        return bool(self.steps)


class FeatureBaseline(BaseModel):
    """Training statistics of one feature, for drift monitoring (no raw values)."""

    name: str
    kind: ColumnKind
    n_rows: int
    missing: int
    missing_rate: float
    # numeric (datetime: seconds since the epoch)
    edges: list[float] = Field(default_factory=list)
    """The 11 edges of 10 quantile bins."""
    counts: list[int] = Field(default_factory=list)
    """Rows per bin: below the first edge, the 10 quantile bins, above the last edge."""
    quantiles: dict[str, float] = Field(default_factory=dict)
    """Quantiles 1, 5, 25, 50, 75, 95 and 99 (keys ``q01`` …)."""
    mean: float | None = None
    std: float | None = None
    # categorical
    frequencies: dict[str, int] = Field(default_factory=dict)
    """Rows per level for the most frequent levels."""
    other: int = 0
    """Rows of every other (non-missing) level."""


class Baseline(BaseModel):
    """The training baseline of every feature."""

    n_rows: int
    features: list[FeatureBaseline]
    prediction: FeatureBaseline | None = None
    """The model's predictions on the locked holdout: positive-class scores (binary) or
    predicted values (regression) in quantile bins, or predicted class frequencies."""
    prediction_rows: int = 0


class MetricValue(BaseModel):
    """A holdout metric with its interval."""

    value: float | None
    low: float | None = None
    high: float | None = None


class BundleMetadata(BaseModel):
    """Where a bundle came from and how it decides."""

    bundle_format: int = BUNDLE_FORMAT
    mlwb_version: str
    created_at: datetime
    project: str
    run_id: int
    candidate: str
    params: dict[str, Any] = Field(default_factory=dict)
    charter_version: int | None = None
    dataset: str
    """``name@version`` of the training data."""
    fingerprint: str
    task: str
    target: str
    positive_class: str | None = None
    threshold: float | None = None
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    evaluation_id: int | None = None
    gate: str
    override_reason: str | None = None
    libraries: dict[str, str] = Field(default_factory=dict)


class Manifest(BaseModel):
    """The SHA-256 of every other file of the bundle."""

    bundle_format: int = BUNDLE_FORMAT
    files: dict[str, str]
