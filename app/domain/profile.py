"""The Explore stage's results: a dataset version's profile, its relationships and its alerts.

A ``Profile`` is computed once per dataset version and settings (``ProfileSettings``) and is
stored in the project as JSON, so every model here is plain pydantic with JSON-friendly
fields (tuples become lists in JSON and come back as tuples). Nothing here touches DuckDB.

How each number is computed is part of the result (``Profile.methods``), because a statistic
is only as good as the reader's knowledge of how it was made: exact or approximate, on all
rows or on a seeded sample of a stated size.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.dataset import ColumnRole

PROFILE_FORMAT = 2
"""Bumped whenever the profile's content or method changes, so old cached profiles are not used."""

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
"""The quantile levels every numeric column reports."""


class SemanticType(StrEnum):
    """What a column means for analysis, inferred from its type and values."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    ID = "id"
    OTHER = "other"


Severity = Literal["high", "medium", "low"]
SEVERITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}

AlertKind = Literal[
    "constant",
    "near_constant",
    "high_missing",
    "high_cardinality",
    "unique",
    "high_skew",
    "many_zeros",
    "imbalanced_target",
    "duplicates",
    "high_correlation",
    "leakage",
    "spellings",
    "missing_markers",
    "suspicious_value",
    "whitespace",
    "numbers_as_text",
    "dates_as_text",
    "infinite_values",
    "outliers",
    "time_gaps",
    "unseen_categories",
]


class ProfileSettings(BaseModel):
    """How a profile is computed. Part of the cache key: other settings, other profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    """Seed of every random choice: the correlation and MI samples and the random split."""
    sample_size: int = Field(default=50_000, ge=100)
    """Rows in the seeded sample used for correlations, leakage screening and scatter data."""
    mi_sample_size: int = Field(default=5_000, ge=100)
    """Rows used for mutual information (k-nearest-neighbour estimates cost O(n log n))."""
    exact_rows: int = Field(default=200_000, ge=0)
    """Up to this many rows every column's values are counted exactly (distinct, top values)."""
    exact_quantile_rows: int = Field(default=5_000_000, ge=0)
    """Up to this many rows quantiles are exact (quantile_cont); above, t-digest estimates."""
    top_k: int = Field(default=10, ge=1, le=100)
    """Top values kept per column, and bars shown before 'other'."""
    max_bins: int = Field(default=50, ge=2, le=500)
    """Cap on the Freedman-Diaconis histogram bins."""
    correlation_columns: int = Field(default=30, ge=2, le=200)
    """At most this many numeric and this many categorical columns enter the correlations."""
    matrix_columns: int = Field(default=12, ge=2, le=50)
    """Columns in the correlation matrix (the most associated ones, target first)."""
    max_categories: int = Field(default=100, ge=2)
    """Categorical columns with more values than this stay out of Cramér's V and eta."""


class TopValue(BaseModel):
    """A value (as text) and how many rows hold it."""

    value: str
    count: int


class NumericStats(BaseModel):
    """Statistics of a numeric column over its finite values (NaN and ±inf left out)."""

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    """Sample standard deviation (n - 1)."""
    quantiles: dict[str, float | None] = Field(default_factory=dict)
    """Level as text ('0.25') -> value (linear interpolation between order statistics)."""
    quantiles_exact: bool = True
    skewness: float | None = None
    """Adjusted Fisher-Pearson sample skewness (as pandas' ``skew``)."""
    kurtosis: float | None = None
    """Bias-corrected excess kurtosis (as pandas' ``kurt``; 0 for a normal distribution)."""
    zeros: int = 0
    negatives: int = 0
    """Values below 0, -inf included."""
    infinities: int = 0
    nans: int = 0
    """NaN values (counted as missing too)."""
    finite: int = 0
    """Finite values the statistics are computed on."""

    def quantile(self, level: float) -> float | None:
        """The quantile at ``level`` (one of ``QUANTILES``)."""
        return self.quantiles.get(f"{level:g}")

    @property
    def iqr(self) -> float | None:
        """Interquartile range (Q3 - Q1)."""
        q1, q3 = self.quantile(0.25), self.quantile(0.75)
        return None if q1 is None or q3 is None else q3 - q1


class TextStats(BaseModel):
    """Lengths (in characters) of a text column's values, and whitespace oddities."""

    min_length: int | None = None
    mean_length: float | None = None
    max_length: int | None = None
    empty: int = 0
    """Values that are empty or only spaces."""
    padded: int = 0
    """Values with leading or trailing spaces."""


class TimeGaps(BaseModel):
    """Regularity of a time column: its usual step between distinct values and the holes."""

    step_seconds: float
    step_text: str
    regular_share: float
    """Share of steps between consecutive distinct values that equal the usual step."""
    gaps: int
    """Places where the step is longer than usual."""
    missing_periods: int
    """Steps' worth of time missing in all gaps together."""
    largest_from: str | None = None
    largest_to: str | None = None


class DateStats(BaseModel):
    """Range of a date or timestamp column (ISO text), and its gaps when it is regular."""

    min: str | None = None
    max: str | None = None
    span_days: float | None = None
    gaps: TimeGaps | None = None
    gap_note: str = ""


class Histogram(BaseModel):
    """Counts of finite values in equal-width bins ``[edges[i], edges[i+1])`` (last closed)."""

    edges: list[float]
    counts: list[int]
    rule: str
    """How the bins were chosen, e.g. 'Freedman-Diaconis (width 2·IQR/n^(1/3)), capped at 50'."""


class Outliers(BaseModel):
    """Values far from the bulk, by two stated rules."""

    iqr_factor: float
    lower_fence: float
    upper_fence: float
    below: int
    above: int
    z_limit: float
    z_count: int
    """Values with |value - mean| / std above ``z_limit``."""

    @property
    def iqr_count(self) -> int:
        """Values outside the IQR fences."""
        return self.below + self.above


class BoxPlot(BaseModel):
    """A box plot's five numbers: whiskers at Tukey's fences clipped to the data's range."""

    low_whisker: float
    q1: float
    median: float
    q3: float
    high_whisker: float
    outliers_below: int
    outliers_above: int

    @classmethod
    def tukey(
        cls,
        quartiles: tuple[float, float, float],
        value_range: tuple[float, float],
        factor: float,
        beyond: tuple[int, int],
    ) -> BoxPlot:
        """The box of quartiles (Q1, median, Q3) with whiskers at Tukey's fences
        (Q1 - factor·IQR, Q3 + factor·IQR) clipped to ``value_range`` (min, max), and the
        counts of values below and above the fences."""
        q1, median, q3 = quartiles
        iqr = q3 - q1
        return cls(
            low_whisker=max(value_range[0], q1 - factor * iqr),
            q1=q1,
            median=median,
            q3=q3,
            high_whisker=min(value_range[1], q3 + factor * iqr),
            outliers_below=beyond[0],
            outliers_above=beyond[1],
        )


class GroupBox(BaseModel):
    """One box of a box plot by target: a target class, or a bin of a numeric target."""

    label: str
    count: int
    """Finite values of the column in this group."""
    box: BoxPlot


class TargetBoxes(BaseModel):
    """A numeric column's box plot per target class (classification) or per quartile bin of a
    numeric target (regression), computed with one grouped SQL query, drawn to one scale."""

    target: str
    grouping: Literal["class", "quartile"]
    """class: one box per (most frequent) target class; quartile: one box per bin of the
    target cut at its quartiles."""
    iqr_factor: float
    exact: bool
    """Exact quantiles (quantile_cont), or DuckDB's t-digest estimates on big tables."""
    boxes: list[GroupBox] = Field(default_factory=list)

    @property
    def scale(self) -> tuple[float, float]:
        """The shared scale: the lowest and highest whisker of all boxes."""
        return (
            min(g.box.low_whisker for g in self.boxes),
            max(g.box.high_whisker for g in self.boxes),
        )


class ScatterSample(BaseModel):
    """Points of two numeric columns for a scatter plot: a seeded sample of stated size."""

    x: str
    y: str
    points: list[tuple[float, float]]
    rows: int
    """Rows of the dataset where both values are finite."""
    seed: int


class TargetRow(BaseModel):
    """One category or bin of a feature with the target's rate(s) or mean in it."""

    label: str
    count: int
    values: list[float | None]
    """One value per ``TargetRelation.measures`` entry."""


class TargetRelation(BaseModel):
    """How the target behaves across a feature's categories or numeric bins."""

    target: str
    kind: Literal["rate", "mean", "distribution"]
    """rate: share of the positive class; mean: mean of a numeric target; distribution:
    share of each of the most common classes."""
    measures: list[str]
    """What ``TargetRow.values`` hold, e.g. ['rate of >50K'] or ['mean of cnt']."""
    rows: list[TargetRow]


class ColumnProfile(BaseModel):
    """Everything the Explore stage knows about one column."""

    name: str
    dtype: str
    semantic_type: SemanticType
    role: ColumnRole = ColumnRole.FEATURE
    count: int
    """Rows with a value (not null, not NaN)."""
    missing: int
    missing_pct: float
    distinct: int | None = None
    distinct_exact: bool = True
    """False when ``distinct`` is DuckDB's approx_count_distinct (HyperLogLog) estimate."""
    top_values: list[TopValue] = Field(default_factory=list)
    top_values_note: str = ""
    numeric: NumericStats | None = None
    text: TextStats | None = None
    dates: DateStats | None = None
    true_count: int | None = None
    """For boolean columns: rows holding true."""
    histogram: Histogram | None = None
    bars: list[tuple[str, int]] = Field(default_factory=list)
    """Top categories with counts, then ('other (N values)', rows) when there are more."""
    time_series: list[tuple[str, int]] = Field(default_factory=list)
    """(bucket start, rows) for time columns; the unit is in ``time_unit``."""
    time_unit: str | None = None
    target_relation: TargetRelation | None = None
    outliers: Outliers | None = None
    target_boxes: TargetBoxes | None = None
    """Box plots per target class or target quartile (numeric features with a target)."""

    @property
    def missing_share(self) -> float:
        """Missing rows as a share of all rows."""
        return self.missing_pct / 100.0

    def box_plot(self) -> BoxPlot | None:
        """The box plot of a numeric column (None without quartiles)."""
        s, o = self.numeric, self.outliers
        if s is None or o is None or s.min is None or s.max is None:
            return None
        q1, median, q3 = s.quantile(0.25), s.quantile(0.5), s.quantile(0.75)
        if q1 is None or median is None or q3 is None:
            return None
        return BoxPlot.tukey((q1, median, q3), (s.min, s.max), o.iqr_factor, (o.below, o.above))


class CorrelationPair(BaseModel):
    """One association between two columns."""

    a: str
    b: str
    method: Literal["pearson", "spearman", "cramers_v", "correlation_ratio"]
    value: float
    n: int
    """Rows of the sample where both columns have a value."""


class Correlations(BaseModel):
    """Associations between columns, computed on the profile's seeded sample."""

    sample_size: int = 0
    pairs: list[CorrelationPair] = Field(default_factory=list)
    """Every computed pair and method, strongest first."""
    columns: list[str] = Field(default_factory=list)
    """The columns of the matrices, target first, then the most associated ones."""
    matrices: dict[str, list[list[float | None]]] = Field(default_factory=dict)
    """'pearson', 'spearman' (numeric pairs only, else None) and 'association' (Pearson r for
    numeric pairs, Cramér's V for categorical pairs, correlation ratio for mixed ones)."""
    note: str = ""

    def value(self, a: str, b: str, method: str) -> float | None:
        """The association of ``a`` and ``b`` by ``method`` (order does not matter)."""
        for p in self.pairs:
            if p.method == method and {p.a, p.b} == {a, b}:
                return p.value
        return None


class Feature(BaseModel):
    """A feature's mutual information with the target."""

    column: str
    mutual_information: float
    """In nats, from scikit-learn's k-nearest-neighbour estimator (k=3) on the MI sample."""


class TargetSummary(BaseModel):
    """The target column: class balance (classification) or distribution (regression)."""

    column: str
    task: Literal["binary", "multiclass", "regression"]
    positive_class: str | None = None
    classes: list[TopValue] = Field(default_factory=list)
    """Every class (up to 50) with its row count, most frequent first."""
    missing: int = 0
    numeric: NumericStats | None = None
    top_features: list[Feature] = Field(default_factory=list)
    mi_sample_size: int = 0
    mi_note: str = ""

    def share(self, label: str) -> float | None:
        """Share of the known-target rows in class ``label``."""
        total = sum(c.count for c in self.classes)
        for c in self.classes:
            if c.value == label:
                return c.count / total if total else None
        return None


class Alert(BaseModel):
    """One data-quality finding: how bad, where, the numbers, and a step that fixes it.

    ``step`` is a recipe step as a dict (``app.domain.recipe.parse_step`` accepts it), so the
    Data stage can open with it prefilled; None when no cleaning step fits.
    """

    severity: Severity
    kind: AlertKind
    columns: list[str]
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    step: dict[str, Any] | None = None


class Profile(BaseModel):
    """A dataset version's profile: columns, relationships, target and ranked alerts."""

    dataset: str
    version: int
    fingerprint: str
    settings_hash: str
    settings: ProfileSettings
    n_rows: int
    n_cols: int
    duplicate_rows: int = 0
    """Rows that repeat an earlier row exactly."""
    columns: list[ColumnProfile] = Field(default_factory=list)
    correlations: Correlations = Field(default_factory=Correlations)
    target: TargetSummary | None = None
    time_column: str | None = None
    alerts: list[Alert] = Field(default_factory=list)
    sample_size: int = 0
    """Rows of the seeded sample behind correlations, leakage screening and scatter data."""
    thresholds: dict[str, float] = Field(default_factory=dict)
    """The alert thresholds used."""
    methods: dict[str, str] = Field(default_factory=dict)
    """How each kind of number was computed, in words."""
    queries: int = 0
    """SQL statements run to compute the profile (batched: far fewer than columns)."""
    computed_at: datetime
    seconds: float

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.dataset}@{self.version}"

    def column(self, name: str) -> ColumnProfile:
        """One column's profile by name (exact, then ignoring case); KeyError if absent."""
        for c in self.columns:
            if c.name == name:
                return c
        for c in self.columns:
            if c.name.lower() == name.lower():
                return c
        raise KeyError(name)

    def scatter_partner(self, name: str) -> str | None:
        """What a numeric column is plotted against in a scatter view: a numeric
        (regression) target, else the column most correlated with it (Pearson |r| on the
        sample); None when there is neither."""
        target = self.target
        if target is not None and target.task == "regression" and target.column != name:
            return target.column
        for pair in self.correlations.pairs:  # strongest first
            if pair.method == "pearson" and name in (pair.a, pair.b) and pair.a != pair.b:
                return pair.b if pair.a == name else pair.a
        return None


def settings_hash(settings: ProfileSettings, context: dict[str, Any]) -> str:
    """A short hash of the settings plus what else shapes the profile (target, thresholds)."""
    body = json.dumps(
        {"format": PROFILE_FORMAT, "settings": settings.model_dump(mode="json"), **context},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]
