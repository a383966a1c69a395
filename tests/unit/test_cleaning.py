"""Cleaning as recipe changes on real projects: versions, undo, edits, failures, exports.

Every expected number comes from an independent reading of the sample files (the ``csv``
module, ``statistics``, Polars directly) or from replaying the stored recipe on the raw table
with ``app.services.recipe.apply_recipe``, never from the code under test.
"""

from __future__ import annotations

import csv
import hashlib
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from app.domain.dataset import DatasetVersion, ImportOptions
from app.domain.recipe import CastRejected, Recipe, StepInvalid
from app.errors import MlwbError, ValidationFailed
from app.services import browse, cleaning, ingest, problem
from app.services.demo import DEMO_CHARTERS
from app.services.expressions import ExpressionInvalid
from app.services.recipe import apply_recipe
from storage import datasets as ds
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
BIKES = ROOT / "sample_data" / "bike_sharing_hour.csv"
BATCH = ROOT / "sample_data" / "bike_batches" / "bikes_2012-01.csv"


# -- independent references and helpers ----------------------------------------------------


@pytest.fixture(scope="module")
def adult_csv() -> tuple[list[str], list[list[str]]]:
    """adult.csv read with the csv module: header and rows, leading spaces kept."""
    with ADULT.open(newline="") as handle:
        rows = [r for r in csv.reader(handle) if r]
    return rows[0], rows[1:]


def column(data: tuple[list[str], list[list[str]]], name: str) -> list[str]:
    header, rows = data
    index = header.index(name)
    return [r[index] for r in rows]


def table(store: ProjectStore, version: DatasetVersion) -> pl.DataFrame:
    with store.connect() as con:
        return con.sql(f"SELECT * FROM {ds.quote_ident(version.table_name)}").pl()


def stored_and_replayed(store: ProjectStore, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The current version's table, and the raw import with the stored recipe replayed on it."""
    with store.connect() as con:
        current = ds.current_version(con, name)
        raw = ds.list_versions(con, name)[0]
        assert current is not None and raw.parent_version is None
        stored = con.sql(f"SELECT * FROM {ds.quote_ident(current.table_name)}").pl()
        raw_table = con.sql(f"SELECT * FROM {ds.quote_ident(raw.table_name)}").pl()
    recipe = Recipe.model_validate({"steps": current.recipe})
    return stored, apply_recipe(raw_table.lazy(), recipe).collect()


def assert_replay_equals_stored(store: ProjectStore, name: str) -> None:
    assert_frame_equal(*stored_and_replayed(store, name))


def current_table(store: ProjectStore, name: str) -> pl.DataFrame:
    return table(store, browse.get_version(store, name))


def snapshot(store: ProjectStore) -> dict[str, Any]:
    """Everything a recipe change may touch: files, tables, metadata rows, events, pointers."""
    with store.connect() as con:
        state = {
            "tables": con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "ORDER BY 1"
            ).fetchall(),
            "datasets": con.execute(
                "SELECT name, version, parent_version, n_rows, fingerprint FROM datasets ORDER BY 1, 2"
            ).fetchall(),
            "events": con.execute("SELECT count(*), max(id) FROM events").fetchall(),
            "state": con.execute("SELECT key, value FROM project_state ORDER BY 1").fetchall(),
        }
    state["files"] = sorted(p.name for p in store.root.iterdir())
    state["sha256"] = hashlib.sha256(store.db_path.read_bytes()).hexdigest()
    return state


def events(store: ProjectStore) -> list[tuple[str, str]]:
    with store.connect() as con:
        return con.execute("SELECT stage, action FROM events ORDER BY id").fetchall()


def import_adult(store: ProjectStore) -> DatasetVersion:
    return ingest.import_file(store, ADULT, name="adult")


# -- versions, parents, events -------------------------------------------------------------


def test_each_step_is_a_new_numbered_version_with_exact_counts(
    store: ProjectStore, adult_csv: tuple[list[str], list[list[str]]]
) -> None:
    header, rows = adult_csv
    raw = import_adult(store)
    assert (raw.version, raw.parent_version, raw.n_rows, raw.n_cols) == (1, None, 32561, 15)
    assert len(rows) == 32561
    raw_fingerprint = raw.fingerprint
    before = events(store)

    trimmed = cleaning.add_step(store, "adult", {"kind": "trim_whitespace"})
    marked = cleaning.add_step(
        store, "adult", {"kind": "null_markers", "markers": ["?"], "columns": ["workclass"]}
    )
    deduped = cleaning.add_step(store, "adult", {"kind": "drop_duplicates"})

    assert [(v.version, v.parent_version) for v in browse.list_versions(store, "adult")] == [
        (1, None),
        (2, 1),
        (3, 2),
        (4, 3),
    ]
    assert [len(v.recipe) for v in (trimmed, marked, deduped)] == [1, 2, 3]
    assert events(store)[len(before) :] == [("data", "step_applied")] * 3
    current = browse.current_dataset(store)
    assert current is not None and current.version == 4

    # trim: every text value equals the csv module's value stripped of spaces
    text = table(store, trimmed)
    assert text["income"].value_counts().sort("income").rows() == sorted(
        Counter(v.strip() for v in column(adult_csv, "income")).items()
    )
    assert text["workclass"].to_list() == [v.strip() for v in column(adult_csv, "workclass")]

    # markers: exactly the 1836 ' ?' of workclass become null, nothing else changes
    nulls = table(store, marked)
    assert column(adult_csv, "workclass").count(" ?") == 1836
    assert nulls["workclass"].null_count() == 1836
    assert nulls["occupation"].null_count() == 0
    assert (nulls["occupation"] == "?").sum() == 1843

    # drop_duplicates: the distinct rows of the same transformation done by hand
    workclass = header.index("workclass")

    def cleaned(row: list[str]) -> tuple[str | None, ...]:
        values: list[str | None] = [v.strip() for v in row]
        if values[workclass] == "?":
            values[workclass] = None
        return tuple(values)

    assert len(rows) - len(set(map(tuple, rows))) == 24
    assert deduped.n_rows == len({cleaned(r) for r in rows}) == 32537
    assert table(store, deduped).height == 32537

    # versions are immutable: the raw table is untouched
    with store.connect() as con:
        assert ds.fingerprint_table(con, raw.table_name) == (32561, raw_fingerprint)
    assert_replay_equals_stored(store, "adult")


def test_fill_missing_freezes_statistics_of_the_data_it_is_added_to(
    store: ProjectStore, adult_csv: tuple[list[str], list[list[str]]]
) -> None:
    import_adult(store)
    loss = [int(v) for v in column(adult_csv, "capital-loss")]
    hours = [int(v) for v in column(adult_csv, "hours-per-week")]
    occupations = [v.strip() for v in column(adult_csv, "occupation")]

    cleaning.add_step(
        store, "adult", {"kind": "null_markers", "markers": ["0"], "columns": ["capital-loss"]}
    )
    filled = cleaning.add_step(
        store, "adult", {"kind": "fill_missing", "column": "capital-loss", "method": "median"}
    )
    median = statistics.median([v for v in loss if v != 0])
    assert median == 1887
    assert filled.recipe[-1] == {
        "kind": "fill_missing",
        "column": "capital-loss",
        "method": "median",
        "value": median,
    }
    out = table(store, filled)["capital-loss"]
    assert out.null_count() == 0
    assert (out == median).sum() == loss.count(0) + loss.count(median)

    cleaning.add_step(
        store, "adult", {"kind": "null_markers", "markers": ["40"], "columns": ["hours-per-week"]}
    )
    mean = cleaning.add_step(
        store, "adult", {"kind": "fill_missing", "column": "hours-per-week", "method": "mean"}
    )
    assert mean.recipe[-1]["value"] == pytest.approx(
        statistics.fmean(v for v in hours if v != 40), rel=1e-12
    )

    cleaning.add_step(store, "adult", {"kind": "trim_whitespace", "columns": ["occupation"]})
    cleaning.add_step(
        store, "adult", {"kind": "null_markers", "markers": ["?"], "columns": ["occupation"]}
    )
    mode = cleaning.add_step(
        store, "adult", {"kind": "fill_missing", "column": "occupation", "method": "mode"}
    )
    expected_mode = Counter(v for v in occupations if v != "?").most_common(1)[0][0]
    assert mode.recipe[-1]["value"] == expected_mode == "Prof-specialty"
    assert (table(store, mode)["occupation"] == expected_mode).sum() == occupations.count(
        "?"
    ) + occupations.count(expected_mode)
    assert_replay_equals_stored(store, "adult")


def test_undo_walks_back_along_parents_and_never_deletes(store: ProjectStore) -> None:
    raw = import_adult(store)
    unchanged = snapshot(store)
    with pytest.raises(MlwbError, match=r"adult@1 is the raw import; there is nothing to undo"):
        cleaning.undo(store, "adult")
    assert snapshot(store) == unchanged

    v2 = cleaning.add_step(store, "adult", {"kind": "drop_duplicates"})
    cleaning.add_step(store, "adult", {"kind": "trim_whitespace"})
    v4 = cleaning.add_step(store, "adult", {"kind": "null_markers", "markers": ["?"]})
    tables = snapshot(store)["tables"]
    n_events = len(events(store))

    back = cleaning.undo(store, "adult")
    assert (back.version, back.n_rows, len(back.recipe)) == (3, 32537, 2)
    assert browse.get_version(store, "adult").version == 3
    assert events(store)[-1] == ("data", "undone")
    assert len(events(store)) == n_events + 1
    assert cleaning.undo(store, "adult").version == 2
    assert cleaning.recipe_of(store, "adult").model_dump()["steps"] == v2.recipe
    assert snapshot(store)["tables"] == tables  # nothing deleted
    assert [v.version for v in browse.list_versions(store, "adult")] == [1, 2, 3, 4]
    assert_frame_equal(table(store, v4), replayed_of(store, v4))

    # a step added after an undo continues from the current version, with the next number
    v5 = cleaning.add_step(store, "adult", {"kind": "change_case", "columns": ["sex"]})
    assert (v5.version, v5.parent_version) == (5, 2)
    assert [s["kind"] for s in v5.recipe] == ["drop_duplicates", "change_case"]
    assert set(table(store, v5)["sex"].unique()) == {" male", " female"}
    assert cleaning.undo(store, "adult").version == 2
    assert cleaning.undo(store, "adult").version == 1
    current = browse.current_dataset(store)
    assert current is not None
    assert (current.version, current.recipe, current.fingerprint) == (1, [], raw.fingerprint)
    before = snapshot(store)
    with pytest.raises(MlwbError, match="nothing to undo"):
        cleaning.undo(store, "adult")
    assert snapshot(store) == before


def replayed_of(store: ProjectStore, version: DatasetVersion) -> pl.DataFrame:
    raw = browse.list_versions(store, version.name)[0]
    recipe = Recipe.model_validate({"steps": version.recipe})
    return apply_recipe(table(store, raw).lazy(), recipe).collect()


# -- editing the recipe ---------------------------------------------------------------------


EDIT_STEPS: list[dict[str, Any]] = [
    {"kind": "trim_whitespace"},
    {"kind": "null_markers", "markers": ["?"]},
    {"kind": "drop_duplicates"},
    {"kind": "fill_missing", "column": "occupation", "method": "mode"},
    {"kind": "derive_column", "name": "net", "expression": '"capital-gain" - "capital-loss"'},
    {"kind": "filter_rows", "expression": "age >= 30"},
]


def test_remove_move_and_replace_rerun_the_recipe_from_the_raw_import(
    store: ProjectStore, adult_csv: tuple[list[str], list[list[str]]]
) -> None:
    raw = import_adult(store)
    cleaning.apply_recipe_file(store, "adult", EDIT_STEPS)
    steps = cleaning.recipe_of(store, "adult").model_dump()["steps"]
    assert steps[3]["value"] == "Prof-specialty"  # frozen where it stands: after the trim
    n_events = len(events(store))

    removed = cleaning.remove_step(store, "adult", 2)  # drop_duplicates
    assert removed.version == 3
    assert removed.recipe == steps[:2] + steps[3:]
    ages = [int(v) for v in column(adult_csv, "age")]
    assert removed.n_rows == sum(a >= 30 for a in ages)
    assert_replay_equals_stored(store, "adult")

    moved = cleaning.move_step(store, "adult", 4, -4)  # the filter first
    assert [s["kind"] for s in moved.recipe] == [
        "filter_rows",
        "trim_whitespace",
        "null_markers",
        "fill_missing",
        "derive_column",
    ]
    assert_replay_equals_stored(store, "adult")

    # a replacement that is not frozen yet learns its value where it stands in the recipe
    replaced = cleaning.replace_step(
        store, "adult", 3, {"kind": "fill_missing", "column": "age", "method": "mean"}
    )
    assert replaced.recipe[3]["value"] == pytest.approx(
        statistics.fmean(a for a in ages if a >= 30), rel=1e-12
    )
    assert_replay_equals_stored(store, "adult")
    # ... and the frozen occupation mode is gone: occupation keeps its nulls
    assert current_table(store, "adult")["occupation"].null_count() == sum(
        o == " ?" and a >= 30 for o, a in zip(column(adult_csv, "occupation"), ages, strict=True)
    )
    assert events(store)[n_events:] == [
        ("data", "step_removed"),
        ("data", "step_moved"),
        ("data", "step_edited"),
    ]
    assert [v.version for v in browse.list_versions(store, "adult")] == list(range(1, 6))
    with store.connect() as con:
        assert ds.fingerprint_table(con, raw.table_name)[0] == 32561

    # indexes out of range are refused with the 1-based numbers the user sees
    unchanged = snapshot(store)
    with pytest.raises(MlwbError, match="the recipe has no step 100") as info:
        cleaning.remove_step(store, "adult", 99)
    assert info.value.hint == "choose a step between 1 and 5"
    with pytest.raises(MlwbError, match="the recipe has no step 7"):
        cleaning.move_step(store, "adult", 4, 2)
    with pytest.raises(MlwbError, match="the recipe has no step 0"):
        cleaning.move_step(store, "adult", 0, -1)
    with pytest.raises(MlwbError, match="the recipe has no step 6"):
        cleaning.replace_step(store, "adult", 5, {"kind": "drop_duplicates"})
    # an edit that breaks a later step (it needs 'age') fails as a whole
    rename = {"kind": "rename", "mapping": {"age": "years"}}
    with pytest.raises(StepInvalid, match="there is no column 'age'"):
        cleaning.replace_step(store, "adult", 0, rename)
    assert snapshot(store) == unchanged


def test_undo_after_an_edit_returns_to_the_recipe_before_the_edit(tmp_path: Path) -> None:
    """Undo after removing a step should give back the version before the removal.

    mlwb's Data screen labels undo "Undo the last step"; after an edit, the re-run version's
    parent is the raw import, so undo currently drops the whole recipe instead.
    """
    source = tmp_path / "small.csv"
    source.write_text("name,n\n a ,1\nb,2\n?,3\nb,2\n")
    store = ProjectStore.create(tmp_path / "p", "undo")
    ingest.import_file(store, source, name="small")
    cleaning.add_step(store, "small", {"kind": "trim_whitespace"})
    cleaning.add_step(store, "small", {"kind": "null_markers", "markers": ["?"]})
    before = cleaning.add_step(store, "small", {"kind": "drop_duplicates"})
    assert len(before.recipe) == 3
    edited = cleaning.remove_step(store, "small", 1)
    assert [s["kind"] for s in edited.recipe] == ["trim_whitespace", "drop_duplicates"]

    back = cleaning.undo(store, "small")
    assert back.version == before.version
    assert back.recipe == before.recipe


def test_a_recipe_file_replaces_the_recipe_and_freezes_what_is_not_frozen(
    store: ProjectStore, adult_csv: tuple[list[str], list[list[str]]]
) -> None:
    import_adult(store)
    cleaning.add_step(store, "adult", {"kind": "drop_duplicates"})
    new = cleaning.apply_recipe_file(
        store,
        "adult",
        [
            {"kind": "null_markers", "markers": ["0"], "columns": ["capital-gain"]},
            {"kind": "fill_missing", "column": "capital-gain", "method": "median"},
        ],
    )
    gains = [int(v) for v in column(adult_csv, "capital-gain")]
    # The parent is the version the new recipe replaced, so undo returns to it.
    assert (new.version, new.parent_version, new.n_rows) == (3, 2, 32561)
    assert new.recipe[1]["value"] == statistics.median(v for v in gains if v != 0) == 7298
    assert events(store)[-1] == ("data", "recipe_applied")
    assert_replay_equals_stored(store, "adult")


# -- failures change nothing ---------------------------------------------------------------


@pytest.fixture(scope="module")
def adult_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectStore]:
    """adult with one step; the tests using it only try changes that must fail."""
    store = ProjectStore.create(tmp_path_factory.mktemp("fail") / "p", "failures")
    import_adult(store)
    cleaning.add_step(store, "adult", {"kind": "drop_duplicates"})
    yield store


ADULT_OTHERS = [
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
]
BAD_STEPS: list[tuple[str, dict[str, Any], type[MlwbError], str]] = [
    (
        "cast-rejects-text",
        {"kind": "cast", "column": "workclass", "to": "int", "on_error": "reject"},
        CastRejected,
        "cannot cast 32537 values of 'workclass' to int: ' State-gov', ' Self-emp-not-inc'",
    ),
    (
        "sql-injection",
        {"kind": "filter_rows", "expression": "1; DROP TABLE x"},
        ExpressionInvalid,
        "cannot read the expression",
    ),
    (
        "read-a-file",
        {"kind": "filter_rows", "expression": "read_csv('/etc/passwd')"},
        ExpressionInvalid,
        "unknown function 'read_csv'",
    ),
    (
        "python-import",
        {"kind": "filter_rows", "expression": "__import__('os')"},
        ExpressionInvalid,
        "unknown function '__import__'",
    ),
    (
        "python-attribute",
        {"kind": "derive_column", "name": "x", "expression": "__import__('os').system('id')"},
        ExpressionInvalid,
        "cannot be called",
    ),
    (
        "sql-subquery",
        {"kind": "filter_rows", "expression": "age > (SELECT count(*) FROM datasets)"},
        ExpressionInvalid,
        "",
    ),
    (
        "unknown-column",
        {"kind": "fill_missing", "column": "Age", "method": "median"},
        StepInvalid,
        "there is no column 'Age'",
    ),
    (
        "median-of-text",
        {"kind": "fill_missing", "column": "workclass", "method": "median"},
        StepInvalid,
        "the median of 'workclass' (String) is not defined",
    ),
    (
        "column-twice",
        {"kind": "select_columns", "columns": ["age", "age"]},
        StepInvalid,
        "a column is listed twice",
    ),
    (
        "drop-every-column",
        {"kind": "drop_columns", "columns": ["age", "income", *ADULT_OTHERS]},
        StepInvalid,
        "this would drop every column",
    ),
    ("unknown-kind", {"kind": "explode"}, ValidationFailed, "the step is not valid"),
]


@pytest.mark.parametrize(
    ("spec", "error", "message"), [c[1:] for c in BAD_STEPS], ids=[c[0] for c in BAD_STEPS]
)
def test_a_refused_step_leaves_the_project_unchanged(
    adult_project: ProjectStore, spec: dict[str, Any], error: type[MlwbError], message: str
) -> None:
    before = snapshot(adult_project)
    with pytest.raises(error) as info:
        cleaning.add_step(adult_project, "adult", spec)
    assert message in info.value.message
    with pytest.raises(error):
        cleaning.apply_recipe_file(adult_project, "adult", [{"kind": "trim_whitespace"}, spec])
    with pytest.raises(error):
        cleaning.replace_step(adult_project, "adult", 0, spec)
    assert snapshot(adult_project) == before


def test_unknown_columns_name_the_close_match(adult_project: ProjectStore) -> None:
    with pytest.raises(StepInvalid) as info:
        cleaning.add_step(
            adult_project, "adult", {"kind": "trim_whitespace", "columns": ["workclas"]}
        )
    assert info.value.hint == "did you mean 'workclass'?"
    with pytest.raises(CastRejected) as rejected:
        cleaning.add_step(adult_project, "adult", {"kind": "cast", "column": "sex", "to": "bool"})
    assert rejected.value.count == 32537
    assert rejected.value.examples == [" Male", " Female"]


def _stops_after(calls: int) -> Callable[[], bool]:
    """A should_stop that says no ``calls`` times, then yes."""
    asked = iter([False] * calls)
    return lambda: next(asked, True)


@pytest.mark.parametrize("calls", [0, 1], ids=["before-writing", "after-writing"])
def test_cancelling_leaves_nothing(adult_project: ProjectStore, calls: int) -> None:
    before = snapshot(adult_project)
    with pytest.raises(cleaning.Cancelled, match="the dataset was not changed"):
        cleaning.add_step(
            adult_project, "adult", {"kind": "trim_whitespace"}, should_stop=_stops_after(calls)
        )
    assert snapshot(adult_project) == before
    with pytest.raises(cleaning.Cancelled):
        cleaning.remove_step(adult_project, "adult", 0, should_stop=_stops_after(calls))
    with pytest.raises(cleaning.Cancelled):
        cleaning.apply_recipe_file(
            adult_project,
            "adult",
            [{"kind": "trim_whitespace"}, {"kind": "drop_duplicates"}],
            should_stop=_stops_after(calls * 3),  # 2 steps + the check before writing
        )
    assert snapshot(adult_project) == before


def test_preview_reports_exact_changes_and_writes_nothing(
    adult_project: ProjectStore, adult_csv: tuple[list[str], list[list[str]]]
) -> None:
    before = snapshot(adult_project)
    header, rows = adult_csv
    marked = cleaning.preview(adult_project, "adult", 1, {"kind": "null_markers", "markers": ["?"]})
    assert marked.rows_before == marked.rows_after == 32561
    assert marked.became_null == {
        "workclass": 1836,
        "occupation": 1843,
        "native-country": 583,
    }
    deduped = cleaning.preview(adult_project, "adult", 1, {"kind": "drop_duplicates"})
    assert deduped.rows_removed == 24
    seen: set[tuple[str, ...]] = set()
    repeats = []
    for number, row in enumerate(rows):
        if tuple(row) in seen:
            repeats.append(number)
        seen.add(tuple(row))
    assert deduped.removed["row"].to_list() == repeats[:10]
    on_current = cleaning.preview(adult_project, "adult", None, {"kind": "drop_duplicates"})
    assert on_current.rows_removed == 0
    assert snapshot(adult_project) == before


# -- suggestions ---------------------------------------------------------------------------


def test_suggestions_count_what_the_csv_module_counts(
    store: ProjectStore, adult_csv: tuple[list[str], list[list[str]]], charter_data: dict[str, Any]
) -> None:
    problem.save_charter(store, charter_data)
    import_adult(store)
    found = {(s.kind, tuple(s.columns)): s for s in cleaning.suggestions(store, "adult")}
    assert found[("duplicates", ())].evidence["duplicates"] == 24
    for name, count in (("workclass", 1836), ("occupation", 1843), ("native-country", 583)):
        assert column(adult_csv, name).count(" ?") == count
        assert found[("missing_markers", (name,))].evidence["markers"] == {"?": count}
    text = [c for c in adult_csv[0] if not column(adult_csv, c)[0].strip().isdigit()]
    assert found[("whitespace", tuple(text))].evidence["values_per_column"] == dict.fromkeys(
        text, 32561
    )
    assert not any(kind == "leakage" for kind, _ in found)

    # apply the suggested steps: the markers vanish, and so does the whitespace suggestion
    cleaning.add_step(store, "adult", found[("whitespace", tuple(text))].step)
    for name in ("workclass", "occupation", "native-country"):
        cleaning.add_step(store, "adult", found[("missing_markers", (name,))].step)
    after = table(store, browse.get_version(store, "adult"))
    assert after.select(pl.col("workclass", "occupation", "native-country").null_count()).row(
        0
    ) == (1836, 1843, 583)
    kinds = {s.kind for s in cleaning.suggestions(store, "adult")}
    assert "whitespace" not in kinds and "duplicates" in kinds
    assert "whitespace" in {s.kind for s in cleaning.suggestions(store, "adult", 1)}


def test_bikes_suggestions_find_the_leak(store: ProjectStore) -> None:
    problem.save_charter(store, DEMO_CHARTERS["bikes"])
    ingest.import_file(store, BIKES, name="bikes")
    with BIKES.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(int(r["casual"]) + int(r["registered"]) == int(r["cnt"]) for r in rows)
    leaks = [s for s in cleaning.suggestions(store, "bikes") if s.kind == "leakage"]
    assert [(s.columns, s.evidence["share"]) for s in leaks] == [(["casual", "registered"], 1.0)]


# -- exports and replays -------------------------------------------------------------------


def run_script(script: Path, source: Path, output: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), str(source), str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_exported_script_rebuilds_the_adult_version(store: ProjectStore, tmp_path: Path) -> None:
    import_adult(store)
    recipe = [
        {"kind": "trim_whitespace"},
        {"kind": "null_markers", "markers": ["?"]},
        {"kind": "drop_duplicates"},
        {"kind": "fill_missing", "column": "workclass", "method": "mode"},
        {"kind": "null_markers", "markers": ["99999"], "columns": ["capital-gain"]},
        {"kind": "fill_missing", "column": "capital-gain", "method": "median"},
        {"kind": "clip_outliers", "column": "hours-per-week", "method": "iqr"},
        {"kind": "map_values", "column": "income", "mapping": {">50K": 1, "<=50K": 0}},
        {"kind": "derive_column", "name": "net", "expression": '"capital-gain" - "capital-loss"'},
        {"kind": "filter_rows", "expression": "age >= 18 and workclass != 'Never-worked'"},
        {"kind": "rename", "mapping": {"native-country": "country"}},
    ]
    cleaning.apply_recipe_file(store, "adult", recipe)
    cleaning.add_step(store, "adult", {"kind": "drop_columns", "columns": ["fnlwgt"]})
    stored = current_table(store, "adult")
    script = cleaning.export_python(store, "adult", tmp_path / "clean_adult.py")
    run_script(script, ADULT, tmp_path / "out.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "out.parquet"), stored)
    # an older version exports its own, shorter recipe
    older = cleaning.export_python(store, "adult", tmp_path / "v2.py", version=2)
    run_script(older, ADULT, tmp_path / "v2.parquet")
    assert_frame_equal(
        pl.read_parquet(tmp_path / "v2.parquet"),
        table(store, browse.get_version(store, "adult", 2)),
    )


BIKE_STEPS: list[dict[str, Any]] = [
    {"kind": "drop_columns", "columns": ["casual", "registered", "instant"]},
    {"kind": "null_markers", "markers": ["0"], "columns": ["hum"]},
    {"kind": "fill_missing", "column": "hum", "method": "median"},
    {"kind": "date_parts", "column": "dteday", "parts": ["month", "weekday", "is_weekend"]},
    {"kind": "drop_outliers", "column": "windspeed", "method": "manual", "upper": 0.5},
    {"kind": "filter_rows", "expression": "weathersit != 4"},
    {"kind": "derive_column", "name": "feel", "expression": "atemp - temp"},
    {"kind": "cast", "column": "season", "to": "string"},
]


def test_bikes_recipe_exports_and_replays_on_a_new_batch(
    store: ProjectStore, tmp_path: Path
) -> None:
    ingest.import_file(store, BIKES, name="bikes")
    for step in BIKE_STEPS:
        cleaning.add_step(store, "bikes", step)
    stored, replay = stored_and_replayed(store, "bikes")
    assert_frame_equal(stored, replay)
    with BIKES.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    humidity = [float(r["hum"]) for r in rows if float(r["hum"]) != 0]
    recipe = cleaning.recipe_of(store, "bikes")
    assert recipe.steps[2].value == statistics.median(humidity)
    assert stored.height == sum(
        float(r["windspeed"]) <= 0.5 and r["weathersit"] != "4" for r in rows
    )

    script = cleaning.export_python(store, "bikes", tmp_path / "clean_bikes.py")
    run_script(script, BIKES, tmp_path / "bikes.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "bikes.parquet"), stored)

    # the recipe on January 2012: the same rows as the recipe run in Polars directly
    with BATCH.open(newline="") as handle:
        batch_rows = list(csv.DictReader(handle))
    kept = sum(float(r["windspeed"]) <= 0.5 and r["weathersit"] != "4" for r in batch_rows)
    reference = apply_recipe(pl.read_csv(BATCH, try_parse_dates=True).lazy(), recipe).collect()
    counts = cleaning.apply_to_file(recipe, BATCH, tmp_path / "jan.parquet")
    assert counts == (len(batch_rows), kept) == (741, reference.height)
    assert_frame_equal(pl.read_parquet(tmp_path / "jan.parquet"), reference)
    cleaning.apply_to_file(recipe, BATCH, tmp_path / "jan.csv")
    assert_frame_equal(
        pl.read_csv(tmp_path / "jan.csv", try_parse_dates=True, schema=reference.schema),
        reference,
    )

    # rowwise_only skips the outlier drop and the filter: every row comes through
    assert cleaning.apply_to_file(recipe, BATCH, tmp_path / "rows.parquet", rowwise_only=True) == (
        741,
        741,
    )
    rowwise = apply_recipe(
        pl.read_csv(BATCH, try_parse_dates=True).lazy(), recipe.rowwise_part()
    ).collect()
    assert [s.kind for s in recipe.steps if not s.rowwise] == ["drop_outliers", "filter_rows"]
    assert_frame_equal(pl.read_parquet(tmp_path / "rows.parquet"), rowwise)

    with pytest.raises(MlwbError, match="cannot write jan.txt"):
        cleaning.apply_to_file(recipe, BATCH, tmp_path / "jan.txt")
    assert not (tmp_path / "jan.txt").exists()


def test_exported_script_of_a_headerless_csv(store: ProjectStore, tmp_path: Path) -> None:
    """A file imported with header=False must be rebuilt by its script with the same columns."""
    source = tmp_path / "plain.csv"
    source.write_text("1,x\n2,y\n3,\n")
    raw = ingest.import_file(store, source, name="plain", options=ImportOptions(header=False))
    names = table(store, raw).columns
    cleaning.add_step(
        store, "plain", {"kind": "fill_missing", "column": names[1], "method": "mode"}
    )
    script = cleaning.export_python(store, "plain", tmp_path / "plain.py")
    done = subprocess.run(
        [sys.executable, str(script), str(source), str(tmp_path / "plain.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-600:]
    assert_frame_equal(pl.read_parquet(tmp_path / "plain.parquet"), current_table(store, "plain"))


# -- replaying a recipe equals the stored version ------------------------------------------


POOL: list[dict[str, Any]] = [
    {"kind": "drop_duplicates"},
    {"kind": "trim_whitespace"},
    {"kind": "null_markers", "markers": ["?", "NA"]},
    {"kind": "change_case", "case": "lower", "columns": ["cat"]},
    {"kind": "fill_missing", "column": "num", "method": "median"},
    {"kind": "fill_missing", "column": "val", "method": "mean"},
    {"kind": "fill_missing", "column": "cat", "method": "mode"},
    {"kind": "clip_outliers", "column": "val", "method": "iqr"},
    {"kind": "drop_outliers", "column": "num", "method": "manual", "lower": -50, "upper": 50},
    {"kind": "filter_rows", "expression": "num > -40"},
    {"kind": "derive_column", "name": "twice", "expression": "num * 2"},
    {"kind": "rename", "mapping": {"note": "comment"}},
    {"kind": "drop_columns", "columns": ["extra"]},
    {"kind": "cast", "column": "num", "to": "float", "on_error": "null"},
    {"kind": "map_values", "column": "cat", "mapping": {"a": "A"}},
    {"kind": "merge_spellings", "column": "cat", "groups": {"b": ["B"]}},
    {"kind": "date_parts", "column": "day", "parts": ["year", "month", "weekday"]},
    {"kind": "drop_missing", "columns": ["val"]},
    {"kind": "drop_missing"},
]
"""Steps valid in any order on the generated frame (no step needs another's columns)."""
ANCHOR = {"num": 0, "val": 0.5, "cat": "a", "note": "x", "extra": 1, "day": "2024-01-31"}
"""A first row no step removes, so every statistic has a value to be computed from."""

generated_rows = st.lists(
    st.fixed_dictionaries(
        {
            "num": st.one_of(st.none(), st.integers(-100, 100)),
            "val": st.one_of(st.none(), st.integers(-99_999, 99_999).map(lambda v: v / 100)),
            "cat": st.sampled_from([" a", "a", "B ", "b", "?", " NA", "c", None]),
            "note": st.sampled_from(["x", "y ", None]),
            "extra": st.integers(0, 3),
            "day": st.sampled_from(["2024-01-31", "2023-12-25", "2020-02-29", None]),
        }
    ),
    min_size=1,
    max_size=20,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    generated_rows,
    st.integers(0, 3),
    st.permutations(range(len(POOL))),
    st.integers(1, 4),
    st.sampled_from(["none", "remove", "move"]),
    st.data(),
)
def test_replaying_the_recipe_equals_the_stored_version(
    rows: list[dict[str, Any]],
    repeats: int,
    order: list[int],
    count: int,
    edit: str,
    data: st.DataObject,
) -> None:
    rows = [ANCHOR, *rows, *rows[:repeats]]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "generated.csv"
        with source.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(ANCHOR))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        store = ProjectStore.create(Path(folder) / "p", "property")
        raw = ingest.import_file(store, source, name="gen")
        assert raw.n_rows == len(rows)
        chosen = [POOL[i] for i in order[:count]]
        for number, spec in enumerate(chosen, start=2):
            made = cleaning.add_step(store, "gen", spec)
            assert (made.version, made.parent_version) == (number, number - 1)
        recipe = Recipe.model_validate({"steps": made.recipe})
        assert [s.kind for s in recipe.steps] == [s["kind"] for s in chosen]
        assert all(s.is_frozen() for s in recipe.steps)
        assert (
            events(store)[-count - 1 :]
            == [("data", "dataset_imported")] + [("data", "step_applied")] * count
        )
        assert_replay_equals_stored(store, "gen")
        if edit == "remove":
            cleaning.remove_step(store, "gen", data.draw(st.integers(0, count - 1)))
        elif edit == "move" and count > 1:
            index = data.draw(st.integers(0, count - 1))
            target = data.draw(st.integers(0, count - 1))
            cleaning.move_step(store, "gen", index, target - index)
        assert_replay_equals_stored(store, "gen")
