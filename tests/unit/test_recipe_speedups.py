"""The recipe engine's shortcuts give exactly what the straightforward Polars code gives.

* drop duplicates: rows are hashed, and only rows whose hash repeats are compared by value;
  the result must be ``unique(subset, keep="first", maintain_order=True)``, also when hashes
  collide (forced here with a deliberately weak hash);
* null markers (ignoring spaces) then trim: the trim runs first and the markers match the
  trimmed text; text known to be trimmed is not stripped again (trim, markers, cast);
* a rejecting cast on an in-memory frame checks its column without computing the whole frame
  first; the error (column, count, first bad values) is unchanged.

Every case is compared with a plain Polars implementation written here, and the exported
script must reproduce the app's output.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from app.domain.recipe import (
    Cast,
    CastRejected,
    ChangeCase,
    ClipOutliers,
    DeriveColumn,
    DropDuplicates,
    DropMissing,
    FillMissing,
    MergeSpellings,
    NullMarkers,
    Recipe,
    Rename,
    Step,
    StepInvalid,
    TrimWhitespace,
)
from app.services import recipe_steps
from app.services.polars_code import PL, Code
from app.services.recipe import CleaningCancelled, apply_recipe, apply_step, trace_recipe
from app.services.recipe_export import export_script, write_script

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
ADULT = SAMPLE / "adult.csv"
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def adult() -> pl.DataFrame:
    return pl.read_csv(ADULT).filter(~pl.all_horizontal(pl.all().is_null()))


def weak_hash(buckets: int):  # noqa: ANN201 - a stand-in for recipe_steps.row_hash
    """A row hash with only ``buckets`` values: most different rows collide."""

    def row_hash(columns: list[str]) -> Code:
        return PL.sum_horizontal([PL.col(c).hash(i) for i, c in enumerate(columns)]) % buckets

    return row_hash


# -- the straightforward Polars code the engine must match -------------------------------


def plain_unique(frame: pl.DataFrame, subset: list[str] | None = None) -> pl.DataFrame:
    return frame.unique(subset=subset, keep="first", maintain_order=True)


def plain_markers(frame: pl.DataFrame, step: NullMarkers) -> pl.DataFrame:
    """Text columns only (the cases below have no numeric markers on numbers)."""
    columns = step.columns or [c for c, t in frame.schema.items() if t == pl.String]
    out = []
    for c in columns:
        probe = pl.col(c).str.strip_chars() if step.ignore_whitespace else pl.col(c)
        out.append(pl.when(probe.is_in(step.markers)).then(None).otherwise(pl.col(c)).alias(c))
    return frame.with_columns(out)


def plain_trim(frame: pl.DataFrame, columns: list[str] | None = None) -> pl.DataFrame:
    columns = columns or [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(pl.col(c).str.strip_chars() for c in columns)


def plain_cast_float(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Cast text to float, refusing values that are not numbers (as the app's reject cast)."""
    stripped = frame[column].str.strip_chars()
    parsed = stripped.cast(pl.Float64, strict=False)
    bad = frame[column].is_not_null() & (stripped != "") & parsed.is_null()
    if bad.any():
        examples = frame[column].filter(bad).unique(maintain_order=True).head(5).to_list()
        raise CastRejected(column, int(bad.sum()), examples, "float")
    return frame.with_columns(parsed.alias(column))


# -- drop duplicates -----------------------------------------------------------------------


def test_dedupe_on_adult_equals_unique(
    adult: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    for subset in (None, ["age", "workclass", "sex"], ["education"]):
        expected = plain_unique(adult, subset)
        out = apply_step(adult.lazy(), DropDuplicates(subset=subset)).collect()
        assert_frame_equal(out, expected)
    assert plain_unique(adult).height == adult.height - 24
    # every row collides with a third of the others: the exact comparison does all the work
    monkeypatch.setattr(recipe_steps, "row_hash", weak_hash(3))
    for subset in (None, ["age", "workclass", "sex"]):
        out = apply_step(adult.lazy(), DropDuplicates(subset=subset)).collect()
        assert_frame_equal(out, plain_unique(adult, subset))


def test_dedupe_records_the_same_code_it_runs(adult: pl.DataFrame, tmp_path: Path) -> None:
    tf = trace_recipe([DropDuplicates()], adult.lazy())
    assert any(".hash(" in line for line in tf.lines)
    assert "unique(" not in "\n".join(tf.lines)
    # the recorded lines, run on their own, give the same rows
    namespace: dict = {"pl": pl, "lf": adult.lazy()}
    exec("\n".join(tf.lines), namespace)  # noqa: S102 - our own generated code
    assert_frame_equal(namespace["lf"].collect(), plain_unique(adult))


def test_dedupe_keeps_floats_nan_zero_and_nulls_like_unique() -> None:
    frame = pl.DataFrame(
        {
            "x": [0.0, -0.0, float("nan"), -float("nan"), None, None, 1.5, 1.5],
            "t": ["a", "a", None, None, None, None, "", ""],
            "c": pl.Series(["u", "u", "v", None, None, None, "u", "u"], dtype=pl.Categorical),
            "z": pl.Series([None] * 8, dtype=pl.Null),
        }
    )
    out = apply_step(frame.lazy(), DropDuplicates()).collect()
    assert_frame_equal(out, plain_unique(frame))
    # -0.0 is 0.0 and the two NaNs are one value, as in unique; NaN is not null
    assert out.height == 5


def test_dedupe_falls_back_to_unique_for_nested_columns() -> None:
    frame = pl.DataFrame({"a": [[1.0], [1.0], [-0.0], [0.0]], "b": [1, 1, 2, 2]})
    tf = trace_recipe([DropDuplicates()], frame.lazy())
    assert "unique(" in tf.lines[0]
    assert_frame_equal(tf.lf.collect(), plain_unique(frame))


def test_dedupe_helper_columns_do_not_clash_and_empty_frames_work() -> None:
    frame = pl.DataFrame({"__row_hash": [1, 1, 2], "__hash_repeats": [True, True, False]})
    assert_frame_equal(apply_step(frame.lazy(), DropDuplicates()).collect(), plain_unique(frame))
    assert_frame_equal(apply_step(frame.clear().lazy(), DropDuplicates()).collect(), frame.clear())
    single = pl.DataFrame({"a": [3, 3, 3]})
    assert_frame_equal(apply_step(single.lazy(), DropDuplicates()).collect(), single.head(1))


values = {
    "t": st.one_of(st.none(), st.sampled_from(["", " a", "a", "a ", "?", "NA", " b\t", "É"])),
    "n": st.one_of(st.none(), st.integers(-2, 2)),
    "x": st.one_of(st.none(), st.sampled_from([0.0, -0.0, float("nan"), 1.5, -1.5, float("inf")])),
    "b": st.one_of(st.none(), st.booleans()),
    "d": st.one_of(st.none(), st.sampled_from([dt.date(2020, 1, 1), dt.date(1999, 12, 31)])),
}
SCHEMA = {"t": pl.String, "n": pl.Int64, "x": pl.Float64, "b": pl.Boolean, "d": pl.Date}


@st.composite
def dup_frames(draw: st.DrawFn) -> pl.DataFrame:
    """Rows drawn from a small pool, so there are many duplicates (and nulls)."""
    pool = draw(
        st.lists(st.fixed_dictionaries({k: v for k, v in values.items()}), min_size=1, max_size=6)
    )
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=0, max_size=40))
    rows = [pool[i] for i in picks]
    return pl.DataFrame(rows, schema=SCHEMA) if rows else pl.DataFrame(schema=SCHEMA)


@SETTINGS
@given(
    dup_frames(),
    st.one_of(st.none(), st.lists(st.sampled_from(list(SCHEMA)), min_size=1, max_size=3)),
    st.sampled_from([None, 1, 2, 5]),
)
def test_dedupe_equals_unique_on_random_frames(
    frame: pl.DataFrame, subset: list[str] | None, buckets: int | None
) -> None:
    expected = plain_unique(frame, list(dict.fromkeys(subset)) if subset else None)
    original = recipe_steps.row_hash
    try:
        if buckets is not None:  # force collisions between different rows
            recipe_steps.row_hash = weak_hash(buckets)
        out = apply_step(frame.lazy(), DropDuplicates(subset=subset)).collect()
    finally:
        recipe_steps.row_hash = original
    assert_frame_equal(out, expected)


# -- markers, trim and the strips they share -------------------------------------------------


def test_markers_then_trim_runs_trim_first_with_the_same_result(adult: pl.DataFrame) -> None:
    markers = NullMarkers(markers=["?", "Private"])
    expected = plain_trim(plain_markers(adult, markers))
    tf = trace_recipe([markers, TrimWhitespace()], adult.lazy())
    assert_frame_equal(tf.lf.collect(), expected)
    # one strip per column: the markers match the trimmed text as it is
    source = "\n".join(tf.lines)
    assert source.count("str.strip_chars()") == len(
        [c for c, t in adult.schema.items() if t == pl.String]
    )
    assert tf.step_starts == [0, len(tf.lines) - 1]
    assert tf.lines[-1].startswith("# done above")


def test_markers_without_ignoring_spaces_are_not_swapped(adult: pl.DataFrame) -> None:
    markers = NullMarkers(markers=["?"], ignore_whitespace=False)
    out = apply_recipe(adult.lazy(), [markers, TrimWhitespace()]).collect()
    assert_frame_equal(out, plain_trim(plain_markers(adult, markers)))
    # " ?" is not the marker "?" without ignoring spaces; trimmed afterwards it is "?"
    assert out["workclass"].to_list().count("?") == 1836


def test_trimmed_columns_are_not_stripped_again(adult: pl.DataFrame) -> None:
    steps: list[Step] = [
        TrimWhitespace(columns=["workclass", "fnlwgt"]),
        TrimWhitespace(),
        NullMarkers(markers=["?"]),
        Cast(column="fnlwgt", to="float"),
    ]
    frame = adult.with_columns(pl.col("fnlwgt").cast(pl.String).str.pad_start(9))
    tf = trace_recipe(steps, frame.lazy())
    expected = plain_cast_float(
        plain_markers(plain_trim(plain_trim(frame, ["workclass", "fnlwgt"])), steps[2]),
        "fnlwgt",
    )
    assert_frame_equal(tf.lf.collect(), expected)
    source = "\n".join(tf.lines)
    text = [c for c, t in frame.schema.items() if t == pl.String]
    assert source.count("str.strip_chars()") == len(text)
    assert "# already trimmed, left as they are: workclass, fnlwgt" in tf.lines


def test_a_step_that_rewrites_a_column_makes_it_untrimmed_again() -> None:
    frame = pl.DataFrame({"city": [" NY", "LA ", " ? ", "x"], "n": [1, 2, 3, 4]})
    steps: list[Step] = [
        TrimWhitespace(),
        MergeSpellings(column="city", groups={" ? ": ["x"]}),  # brings spaces back
        NullMarkers(markers=["?"]),
        Rename(mapping={"city": "town"}),
        TrimWhitespace(),
    ]
    out = apply_recipe(frame.lazy(), steps).collect()
    step_by_step = frame
    for step in steps:
        step_by_step = apply_step(step_by_step.lazy(), step).collect()
    assert_frame_equal(out, step_by_step)
    assert out["town"].to_list() == ["NY", "LA", None, None]
    # a fill value with spaces: the markers must strip again
    steps = [TrimWhitespace(), FillMissing(column="city", value=" ? "), NullMarkers(markers=["?"])]
    frame = pl.DataFrame({"city": [" NY", None, "?"]})
    assert apply_recipe(frame.lazy(), steps).collect()["city"].to_list() == ["NY", None, None]


def test_swapped_steps_report_progress_errors_and_cancel_as_usual(adult: pl.DataFrame) -> None:
    steps: list[Step] = [NullMarkers(markers=["?"]), TrimWhitespace(), DropMissing(how="all")]
    seen: list[tuple[int, int]] = []
    apply_recipe(adult.lazy(), steps, on_progress=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(StepInvalid, match=r"^step 2 \(Trim spaces in nope\)"):
        apply_recipe(adult.lazy(), [NullMarkers(markers=["?"]), TrimWhitespace(columns=["nope"])])
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) == 2

    seen.clear()
    with pytest.raises(CleaningCancelled):
        apply_recipe(
            adult.lazy(), steps, on_progress=lambda i, n: seen.append((i, n)), should_stop=stop
        )
    assert seen == [(1, 3)]


texts = st.one_of(
    st.none(),
    st.sampled_from(["?", " ?", "NA ", "\tn/a", "", "  ", " 12 ", "3.5", " -0 ", "1e3", "x y"]),
    st.text(alphabet=" ?.1a\t\u00a0", max_size=5),
)


@st.composite
def text_frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 12))
    rows = draw(st.lists(st.tuples(texts, texts, st.integers(-5, 5)), min_size=n, max_size=n))
    return pl.DataFrame(
        {"a": [r[0] for r in rows], "b": [r[1] for r in rows], "k": [r[2] for r in rows]},
        schema={"a": pl.String, "b": pl.String, "k": pl.Int64},
    )


@SETTINGS
@given(
    text_frames(),
    st.sampled_from([None, ["a"], ["b", "a"]]),
    st.sampled_from([None, ["a"], ["b"]]),
    st.booleans(),
)
def test_markers_trim_cast_equal_the_plain_steps_on_random_frames(
    frame: pl.DataFrame, marked: list[str] | None, trimmed: list[str] | None, reject: bool
) -> None:
    markers = NullMarkers(markers=["?", "NA", "n/a", ""], columns=marked)
    cast = Cast(column="a", to="float", on_error="reject" if reject else "null")
    expected = plain_trim(plain_markers(frame, markers), trimmed)
    try:
        expected = plain_cast_float(expected, "a")
    except CastRejected as exc:
        if reject:
            with pytest.raises(CastRejected) as caught:
                apply_recipe(frame.lazy(), [markers, TrimWhitespace(columns=trimmed), cast])
            assert (caught.value.count, caught.value.examples) == (exc.count, exc.examples)
            return
        stripped = expected["a"].str.strip_chars().cast(pl.Float64, strict=False)
        expected = expected.with_columns(stripped.alias("a"))
    out = apply_recipe(frame.lazy(), [markers, TrimWhitespace(columns=trimmed), cast]).collect()
    assert_frame_equal(out, expected)


POOL: list[Step] = [
    TrimWhitespace(),
    TrimWhitespace(columns=["a"]),
    NullMarkers(markers=["?", "NA"]),
    NullMarkers(markers=["n/a", "?"], ignore_whitespace=False),
    MergeSpellings(column="a", groups={" ? ": ["x y"], "1e3": ["3.5"]}),
    FillMissing(column="b", value=" NA "),
    ChangeCase(case="upper", columns=["b"]),
    Cast(column="a", to="float", on_error="null"),
    Rename(mapping={"a": "b", "b": "a"}),
    DropDuplicates(subset=["b"]),
]


@settings(SETTINGS, max_examples=100)
@given(text_frames(), st.lists(st.sampled_from(POOL), min_size=1, max_size=5))
def test_any_sequence_equals_the_steps_run_one_by_one(
    frame: pl.DataFrame, steps: list[Step]
) -> None:
    """One by one (a fresh frame per step, plain unique) nothing is known from earlier steps."""
    expected = frame
    try:
        for step in steps:
            if isinstance(step, DropDuplicates):
                expected = plain_unique(expected, step.subset)
            else:
                expected = apply_step(expected.lazy(), step).collect()
    except StepInvalid:  # e.g. text steps on "a" after it became a float
        with pytest.raises(StepInvalid):
            apply_recipe(frame.lazy(), steps).collect()
        return
    assert_frame_equal(apply_recipe(frame.lazy(), steps).collect(), expected)


# -- rejecting casts -----------------------------------------------------------------------


def test_reject_cast_checks_in_memory_frames_without_computing_them(adult: pl.DataFrame) -> None:
    steps: list[Step] = [TrimWhitespace(), Cast(column="age", to="int")]
    tf = trace_recipe(steps, adult.lazy())
    assert "lf = lf.collect().lazy()" not in tf.lines
    assert any(line.startswith("check_cast(") for line in tf.lines)
    # after a step that removes rows the frame is computed once, as before
    tf = trace_recipe([DropDuplicates(), *steps], adult.lazy())
    assert tf.lines.count("lf = lf.collect().lazy()") == 1
    # so is a file read by the exported script
    script = export_script(Recipe(steps=steps), {"format": "csv"}, adult.schema)
    assert "lf = lf.collect().lazy()" in script


def test_reject_cast_reports_the_same_column_count_and_values(adult: pl.DataFrame) -> None:
    frame = adult.with_columns(pl.col("hours-per-week").cast(pl.String))
    frame = frame.with_columns(
        pl.when(pl.col("age") > 80)
        .then(pl.lit(" n/a "))
        .otherwise(pl.col("hours-per-week"))
        .alias("hours-per-week")
    )
    markers = NullMarkers(markers=["?"])
    expected_frame = plain_trim(plain_markers(frame, markers))
    with pytest.raises(CastRejected) as expected:
        plain_cast_float(expected_frame, "workclass")
    for lazy in (frame.lazy(), frame.lazy().with_columns(pl.col("age") + 0)):
        with pytest.raises(CastRejected) as caught:
            apply_recipe(lazy, [markers, TrimWhitespace(), Cast(column="workclass", to="float")])
        assert caught.value.message.startswith("step 3 (Change workclass to float)")
        assert (caught.value.column, caught.value.count, caught.value.examples) == (
            "workclass",
            expected.value.count,
            expected.value.examples,
        )
    with pytest.raises(CastRejected) as caught:
        apply_recipe(frame.lazy(), [TrimWhitespace(), Cast(column="hours-per-week", to="int")])
    assert (caught.value.count, caught.value.examples) == (
        frame.filter(pl.col("age") > 80).height,
        ["n/a"],
    )


# -- the benchmark's recipe, end to end ------------------------------------------------------


def bench_like_recipe() -> list[Step]:
    return [
        NullMarkers(markers=["?", "NA", "n/a"]),
        TrimWhitespace(),
        MergeSpellings(
            column="workclass", groups={"Government": ["State-gov", "Federal-gov", "Local-gov"]}
        ),
        Cast(column="fnlwgt", to="float"),
        FillMissing(column="occupation", value="Unknown"),
        ClipOutliers(column="age", method="manual", lower=20, upper=70),
        DeriveColumn(name="total", expression="fnlwgt * age"),
        DropDuplicates(),
    ]


def test_bench_like_recipe_equals_the_plain_steps(adult: pl.DataFrame) -> None:
    steps = bench_like_recipe()
    frame = adult  # fnlwgt is text there (" 77516"): the cast strips and checks it
    assert frame.schema["fnlwgt"] == pl.String
    expected = plain_trim(plain_markers(frame, steps[0]))
    expected = plain_cast_float(apply_step(expected.lazy(), steps[2]).collect(), "fnlwgt")
    for step in steps[4:7]:
        expected = apply_step(expected.lazy(), step).collect()
    expected = plain_unique(expected)
    out = apply_recipe(frame.lazy(), steps).collect()
    assert_frame_equal(out, expected)
    assert out.height < adult.height and "Government" in out["workclass"]


def test_exported_script_reproduces_the_bench_like_recipe(
    adult: pl.DataFrame, tmp_path: Path
) -> None:
    steps = bench_like_recipe()
    expected = apply_recipe(pl.read_csv(ADULT).lazy(), [DropMissing(how="all"), *steps])
    expected = expected.collect()
    options = {"path": str(ADULT), "format": "csv"}  # the script skips the blank line itself
    script = write_script(steps, options, tmp_path / "clean.py")
    source = script.read_text()
    assert "# 2. Trim spaces in all text columns\n    # done above, before step 1" in source
    assert "check_cast(lf, 'fnlwgt', 'float'" in source
    result = subprocess.run(
        [sys.executable, str(script), str(ADULT), str(tmp_path / "out.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert_frame_equal(pl.read_parquet(tmp_path / "out.parquet"), expected)
    assert expected.schema["fnlwgt"] == pl.Float64 and expected.height < adult.height
