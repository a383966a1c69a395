"""Drift results: a batch counted in the baseline's bins, each statistic against its threshold,
each feature's verdict and the batch's (computed by ``app.services.drift``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.runtime.contract import ColumnKind


class DriftStatistic(BaseModel):
    """One statistic of one feature, with the threshold it is judged against."""

    name: str
    label: str
    value: float | None
    min_effect: float | None = None
    noise: float | None = None
    """The ``noise_quantile`` of the statistic over simulated no-drift batches of this size."""
    threshold: float | None = None
    """``max(min_effect, noise)``."""
    decisive: bool = False
    """Whether exceeding the threshold flags the feature."""
    exceeded: bool = False


class BatchHistogram(BaseModel):
    """A batch counted in the baseline's bins, next to the baseline's own counts."""

    kind: ColumnKind
    labels: list[str]
    """Bin labels: numeric ``< e0``, ``e0 – e1`` … ``> e10``; categorical levels, ``(other)``."""
    counts: list[int]
    baseline_counts: list[int]
    n_rows: int
    missing: int
    unseen: int | None = None
    """Rows at levels training never saw (categorical; ``None`` when that cannot be told)."""
    unseen_levels: dict[str, int] = Field(default_factory=dict)
    """The most frequent unseen levels and their rows."""
    below_mean: float | None = None
    """Mean of the batch values below the training minimum (numeric)."""
    above_mean: float | None = None
    """Mean of the batch values above the training maximum (numeric)."""

    @property
    def present(self) -> int:
        """Non-missing rows."""
        return self.n_rows - self.missing


class FeatureDrift(BaseModel):
    """Every drift statistic of one feature for one batch, and the verdict."""

    name: str
    kind: ColumnKind
    n_rows: int
    missing: int
    missing_rate: float | None
    baseline_missing_rate: float
    histogram: BatchHistogram | None
    statistics: dict[str, DriftStatistic]
    noise_quantile: float
    """The quantile of the simulated no-drift statistics used as noise thresholds."""
    chi_square_p_value: float | None = None
    """Goodness-of-fit p-value (informative only: at large batches it is tiny for any change)."""
    assessed: bool
    """Whether the feature could be judged (not empty, not missing, not a datetime)."""
    drifted: bool
    severity: float
    """The largest ``value / threshold`` over the decisive statistics (above 1: drifted)."""
    method: str
    note: str | None = None

    def value(self, name: str) -> float | None:
        """The value of statistic ``name`` (``None`` when not computed)."""
        stat = self.statistics.get(name)
        return stat.value if stat else None


class BatchDrift(BaseModel):
    """The drift of one batch over every feature, most severe first."""

    n_rows: int
    features: list[FeatureDrift]
    n_assessed: int
    n_drifted: int
    drifted_share: float | None
    """Drifted share of the assessed features."""
    weighted_drifted_share: float | None = None
    """Drifted share weighted by feature importance (when importances were given)."""
    method: str

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features, most severe first."""
        return [f.name for f in self.features if f.drifted]
