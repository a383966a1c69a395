"""Drift statistics against independent references, and alerts that don't cry wolf.

KS and Wasserstein are checked against SciPy on data whose binned distribution is exact
(values at bin centres, outer values anywhere beyond the training range), Jensen–Shannon and
chi-square against SciPy, PSI against a hand computation. No-drift batches drawn from the
training distribution must not alert at 100, 1,000 and 100,000 rows; a one-sd shift must.
Baselines are built with the bundle's own helper or by hand. All randomness is seeded.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, wasserstein_distance

from app.runtime.contract import MISSING_LEVEL, Baseline, FeatureBaseline
from app.services import drift
from app.services.bundle import bin_counts, numeric_baseline

EDGES = [float(e) for e in range(11)]
CENTRES = np.arange(10) + 0.5
REF_INNER = np.array([5, 10, 20, 30, 40, 40, 30, 20, 10, 5])


def _hand_numeric(counts: np.ndarray = REF_INNER, name: str = "x") -> FeatureBaseline:
    """A numeric baseline on edges 0..10 whose raw data sit at the bin centres."""
    raw = np.repeat(CENTRES, counts)
    return FeatureBaseline(
        name=name,
        kind="numeric",
        n_rows=len(raw),
        missing=0,
        missing_rate=0.0,
        edges=EDGES,
        counts=[0, *(int(c) for c in counts), 0],
        mean=float(raw.mean()),
        std=float(raw.std()),
    )


def _normal_baseline(seed: int = 0, n: int = 20_000, name: str = "x") -> FeatureBaseline:
    values = np.random.default_rng(seed).normal(10.0, 2.0, size=n)
    values[::50] = np.nan  # 2 % missing
    return numeric_baseline(name, "numeric", values)


LEVELS = {"a": 5_000, "b": 3_000, "c": 1_500, "d": 400, "e": 100}


def _categorical(name: str = "c", other: int = 0, missing: int = 0) -> FeatureBaseline:
    n = sum(LEVELS.values()) + other + missing
    return FeatureBaseline(
        name=name,
        kind="categorical",
        n_rows=n,
        missing=missing,
        missing_rate=missing / n,
        frequencies=dict(LEVELS),
        other=other,
    )


def _sample_categorical(n: int, seed: int) -> np.ndarray:
    p = np.array(list(LEVELS.values()), dtype=float)
    return np.random.default_rng(seed).choice(list(LEVELS), p=p / p.sum(), size=n).astype(object)


# -- batch histograms ---------------------------------------------------------------------------


def test_training_data_counts_into_its_own_baseline_bins() -> None:
    values = np.random.default_rng(1).gamma(2.0, 3.0, size=5_000)
    values[::7] = np.nan
    fb = numeric_baseline("g", "numeric", values)
    hist = drift.batch_histogram(fb, pd.Series(values))
    assert hist.counts == fb.counts
    assert hist.missing == fb.missing
    assert hist.present == fb.n_rows - fb.missing
    assert len(hist.labels) == len(hist.counts) == 12
    assert hist.below_mean is None and hist.above_mean is None


def test_numeric_histogram_outer_bins_and_means() -> None:
    fb = _hand_numeric()
    batch = np.array([-4.0, -2.0, 0.0, 10.0, 12.0, np.nan, np.inf, 5.5])
    hist = drift.batch_histogram(fb, batch)
    assert hist.counts == [int(c) for c in bin_counts(batch[np.isfinite(batch)], np.array(EDGES))]
    assert hist.counts[0] == 2 and hist.counts[-1] == 1 and hist.counts[10] == 1
    assert hist.below_mean == -3.0 and hist.above_mean == 12.0
    assert hist.missing == 2  # NaN and inf, as the predictor treats them


def test_categorical_histogram_levels_other_unseen_and_missing() -> None:
    fb = _categorical()
    batch = pd.Series(["a", "a", "b", "zz", "zz", "yy", None, MISSING_LEVEL, "e"], dtype=object)
    hist = drift.batch_histogram(fb, batch)
    assert hist.labels == [*LEVELS, drift.OTHER_LABEL]
    assert hist.counts == [2, 1, 0, 0, 1, 3]
    assert hist.baseline_counts == [*LEVELS.values(), 0]
    assert hist.missing == 2
    assert hist.unseen == 3
    assert hist.unseen_levels == {"zz": 2, "yy": 1}


def test_unseen_needs_known_levels_when_the_baseline_groups_other_levels() -> None:
    fb = _categorical(other=200)
    batch = np.array(["a", "rare", "new"], dtype=object)
    assert drift.batch_histogram(fb, batch).unseen is None
    hist = drift.batch_histogram(fb, batch, known_levels=[*LEVELS, "rare"])
    assert hist.counts[-1] == 2
    assert hist.unseen == 1 and hist.unseen_levels == {"new": 1}


def test_datetime_values_become_seconds_since_the_epoch() -> None:
    stamps = pd.Series(["2011-01-01 00:00:00", None, "2011-03-01 12:00:00"])
    seconds = drift.numeric_values("datetime", stamps)
    assert seconds[0] == 1_293_840_000.0
    assert np.isnan(seconds[1])
    assert seconds[2] == 1_293_840_000.0 + (31 + 28) * 86_400 + 43_200
    parsed = drift.numeric_values("datetime", pd.to_datetime(stamps, format="mixed"))
    np.testing.assert_array_equal(parsed, seconds)


# -- statistics against independent references --------------------------------------------------

BATCH_INNER = np.array([2, 4, 10, 20, 30, 50, 40, 30, 20, 14])
BELOW = np.array([-3.0, -1.0, -0.5])
ABOVE = np.array([10.5, 14.0])


def _binned_batch() -> np.ndarray:
    return np.concatenate([np.repeat(CENTRES, BATCH_INNER), BELOW, ABOVE])


def test_ks_equals_scipy_when_the_binned_cdf_is_exact() -> None:
    fb = _hand_numeric()
    batch = _binned_batch()
    fd = drift.feature_drift(fb, batch)
    reference = ks_2samp(np.repeat(CENTRES, REF_INNER), batch).statistic
    assert fd.value("ks") == pytest.approx(reference, abs=1e-12)


def test_wasserstein_equals_scipy_with_mass_at_bin_midpoints() -> None:
    # Outer values sit at their own places: the outer bins carry the mean of their values,
    # which is exact because training has no mass beyond its own extremes.
    fb = _hand_numeric()
    batch = _binned_batch()
    fd = drift.feature_drift(fb, batch)
    reference = wasserstein_distance(np.repeat(CENTRES, REF_INNER), batch)
    assert fb.std is not None
    assert fd.value("wasserstein") == pytest.approx(reference / fb.std, rel=1e-12)


def test_wasserstein_of_continuous_data_is_within_the_binning_tolerance() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(size=50_000)
    fb = numeric_baseline("x", "numeric", train)
    batch = rng.normal(0.5, 1.0, size=50_000)
    fd = drift.feature_drift(fb, batch)
    assert fb.std is not None
    exact = wasserstein_distance(train, batch) / fb.std
    # 10 quantile bins, mass at the bin means of the interpolated quantile function: within
    # 0.02 sd of the exact distance here (midpoints would be 0.1 sd off for a 1 sd shift).
    assert fd.value("wasserstein") == pytest.approx(exact, abs=0.02)


def test_jensen_shannon_equals_scipy_base_2() -> None:
    fb = _hand_numeric()
    batch = _binned_batch()
    fd = drift.feature_drift(fb, batch)
    p = np.array(fb.counts, dtype=float)
    q = np.array([len(BELOW), *BATCH_INNER, len(ABOVE)], dtype=float)
    assert fd.value("js") == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)

    cat = _categorical()
    values = np.array(["a"] * 10 + ["b"] * 30 + ["zz"] * 5, dtype=object)
    fc = drift.feature_drift(cat, values)
    p = np.array([*LEVELS.values(), 0], dtype=float)
    q = np.array([10, 30, 0, 0, 0, 5], dtype=float)
    assert fc.value("js") == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_psi_equals_a_hand_computation() -> None:
    fb = FeatureBaseline(
        name="ab",
        kind="categorical",
        n_rows=100,
        missing=0,
        missing_rate=0.0,
        frequencies={"a": 50, "b": 50},
    )
    batch = np.array(["a"] * 75 + ["b"] * 25, dtype=object)
    # (0.75 - 0.5) ln(0.75 / 0.5) + (0.25 - 0.5) ln(0.25 / 0.5); the empty other bin adds 0
    expected = 0.25 * math.log(1.5) + 0.25 * math.log(2)
    assert drift.feature_drift(fb, batch).value("psi") == pytest.approx(expected, abs=1e-12)

    # an unseen level: the baseline's empty other bin is floored at EPSILON
    batch = np.array(["a"] * 45 + ["b"] * 45 + ["new"] * 10, dtype=object)
    eps = drift.EPSILON
    expected = 2 * (0.45 - 0.5) * math.log(0.45 / 0.5) + (0.1 - eps) * math.log(0.1 / eps)
    assert drift.feature_drift(fb, batch).value("psi") == pytest.approx(expected, abs=1e-12)


def test_chi_square_and_cramers_v_equal_scipy() -> None:
    fb = _categorical()
    values = np.array(["a"] * 40 + ["b"] * 40 + ["c"] * 10 + ["d"] * 8 + ["e"] * 2, dtype=object)
    fd = drift.feature_drift(fb, values)
    observed = np.array([40, 40, 10, 8, 2], dtype=float)
    expected = np.array(list(LEVELS.values()), dtype=float)
    expected *= observed.sum() / expected.sum()
    reference = chisquare(observed, expected)
    assert fd.value("chi_square") == pytest.approx(reference.statistic, rel=1e-12)
    assert fd.chi_square_p_value == pytest.approx(reference.pvalue, rel=1e-9)
    v = math.sqrt(reference.statistic / (observed.sum() * (len(observed) - 1)))
    assert fd.value("cramers_v") == pytest.approx(v, rel=1e-12)


def test_out_of_range_and_missing_rate_change() -> None:
    fb = _normal_baseline()
    assert fb.edges[0] == np.nanmin(np.random.default_rng(0).normal(10.0, 2.0, size=20_000))
    batch = np.concatenate([np.full(10, fb.edges[0] - 1), np.full(5, fb.edges[-1] + 1)])
    batch = np.concatenate([batch, np.full(85, 10.0), np.full(100, np.nan)])
    fd = drift.feature_drift(fb, batch)
    assert fd.value("out_of_range") == pytest.approx(15 / 100)
    assert fd.missing_rate == 0.5
    assert fd.value("missing_rate_change") == pytest.approx(0.5 - fb.missing_rate)
    assert fd.drifted
    assert fd.statistics["out_of_range"].exceeded
    assert fd.statistics["missing_rate_change"].exceeded


# -- alerts that don't cry wolf ------------------------------------------------------------------


@pytest.mark.parametrize("n", [100, 1_000, 100_000])
def test_no_drift_batches_are_not_flagged(n: int) -> None:
    fb = _normal_baseline()
    rng = np.random.default_rng(100 + n)
    batch = rng.normal(10.0, 2.0, size=n)
    batch[rng.random(n) < 0.02] = np.nan
    fd = drift.feature_drift(fb, batch)
    assert fd.assessed and not fd.drifted, fd.statistics
    assert fd.severity < 1
    fc = drift.feature_drift(_categorical(), _sample_categorical(n, seed=200 + n))
    assert fc.assessed and not fc.drifted, fc.statistics


def test_noise_thresholds_grow_for_small_batches() -> None:
    fb = _normal_baseline()
    small, medium, large = (
        drift.noise_thresholds(fb, n, n).thresholds for n in (100, 1_000, 100_000)
    )
    for name in ("psi", "ks", "wasserstein", "js", "missing_rate_change"):
        assert small[name] > medium[name] > large[name], name
    # at 100 rows noise, not the min effect, sets the bar for the Jensen–Shannon distance
    fd = drift.feature_drift(fb, np.random.default_rng(5).normal(10.0, 2.0, size=100))
    js = fd.statistics["js"]
    assert js.noise is not None and js.noise > drift.JS_MIN and js.threshold == js.noise
    # at 100,000 rows the min effects rule
    fd = drift.feature_drift(fb, np.random.default_rng(6).normal(10.0, 2.0, size=100_000))
    assert all(
        s.threshold == s.min_effect for s in fd.statistics.values() if s.min_effect is not None
    )


def test_noise_thresholds_are_seeded_and_cached() -> None:
    fb = _normal_baseline()
    first = drift.noise_thresholds(fb, 500, 490)
    assert drift.noise_thresholds(fb, 500, 490) == first
    cache: drift.NoiseCache = {}
    cached = drift.noise_thresholds(fb, 500, 490, cache)
    assert cache[("x", 500, 490)] is cached
    assert drift.noise_thresholds(fb, 500, 490, cache) is cached


def test_false_alarm_rate_stays_near_the_configured_rate() -> None:
    fb = _normal_baseline(n=5_000)
    rng = np.random.default_rng(11)
    cache: drift.NoiseCache = {}
    alarms = [
        drift.feature_drift(fb, rng.normal(10.0, 2.0, size=300), cache=cache).drifted
        for _ in range(300)
    ]
    # configured 1 %; 3 % leaves room for the sampling error of 300 batches
    assert np.mean(alarms) <= 0.03


@pytest.mark.parametrize("n", [1_000, 100_000])
def test_a_one_sd_shift_is_flagged(n: int) -> None:
    fb = _normal_baseline()
    batch = np.random.default_rng(300 + n).normal(12.0, 2.0, size=n)
    fd = drift.feature_drift(fb, batch)
    assert fd.drifted and fd.severity > 1
    for name in ("psi", "ks", "wasserstein", "js"):
        assert fd.statistics[name].exceeded, name
    assert fd.value("wasserstein") == pytest.approx(1.0, abs=0.1)


def test_a_new_category_at_five_percent_is_flagged() -> None:
    values = _sample_categorical(10_000, seed=7)
    values[np.random.default_rng(8).random(10_000) < 0.05] = "brand new"
    fd = drift.feature_drift(_categorical(), values)
    assert fd.drifted
    assert fd.value("unseen") == pytest.approx(0.05, abs=0.01)
    assert fd.statistics["unseen"].exceeded
    assert fd.histogram is not None and "brand new" in fd.histogram.unseen_levels


# -- bad input ----------------------------------------------------------------------------------


def test_empty_batch() -> None:
    for fb in (_normal_baseline(), _categorical()):
        fd = drift.feature_drift(fb, np.array([], dtype=object if fb.kind != "numeric" else float))
        assert not fd.assessed and not fd.drifted and fd.severity == 0
        assert fd.note == "empty batch"
        assert all(s.value is None for s in fd.statistics.values())


def test_all_missing_batch_flags_the_missing_rate() -> None:
    fd = drift.feature_drift(_normal_baseline(), np.full(500, np.nan))
    assert fd.assessed and fd.drifted
    assert fd.value("psi") is None and fd.value("missing_rate_change") == pytest.approx(0.98)
    assert fd.note == "no non-missing values in the batch"
    fc = drift.feature_drift(_categorical(), pd.Series([None] * 50, dtype=object))
    assert fc.drifted and fc.missing == 50


def test_constant_baseline_column() -> None:
    fb = numeric_baseline("k", "numeric", np.full(1_000, 5.0))
    assert len(set(fb.edges)) == 1 and fb.std == 0
    same = drift.feature_drift(fb, np.full(300, 5.0))
    assert not same.drifted
    assert same.value("wasserstein") is None and same.value("psi") == pytest.approx(0.0)
    assert same.note is not None and "constant" in same.note
    moved = drift.feature_drift(fb, np.full(300, 6.0))
    assert moved.drifted and moved.value("out_of_range") == 1.0


def test_baseline_without_values() -> None:
    fb = numeric_baseline("none", "numeric", np.full(100, np.nan))
    fd = drift.feature_drift(fb, np.array([1.0, 2.0, np.nan]))
    assert fd.value("psi") is None
    assert fd.value("missing_rate_change") == pytest.approx(2 / 3)
    assert fd.drifted  # missing rate 1.0 in training, a third now


def test_datetime_features_are_measured_not_flagged() -> None:
    train = pd.Series(pd.date_range("2011-01-01", "2011-03-31", freq="h"))
    seconds = drift.numeric_values("datetime", train)
    fb = numeric_baseline("when", "datetime", seconds)
    later = pd.Series(pd.date_range("2011-07-01", "2011-07-31", freq="h"))
    fd = drift.feature_drift(fb, later)
    assert fd.value("out_of_range") == 1.0
    assert not fd.assessed and not fd.drifted


# -- a batch and prediction drift ----------------------------------------------------------------


def _baseline() -> Baseline:
    return Baseline(
        n_rows=20_000,
        features=[
            _normal_baseline(name="steady"),
            _normal_baseline(seed=1, name="shifted"),
            _categorical(name="colour"),
        ],
    )


def test_batch_drift_ranks_by_severity_and_weights_by_importance() -> None:
    rng = np.random.default_rng(21)
    n = 5_000
    frame = pd.DataFrame(
        {
            "steady": rng.normal(10.0, 2.0, size=n),
            "shifted": rng.normal(13.0, 2.0, size=n),
            "colour": _sample_categorical(n, seed=22),
            "extra": np.zeros(n),
        }
    )
    result = drift.batch_drift(_baseline(), frame, importances={"shifted": 0.2, "steady": 0.8})
    assert [f.name for f in result.features][0] == "shifted"
    assert result.drifted_features == ["shifted"]
    assert result.n_assessed == 3 and result.n_drifted == 1
    assert result.drifted_share == pytest.approx(1 / 3)
    assert result.weighted_drifted_share == pytest.approx(0.2)
    severities = [f.severity for f in result.features]
    assert severities == sorted(severities, reverse=True)
    assert "simulated no-drift batches" in result.method
    assert all("bins" in f.method or "levels" in f.method for f in result.features)

    again = drift.batch_drift(_baseline(), pl.from_pandas(frame))
    assert again.drifted_features == ["shifted"] and again.weighted_drifted_share is None
    assert drift.BatchDrift.model_validate_json(result.model_dump_json()) == result


def test_batch_drift_with_a_missing_column_and_an_empty_frame() -> None:
    frame = pd.DataFrame({"steady": [10.0, 11.0], "colour": ["a", "b"]})
    result = drift.batch_drift(_baseline(), frame)
    absent = next(f for f in result.features if f.name == "shifted")
    assert absent.note == "column not in the batch" and not absent.assessed
    assert result.n_assessed == 2

    empty = drift.batch_drift(_baseline(), frame.iloc[:0])
    assert empty.n_rows == 0 and empty.n_assessed == 0 and empty.drifted_share is None


def test_score_drift_against_a_reference_histogram() -> None:
    rng = np.random.default_rng(31)
    holdout = rng.beta(2, 5, size=4_000)
    reference = drift.reference_histogram(holdout)
    same = drift.score_drift(reference.edges, reference.counts, rng.beta(2, 5, size=2_000))
    assert not same.drifted
    moved = drift.score_drift(reference.edges, reference.counts, rng.beta(5, 2, size=2_000))
    assert moved.drifted and moved.name == "score"
    # inner counts only are padded with empty outer bins, and agree
    inner = drift.score_drift(reference.edges, reference.counts[1:-1], rng.beta(5, 2, size=2_000))
    assert inner.value("psi") == pytest.approx(moved.value("psi"), rel=0.2)
    with pytest.raises(ValueError, match="do not fit"):
        drift.score_drift(reference.edges, [1, 2, 3], holdout)


def test_class_drift() -> None:
    reference = {"<=50K": 7_500, ">50K": 2_500}
    rng = np.random.default_rng(41)
    same = drift.class_drift(reference, rng.choice(["<=50K", ">50K"], p=[0.75, 0.25], size=800))
    assert not same.drifted
    moved = drift.class_drift(reference, rng.choice(["<=50K", ">50K"], p=[0.4, 0.6], size=800))
    assert moved.drifted and moved.statistics["psi"].exceeded


@pytest.mark.parametrize(
    "edges",
    [
        [0.0, 1.0, 2.0, 2.0, 2.0, 3.0, 5.0, 5.0],  # tied edges, as quantiles of integer data
        [2.0, 2.0],
        [4.0],
        [0.0, 3.0, 1.0, 5.0],  # not ascending: the binary search decides
    ],
)
def test_fast_bin_counts_equal_the_bundle_binning(edges: list[float]) -> None:
    x = np.random.default_rng(51).integers(-2, 8, size=3_000).astype(np.float64)
    x[::9] = np.nan
    present = x[~np.isnan(x)]
    e = np.asarray(edges)
    assert drift._bin_counts(x, e, len(present)).tolist() == bin_counts(present, e).tolist()


@pytest.mark.parametrize("dtype", ["str", "object", "category"])
def test_unseen_levels_are_ranked_as_value_counts_ranks_them(dtype: str) -> None:
    """Counting distinct levels (not rows) keeps ``value_counts``' order, ties included."""
    fb = _categorical()
    rows = [f"new{i % 23}" for i in range(2_300)][::-1] + ["a", "b", MISSING_LEVEL, None] * 5
    values = pd.Series(rows, dtype=dtype)
    hist = drift.batch_histogram(fb, values)
    text = pd.Series([r for r in rows if r is not None and r != MISSING_LEVEL])
    expected = text[~text.isin(LEVELS)].value_counts(sort=True).head(drift.UNSEEN_SHOWN)
    assert list(hist.unseen_levels.items()) == list(expected.items())
    assert hist.unseen == 2_300 and hist.missing == 10
    assert hist.counts == [5, 5, 0, 0, 0, 2_300]


# -- batches counted chunk by chunk (bounded memory) ---------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 1_000, 50_000])
def test_chunked_histograms_and_drift_equal_the_whole_batch(chunk: int) -> None:
    rng = np.random.default_rng(31)
    n = 4_000 if chunk == 1 else 20_000
    colour = _sample_categorical(n, seed=32)
    # 14 unseen levels of different sizes (more than are shown), some tied, and missing values
    unseen = [f"new{i}" for i in range(14)]
    colour[rng.choice(n, size=700, replace=False)] = rng.choice(unseen, size=700)
    colour[::97] = None
    shifted = rng.normal(13.0, 2.0, size=n)
    shifted[::31] = np.nan
    shifted[::501] = -40.0  # below the training minimum
    frame = pd.DataFrame({"steady": rng.normal(10.0, 2.0, size=n), "shifted": shifted})
    frame["colour"] = colour
    whole = drift.batch_drift(_baseline(), frame, importances={"shifted": 1.0, "steady": 1.0})

    acc = drift.HistogramAccumulator(_baseline().features)
    for start in range(0, n, chunk):
        part = frame.iloc[start : start + chunk]
        acc.add(pl.from_pandas(part) if start % 2 else part, len(part))
    assert acc.n_rows == n
    merged = drift.batch_drift_of_histograms(
        _baseline(), acc.result(), n, importances={"shifted": 1.0, "steady": 1.0}
    )
    for a, b in zip(whole.features, merged.features, strict=True):
        assert a.name == b.name and a.drifted == b.drifted
        ha, hb = a.histogram, b.histogram
        assert (ha.counts, ha.missing, ha.n_rows, ha.unseen) == (
            hb.counts,
            hb.missing,
            hb.n_rows,
            hb.unseen,
        )
        assert ha.unseen_levels == hb.unseen_levels
        for name in ("below_mean", "above_mean"):
            x, y = getattr(ha, name), getattr(hb, name)
            assert (x is None and y is None) or x == pytest.approx(y, rel=1e-12)
        for name, stat in a.statistics.items():
            other = b.statistics[name].value
            assert (stat.value is None and other is None) or stat.value == pytest.approx(
                other, rel=1e-9, abs=1e-15
            )
    assert merged.drifted_features == whole.drifted_features
    assert merged.weighted_drifted_share == whole.weighted_drifted_share
    colour_hist = next(f for f in merged.features if f.name == "colour").histogram
    assert len(colour_hist.unseen_levels) == drift.UNSEEN_SHOWN
    assert colour_hist.unseen == int(pd.Series(colour).isin(unseen).sum()) > 600


def test_histograms_of_different_bins_are_not_merged() -> None:
    a = drift.batch_histogram(_hand_numeric(), np.array([1.0, 2.0]))
    b = drift.batch_histogram(_categorical(), np.array(["a"], dtype=object))
    with pytest.raises(ValueError, match="cannot be merged"):
        drift.merge_histograms(a, b)
