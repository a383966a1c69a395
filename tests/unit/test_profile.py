"""The Explore profile: every statistic against an independent computation on the real files.

References come from Polars' own reading of the CSVs and from NumPy/SciPy, never from DuckDB:
counts, quantiles (NumPy's linear method is DuckDB's quantile_cont), moments (SciPy with
bias=False is pandas' skew/kurt), histograms, target rates, Pearson/Spearman (SciPy),
bias-corrected Cramér's V (SciPy's chi-square plus Bergsma's correction), correlation ratio.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from app.domain.dataset import ColumnRole, DatasetVersion
from app.domain.profile import QUANTILES, Profile, ProfileSettings, SemanticType
from app.errors import MlwbError
from app.services import cleaning
from app.services.profile import (
    ProfileCancelled,
    cached_profile,
    profile_dataset,
    scatter_sample,
)
from storage import datasets as ds
from storage import profiles
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
BIKES = ROOT / "sample_data" / "bike_sharing_hour.csv"
ADULT_NUMBERS = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]


@pytest.fixture(scope="module")
def adult() -> pl.DataFrame:
    """Polars' reading of adult.csv; numbers arrive as ' 77516' text and are cast here."""
    raw = pl.read_csv(ADULT).filter(~pl.all_horizontal(pl.all().is_null()))
    return raw.with_columns(pl.col(ADULT_NUMBERS[1:]).str.strip_chars().cast(pl.Int64))


@pytest.fixture(scope="module")
def bikes() -> pl.DataFrame:
    return pl.read_csv(BIKES, try_parse_dates=True)


def frame_dataset(store: ProjectStore, frame: pl.DataFrame, name: str) -> None:
    """Store a Polars frame as version 1 of a dataset, as an import would (without a file)."""
    with store.transaction() as con:
        table = ds.new_table_name(con, name, 1)
        con.register("_test_frame", frame.to_arrow())
        con.execute(f"CREATE TABLE {ds.quote_ident(table)} AS SELECT * FROM _test_frame")
        con.unregister("_test_frame")
        n_rows, fingerprint = ds.fingerprint_table(con, table)
        version = DatasetVersion(
            name=name,
            version=1,
            table_name=table,
            n_rows=n_rows,
            n_cols=frame.width,
            fingerprint=fingerprint,
        )
        ds.insert_version(con, version)
        ds.set_state(con, ds.CURRENT_DATASET, name)


def fd_bins(values: np.ndarray, low: float, width: float, bins: int) -> np.ndarray:
    index = np.minimum(np.floor((values - low) / width), bins - 1).astype(int)
    return np.bincount(index, minlength=bins)


# -- numbers --------------------------------------------------------------------------------


def check_numeric(profile: Profile, frame: pl.DataFrame, column: str) -> None:
    c = profile.column(column)
    x = frame[column].drop_nulls().cast(pl.Float64).to_numpy()
    s = c.numeric
    assert s is not None and s.quantiles_exact
    assert c.count == len(x) and c.missing == frame.height - len(x)
    assert c.distinct == frame[column].n_unique() and c.distinct_exact
    assert s.min == x.min() and s.max == x.max()
    assert s.mean == pytest.approx(x.mean(), rel=1e-12)
    assert s.std == pytest.approx(x.std(ddof=1), rel=1e-9)
    expected = np.quantile(x, QUANTILES)
    got = [s.quantile(p) for p in QUANTILES]
    assert got == pytest.approx(list(expected), rel=1e-12, abs=1e-12)
    assert s.skewness == pytest.approx(sps.skew(x, bias=False), rel=1e-6)
    assert s.kurtosis == pytest.approx(sps.kurtosis(x, bias=False), rel=1e-6, abs=1e-9)
    assert s.zeros == int((x == 0).sum()) and s.negatives == int((x < 0).sum())
    # histogram: the stated rule's bins, counted independently
    h = c.histogram
    assert h is not None and "Freedman-Diaconis" in h.rule or "Sturges" in h.rule
    assert len(h.counts) <= 50 and h.edges[0] == x.min() and sum(h.counts) == len(x)
    width = h.edges[1] - h.edges[0]
    assert h.counts == fd_bins(x, h.edges[0], width, len(h.counts)).tolist()
    # outliers: Tukey fences from NumPy's quartiles, z-scores from NumPy's std
    o = c.outliers
    q1, q3 = np.quantile(x, [0.25, 0.75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    assert (o.lower_fence, o.upper_fence) == pytest.approx((low, high))
    assert (o.below, o.above) == (int((x < low).sum()), int((x > high).sum()))
    z = np.abs(x - x.mean()) / x.std(ddof=1)
    assert o.z_count == int((z > 3).sum())


@pytest.mark.parametrize("column", ADULT_NUMBERS)
def test_adult_numbers_match_numpy_and_scipy(
    adult_profile: Profile, adult: pl.DataFrame, column: str
) -> None:
    check_numeric(adult_profile, adult, column)


def test_bike_numbers_match_numpy_and_scipy(bikes_profile: Profile, bikes: pl.DataFrame) -> None:
    numeric = [c for c, t in bikes.schema.items() if t.is_numeric()]
    for column in numeric:
        check_numeric(bikes_profile, bikes, column)


def test_known_figures_of_the_sample_files(adult_profile: Profile, bikes_profile: Profile) -> None:
    age = adult_profile.column("age").numeric
    assert (age.min, age.max, age.quantile(0.5)) == (17, 90, 37)
    gain = adult_profile.column("capital-gain")
    assert gain.numeric.zeros == 29_849 and gain.top_values[0].value == "0"
    assert adult_profile.duplicate_rows == 24
    hum = bikes_profile.column("hum").numeric
    assert hum.zeros == 22
    assert bikes_profile.column("windspeed").numeric.zeros == 2_180
    assert bikes_profile.column("weathersit").top_values[-1].model_dump() == {
        "value": "4",
        "count": 3,
    }


# -- categories, text, types ----------------------------------------------------------------


def test_categorical_counts_bars_and_text(adult_profile: Profile, adult: pl.DataFrame) -> None:
    for column in ("workclass", "education", "native-country", "income"):
        c = adult_profile.column(column)
        counts = adult[column].value_counts().sort(["count", column], descending=[True, False])
        expected = [(v, n) for v, n in counts.iter_rows()]
        assert [(t.value, t.count) for t in c.top_values] == expected[:10]
        assert c.distinct == len(expected) and c.distinct_exact
        assert c.bars[: len(c.top_values)] == [(t.value, t.count) for t in c.top_values]
        assert sum(n for _, n in c.bars) == adult.height
        if len(expected) > 10:
            assert c.bars[-1] == (
                f"other ({len(expected) - 10} values)",
                sum(n for _, n in expected[10:]),
            )
        s = adult[column]
        lengths = s.str.len_chars()
        assert c.text.min_length == lengths.min() and c.text.max_length == lengths.max()
        assert c.text.mean_length == pytest.approx(lengths.mean(), abs=1e-4)
        assert c.text.padded == (s != s.str.strip_chars(" ")).sum() == adult.height
    workclass = adult_profile.column("workclass")
    assert (" ?", 1836) in [(t.value, t.count) for t in workclass.top_values]


def test_semantic_types(adult_profile: Profile, bikes_profile: Profile) -> None:
    types = {c.name: c.semantic_type for c in bikes_profile.columns}
    assert types["instant"] is SemanticType.ID
    assert types["dteday"] is SemanticType.DATETIME
    assert types["yr"] is SemanticType.BOOLEAN and types["holiday"] is SemanticType.BOOLEAN
    assert types["season"] is SemanticType.CATEGORICAL
    assert types["temp"] is SemanticType.NUMERIC and types["hr"] is SemanticType.NUMERIC
    assert adult_profile.column("workclass").semantic_type is SemanticType.CATEGORICAL
    assert adult_profile.column("fnlwgt").semantic_type is SemanticType.NUMERIC


def test_date_range_series_and_regularity(bikes_profile: Profile, bikes: pl.DataFrame) -> None:
    d = bikes_profile.column("dteday")
    assert (d.dates.min, d.dates.max) == ("2011-01-01", "2012-12-31")
    assert d.dates.span_days == 730
    assert d.time_unit == "week"
    weekly = bikes.group_by(pl.col("dteday").dt.truncate("1w")).len().sort("dteday")
    assert [n for _, n in d.time_series] == weekly["len"].to_list()
    gaps = d.dates.gaps
    assert gaps.step_text == "1 day" and gaps.gaps == 0 and gaps.regular_share == 1.0


def test_hourly_timestamps_have_the_165_missing_hours(
    store: ProjectStore, bikes: pl.DataFrame
) -> None:
    hourly = bikes.select(
        (pl.col("dteday").cast(pl.Datetime("us")) + pl.duration(hours=pl.col("hr"))).alias("at"),
        "cnt",
    )
    frame_dataset(store, hourly, "hourly")
    gaps = profile_dataset(store, "hourly").column("at").dates.gaps
    assert gaps.step_text == "1 hour" and gaps.step_seconds == 3600
    assert gaps.missing_periods == 17_544 - 17_379 == 165
    at = hourly["at"].sort()
    steps = at.diff().drop_nulls().dt.total_hours()
    assert gaps.gaps == int((steps > 1).sum())
    longest = int(steps.arg_max())
    assert gaps.largest_from == at[longest].strftime("%Y-%m-%d %H:%M:%S")


# -- target ---------------------------------------------------------------------------------


def test_class_balance_and_target_rates(adult_profile: Profile, adult: pl.DataFrame) -> None:
    t = adult_profile.target
    assert t.column == "income" and t.task == "binary"
    assert t.positive_class == " >50K"  # the charter's '>50K' as the raw file spells it
    assert [(c.value, c.count) for c in t.classes] == [(" <=50K", 24_720), (" >50K", 7_841)]
    assert t.share(" >50K") == pytest.approx(7_841 / 32_561)
    positive = adult.with_columns((pl.col("income") == " >50K").cast(pl.Float64).alias("y"))
    sex = adult_profile.column("sex").target_relation
    assert sex.kind == "rate" and sex.measures == ["rate of ' >50K'"]
    expected = dict(positive.group_by("sex").agg(pl.col("y").mean()).iter_rows())
    assert {r.label: r.values[0] for r in sex.rows} == pytest.approx(expected)
    age = adult_profile.column("age")
    width = age.histogram.edges[1] - age.histogram.edges[0]
    bins = np.minimum(
        np.floor((adult["age"].to_numpy() - 17) / width), len(age.histogram.counts) - 1
    )
    by_bin = (
        positive.with_columns(pl.Series("bin", bins.astype(int)))
        .group_by("bin")
        .agg(pl.len(), pl.col("y").mean())
    )
    rows = age.target_relation.rows
    assert [r.count for r in rows] == by_bin.sort("bin")["len"].to_list()
    assert [r.values[0] for r in rows] == pytest.approx(by_bin.sort("bin")["y"].to_list())
    assert {f.column for f in t.top_features[:2]} == {"relationship", "marital-status"}
    assert t.mi_sample_size == 5_000


def test_regression_target_mean_by_bin_and_category(
    bikes_profile: Profile, bikes: pl.DataFrame
) -> None:
    t = bikes_profile.target
    assert t.column == "cnt" and t.task == "regression" and not t.classes
    assert t.numeric.mean == pytest.approx(bikes["cnt"].mean())
    season = bikes_profile.column("season").target_relation
    assert season.kind == "mean" and season.measures == ["mean of cnt"]
    expected = {
        str(k): v for k, v in bikes.group_by("season").agg(pl.col("cnt").mean()).iter_rows()
    }
    assert {r.label: r.values[0] for r in season.rows} == pytest.approx(expected)
    hr = bikes_profile.column("hr").target_relation
    by_hour = dict(bikes.group_by("hr").agg(pl.col("cnt").mean()).iter_rows())
    assert [r.values[0] for r in hr.rows] == pytest.approx([by_hour[h] for h in range(24)])
    assert t.top_features[0].column in {"registered", "casual"}


def test_class_balance_after_a_trim_step_and_a_new_version(adult_store: ProjectStore) -> None:
    before = profile_dataset(adult_store, "adult", 1)
    cleaning.add_step(adult_store, "adult", {"kind": "trim_whitespace", "columns": ["income"]})
    assert cached_profile(adult_store, "adult") is None  # a new version has no profile yet
    after = profile_dataset(adult_store, "adult")
    assert after.version == 2
    assert after.target.positive_class == ">50K"
    assert [(c.value, c.count) for c in after.target.classes] == [
        ("<=50K", 24_720),
        (">50K", 7_841),
    ]
    again = profile_dataset(adult_store, "adult", 1)
    assert again.computed_at == before.computed_at  # v1's profile is still stored


# -- correlations ---------------------------------------------------------------------------


def cramers_v_reference(a: pl.Series, b: pl.Series) -> float:
    table = (
        pl.DataFrame({"a": a, "b": b})
        .drop_nulls()
        .pivot(on="b", index="a", values="b", aggregate_function="len")
    )
    observed = table.drop("a").fill_null(0).to_numpy()
    chi2 = sps.chi2_contingency(observed, correction=False).statistic
    n = observed.sum()
    r, k = observed.shape
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    rc, kc = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    return math.sqrt(phi2 / min(kc - 1, rc - 1))


def eta_reference(categories: pl.Series, values: pl.Series) -> float:
    frame = pl.DataFrame({"c": categories, "y": values.cast(pl.Float64)}).drop_nulls()
    grand = frame["y"].mean()
    groups = frame.group_by("c").agg(pl.len(), pl.col("y").mean())
    between = (groups["len"] * (groups["y"] - grand) ** 2).sum()
    return math.sqrt(between / ((frame["y"] - grand) ** 2).sum())


def test_correlations_match_scipy(bikes_profile: Profile, bikes: pl.DataFrame) -> None:
    c = bikes_profile.correlations
    assert c.sample_size == bikes.height and "all 17,379 rows" in c.note
    methods = {p.method for p in c.pairs}
    assert methods == {"pearson", "spearman", "cramers_v", "correlation_ratio"}
    for p in c.pairs:
        a, b = bikes[p.a], bikes[p.b]
        if p.method == "pearson":
            assert p.value == pytest.approx(sps.pearsonr(a, b).statistic, abs=1e-6)
        elif p.method == "spearman":
            assert p.value == pytest.approx(sps.spearmanr(a, b).statistic, abs=1e-6)
        elif p.method == "cramers_v":
            assert p.value == pytest.approx(cramers_v_reference(a, b), abs=1e-6)
        else:
            assert p.value == pytest.approx(eta_reference(b, a), abs=1e-6)
        assert p.n == bikes.height
    assert c.value("temp", "atemp", "pearson") == pytest.approx(0.987672, abs=1e-6)
    assert c.columns[0] == "cnt"  # the target leads the matrix
    size = len(c.columns)
    for name in ("pearson", "spearman", "association"):
        assert len(c.matrices[name]) == size and all(len(r) == size for r in c.matrices[name])


def test_adult_cramers_v_against_scipy(adult_profile: Profile, adult: pl.DataFrame) -> None:
    pairs = [p for p in adult_profile.correlations.pairs if p.method == "cramers_v"]
    assert len(pairs) == 36  # the 9 text columns, pairwise
    for p in pairs:
        assert p.value == pytest.approx(cramers_v_reference(adult[p.a], adult[p.b]), abs=1e-6)
    eta = adult_profile.correlations.value("education", "education-num", "correlation_ratio")
    assert eta == pytest.approx(1.0)


def test_pairwise_complete_rows_with_nulls_nan_and_inf() -> None:
    from app.services.correlations import compute_correlations

    rng = np.random.default_rng(7)
    n = 3_000
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    y[rng.random(n) < 0.1] = np.nan
    x[:5] = np.inf
    x = np.round(x, 1)  # ties, so average ranks matter
    cat = rng.choice(["a", "b", "c"], n)
    frame = pl.DataFrame({"x": x, "y": y, "c": cat}).with_columns(
        pl.when(pl.int_range(n) % 7 == 0).then(None).otherwise(pl.col("c")).alias("c")
    )
    got = compute_correlations(frame, ["x", "y"], ["c"], None, ProfileSettings())
    keep = np.isfinite(x) & np.isfinite(y)
    r, rho = sps.pearsonr(x[keep], y[keep]), sps.spearmanr(x[keep], y[keep])
    assert got.value("x", "y", "pearson") == pytest.approx(r.statistic, abs=1e-6)
    assert got.value("x", "y", "spearman") == pytest.approx(rho.statistic, abs=1e-6)
    [pair] = [p for p in got.pairs if p.method == "spearman"]
    assert pair.n == int(keep.sum())
    mask = frame["c"].is_not_null().to_numpy() & np.isfinite(y)
    eta = got.value("c", "y", "correlation_ratio")
    assert eta == pytest.approx(eta_reference(pl.Series(cat[mask]), pl.Series(y[mask])), abs=1e-6)


def test_spearman_of_whole_numbers_sorted_by_radix_matches_scipy() -> None:
    """Narrow whole numbers (radix-sorted, many ties) and wide ones (compared) with gaps."""
    from app.services.correlations import RADIX_SPAN, _numeric, compute_correlations, numeric_pair

    rng = np.random.default_rng(11)
    n = 4_000
    small = rng.integers(-20, 40, n).astype(float)
    small[rng.random(n) < 0.05] = np.nan
    wide = rng.integers(0, 3 * RADIX_SPAN, n).astype(float)
    wide[:3] = -0.0
    near = np.round(small + rng.normal(size=n), 2)
    near[rng.random(n) < 0.05] = np.inf
    frame = pl.DataFrame({"small": small, "wide": wide, "near": near}).with_columns(
        pl.col("small").cast(pl.Int64, strict=False)
    )
    got = compute_correlations(frame, ["small", "wide", "near"], [], None, ProfileSettings())
    for a, b in itertools.combinations(["small", "wide", "near"], 2):
        x, y = frame[a].cast(pl.Float64).to_numpy(), frame[b].cast(pl.Float64).to_numpy()
        keep = np.isfinite(x) & np.isfinite(y)
        rho, r = sps.spearmanr(x[keep], y[keep]).statistic, sps.pearsonr(x[keep], y[keep]).statistic
        assert got.value(a, b, "spearman") == pytest.approx(rho, abs=1e-6)
        assert got.value(a, b, "pearson") == pytest.approx(r, abs=1e-6)
        raw = numeric_pair(_numeric(frame[a]), _numeric(frame[b]))
        assert raw == (pytest.approx(r, abs=1e-12), pytest.approx(rho, abs=1e-12), keep.sum())


def test_duplicate_rows_match_pandas_with_nulls_nan_and_signed_zeros(store: ProjectStore) -> None:
    """The exact count compares whole rows among rows sharing a hash: NULLs, NaN and -0.0
    are equal as DISTINCT has them (pandas' duplicated agrees); a column named rowid makes
    it compare every row instead."""
    rng = np.random.default_rng(3)
    n = 600
    x = rng.choice([0.0, -0.0, 1.5, np.nan, 2.0], n)
    s = rng.choice(["a", "b", None], n)
    k = rng.integers(0, 4, n)
    frame = pl.DataFrame({"x": x, "s": s, "k": k}).with_columns(
        pl.when(pl.int_range(n) % 11 == 0).then(None).otherwise(pl.col("k")).alias("k")
    )
    expected = int(frame.to_pandas().duplicated().sum())
    assert 0 < expected < n
    frame_dataset(store, frame, "dups")
    assert profile_dataset(store, "dups").duplicate_rows == expected
    frame_dataset(store, frame.rename({"k": "rowid"}), "dups_rowid")
    assert profile_dataset(store, "dups_rowid").duplicate_rows == expected
    unique = pl.DataFrame({"i": np.arange(50), "v": rng.normal(size=50)})
    frame_dataset(store, unique, "no_dups")
    assert profile_dataset(store, "no_dups").duplicate_rows == 0


def test_holdout_rows_are_counted_wherever_a_column_can_be_categorical() -> None:
    """The unseen-categories alert reads each value's holdout rows of categorical and boolean
    columns only; the value counts leave them out of every other column."""
    from app.domain.thresholds import AlertThresholds
    from app.services.profile_columns import semantic_type
    from app.services.profile_groups import counts_holdout
    from app.services.profile_stats import ColumnWork, choose_values_mode, type_family

    settings, n_rows = ProfileSettings(), 100_000
    for dtype, role, distinct, low, high in itertools.product(
        ["BIGINT", "INTEGER", "DOUBLE", "DECIMAL(9,2)", "BOOLEAN", "VARCHAR", "DATE"],
        [ColumnRole.FEATURE, ColumnRole.ID, ColumnRole.TARGET],
        [1, 2, 3, 10, 11, 60, 2_000, 2_300, 30_000, 99_000, 100_000],
        [0.0, 1.0],
        [1.0, 500.0],
    ):
        w = ColumnWork(index=0, name="c", dtype=dtype, family=type_family(dtype), role=role)
        w.present = w.finite = n_rows
        w.approx_distinct, w.min, w.max = distinct, low, high
        w.values_mode = choose_values_mode(w, n_rows, settings)
        w.exact_distinct = distinct  # what pass B finds
        w.values_complete = w.values_mode == "all"
        kind = semantic_type(w, n_rows, AlertThresholds())
        if kind in (SemanticType.CATEGORICAL, SemanticType.BOOLEAN):
            assert counts_holdout(w), (dtype, role, distinct, low, high)


def test_helper_work_not_yet_begun_is_done_by_the_caller_instead() -> None:
    """A queued task runs where it is first wanted: on the calling thread while the helper
    thread is still busy, else on the helper thread, never twice."""
    import threading

    import duckdb

    from app.services.profile import _Runner

    ran: list[str] = []
    run = _Runner(duckdb.connect(), None, lambda f, t: None, lambda: False, concurrent=True)  # type: ignore[arg-type]
    gate = threading.Event()
    busy = run.side(gate.wait)
    early = run.task(
        lambda: ran.append("helper") or "helper", lambda: ran.append("caller") or "caller"
    )
    assert early.result() == "caller"
    gate.set()
    busy.result()
    late = run.task(
        lambda: ran.append("helper") or "helper", lambda: ran.append("caller") or "caller"
    )
    late.future.result()
    assert late.result() == "helper"
    run.close(failed=False)
    assert ran == ["caller", "helper"]


def test_correlations_follow_the_exact_types_when_pass_a_guessed_others(
    store: ProjectStore,
) -> None:
    """The correlations guessed from pass A's figures are dropped when pass B's exact ones
    choose other columns: long text with few values looks categorical until its lengths are
    known."""
    rng = np.random.default_rng(5)
    n = 2_000
    x = rng.normal(size=n)
    words = [f"{w} " * 12 for w in ("alpha", "beta", "gamma")]  # over 40 characters: text
    frame = pl.DataFrame(
        {
            "x": x,
            "y": x + rng.normal(size=n),
            "long": rng.choice(words, n),
            "short": rng.choice(["a", "b"], n),
        }
    )
    frame_dataset(store, frame, "guess")
    p = profile_dataset(store, "guess")
    assert p.column("long").semantic_type is SemanticType.TEXT
    used = {c for pair in p.correlations.pairs for c in (pair.a, pair.b)}
    assert "long" not in used and {"x", "y", "short"} <= used
    r = sps.pearsonr(frame["x"], frame["y"]).statistic
    assert p.correlations.value("x", "y", "pearson") == pytest.approx(r, abs=1e-6)


# -- exact versus approximate ---------------------------------------------------------------


def test_approximate_quantiles_and_distinct_are_labelled_and_close(
    bikes_store: ProjectStore, bikes: pl.DataFrame, adult_store: ProjectStore, adult: pl.DataFrame
) -> None:
    settings = ProfileSettings(exact_quantile_rows=0, exact_rows=0)
    approx = profile_dataset(bikes_store, "bikes", settings=settings)
    assert "t-digest" in approx.methods["quantiles"]
    for column in ("temp", "hum", "cnt", "registered"):
        s = approx.column(column).numeric
        assert not s.quantiles_exact
        x = bikes[column].to_numpy()
        for p in QUANTILES:
            q = s.quantile(p)
            below, upto = float((x < q).mean()), float((x <= q).mean())
            assert below - 0.01 <= p <= upto + 0.01, (column, p, below, upto)  # rank error < 1 %
    fnlwgt = profile_dataset(adult_store, "adult", 1, settings=settings).column("fnlwgt")
    assert not fnlwgt.distinct_exact  # 21,648 values: above the 20,000 counted exactly
    assert fnlwgt.distinct == pytest.approx(adult["fnlwgt"].n_unique(), rel=0.05)
    # top values: candidates from the seeded sample, then counted exactly in every row
    assert "most frequent in the sample" in fnlwgt.top_values_note
    exact = dict(adult["fnlwgt"].value_counts().iter_rows())
    assert fnlwgt.top_values and all(t.count == exact[int(t.value)] for t in fnlwgt.top_values)
    assert fnlwgt.top_values[0].count == max(exact.values())


def test_sample_is_seeded_sized_and_stated(adult_store: ProjectStore) -> None:
    small = ProfileSettings(sample_size=2_000, seed=3)
    first = profile_dataset(adult_store, "adult", 1, settings=small)
    second = profile_dataset(adult_store, "adult", 1, settings=small, refresh=True)
    assert first.sample_size == second.sample_size == first.correlations.sample_size
    assert abs(first.sample_size - 2_000) < 200
    assert [p.value for p in first.correlations.pairs] == [
        p.value for p in second.correlations.pairs
    ]
    assert (
        f"{first.sample_size:,} of 32,561 rows (seeded sample, seed 3)" in first.correlations.note
    )
    other = profile_dataset(adult_store, "adult", 1, settings=ProfileSettings(sample_size=2_000))
    assert other.sample_size != first.sample_size or other.correlations != first.correlations


# -- cache, progress, cancel ----------------------------------------------------------------


def test_cached_per_version_refresh_and_events(store: ProjectStore) -> None:
    frame_dataset(store, pl.DataFrame({"a": [1, 2, 3, 4], "b": ["x", "y", "x", "z"]}), "tiny")
    seen: list[tuple[float, str]] = []
    first = profile_dataset(store, "tiny", on_progress=lambda f, t: seen.append((f, t)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(seen) >= 6
    assert profile_dataset(store, "tiny").computed_at == first.computed_at
    assert cached_profile(store, "tiny") == first
    again = profile_dataset(store, "tiny", refresh=True)
    assert again.computed_at > first.computed_at
    with store.connect() as con:
        rows = con.execute("SELECT count(*) FROM profiles").fetchall()[0][0]
        events = con.execute(
            "SELECT count(*) FROM events WHERE action = 'profile_computed'"
        ).fetchall()[0][0]
    assert rows == 1 and events == 2
    with store.connect() as con:
        assert profiles.profiled_versions(con, "tiny") == [1]
        assert profiles.latest_profile(con, "tiny", 1, again.fingerprint) == again
        assert profiles.delete_profiles(con, "tiny") == 1
    assert cached_profile(store, "tiny") is None


@pytest.mark.parametrize("after", [0, 3])
def test_cancel_stores_nothing(store: ProjectStore, after: int) -> None:
    frame_dataset(store, pl.DataFrame({"a": list(range(100)), "b": ["x"] * 100}), "c")
    with store.connect() as con:
        events = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > after

    with pytest.raises(ProfileCancelled, match="cancelled; nothing was stored"):
        profile_dataset(store, "c", should_stop=stop)
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM profiles").fetchall()[0][0] == 0
        assert con.execute("SELECT count(*) FROM events").fetchall()[0][0] == events
    assert cached_profile(store, "c") is None


# -- bad input ------------------------------------------------------------------------------


def test_no_rows_one_row_one_column(store: ProjectStore) -> None:
    frame_dataset(store, pl.DataFrame({"n": [1.5, 2.5], "s": ["a", "b"]}), "two")
    cleaning.add_step(store, "two", {"kind": "filter_rows", "expression": "n > 100"})
    empty = profile_dataset(store, "two")
    assert empty.n_rows == 0 and [c.count for c in empty.columns] == [0, 0]
    assert empty.alerts == [] and empty.columns[0].histogram is None

    frame_dataset(store, pl.DataFrame({"n": [4.0], "s": ["only"]}), "one_row")
    one = profile_dataset(store, "one_row")
    n = one.column("n").numeric
    assert (n.min, n.max, n.mean, n.std, n.skewness) == (4.0, 4.0, 4.0, None, None)
    assert all(v == 4.0 for v in n.quantiles.values())

    frame_dataset(store, pl.DataFrame({"x": [3, 1, 2, 2]}), "one_col")
    col = profile_dataset(store, "one_col")
    assert col.n_cols == 1 and col.column("x").numeric.quantile(0.5) == 2.0
    assert col.correlations.pairs == []


def test_null_constant_infinite_and_nan_columns(store: ProjectStore) -> None:
    values = [1.0, float("nan"), float("inf"), -float("inf"), 2.0, None, 3.0, 0.0] * 5
    frame = pl.DataFrame(
        {
            "v": pl.Series(values, dtype=pl.Float64),
            "empty": pl.Series([None] * 40, dtype=pl.Float64),
            "same": ["k"] * 40,
        }
    )
    frame_dataset(store, frame, "odd")
    p = profile_dataset(store, "odd")
    v = p.column("v")
    finite = np.array([x for x in values if x is not None and math.isfinite(x)])
    assert v.numeric.nans == 5 and v.numeric.infinities == 10 and v.numeric.finite == 20
    assert v.missing == 10 and v.count == 30  # null and NaN are missing; inf is a value
    assert v.numeric.mean == pytest.approx(finite.mean())
    assert v.numeric.quantile(0.5) == np.quantile(finite, 0.5)
    assert v.numeric.negatives == 5  # -inf counts as negative
    assert sum(v.histogram.counts) == 20
    assert p.column("empty").count == 0 and p.column("empty").numeric.mean is None
    assert p.column("same").distinct == 1


def test_two_thousand_columns_in_few_queries(store: ProjectStore) -> None:
    rng = np.random.default_rng(1)
    data = {f"c{i}": rng.normal(size=100) for i in range(1_500)}
    data |= {f"t{i}": rng.choice(["a", "b", "c"], 100) for i in range(500)}
    frame_dataset(store, pl.DataFrame(data), "wide")
    p = profile_dataset(store, "wide")
    assert p.n_cols == 2_000 and len(p.columns) == 2_000
    assert p.queries < 120  # batched: not one scan per column
    c7 = p.column("c7").numeric
    assert c7.mean == pytest.approx(data["c7"].mean()) and c7.std == pytest.approx(
        data["c7"].std(ddof=1)
    )
    assert len({c.name for c in p.columns}) == 2_000
    numeric_in_matrix = [c for c in p.correlations.columns if c.startswith("c")]
    assert len(numeric_in_matrix) <= 12


def test_awkward_names_and_mixed_date_formats(store: ProjectStore) -> None:
    names = ["select", "from", "[bold]x[/bold]", 'quo"te', "it's", "a b", "ünï;--"]
    rng = np.random.default_rng(2)
    frame = pl.DataFrame({name: rng.integers(0, 5, 60) for name in names}).with_columns(
        pl.Series("when", ["2020-01-02", "03/04/2020", "Jan 5 2020", None] * 15)
    )
    frame_dataset(store, frame, "awkward")
    p = profile_dataset(store, "awkward")
    assert [c.name for c in p.columns] == [*names, "when"]
    for name in names:
        assert p.column(name).count == 60
        assert p.column(name).top_values[0].count == frame[name].value_counts()["count"].max()
    when = p.column("when")
    assert when.semantic_type is SemanticType.CATEGORICAL and when.distinct == 3
    pairs = {(x.a, x.b) for x in p.correlations.pairs}
    assert any("[bold]x[/bold]" in pair for pair in pairs)


def test_integer_bins_are_whole_numbers(bikes_profile: Profile) -> None:
    hr = bikes_profile.column("hr").histogram
    assert hr.edges == [float(h) for h in range(25)] and "whole-number" in hr.rule
    assert sum(hr.counts) == 17_379


def test_pairs_are_unique_and_sorted(adult_profile: Profile) -> None:
    pairs = adult_profile.correlations.pairs
    keys = [(p.a, p.b, p.method) for p in pairs]
    assert len(keys) == len(set(keys))
    strengths = [abs(p.value) for p in pairs]
    assert strengths == sorted(strengths, reverse=True)
    numeric = [c for c in ADULT_NUMBERS]
    assert len([p for p in pairs if p.method == "pearson"]) == len(
        list(itertools.combinations(numeric, 2))
    )


def test_box_plot_and_scatter_sample(
    bikes_profile: Profile, bikes_store: ProjectStore, bikes: pl.DataFrame
) -> None:
    box = bikes_profile.column("cnt").box_plot()
    q1, median, q3 = np.quantile(bikes["cnt"].to_numpy(), [0.25, 0.5, 0.75])
    assert (box.q1, box.median, box.q3) == (q1, median, q3) == (40, 142, 281)
    assert box.low_whisker == 1 and box.high_whisker == q3 + 1.5 * (q3 - q1)
    assert box.outliers_above == int((bikes["cnt"] > q3 + 1.5 * (q3 - q1)).sum()) == 505
    first = scatter_sample(bikes_store, "bikes", "temp", "cnt", size=500, seed=1)
    again = scatter_sample(bikes_store, "bikes", "temp", "cnt", size=500, seed=1)
    other = scatter_sample(bikes_store, "bikes", "temp", "cnt", size=500, seed=2)
    assert first == again and first.points != other.points
    assert len(first.points) == 500 and first.rows == 17_379
    real = set(bikes.select(pl.col("temp"), pl.col("cnt").cast(pl.Float64)).iter_rows())
    assert set(first.points) <= real
    with pytest.raises(MlwbError, match="not numeric"):
        scatter_sample(bikes_store, "bikes", "dteday", "cnt")


# -- box plots by target, scatter partners ----------------------------------------------------


def expected_box(x: np.ndarray, factor: float = 1.5) -> dict[str, float | int]:
    """A box plot of ``x`` by NumPy: quartiles, whiskers at the fences clipped to the range,
    counts beyond the fences."""
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    low, high = q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)
    return {
        "low_whisker": max(x.min(), low),
        "q1": q1,
        "median": median,
        "q3": q3,
        "high_whisker": min(x.max(), high),
        "outliers_below": int((x < low).sum()),
        "outliers_above": int((x > high).sum()),
    }


def check_boxes(boxes: object, groups: dict[str, np.ndarray]) -> None:
    assert [g.label for g in boxes.boxes] == list(groups)
    for g in boxes.boxes:
        x = groups[g.label]
        assert g.count == len(x)
        want = expected_box(x)
        got = g.box.model_dump()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), (g.label, key)


@pytest.mark.parametrize("column", ADULT_NUMBERS)
def test_box_plots_by_class_match_numpy(
    adult_profile: Profile, adult: pl.DataFrame, column: str
) -> None:
    boxes = adult_profile.column(column).target_boxes
    assert boxes is not None and boxes.target == "income" and boxes.grouping == "class"
    assert boxes.exact and boxes.iqr_factor == 1.5
    groups = {
        label: adult.filter(pl.col("income") == label)[column].cast(pl.Float64).to_numpy()
        for label in (" <=50K", " >50K")  # most frequent class first, as in the class balance
    }
    check_boxes(boxes, groups)
    assert boxes.scale == (
        min(b.box.low_whisker for b in boxes.boxes),
        max(b.box.high_whisker for b in boxes.boxes),
    )


def test_box_plots_by_target_quartile_for_a_regression_target(
    bikes_profile: Profile, bikes: pl.DataFrame
) -> None:
    cnt = bikes["cnt"].to_numpy()
    q1, q2, q3 = np.quantile(cnt, [0.25, 0.5, 0.75])
    assert (q1, q2, q3) == (40, 142, 281)
    bins = {
        "≤ 40": cnt <= q1,
        "40 – 142": (cnt > q1) & (cnt <= q2),
        "142 – 281": (cnt > q2) & (cnt <= q3),
        "> 281": cnt > q3,
    }
    for column in ("temp", "hum", "casual", "registered"):
        boxes = bikes_profile.column(column).target_boxes
        assert boxes is not None and boxes.grouping == "quartile" and boxes.target == "cnt"
        x = bikes[column].cast(pl.Float64).to_numpy()
        check_boxes(boxes, {label: x[mask] for label, mask in bins.items()})
    assert bikes_profile.column("cnt").target_boxes is None  # not the target against itself
    assert bikes_profile.column("season").target_boxes is None  # codes are categories


def test_box_plots_by_class_skip_missing_and_non_finite(store: ProjectStore) -> None:
    values = [1.0, 2.0, float("nan"), float("inf"), None, 5.0, 7.0, 100.0] * 5
    labels = ["a", "b"] * 20
    frame = pl.DataFrame(
        {"v": pl.Series(values, dtype=pl.Float64), "y": labels, "k": list(range(40))}
    )
    frame_dataset(store, frame, "odd")
    with store.transaction() as con:
        ds.put_roles(con, "odd", {"y": ColumnRole.TARGET})
    p = profile_dataset(store, "odd")
    boxes = p.column("v").target_boxes
    assert boxes is not None and boxes.grouping == "class"
    groups = {
        label: np.array(
            [v for v, y in zip(values, labels, strict=True) if y == label and v is not None]
        )
        for label in ("a", "b")
    }
    groups = {label: x[np.isfinite(x)] for label, x in groups.items()}
    check_boxes(boxes, groups)


def test_approximate_box_plots_are_labelled_and_close(
    bikes_store: ProjectStore, bikes: pl.DataFrame
) -> None:
    settings = ProfileSettings(exact_quantile_rows=0, exact_rows=0)
    boxes = profile_dataset(bikes_store, "bikes", settings=settings).column("temp").target_boxes
    assert boxes is not None and not boxes.exact
    temp, cnt = bikes["temp"].to_numpy(), bikes["cnt"].to_numpy()
    lowest = temp[cnt <= 40]
    box = boxes.boxes[0].box
    for p, q in ((0.25, box.q1), (0.5, box.median), (0.75, box.q3)):
        below, upto = float((lowest < q).mean()), float((lowest <= q).mean())
        assert below - 0.01 <= p <= upto + 0.01  # t-digest rank error under 1 %


def test_scatter_partner_is_the_target_or_the_most_correlated_column(
    adult_profile: Profile, adult: pl.DataFrame, bikes_profile: Profile, bikes: pl.DataFrame
) -> None:
    # regression: numeric features are plotted against the target
    assert bikes_profile.scatter_partner("temp") == "cnt"
    # classification: against the numeric column with the largest |Pearson r| (NumPy)
    numbers = adult.select(pl.col(ADULT_NUMBERS).cast(pl.Float64)).to_numpy()
    r = np.abs(np.corrcoef(numbers, rowvar=False))
    np.fill_diagonal(r, -1)
    for i, column in enumerate(ADULT_NUMBERS):
        assert adult_profile.scatter_partner(column) == ADULT_NUMBERS[int(r[i].argmax())]
    # the target itself: its most correlated numeric column
    numeric = [c.name for c in bikes_profile.columns if c.semantic_type is SemanticType.NUMERIC]
    others = [c for c in numeric if c != "cnt"]
    y = bikes["cnt"].cast(pl.Float64).to_numpy()
    strongest = max(
        others, key=lambda c: abs(np.corrcoef(bikes[c].cast(pl.Float64).to_numpy(), y)[0, 1])
    )
    assert bikes_profile.scatter_partner("cnt") == strongest
    assert adult_profile.scatter_partner("workclass") is None


def test_pairs_sharing_scratch_buffers_match_scipy() -> None:
    """Pairs computed one after another in the same scratch buffers (as a worker thread does)
    give what fresh buffers and scipy give: nothing of one pair leaks into the next."""
    from app.services.correlations import (
        _codes,
        _numeric,
        _Scratch,
        correlation_ratio,
        numeric_pair,
    )

    rng = np.random.default_rng(21)
    n = 3_000
    columns = {
        "ties": rng.integers(0, 12, n).astype(float),
        "smooth": rng.normal(size=n),
        "zeros": np.where(rng.random(n) < 0.3, -0.0, rng.integers(-3, 4, n).astype(float)),
        "sparse": np.where(rng.random(n) < 0.4, np.nan, rng.exponential(size=n)),
    }
    columns["ties"][rng.random(n) < 0.1] = np.nan
    columns["smooth"][:5] = np.inf
    frame = pl.DataFrame(columns)
    numbers = {name: _numeric(frame[name]) for name in columns}
    codes = _codes(pl.Series(rng.choice(["a", "b", "c", None], n)))
    scratch = _Scratch(n)
    for a, b in itertools.permutations(columns, 2):
        shared = numeric_pair(numbers[a], numbers[b], scratch)
        assert shared == numeric_pair(numbers[a], numbers[b])
        x, y = columns[a], columns[b]
        keep = np.isfinite(x) & np.isfinite(y)
        r, rho = sps.pearsonr(x[keep], y[keep]).statistic, sps.spearmanr(x[keep], y[keep]).statistic
        assert shared == (pytest.approx(r, abs=1e-12), pytest.approx(rho, abs=1e-12), keep.sum())
        assert correlation_ratio(codes, numbers[b], scratch) == correlation_ratio(codes, numbers[b])
