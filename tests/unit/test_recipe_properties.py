"""Properties of recipe steps on generated frames (Hypothesis)."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from app.domain.recipe import (
    Cast,
    ChangeCase,
    ClipOutliers,
    DeriveColumn,
    DropDuplicates,
    DropMissing,
    DropOutliers,
    FillMissing,
    FilterRows,
    MapValues,
    NullMarkers,
    Rename,
    Step,
    TrimWhitespace,
)
from app.services.recipe import apply_recipe, apply_step, freeze_step, replay_rowwise

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.one_of(
    st.none(),
    st.sampled_from(["?", " ?", "NA", "n/a", "", "  ", "-200", " 12 ", "3.5", "Ab c", "ab C "]),
    st.text(alphabet=" aBc-?.\tÉ1", max_size=6),
)
ints = st.one_of(st.none(), st.integers(-300, 300), st.just(-200))
floats = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))


@st.composite
def frames(draw: st.DrawFn, min_rows: int = 0) -> pl.DataFrame:
    n = draw(st.integers(min_rows, 12))
    rows = draw(st.lists(st.tuples(texts, ints, floats), min_size=n, max_size=n))
    if rows and draw(st.booleans()):
        rows = rows + rows[: draw(st.integers(1, len(rows)))]  # some exact duplicates
    return pl.DataFrame(
        {"t": [r[0] for r in rows], "n": [r[1] for r in rows], "x": [r[2] for r in rows]},
        schema={"t": pl.String, "n": pl.Int64, "x": pl.Float64},
    )


IDEMPOTENT: list[Step] = [
    TrimWhitespace(),
    ChangeCase(case="lower"),
    ChangeCase(case="upper"),
    ChangeCase(case="title", columns=["t"]),
    NullMarkers(markers=["?", "NA", "n/a", "", "-200"]),
    NullMarkers(markers=["?"], columns=["t"], ignore_whitespace=False),
    DropDuplicates(),
    DropDuplicates(subset=["t"]),
    DropMissing(columns=["t", "n"]),
]
ROWWISE: list[Step] = [
    TrimWhitespace(),
    NullMarkers(markers=["?", "NA", "-200"]),
    ChangeCase(case="title"),
    MapValues(column="t", mapping={"Ab C": "abc", "": "empty"}),
    Cast(column="x", to="int", on_error="null"),
    FillMissing(column="n", value=7),
    ClipOutliers(column="n", method="manual", lower=-100, upper=100.5),
    DeriveColumn(name="d", expression="coalesce(n, 0) * 2 + len(coalesce(t, ''))"),
    Rename(mapping={"t": "text"}),
]
DATASET: list[Step] = [
    DropDuplicates(),
    DropMissing(),
    DropMissing(how="all"),
    FilterRows(expression="n > 0 or t is null"),
    DropOutliers(column="x", method="manual", lower=-10, upper=10),
]


@SETTINGS
@given(frames(), st.sampled_from(IDEMPOTENT))
def test_cleaning_steps_are_idempotent(frame: pl.DataFrame, step: Step) -> None:
    once = apply_step(frame.lazy(), step).collect()
    twice = apply_step(once.lazy(), step).collect()
    assert_frame_equal(once, twice)


@SETTINGS
@given(frames(), st.sampled_from(ROWWISE + DATASET))
def test_only_dataset_steps_change_the_row_count(frame: pl.DataFrame, step: Step) -> None:
    out = apply_step(frame.lazy(), step).collect()
    if step.rowwise:
        assert out.height == frame.height
    else:
        assert out.height <= frame.height


@SETTINGS
@given(frames(min_rows=1), st.data())
def test_replaying_one_row_equals_the_full_application(
    frame: pl.DataFrame, data: st.DataObject
) -> None:
    full = apply_recipe(frame.lazy(), ROWWISE).collect()
    index = data.draw(st.integers(0, frame.height - 1))
    one = replay_rowwise(frame.slice(index, 1), ROWWISE + DATASET[:1])
    assert_frame_equal(one, full.slice(index, 1))


@SETTINGS
@given(frames(min_rows=1), frames(min_rows=1))
def test_frozen_steps_do_not_move_with_new_data(first: pl.DataFrame, second: pl.DataFrame) -> None:
    specs = [
        FillMissing(column="x", method="median"),
        FillMissing(column="t", method="mode"),
        ClipOutliers(column="n", method="iqr"),
    ]
    for spec in specs:
        try:
            frozen = freeze_step(spec, first)
        except Exception:  # a column with no values at all cannot be frozen
            continue
        assert freeze_step(frozen, second) == frozen
        assert freeze_step(frozen.model_dump(), second) == frozen
        out = apply_step(second.lazy(), frozen).collect()
        if isinstance(frozen, FillMissing):
            filled = second[frozen.column].is_null()
            assert out.filter(filled)[frozen.column].to_list() == [frozen.value] * int(filled.sum())
        else:
            values = out["n"].drop_nulls()
            assert values.is_empty() or (
                values.min() >= frozen.lower - 1 and values.max() <= frozen.upper + 1
            )
