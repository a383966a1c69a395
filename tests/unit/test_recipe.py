"""Recipe steps on real data: exact counts, frozen values, checks, preview and script export."""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.domain.recipe import (
    Cast,
    CastRejected,
    ChangeCase,
    ClipOutliers,
    DateParts,
    DeriveColumn,
    DropColumns,
    DropDuplicates,
    DropMissing,
    DropOutliers,
    FillMissing,
    FilterRows,
    MapValues,
    MergeSpellings,
    NullMarkers,
    Recipe,
    Rename,
    SelectColumns,
    StepInvalid,
    TrimWhitespace,
    parse_step,
)
from app.errors import MlwbError, ValidationFailed
from app.services.recipe import (
    CleaningCancelled,
    add_step,
    apply_recipe,
    apply_step,
    check_step,
    freeze_step,
    preview_step,
    replay_rowwise,
    schema_after,
)
from app.services.recipe_export import export_script, recipe_from_json, recipe_to_json, write_script
from app.services.recipe_steps import keep_mask

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
ADULT = SAMPLE / "adult.csv"
BIKES = SAMPLE / "bike_sharing_hour.csv"


@pytest.fixture(scope="module")
def adult_raw() -> pl.DataFrame:
    """adult.csv as Polars reads it: leading spaces kept, plus one empty row (the blank line)."""
    return pl.read_csv(ADULT)


@pytest.fixture(scope="module")
def adult(adult_raw: pl.DataFrame) -> pl.DataFrame:
    return adult_raw.filter(~pl.all_horizontal(pl.all().is_null()))


@pytest.fixture(scope="module")
def adult_rows() -> list[list[str]]:
    """An independent reading with the csv module, for reference counts."""
    with ADULT.open(newline="") as handle:
        rows = [r for r in csv.reader(handle) if r]
    return rows[1:]


@pytest.fixture(scope="module")
def bikes() -> pl.DataFrame:
    return pl.read_csv(BIKES)


ADULT_CLEAN = [
    TrimWhitespace(),
    NullMarkers(markers=["?"]),
    DropMissing(how="all"),
    DropDuplicates(),
    Cast(column="fnlwgt", to="int"),
    Cast(column="capital-gain", to="int"),
    Cast(column="capital-loss", to="int"),
    Cast(column="hours-per-week", to="int"),
]


def test_markers_to_null_counts_per_column(
    adult: pl.DataFrame, adult_rows: list[list[str]]
) -> None:
    preview = preview_step(adult, NullMarkers(markers=["?"]))
    header = ADULT.read_text().splitlines()[0].split(",")
    reference = {
        name: sum(1 for r in adult_rows if r[i].strip() == "?") for i, name in enumerate(header)
    }
    assert preview.became_null == {"workclass": 1836, "occupation": 1843, "native-country": 583}
    assert preview.became_null == {k: v for k, v in reference.items() if v}
    assert preview.rows_removed == 0
    assert preview.before["workclass"].to_list()[1] == " ?"
    assert preview.after["workclass"].to_list()[1] is None
    out = apply_step(adult.lazy(), NullMarkers(markers=["?"])).collect()
    assert out.filter(pl.any_horizontal(pl.all().is_null())).height == 2399


def test_drop_duplicates_removes_exactly_24(
    adult: pl.DataFrame, adult_rows: list[list[str]]
) -> None:
    reference = sum(n - 1 for n in Counter(map(tuple, adult_rows)).values())
    assert reference == 24
    out = apply_step(adult.lazy(), DropDuplicates()).collect()
    assert out.height == 32561 - 24
    assert_frame_equal(out, adult.unique(maintain_order=True))
    preview = preview_step(adult, DropDuplicates(), sample=5)
    assert preview.rows_removed == 24 and preview.removed.height == 5
    mask = adult.select(keep_mask(DropDuplicates(), adult.schema).value)[:, 0]
    assert_frame_equal(adult.filter(mask), out)


def test_adult_cleaning_recipe(adult_raw: pl.DataFrame, adult_rows: list[list[str]]) -> None:
    out = apply_recipe(adult_raw.lazy(), ADULT_CLEAN).collect()
    assert out.height == 32561 - 24
    assert out.schema["capital-gain"] == pl.Int64
    assert out.filter(pl.col("capital-gain") == 99999).height == 159
    assert out["workclass"].null_count() + out["occupation"].null_count() > 0
    assert out["income"].unique().sort().to_list() == ["<=50K", ">50K"]
    unique_rows = {tuple(r) for r in adult_rows}
    assert out["fnlwgt"].sum() == pytest.approx(
        sum(int(r[2]) for r in dict.fromkeys(tuple(r) for r in adult_rows)), abs=0
    )
    assert len(unique_rows) == out.height


def test_filter_and_derive_match_independent_counts(
    adult_raw: pl.DataFrame, adult_rows: list[list[str]]
) -> None:
    steps = [
        *ADULT_CLEAN[:3],
        Cast(column="hours-per-week", to="int"),
        Cast(column="capital-gain", to="int"),
        Cast(column="capital-loss", to="int"),
        FilterRows(expression='age >= 18 and "hours-per-week" < 60'),
        DeriveColumn(name="net", expression='"capital-gain" - col("capital-loss")'),
        DeriveColumn(name="yearly", expression='col("hours-per-week") * 52'),
    ]
    out = apply_recipe(adult_raw.lazy(), steps).collect()
    kept = [r for r in adult_rows if int(r[0]) >= 18 and int(r[12]) < 60]
    assert out.height == len(kept)
    assert out["net"].sum() == sum(int(r[10]) - int(r[11]) for r in kept)
    assert out["yearly"].sum() == sum(int(r[12]) * 52 for r in kept)
    rich = apply_step(out.lazy(), FilterRows(expression="income == '>50K'")).collect()
    assert rich.height == sum(1 for r in kept if r[14].strip() == ">50K")


def test_bikes_date_parts_agree_with_the_files_own_columns(bikes: pl.DataFrame) -> None:
    steps = [
        Cast(column="dteday", to="date", format="%Y-%m-%d"),
        DateParts(column="dteday", parts=["year", "month", "weekday", "is_weekend"]),
        DeriveColumn(name="total", expression="casual + registered"),
    ]
    out = apply_recipe(bikes.lazy(), steps).collect()
    assert (out["dteday_year"] - 2011 == out["yr"]).all()
    assert (out["dteday_month"] == out["mnth"]).all()
    assert (out["dteday_weekday"] % 7 == out["weekday"]).all()  # ISO Monday=1 vs Sunday=0
    assert out["dteday_is_weekend"].sum() == bikes.filter(pl.col("weekday").is_in([0, 6])).height
    assert (out["total"] == out["cnt"]).all()
    with pytest.raises(StepInvalid, match="without a time of day"):
        check_step(
            DateParts(column="dteday", parts=["hour"]), schema_after(steps[:1], bikes.schema)
        )


def test_fill_values_are_frozen_from_the_data() -> None:
    frame = pl.DataFrame(
        {"n": [1, 2, 2, 9, None], "s": ["a", "b", "b", None, "a"], "f": [0.5, None, 1.5, 2.0, 4.0]}
    )
    mean = freeze_step(FillMissing(column="f", method="mean"), frame)
    median = freeze_step(FillMissing(column="n", method="median"), frame)
    mode = freeze_step(FillMissing(column="s", method="mode"), frame)
    assert mean.value == pytest.approx(statistics.mean([0.5, 1.5, 2.0, 4.0]))
    assert median.value == 2 and isinstance(median.value, int)
    assert mode.value == "a"  # a and b tie twice: the first alphabetically, deterministically
    out = apply_recipe(frame.lazy(), [mean, median, mode]).collect()
    assert out["n"].to_list() == [1, 2, 2, 9, 2]
    assert out["s"].to_list() == ["a", "b", "b", "a", "a"]
    assert out.schema["n"] == pl.Int64
    with pytest.raises(StepInvalid, match="not computed yet"):
        apply_step(frame.lazy(), FillMissing(column="n", method="mean"))
    with pytest.raises(StepInvalid, match="median"):
        freeze_step(FillMissing(column="s", method="median"), frame)


def test_outlier_bounds_match_numpy(bikes: pl.DataFrame) -> None:
    values = bikes["cnt"].to_numpy()
    q1, q3 = np.percentile(values, [25, 75])
    clip = freeze_step(ClipOutliers(column="cnt", method="iqr"), bikes)
    assert (clip.lower, clip.upper) == pytest.approx((q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)))
    z = freeze_step(DropOutliers(column="windspeed", method="zscore", factor=3), bikes)
    wind = bikes["windspeed"].to_list()
    mean, std = statistics.mean(wind), statistics.stdev(wind)
    assert (z.lower, z.upper) == pytest.approx((mean - 3 * std, mean + 3 * std))
    quant = freeze_step(ClipOutliers(column="hum", method="quantile"), bikes)
    assert (quant.lower, quant.upper) == pytest.approx(
        tuple(np.quantile(bikes["hum"].to_numpy(), [0.01, 0.99]))
    )
    clipped = apply_step(bikes.lazy(), clip).collect()
    assert clipped.schema["cnt"] == pl.Int64
    assert clipped["cnt"].max() == int(np.floor(clip.upper))
    dropped = apply_step(bikes.lazy(), z).collect()
    assert dropped.height == int(((values := bikes["windspeed"].to_numpy()) <= z.upper).sum())
    assert values.size == 17379


def test_casts_read_separators_scientific_and_report_bad_values() -> None:
    frame = pl.DataFrame(
        {
            "th": [" 1,234.5", "12", None, ""],
            "dc": ["2,6", "1.234,5", "7", None],
            "sci": ["5.00E+05", " 3 ", "4.0", None],
            "bad": ["1", "x", "abc", "x"],
            "flag": ["Yes", "no", "TRUE", "0"],
            "day": ["2024-01-31", "2024-02-01", None, "2024-02-03"],
        }
    )
    steps = [
        Cast(column="th", to="float", thousands_sep=","),
        Cast(column="dc", to="float", decimal_comma=True, thousands_sep="."),
        Cast(column="sci", to="int"),
        Cast(column="bad", to="int", on_error="null"),
        Cast(column="flag", to="bool"),
        Cast(column="day", to="date", format="%Y-%m-%d"),
    ]
    out = apply_recipe(frame.lazy(), steps).collect()
    assert out["th"].to_list() == [1234.5, 12.0, None, None]
    assert out["dc"].to_list() == [2.6, 1234.5, 7.0, None]
    assert out["sci"].to_list() == [500000, 3, 4, None]
    assert out["bad"].to_list() == [1, None, None, None]
    assert out["flag"].to_list() == [True, False, True, False]
    assert out["day"].dt.day().to_list() == [31, 1, None, 3]
    with pytest.raises(CastRejected) as info:
        apply_step(frame.lazy(), Cast(column="bad", to="int"))
    assert (info.value.column, info.value.count, info.value.examples) == ("bad", 3, ["x", "abc"])
    assert "cannot cast 3 values of 'bad' to int: 'x', 'abc'" in info.value.message
    with pytest.raises(CastRejected, match="3.5"):
        apply_step(pl.DataFrame({"a": [1.0, 3.5]}).lazy(), Cast(column="a", to="int"))


def test_value_steps() -> None:
    frame = pl.DataFrame(
        {"c": ["Private", "private ", "PRIVATE", "Gov", None], "n": [1, 2, 3, 1, 2]}
    )
    merged = apply_step(
        frame.lazy(), MergeSpellings(column="c", groups={"Private": ["private ", "PRIVATE"]})
    )
    assert merged.collect()["c"].to_list() == ["Private", "Private", "Private", "Gov", None]
    mapped = apply_step(
        frame.lazy(), MapValues(column="n", mapping={"1": "one", "2": None})
    ).collect()
    assert mapped["n"].to_list() == ["one", None, "3", "one", None]
    strict = MapValues(column="c", mapping={"Private": 1, "Gov": 0}, unmapped="null")
    assert apply_step(frame.lazy(), strict).collect()["c"].to_list() == [1, None, None, 0, None]
    cased = apply_step(frame.lazy(), ChangeCase(case="title", columns=["c"])).collect()
    assert cased["c"].to_list() == ["Private", "Private ", "Private", "Gov", None]
    renamed = apply_recipe(
        frame.lazy(), [Rename(mapping={"c": "kind"}), SelectColumns(columns=["n", "kind"])]
    )
    assert renamed.collect().columns == ["n", "kind"]
    assert apply_step(frame.lazy(), DropColumns(columns=["n"])).collect().columns == ["c"]
    markers = NullMarkers(markers=[1, "Gov"])
    assert markers.markers == ["1", "Gov"]
    out = apply_step(frame.lazy(), markers).collect()
    assert out["n"].to_list() == [None, 2, 3, None, 2] and out["c"][3] is None


def test_check_step_explains_what_is_wrong() -> None:
    schema = {"age": pl.Int64(), "name": pl.String(), "day": pl.Date(), "capital-gain": pl.Int64()}
    cases = [
        (Cast(column="agee", to="float"), "there is no column 'agee'", "did you mean 'age'?"),
        (Cast(column="age", to="date"), "cannot change 'age' from Int64 to date", "text converts"),
        (TrimWhitespace(columns=["age"]), "'age' is Int64, not text", "cast step"),
        (DeriveColumn(name="age", expression="age * 2"), "already exists", "replace"),
        (DateParts(column="name", parts=["year"]), "not a date or datetime", ""),
        (DateParts(column="day", parts=["year"]).model_copy(update={"column": "day"}), None, None),
        (Rename(mapping={"age": "name"}), "'name' already exists", ""),
        (DropColumns(columns=list(schema)), "every column", ""),
        (FillMissing(column="age", value="x"), "needs a number", ""),
        (FilterRows(expression="capital-gain > 0"), "unknown column 'capital'", '"capital-gain"'),
        (FilterRows(expression="age + 1"), "true or false", ""),
        (MapValues(column="age", mapping={"x": 1}), "'x' is not a value of 'age'", ""),
    ]
    for step, message, hint in cases:
        if message is None:
            check_step(step, schema)
            continue
        with pytest.raises(MlwbError) as info:
            check_step(step, schema)
        assert message in info.value.message, info.value.message
        assert hint in info.value.hint


def test_recipe_model_json_rowwise_part_and_undo() -> None:
    recipe = Recipe(steps=ADULT_CLEAN).with_step({"kind": "filter_rows", "expression": "age > 1"})
    assert [s.kind for s in recipe.rowwise_part().steps] == [
        "trim_whitespace", "null_markers", "cast", "cast", "cast", "cast"
    ]  # fmt: skip
    assert not recipe.is_rowwise() and recipe.rowwise_part().is_rowwise()
    assert recipe_from_json(recipe_to_json(recipe)) == recipe
    assert len(recipe.without_step().steps) == len(ADULT_CLEAN)
    assert recipe.without_step(0).steps[0].kind == "null_markers"
    lines = recipe.describe()
    assert lines[0] == "1. Trim spaces in all text columns"
    assert lines[3] == "4. Drop duplicate rows (same values in every column)  [training data only]"
    with pytest.raises(ValidationFailed) as info:
        parse_step({"kind": "cast", "column": "a", "to": "complex"})
    assert info.value.problems[0][0] == "to"
    with pytest.raises(ValidationFailed) as info:
        parse_step({"kind": "explode"})
    assert "unknown step kind; use one of drop_duplicates, drop_missing" in info.value.one_line()
    with pytest.raises(ValidationFailed):
        recipe_from_json('{"steps": [{"kind": "fill_missing", "column": "a"}]}')


def test_errors_name_the_step(adult_raw: pl.DataFrame) -> None:
    with pytest.raises(CastRejected) as info:
        apply_recipe(adult_raw.lazy(), [TrimWhitespace(), Cast(column="workclass", to="int")])
    assert info.value.message.startswith(
        "step 2 (Change workclass to int): cannot cast 32561 values"
    )
    assert "'State-gov', 'Self-emp-not-inc', 'Private'" in info.value.message


def test_replay_rowwise_skips_dataset_steps_and_handles_one_row(adult_raw: pl.DataFrame) -> None:
    recipe = Recipe(steps=ADULT_CLEAN)
    row = adult_raw.slice(14, 1)  # native-country is ' ?'
    out = replay_rowwise(row, recipe)
    assert out.height == 1 and out["native-country"][0] is None and out["fnlwgt"][0] == 121_772
    bad = row.with_columns(pl.lit(" lots").alias("hours-per-week"))
    with pytest.raises(CastRejected, match="'hours-per-week'"):
        replay_rowwise(bad, recipe)
    assert isinstance(replay_rowwise(row.lazy(), recipe), pl.LazyFrame)


def test_preview_of_rowwise_step_counts_changed_cells() -> None:
    frame = pl.DataFrame({"a": [" x", "y", "z ", None], "b": [1, 2, 3, 4]})
    preview = preview_step(frame, TrimWhitespace())
    assert preview.cells_changed == {"a": 2}
    assert preview.before["row"].to_list() == [0, 2]
    assert preview.after["a"].to_list() == ["x", "z"]
    assert preview.summary() == "changes 2 cells in 1 column(s)"
    added = preview_step(frame, DeriveColumn(name="c", expression="b * 2"), sample=2)
    assert added.columns_added == ["c"] and added.after["c"].to_list() == [2, 4]
    assert preview_step(frame, DropColumns(columns=["b"])).columns_removed == ["b"]
    filtered = preview_step(frame, FilterRows(expression="b > 2"))
    assert filtered.rows_removed == 2 and filtered.removed["row"].to_list() == [0, 1]


def test_add_step_freezes_on_the_cleaned_data(adult_raw: pl.DataFrame) -> None:
    recipe = Recipe(steps=ADULT_CLEAN)
    recipe = add_step(recipe, FillMissing(column="workclass", method="mode"), adult_raw)
    recipe = add_step(
        recipe,
        {"kind": "clip_outliers", "column": "hours-per-week", "method": "quantile"},
        adult_raw,
    )
    fill, clip = recipe.steps[-2:]
    assert fill.value == "Private"
    cleaned = apply_recipe(adult_raw.lazy(), ADULT_CLEAN).collect()
    expected = np.quantile(cleaned["hours-per-week"].to_numpy(), [0.01, 0.99])
    assert (clip.lower, clip.upper) == pytest.approx(tuple(expected))
    assert apply_recipe(adult_raw.lazy(), recipe).collect()["workclass"].null_count() == 0


def _run_script(script: Path, source: Path, target: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_exported_script_reproduces_the_cleaned_adult(
    adult_raw: pl.DataFrame, tmp_path: Path
) -> None:
    cleaned = apply_recipe(adult_raw.lazy(), ADULT_CLEAN)
    recipe = Recipe(
        steps=[
            *ADULT_CLEAN,
            Cast(column="education-num", to="float", on_error="null"),
            FilterRows(expression='age >= 18 and "hours-per-week" < 60'),
            DeriveColumn(name="net", expression='"capital-gain" - "capital-loss"'),
            ChangeCase(case="upper", columns=["sex"]),
            MapValues(column="income", mapping={">50K": 1, "<=50K": 0}, unmapped="null"),
            MergeSpellings(
                column="workclass", groups={"Government": ["State-gov", "Federal-gov", "Local-gov"]}
            ),
            freeze_step(FillMissing(column="occupation", method="mode"), cleaned),
            freeze_step(ClipOutliers(column="hours-per-week", method="quantile"), cleaned),
            freeze_step(DropOutliers(column="age", method="zscore"), cleaned),
            Rename(mapping={"hours-per-week": "hours"}),
            DropColumns(columns=["fnlwgt"]),
        ]
    )
    expected = apply_recipe(adult_raw.lazy(), recipe).collect()
    script = write_script(
        recipe, {"path": str(ADULT), "format": "csv"}, tmp_path / "clean_adult.py"
    )
    _run_script(script, ADULT, tmp_path / "out.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "out.parquet"), expected)
    assert expected.height > 29_000 and expected.schema["income"] == pl.Int64


def test_exported_script_with_dates_writes_csv(bikes: pl.DataFrame, tmp_path: Path) -> None:
    recipe = Recipe(
        steps=[
            Cast(column="dteday", to="date", format="%Y-%m-%d"),
            DateParts(column="dteday", parts=["year", "weekday", "dayofyear"]),
            NullMarkers(columns=["hum"], markers=["0"]),
            DropColumns(columns=["instant", "casual", "registered"]),
        ]
    )
    expected = apply_recipe(bikes.lazy(), recipe).collect()
    assert expected["hum"].null_count() == 22
    source = export_script(recipe, {"format": "csv"}, bikes.schema)
    assert "pl.col('dteday').str.strip_chars().str.to_date('%Y-%m-%d'" in source
    script = tmp_path / "clean_bikes.py"
    script.write_text(source)
    _run_script(script, BIKES, tmp_path / "out.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "out.parquet"), expected)
    _run_script(script, BIKES, tmp_path / "out.csv")
    assert_frame_equal(pl.read_csv(tmp_path / "out.csv", schema=expected.schema), expected)


def test_script_refuses_bad_values_like_the_app(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,x\n2,y\nnope,z\n")
    recipe = Recipe(steps=[Cast(column="a", to="int")])
    script = write_script(recipe, {"path": str(raw), "separator": ","}, tmp_path / "clean.py")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "o.parquet")], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "cannot cast 1 value(s) of 'a' to int: 'nope'" in result.stderr
    with pytest.raises(MlwbError, match="unknown read option"):
        export_script(recipe, {"sep": ";"}, {"a": pl.String()})


def test_script_reads_latin1_semicolon_files(tmp_path: Path) -> None:
    raw = tmp_path / "mesures.csv"
    raw.write_bytes(
        "ville;temp;note\nZürich;2,5;élevé\nSão Paulo;-200;bas\nOslo;7,25;?\n".encode("latin-1")
    )
    options = {"path": str(raw), "separator": ";", "encoding": "latin-1", "decimal_comma": True}
    recipe = Recipe(
        steps=[NullMarkers(markers=["?", "-200"]), ChangeCase(case="upper", columns=["ville"])]
    )
    frame = pl.read_csv(
        raw.read_text(encoding="latin-1").encode(), separator=";", decimal_comma=True
    )
    expected = apply_recipe(frame.lazy(), recipe).collect()
    assert expected["temp"].to_list() == [2.5, None, 7.25]
    assert expected["ville"].to_list() == ["ZÜRICH", "SÃO PAULO", "OSLO"]
    assert expected["note"].to_list() == ["élevé", "bas", None]
    script = write_script(recipe, options, tmp_path / "clean.py")
    _run_script(script, raw, tmp_path / "out.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "out.parquet"), expected)


def test_progress_and_cancel_between_steps(adult_raw: pl.DataFrame) -> None:
    seen: list[tuple[int, int]] = []
    apply_recipe(adult_raw.lazy(), ADULT_CLEAN[:3], on_progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(CleaningCancelled):
        apply_recipe(adult_raw.lazy(), ADULT_CLEAN, should_stop=lambda: True)
