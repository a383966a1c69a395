"""Drift of a batch against the training baseline, from the baseline's stored bins alone.

No raw training values are needed: every statistic compares the batch's counts in the
baseline's bins with the baseline's counts.

* Numeric (and datetime, in seconds since the epoch) features use the baseline's 10 quantile
  bins plus two open-ended outer bins (below the training minimum, above the training
  maximum), counted with :func:`app.services.bundle.bin_counts` exactly as the baseline was.
* Categorical features use the baseline's top levels plus one ``(other)`` bin for every other
  non-missing level, unseen ones included. Missing values are not a bin; the missing rate is
  compared on its own.

Statistics: PSI (shares below ``EPSILON`` raised to it), Jensen–Shannon distance (base 2),
Kolmogorov–Smirnov and Wasserstein distance (normalised by the baseline standard deviation)
from the binned cumulative distributions, each bin's mass at one location (its mean under the
baseline's interpolated quantile function, or its midpoint for a histogram without quantiles;
the outer bins at the mean of the batch values in them), chi-square goodness of fit with Cramér's V, the
share of unseen categories, the share out of the training range and the missing-rate change.

A statistic alerts only when it exceeds ``max(min effect, noise)``: the min effect is a named
constant below, the noise is the 99th percentile of the statistic over ``NOISE_SIMULATIONS``
seeded no-drift batches of the same size. Each simulated batch is drawn from a population
consistent with the baseline: bin probabilities from a Dirichlet on the baseline counts (so a
small training set widens the noise, as it should), then a multinomial batch of the same size.
Because a feature alerts when any of several statistics does, the percentile is raised per
feature and batch size until at most 1 % of the simulated batches alert on any of them.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel
from scipy.special import chdtrc

from app.domain.drift import BatchDrift, BatchHistogram, DriftStatistic, FeatureDrift
from app.runtime.contract import MISSING_LEVEL, Baseline, ColumnKind, FeatureBaseline
from app.services.baseline_stats import QUANTILES, bin_counts

__all__ = ["BatchDrift", "BatchHistogram", "DriftStatistic", "FeatureDrift"]

# -- named defaults -----------------------------------------------------------------------------

EPSILON = 1e-4
"""PSI floor: bin shares below it are raised to it (the usual convention, as in Evidently and
NannyML), so an empty bin costs a large but finite amount."""

PSI_MIN = 0.2
"""The credit-scoring rule of thumb: PSI above 0.2 is a significant shift."""
WASSERSTEIN_MIN = 0.1
"""A tenth of a training standard deviation (Evidently's default for numeric columns)."""
JS_MIN = 0.1
"""Evidently's default threshold for the Jensen–Shannon distance."""
KS_MIN = 0.1
"""A gap of ten percentage points between the two cumulative distributions."""
CRAMERS_V_MIN = 0.1
"""Cohen's 'small' effect size."""
UNSEEN_MIN = 0.02
"""Two rows in a hundred at levels training never saw."""
OUT_OF_RANGE_MIN = 0.02
"""Two rows in a hundred beyond the training minimum or maximum."""
MISSING_RATE_MIN = 0.05
"""Five percentage points more (or fewer) missing values than in training."""

MIN_EFFECTS: dict[str, float] = {
    "psi": PSI_MIN,
    "wasserstein": WASSERSTEIN_MIN,
    "js": JS_MIN,
    "ks": KS_MIN,
    "cramers_v": CRAMERS_V_MIN,
    "unseen": UNSEEN_MIN,
    "out_of_range": OUT_OF_RANGE_MIN,
    "missing_rate_change": MISSING_RATE_MIN,
}

NOISE_SIMULATIONS = 1000
"""Simulated no-drift batches per feature and batch size (cheap: all in bins, vectorised)."""
NOISE_QUANTILE = 0.99
"""One minus the false-alarm rate per feature on no-drift batches."""
NOISE_SEED = 20_240_607
"""Base seed of the simulation (mixed with the feature name and batch size)."""

UNSEEN_SHOWN = 10
"""Unseen levels listed per feature (the most frequent ones)."""
OTHER_LABEL = "(other)"
"""Label of the categorical bin holding every level the baseline does not list."""

LABELS: dict[str, str] = {
    "psi": "PSI",
    "ks": "KS",
    "wasserstein": "Wasserstein/std",
    "js": "Jensen–Shannon",
    "chi_square": "chi-square",
    "cramers_v": "Cramér's V",
    "unseen": "unseen share",
    "out_of_range": "out of range share",
    "missing_rate_change": "missing-rate change",
}
"""Display names of the statistics."""

NUMERIC_DECISIVE = ("psi", "ks", "wasserstein", "js", "out_of_range", "missing_rate_change")
CATEGORICAL_DECISIVE = ("psi", "js", "cramers_v", "unseen", "missing_rate_change")

FLAG_DATETIME = False
"""Datetime features are measured but never flagged: time moves on, so every later batch lies
beyond the training range by construction (their date parts are features of their own)."""

# -- batch histograms ---------------------------------------------------------------------------


def _as_series(values: Any) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()  # polars Series, pandas Index, arrow-backed arrays
    return pd.Series(np.asarray(values))


def numeric_values(kind: ColumnKind, values: Any) -> np.ndarray:
    """The batch as float64 with NaN for missing (and non-finite) values; datetimes become
    seconds since the epoch (numbers given for a datetime are taken as seconds already)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        x = values.astype(np.float64, copy=False)
        return x if np.isfinite(x).all() else np.where(np.isfinite(x), x, np.nan)
    s = _as_series(values)
    if kind == "datetime" and not pd.api.types.is_numeric_dtype(s.dtype):
        stamps = s
        if not pd.api.types.is_datetime64_any_dtype(stamps.dtype):
            stamps = pd.to_datetime(s, errors="coerce", format="mixed")
        epoch = pd.Timestamp(0, tz=stamps.dt.tz) if stamps.dt.tz is not None else pd.Timestamp(0)
        x = ((stamps - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        if not pd.api.types.is_numeric_dtype(s.dtype):
            s = pd.to_numeric(s, errors="coerce")
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return x if np.isfinite(x).all() else np.where(np.isfinite(x), x, np.nan)


def _numeric_labels(edges: np.ndarray) -> list[str]:
    inner = [f"{a:g} – {b:g}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return [f"< {edges[0]:g}", *inner, f"> {edges[-1]:g}"]


def baseline_bins(baseline: FeatureBaseline) -> tuple[list[str], np.ndarray]:
    """Labels and counts of the baseline's bins (empty when training had no values)."""
    if baseline.kind == "categorical":
        if not baseline.frequencies and not baseline.other:
            return [], np.zeros(0, dtype=np.int64)
        labels = [*baseline.frequencies, OTHER_LABEL]
        counts = [*baseline.frequencies.values(), baseline.other]
        return labels, np.asarray(counts, dtype=np.int64)
    if not baseline.edges:
        return [], np.zeros(0, dtype=np.int64)
    return _numeric_labels(np.asarray(baseline.edges)), np.asarray(baseline.counts, dtype=np.int64)


def batch_histogram(
    baseline: FeatureBaseline,
    values: Any,
    known_levels: Sequence[str] | None = None,
    shown: int | None = UNSEEN_SHOWN,
) -> BatchHistogram:
    """Count a batch (array or Series, NaN/None for missing) in the baseline's bins.

    ``known_levels`` lists every level training saw (the contract's categories); it is needed to
    tell unseen levels from rare training levels when the baseline groups some as ``other``.
    ``shown`` caps the unseen levels listed (``None``: all of them, for merging chunks).
    """
    labels, ref = baseline_bins(baseline)
    if baseline.kind == "categorical":
        return _categorical_histogram(baseline, values, labels, ref, known_levels, shown)
    x = numeric_values(baseline.kind, values)
    missing = int(np.count_nonzero(np.isnan(x)))
    if not len(ref):
        return BatchHistogram(
            kind=baseline.kind,
            labels=[],
            counts=[],
            baseline_counts=[],
            n_rows=len(x),
            missing=missing,
        )
    edges = np.asarray(baseline.edges, dtype=np.float64)
    counts = _bin_counts(x, edges, len(x) - missing)
    below = x[x < edges[0]] if counts[0] else x[:0]
    above = x[x > edges[-1]] if counts[-1] else x[:0]
    return BatchHistogram(
        kind=baseline.kind,
        labels=labels,
        counts=[int(c) for c in counts],
        baseline_counts=[int(c) for c in ref],
        n_rows=len(x),
        missing=missing,
        below_mean=float(below.mean()) if len(below) else None,
        above_mean=float(above.mean()) if len(above) else None,
    )


def _bin_counts(x: np.ndarray, edges: np.ndarray, n_present: int) -> np.ndarray:
    """:func:`app.services.bundle.bin_counts` of the non-NaN values of ``x`` without copying
    them: with ascending edges, the rows at or above each edge (above the last one) are
    counted by vectorised comparisons (NaN compares false), and each bin is the difference of
    two neighbours — the same integers as the binary search, several times faster."""
    if len(edges) == 0 or not np.all(edges[1:] >= edges[:-1]):
        return bin_counts(x[~np.isnan(x)], edges)
    at_least = np.empty(len(edges) + 2, dtype=np.int64)
    at_least[0] = n_present
    for i, edge in enumerate(edges[:-1]):
        at_least[i + 1] = np.count_nonzero(x >= edge)
    at_least[-2] = np.count_nonzero(x > edges[-1])  # the last bin is closed
    at_least[-1] = 0
    return at_least[:-1] - at_least[1:]


def _level_counts(s: pd.Series) -> tuple[pd.Series, int]:
    """Rows per text level of the non-missing values (in order of first appearance) and the
    number of missing (NA) values. Text columns are counted as they are; others as text."""
    missing_mask = s.isna().to_numpy(dtype=bool)
    n_na = int(missing_mask.sum())
    present = s[~missing_mask] if n_na else s
    if not isinstance(s.dtype, pd.StringDtype):
        present = present.astype(str)
    return present.value_counts(sort=False), n_na


def _is_polars(values: Any) -> bool:
    return type(values).__module__.startswith("polars")


def _polars_level_counts(values: Any) -> tuple[pd.Series, int]:
    """``_level_counts`` of a Polars Series, counted in Polars (no Python string per row)."""
    import polars as pl

    text = values.cast(pl.String)
    n_na = text.null_count()
    grouped = text.drop_nulls().to_frame("level").group_by("level", maintain_order=True).len()
    counts = pd.Series(
        grouped["len"].to_numpy(), index=pd.Index(grouped["level"].to_list(), dtype=object)
    )
    return counts, int(n_na)


def _categorical_histogram(
    baseline: FeatureBaseline,
    values: Any,
    labels: list[str],
    ref: np.ndarray,
    known_levels: Sequence[str] | None,
    shown: int | None,
) -> BatchHistogram:
    # every step below works on the distinct levels, not on the rows
    if _is_polars(values):
        level_counts, n_na = _polars_level_counts(values)
        n_rows = len(values)
    else:
        s = _as_series(values)
        level_counts, n_na = _level_counts(s)
        n_rows = len(s)
    found = pd.Index(level_counts.index)
    rows = level_counts.to_numpy(dtype=np.int64)
    is_missing_level = np.asarray(found == MISSING_LEVEL, dtype=bool)
    missing = n_na + int(rows[is_missing_level].sum())
    kept = ~is_missing_level
    levels = list(baseline.frequencies)
    codes = pd.Index(levels).get_indexer(found)
    counts = np.zeros(len(levels), dtype=np.int64)
    listed = kept & (codes >= 0)
    counts[codes[listed]] = rows[listed]
    other = int(rows[kept & (codes < 0)].sum())
    unseen: int | None = None
    unseen_levels: dict[str, int] = {}
    if known_levels is not None or baseline.other == 0:
        known = pd.Index([*levels, *(known_levels or [])]).unique()
        new = kept & (codes < 0) & ~np.asarray(found.isin(known), dtype=bool)
        unseen = int(rows[new].sum())
        if unseen:
            # a stable sort of counts in order of first appearance, as ``value_counts``
            top = level_counts[new].sort_values(ascending=False, kind="stable")
            if shown is not None:
                top = top.head(shown)
            unseen_levels = {str(k): int(v) for k, v in top.items()}
    return BatchHistogram(
        kind="categorical",
        labels=labels,
        counts=[*(int(c) for c in counts), other] if len(ref) else [],
        baseline_counts=[int(c) for c in ref],
        n_rows=n_rows,
        missing=missing,
        unseen=unseen,
        unseen_levels=unseen_levels,
    )


UNSEEN_KEPT = 10_000
"""Distinct unseen levels kept while merging chunk histograms (the largest; the unseen count
itself stays exact)."""


def _weighted_mean(a: float | None, n_a: int, b: float | None, n_b: int) -> float | None:
    if a is None or not n_a:
        return b
    if b is None or not n_b:
        return a
    return (a * n_a + b * n_b) / (n_a + n_b)


def merge_histograms(a: BatchHistogram, b: BatchHistogram) -> BatchHistogram:
    """The histogram of two chunks of one batch counted in the same baseline bins: counts add,
    the means beyond the training range are weighted by their rows, unseen levels add up."""
    if a.labels != b.labels or a.kind != b.kind:
        raise ValueError("histograms of different bins cannot be merged")
    counts = [x + y for x, y in zip(a.counts, b.counts, strict=True)]
    levels = dict(a.unseen_levels)
    for level, rows in b.unseen_levels.items():
        levels[level] = levels.get(level, 0) + rows
    if len(levels) > UNSEEN_KEPT:
        levels = dict(sorted(levels.items(), key=lambda kv: -kv[1])[:UNSEEN_KEPT])
    below = above = None
    if counts:
        below = _weighted_mean(a.below_mean, a.counts[0], b.below_mean, b.counts[0])
        above = _weighted_mean(a.above_mean, a.counts[-1], b.above_mean, b.counts[-1])
    return BatchHistogram(
        kind=a.kind,
        labels=a.labels,
        counts=counts,
        baseline_counts=a.baseline_counts,
        n_rows=a.n_rows + b.n_rows,
        missing=a.missing + b.missing,
        unseen=None if a.unseen is None or b.unseen is None else a.unseen + b.unseen,
        unseen_levels=levels,
        below_mean=below,
        above_mean=above,
    )


def shown_levels(hist: BatchHistogram, shown: int = UNSEEN_SHOWN) -> BatchHistogram:
    """``hist`` with only its ``shown`` most frequent unseen levels listed (ties: first seen)."""
    if len(hist.unseen_levels) <= shown:
        return hist
    top = sorted(hist.unseen_levels.items(), key=lambda kv: -kv[1])[:shown]
    return hist.model_copy(update={"unseen_levels": dict(top)})


class HistogramAccumulator:
    """A batch's histograms built chunk by chunk, so a batch larger than memory is counted in
    bounded memory; the result equals counting the whole batch at once."""

    def __init__(
        self,
        baselines: Sequence[FeatureBaseline],
        known_levels: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.baselines = {b.name: b for b in baselines}
        self.known_levels = known_levels or {}
        self.histograms: dict[str, BatchHistogram] = {}
        self.n_rows = 0

    def add(self, columns: Mapping[str, Any], n_rows: int) -> None:
        """Count one chunk (``columns`` maps feature names to its values)."""
        for name, baseline in self.baselines.items():
            if name not in columns:
                continue
            hist = batch_histogram(baseline, columns[name], self.known_levels.get(name), shown=None)
            held = self.histograms.get(name)
            self.histograms[name] = hist if held is None else merge_histograms(held, hist)
        self.n_rows += n_rows

    def result(self) -> dict[str, BatchHistogram]:
        """The histograms of every chunk so far, top unseen levels only."""
        return {name: shown_levels(h) for name, h in self.histograms.items()}


# -- statistics on shares (1-D: one batch, 2-D: one batch per row) ------------------------------


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares of their (last-axis) total; an empty row stays all zeros."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=-1, keepdims=True)
    return np.divide(c, total, out=np.zeros_like(c), where=total > 0)


def psi(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Population stability index ``sum((q - p) ln(q / p))``, shares floored at ``EPSILON``."""
    ps = np.maximum(p, EPSILON)
    qs = np.maximum(q, EPSILON)
    return np.sum((qs - ps) * np.log(qs / ps), axis=-1)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance in base 2 (0 to 1), as ``scipy.spatial.distance.jensenshannon``."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log2(p / m), 0.0)
        b = np.where(q > 0, q * np.log2(q / m), 0.0)
    return np.sqrt(np.maximum(0.5 * (a.sum(axis=-1) + b.sum(axis=-1)), 0.0))


def ks_statistic(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Kolmogorov–Smirnov statistic of the binned CDFs: the largest gap at a bin boundary."""
    return np.max(np.abs(np.cumsum(q - p, axis=-1)), axis=-1)


def wasserstein_binned(p: np.ndarray, q: np.ndarray, locations: np.ndarray) -> np.ndarray:
    """Wasserstein-1 distance with each bin's mass at ``locations`` (ascending)."""
    gap = np.abs(np.cumsum(q - p, axis=-1)[..., :-1])
    return np.sum(gap * np.diff(locations), axis=-1)


def chi_square(ref_counts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Chi-square goodness of fit of ``counts`` against the baseline's shares.

    Bins the baseline never saw (expected 0) are left out; their rows show up in the unseen
    share instead. Returns the statistic, the degrees of freedom and Cramér's V
    ``sqrt(chi2 / (n (k - 1)))`` (NaN when undefined).
    """
    mask = np.asarray(ref_counts) > 0
    k = int(mask.sum())
    obs = np.asarray(counts, dtype=np.float64)[..., mask]
    n = obs.sum(axis=-1, keepdims=True)
    expected = n * (ref_counts[mask] / ref_counts[mask].sum())
    terms = np.divide((obs - expected) ** 2, expected, out=np.zeros_like(obs), where=expected > 0)
    chi2 = terms.sum(axis=-1)
    dof = k - 1
    denom = n[..., 0] * dof
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(denom > 0, np.sqrt(chi2 / np.where(denom > 0, denom, 1.0)), np.nan)
    return chi2, dof, v


def _centres(baseline: FeatureBaseline) -> np.ndarray:
    """Where each inner bin's mass sits: the bin's mean under the baseline's quantile function
    interpolated linearly through the edges (deciles) and the stored quantiles, which places
    the wide tail bins far better than their midpoints; plain midpoints when the edges are
    not the baseline's deciles (a hand-made or reference histogram)."""
    edges = np.asarray(baseline.edges, dtype=np.float64)
    mids = (edges[:-1] + edges[1:]) / 2
    known = {k: v for k, v in baseline.quantiles.items() if k in QUANTILES}
    if len(edges) != 11 or not known:
        return mids
    u = np.linspace(0.0, 1.0, len(edges))
    points = dict(zip(u.tolist(), edges.tolist(), strict=True))
    points.update({QUANTILES[k]: v for k, v in known.items()})
    pu = np.array(sorted(points))
    pq = np.maximum.accumulate(np.array([points[x] for x in pu]))
    centres = np.empty(len(edges) - 1)
    for i in range(len(edges) - 1):
        grid = np.union1d(pu[(pu > u[i]) & (pu < u[i + 1])], [u[i], u[i + 1]])
        q = np.interp(grid, pu, pq)
        centres[i] = np.sum((q[1:] + q[:-1]) / 2 * np.diff(grid)) / (u[i + 1] - u[i])
    return np.clip(centres, edges[:-1], edges[1:])


def _locations(baseline: FeatureBaseline, below: float | None, above: float | None) -> np.ndarray:
    """Where each bin's mass sits: inner bins at :func:`_centres`; the outer bins at the mean
    of the batch values in them, or at the edge itself when that is unknown."""
    edges = np.asarray(baseline.edges, dtype=np.float64)
    low = edges[0] if below is None else min(below, edges[0])
    high = edges[-1] if above is None else max(above, edges[-1])
    return np.concatenate([[low], _centres(baseline), [high]])


def _distribution_stats(
    baseline: FeatureBaseline,
    ref: np.ndarray,
    counts: np.ndarray,
    locations: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Every binned statistic for one batch (1-D counts) or many (2-D, one per row)."""
    p = shares(ref)
    q = shares(counts)
    out = {"psi": psi(p, q), "js": js_distance(p, q)}
    if baseline.kind == "categorical":
        chi2, _, v = chi_square(ref, counts)
        out["chi_square"] = chi2
        out["cramers_v"] = v
        return out
    out["ks"] = ks_statistic(p, q)
    out["out_of_range"] = q[..., 0] + q[..., -1]
    std = baseline.std
    if locations is not None and std is not None and std > 0:
        out["wasserstein"] = wasserstein_binned(p, q, locations) / std
    return out


# -- noise thresholds ---------------------------------------------------------------------------


class NoiseThresholds(BaseModel):
    """What sampling noise alone produces for one feature at one batch size."""

    quantile: float
    """The per-statistic quantile used: ``NOISE_QUANTILE`` raised until at most
    ``1 - NOISE_QUANTILE`` of the simulated batches exceed any decisive threshold (so several
    statistics together still keep the false-alarm rate)."""
    thresholds: dict[str, float]
    """That quantile of each statistic over the simulated no-drift batches."""


NoiseCache = dict[tuple[str, int, int], NoiseThresholds]
"""Noise thresholds per (feature, batch rows, non-missing rows), shared within one call."""


def _rng(name: str, n_rows: int, n_present: int) -> np.random.Generator:
    return np.random.default_rng([NOISE_SEED, zlib.crc32(name.encode()), n_rows, n_present])


def _simulate(baseline: FeatureBaseline, n_rows: int, n_present: int) -> dict[str, np.ndarray]:
    """Every statistic over ``NOISE_SIMULATIONS`` seeded no-drift batches (one per entry)."""
    rng = _rng(baseline.name, n_rows, n_present)
    out: dict[str, np.ndarray] = {}
    _, ref = baseline_bins(baseline)
    if n_present > 0 and len(ref) and ref.sum() > 0:
        alpha = ref.astype(np.float64)
        if baseline.kind != "categorical":
            alpha[[0, -1]] = np.maximum(alpha[[0, -1]], 1.0)
        gamma = rng.standard_gamma(alpha, size=(NOISE_SIMULATIONS, len(alpha)))
        population = gamma / gamma.sum(axis=1, keepdims=True)
        counts = rng.multinomial(n_present, population)
        locations = None
        if baseline.kind != "categorical":
            locations = _locations(baseline, None, None)
        out.update(_distribution_stats(baseline, ref, counts, locations))
    if n_rows > 0:
        present = baseline.n_rows - baseline.missing
        rate = rng.beta(baseline.missing + 0.5, present + 0.5, size=NOISE_SIMULATIONS)
        missing = rng.binomial(n_rows, rate)
        out["missing_rate_change"] = np.abs(missing / n_rows - baseline.missing_rate)
    return out


def _joint_quantile(sims: dict[str, np.ndarray], decisive: Sequence[str]) -> float:
    """The per-statistic quantile at which at most ``1 - NOISE_QUANTILE`` of the simulated
    batches exceed a decisive threshold (the max-rank adjustment of Westfall and Young);
    values at or below their min effect cannot alert and do not count."""
    ranks = []
    for name in decisive:
        values = sims.get(name)
        if values is None:
            continue
        values = np.where(np.isfinite(values), values, -np.inf)
        rank = np.searchsorted(np.sort(values), values, side="right") / len(values)
        ranks.append(np.where(values > MIN_EFFECTS.get(name, 0.0), rank, 0.0))
    if not ranks:
        return NOISE_QUANTILE
    worst = np.max(ranks, axis=0)
    return float(min(1.0, max(NOISE_QUANTILE, np.quantile(worst, NOISE_QUANTILE))))


def noise_thresholds(
    baseline: FeatureBaseline, n_rows: int, n_present: int, cache: NoiseCache | None = None
) -> NoiseThresholds:
    """What each statistic reaches without drift for ``n_rows`` rows (``n_present`` of them
    non-missing), from ``NOISE_SIMULATIONS`` seeded batches drawn from the baseline's bins.

    Bin probabilities are drawn from a Dirichlet on the baseline counts (the numeric outer bins
    get weight 1 each: a fresh value falls beyond a sample's extremes with chance about
    ``1 / (n + 1)``), then batch counts from a multinomial; the missing count likewise from a
    Beta-binomial. Unseen categories have no noise model (their min effect rules).
    """
    key = (baseline.name, n_rows, n_present)
    if cache is not None and key in cache:
        return cache[key]
    sims = _simulate(baseline, n_rows, n_present)
    decisive = CATEGORICAL_DECISIVE if baseline.kind == "categorical" else NUMERIC_DECISIVE
    level = _joint_quantile(sims, decisive)
    thresholds: dict[str, float] = {}
    for name, values in sims.items():
        finite = values[np.isfinite(values)]
        if len(finite):
            q = level if name in decisive else NOISE_QUANTILE
            thresholds[name] = float(np.quantile(finite, q))
    out = NoiseThresholds(quantile=level, thresholds=thresholds)
    if cache is not None:
        cache[key] = out
    return out


# -- one feature --------------------------------------------------------------------------------


def _statistic(
    name: str, value: float | None, noise: dict[str, float], decisive: bool
) -> DriftStatistic:
    if value is not None and not np.isfinite(value):
        value = None
    min_effect = MIN_EFFECTS.get(name)
    noise_level = noise.get(name)
    limits = [t for t in (min_effect, noise_level) if t is not None]
    threshold = max(limits) if limits else None
    exceeded = bool(decisive and value is not None and threshold is not None and value > threshold)
    return DriftStatistic(
        name=name,
        label=LABELS[name],
        value=value,
        min_effect=min_effect,
        noise=noise_level,
        threshold=threshold,
        decisive=decisive,
        exceeded=exceeded,
    )


def _method(baseline: FeatureBaseline, n_bins: int, n_present: int) -> str:
    rule = (
        f"flagged above max(min effect, noise): noise from {NOISE_SIMULATIONS} simulated "
        f"no-drift batches of {n_present:,} values, at most {1 - NOISE_QUANTILE:.0%} alerting"
    )
    if baseline.kind == "categorical":
        return (
            f"{max(n_bins - 1, 0)} baseline levels + other; PSI (shares floored at {EPSILON:g}), "
            f"Jensen–Shannon (base 2), chi-square with Cramér's V, unseen share; {rule}"
        )
    return (
        f"{max(n_bins - 2, 0)} quantile bins + 2 open outer bins; PSI (shares floored at "
        f"{EPSILON:g}), Jensen–Shannon (base 2), KS and Wasserstein/std on the binned CDFs "
        f"(mass at bin centres); {rule}"
    )


def feature_drift(
    baseline: FeatureBaseline,
    values: Any,
    *,
    known_levels: Sequence[str] | None = None,
    cache: NoiseCache | None = None,
) -> FeatureDrift:
    """Every drift statistic of one feature of a batch against its baseline, with the verdict.

    ``values`` holds the batch's column (NaN/None for missing); see :func:`batch_histogram` for
    ``known_levels``. ``cache`` shares noise thresholds between calls with the same batch size.
    """
    return drift_of_histogram(baseline, batch_histogram(baseline, values, known_levels), cache)


def drift_of_histogram(
    baseline: FeatureBaseline, hist: BatchHistogram, cache: NoiseCache | None = None
) -> FeatureDrift:
    """:func:`feature_drift` of a batch already counted in the baseline's bins."""
    n_rows, n_present = hist.n_rows, hist.present
    _, ref = baseline_bins(baseline)
    noise = noise_thresholds(baseline, n_rows, n_present, cache)
    decisive = NUMERIC_DECISIVE if baseline.kind != "categorical" else CATEGORICAL_DECISIVE
    judged = baseline.kind != "datetime" or FLAG_DATETIME
    note: str | None = None

    values_by_name: dict[str, float | None] = {}
    p_value: float | None = None
    if n_present and len(ref) and ref.sum() > 0:
        counts = np.asarray(hist.counts, dtype=np.int64)
        locations = None
        if baseline.kind != "categorical":
            locations = _locations(baseline, hist.below_mean, hist.above_mean)
        for name, value in _distribution_stats(baseline, ref, counts, locations).items():
            values_by_name[name] = float(value)
        if baseline.kind == "categorical":
            chi2, dof, _ = chi_square(ref, counts)
            if dof > 0:
                p_value = float(chdtrc(dof, float(chi2)))
            if hist.unseen is not None:
                values_by_name["unseen"] = hist.unseen / n_present
        if baseline.kind != "categorical" and "wasserstein" not in values_by_name:
            note = "baseline is constant: Wasserstein/std is undefined"
    elif n_rows and not n_present:
        note = "no non-missing values in the batch"
    elif n_rows and not len(ref):
        note = "training had no non-missing values"
    if n_rows:
        values_by_name["missing_rate_change"] = abs(hist.missing / n_rows - baseline.missing_rate)
    else:
        note = "empty batch"

    names = list(decisive)
    if baseline.kind == "categorical":
        names.insert(2, "chi_square")
    statistics = {
        name: _statistic(
            name, values_by_name.get(name), noise.thresholds, judged and name in decisive
        )
        for name in names
    }
    ratios = [
        s.value / s.threshold
        for s in statistics.values()
        if s.decisive and s.value is not None and s.threshold
    ]
    assessed = judged and n_rows > 0
    if not judged:
        note = "timestamps move on with every batch: measured, never flagged"
    severity = max(ratios, default=0.0) if assessed else 0.0
    return FeatureDrift(
        name=baseline.name,
        kind=baseline.kind,
        n_rows=n_rows,
        missing=hist.missing,
        missing_rate=hist.missing / n_rows if n_rows else None,
        baseline_missing_rate=baseline.missing_rate,
        histogram=hist,
        statistics=statistics,
        noise_quantile=noise.quantile,
        chi_square_p_value=p_value,
        assessed=assessed,
        drifted=assessed and any(s.exceeded for s in statistics.values()),
        severity=float(severity),
        method=_method(baseline, len(ref), n_present),
        note=note,
    )


def _absent(baseline: FeatureBaseline, n_rows: int) -> FeatureDrift:
    return FeatureDrift(
        name=baseline.name,
        kind=baseline.kind,
        n_rows=n_rows,
        missing=n_rows,
        missing_rate=None,
        baseline_missing_rate=baseline.missing_rate,
        histogram=None,
        statistics={},
        noise_quantile=NOISE_QUANTILE,
        assessed=False,
        drifted=False,
        severity=0.0,
        method="not measured",
        note="column not in the batch",
    )


# -- a batch ------------------------------------------------------------------------------------


def batch_drift(
    baseline: Baseline,
    frame: Any,
    importances: Mapping[str, float] | None = None,
    *,
    known_levels: Mapping[str, Sequence[str]] | None = None,
) -> BatchDrift:
    """The drift of every baseline feature in ``frame`` (pandas or polars), ranked by severity.

    ``importances`` (feature -> non-negative weight) adds the importance-weighted drifted share;
    features without a weight count 0. ``known_levels`` maps categorical features to every level
    training saw (see :func:`batch_histogram`).
    """
    n_rows = int(frame.shape[0])
    columns = set(frame.columns)
    histograms = {
        fb.name: batch_histogram(fb, frame[fb.name], (known_levels or {}).get(fb.name))
        for fb in baseline.features
        if fb.name in columns
    }
    return batch_drift_of_histograms(baseline, histograms, n_rows, importances)


def batch_drift_of_histograms(
    baseline: Baseline,
    histograms: Mapping[str, BatchHistogram],
    n_rows: int,
    importances: Mapping[str, float] | None = None,
) -> BatchDrift:
    """:func:`batch_drift` of a batch of ``n_rows`` rows already counted per feature (a feature
    without a histogram was not in the batch)."""
    cache: NoiseCache = {}
    features = [
        drift_of_histogram(fb, histograms[fb.name], cache)
        if fb.name in histograms
        else _absent(fb, n_rows)
        for fb in baseline.features
    ]
    features.sort(key=lambda f: (-f.severity, f.name))
    assessed = [f for f in features if f.assessed]
    drifted = [f for f in assessed if f.drifted]
    weighted: float | None = None
    if importances is not None:
        total = sum(max(importances.get(f.name, 0.0), 0.0) for f in assessed)
        hit = sum(max(importances.get(f.name, 0.0), 0.0) for f in drifted)
        weighted = hit / total if total > 0 else None
    return BatchDrift(
        n_rows=n_rows,
        features=features,
        n_assessed=len(assessed),
        n_drifted=len(drifted),
        drifted_share=len(drifted) / len(assessed) if assessed else None,
        weighted_drifted_share=weighted,
        method=(
            "a feature drifts when a statistic exceeds both its minimum effect and what "
            f"sampling noise reaches in {NOISE_SIMULATIONS} simulated no-drift batches of the "
            f"same size drawn from the baseline bins (at most {1 - NOISE_QUANTILE:.0%} of "
            "them alert)"
        ),
    )


# -- prediction drift ---------------------------------------------------------------------------


def reference_histogram(values: Any, name: str = "score", bins: int = 10) -> FeatureBaseline:
    """A numeric baseline (quantile bins, as the bundle's) of reference values such as holdout
    scores, to compare later scores with :func:`feature_drift`."""
    x = numeric_values("numeric", values)
    present = x[~np.isnan(x)]
    n = len(x)
    out = FeatureBaseline(
        name=name,
        kind="numeric",
        n_rows=n,
        missing=n - len(present),
        missing_rate=(n - len(present)) / n if n else 0.0,
    )
    if len(present):
        edges = np.quantile(present, np.linspace(0, 1, bins + 1))
        out.edges = [float(e) for e in edges]
        out.counts = [int(c) for c in bin_counts(present, edges)]
        out.mean = float(present.mean())
        out.std = float(present.std())
    return out


def score_drift(
    edges: Sequence[float],
    counts: Sequence[int],
    scores: Any,
    *,
    name: str = "score",
    std: float | None = None,
    cache: NoiseCache | None = None,
) -> FeatureDrift:
    """Drift of a score distribution against a reference histogram.

    ``counts`` has ``len(edges) + 1`` entries (outer bins included, as ``bin_counts`` gives) or
    ``len(edges) - 1`` (inner bins only). Without ``std`` the reference standard deviation is
    taken from the histogram with each bin's mass at its midpoint (outer bins at the edges).
    """
    e = np.asarray(edges, dtype=np.float64)
    c = np.asarray(counts, dtype=np.int64)
    if len(c) == len(e) - 1:
        c = np.concatenate([[0], c, [0]])
    if len(c) != len(e) + 1:
        raise ValueError(f"{len(c)} counts do not fit {len(e)} edges")
    n = int(c.sum())
    mean = None
    if n and std is None:
        mids = (e[:-1] + e[1:]) / 2
        loc = np.concatenate([[e[0]], mids, [e[-1]]])
        mean = float(np.sum(c * loc) / n)
        std = float(np.sqrt(np.sum(c * (loc - mean) ** 2) / n))
    reference = FeatureBaseline(
        name=name,
        kind="numeric",
        n_rows=n,
        missing=0,
        missing_rate=0.0,
        edges=[float(x) for x in e],
        counts=[int(x) for x in c],
        mean=mean,
        std=std,
    )
    return feature_drift(reference, scores, cache=cache)


def class_drift(
    reference: Mapping[str, int],
    predicted: Any,
    *,
    name: str = "predicted class",
    cache: NoiseCache | None = None,
) -> FeatureDrift:
    """Drift of a predicted-class distribution against reference class counts."""
    baseline = FeatureBaseline(
        name=name,
        kind="categorical",
        n_rows=int(sum(reference.values())),
        missing=0,
        missing_rate=0.0,
        frequencies={str(k): int(v) for k, v in reference.items()},
    )
    return feature_drift(baseline, predicted, cache=cache)
