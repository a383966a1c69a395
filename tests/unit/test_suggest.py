"""Suggestions on the real sample files (exact counts) and on small frames with known dirt."""

from __future__ import annotations

import statistics
from pathlib import Path

import polars as pl
import pytest

from app.domain.recipe import Cast, DropColumns, MapValues, MergeSpellings, NullMarkers
from app.errors import MlwbError
from app.services.recipe import apply_recipe, apply_step
from app.services.spelling import cluster_spellings, edit_distance, fingerprint
from app.services.suggest import Suggestion, compare_labels, suggest

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def adult() -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "adult.csv")


@pytest.fixture(scope="module")
def adult_found(adult: pl.DataFrame) -> list[Suggestion]:
    return suggest(adult, target="income")


@pytest.fixture(scope="module")
def bikes() -> pl.DataFrame:
    return pl.read_csv(SAMPLE / "bike_sharing_hour.csv")


def by_kind(found: list[Suggestion], kind: str) -> dict[str, Suggestion]:
    return {",".join(s.columns): s for s in found if s.kind == kind}


def test_adult_markers_duplicates_spaces_and_empty_row(adult_found: list[Suggestion]) -> None:
    markers = by_kind(adult_found, "missing_markers")
    assert {c: s.evidence["count"] for c, s in markers.items()} == {
        "workclass": 1836,
        "occupation": 1843,
        "native-country": 583,
        "capital-gain": 159,
    }
    assert markers["workclass"].evidence["markers"] == {"?": 1836}
    assert markers["workclass"].step == NullMarkers(columns=["workclass"], markers=["?"])
    top = markers["capital-gain"]
    assert top.evidence["value"] == 99999 and top.evidence["next_value"] == 41310
    assert top.step == NullMarkers(columns=["capital-gain"], markers=["99999"])
    (dupes,) = by_kind(adult_found, "duplicates").values()
    assert dupes.evidence["duplicates"] == 24 and dupes.evidence["rows"] == 32561
    (spaces,) = by_kind(adult_found, "whitespace").values()
    assert len(spaces.columns) == 14 and "age" not in spaces.columns
    assert set(spaces.evidence["values_per_column"].values()) == {32561}
    (empty,) = by_kind(adult_found, "empty_rows").values()
    assert empty.evidence["rows"] == 1
    numbers = by_kind(adult_found, "numbers_as_text")
    assert sorted(numbers) == [
        "capital-gain",
        "capital-loss",
        "education-num",
        "fnlwgt",
        "hours-per-week",
    ]
    assert numbers["fnlwgt"].step == Cast(column="fnlwgt", to="int", on_error="reject")
    assert not by_kind(adult_found, "leakage") and not by_kind(adult_found, "spellings")
    assert adult_found[0].severity == "medium"


def test_applying_adult_suggestions_fixes_them(
    adult: pl.DataFrame, adult_found: list[Suggestion]
) -> None:
    order = ["empty_rows", "whitespace", "missing_markers", "numbers_as_text", "duplicates"]
    steps = [s.step for kind in order for s in adult_found if s.kind == kind and s.step]
    cleaned = apply_recipe(adult.lazy(), steps).collect()
    assert cleaned.height == 32561 - 24 - 0  # the '?' rows stay; markers become null
    assert cleaned["workclass"].null_count() == 1836
    assert cleaned["capital-gain"].null_count() == 159
    again = {s.kind for s in suggest(cleaned, target="income")}
    assert again.isdisjoint(
        {"whitespace", "missing_markers", "numbers_as_text", "duplicates", "empty_rows"}
    )
    assert "missing_values" in again


def test_bikes_leakage_id_dates_and_humidity(bikes: pl.DataFrame) -> None:
    found = suggest(bikes.lazy(), target="cnt")
    leaks = by_kind(found, "leakage")
    assert list(leaks) == ["casual,registered"]
    leak = leaks["casual,registered"]
    assert leak.severity == "high" and found[0] is leak
    assert leak.evidence["share"] == 1.0
    assert leak.step == DropColumns(columns=["casual", "registered"])
    assert by_kind(found, "id_like")["instant"].evidence == {"distinct": 17379, "rows": 17379}
    assert by_kind(found, "dates_as_text")["dteday"].step == Cast(
        column="dteday", to="date", format="%Y-%m-%d", on_error="reject"
    )
    hum = by_kind(found, "suspicious_value")
    assert list(hum) == ["hum"] and hum["hum"].evidence["count"] == 22
    assert apply_step(bikes.lazy(), hum["hum"].step).collect()["hum"].null_count() == 22
    assert not by_kind(suggest(bikes), "leakage")


def test_spelling_clusters_keep_distinct_categories_apart() -> None:
    counts = {
        "Private": 50, " private": 3, "PRIVATE.": 2, "Privat": 1,
        "Self-emp": 20, "self emp": 2, "10th": 10, "11th": 10,
        "<=50K": 30, ">50K": 20, ">50K.": 1, "Male": 40, "Female": 30,
    }  # fmt: skip
    clusters = cluster_spellings(counts)
    assert clusters == [
        {"Private": 50, " private": 3, "PRIVATE.": 2, "Privat": 1},
        {"Self-emp": 20, "self emp": 2},
        {">50K": 20, ">50K.": 1},
    ]
    assert fingerprint(" Self-Emp-Inc.") == fingerprint("inc self emp") == "emp inc self"
    assert fingerprint("<=50K") != fingerprint(">50K")
    assert edit_distance("kitten", "sitting") == 3
    frame = pl.DataFrame({"c": [k for k, n in counts.items() for _ in range(n)]})
    (found,) = by_kind(suggest(frame), "spellings").values()
    assert isinstance(found.step, MergeSpellings)
    assert found.step.groups["Private"] == [" private", "PRIVATE.", "Privat"]
    assert found.evidence["rows_changed"] == 3 + 2 + 1 + 1 + 2
    merged = apply_step(frame.lazy(), found.step).collect()
    assert merged.filter(pl.col("c") == "Private").height == 56


def test_numbers_as_text_styles_and_markers() -> None:
    frame = pl.DataFrame(
        {
            "thousands": ["1,234.5", "12", "1,000,000", "7.25"] * 5,
            "comma": ["2,6", "1.234,5", "7", "0,5"] * 5,
            "sci": ["5.00E+05", "1e3", "-2", "?"] * 5,
            "words": ["a", "b", "c", "d"] * 5,
        }
    )
    found = by_kind(suggest(frame), "numbers_as_text")
    assert sorted(found) == ["comma", "sci", "thousands"]
    assert found["thousands"].step == Cast(column="thousands", to="float", thousands_sep=",")
    assert found["comma"].step == Cast(
        column="comma", to="float", decimal_comma=True, thousands_sep="."
    )
    assert found["sci"].step == Cast(column="sci", to="int", on_error="null")
    assert found["sci"].evidence["failed"] == 5
    out = apply_recipe(frame.lazy(), [s.step for s in found.values()]).collect()
    assert out["thousands"].head(4).to_list() == [1234.5, 12.0, 1_000_000.0, 7.25]
    assert out["comma"].head(4).to_list() == [2.6, 1234.5, 7.0, 0.5]
    assert out["sci"].head(4).to_list() == [500000, 1000, -2, None]


def test_sentinels_constants_missing_and_categorical_leakage() -> None:
    n = 200
    values = [float(i % 50) / 10 for i in range(n)]
    values[:12] = [-200.0] * 12
    frame = pl.DataFrame(
        {
            "co": values,
            "const": ["x"] * n,
            "sparse": [None if i % 3 else i for i in range(n)],
            "some": [None if i % 10 == 0 else i % 7 for i in range(n)],
            "status": ["closed-won" if i % 4 == 0 else "open" for i in range(n)],
            "y": ["yes" if i % 4 == 0 else "no" for i in range(n)],
        }
    )
    found = suggest(frame, target="y")
    marker = by_kind(found, "missing_markers")["co"]
    assert marker.evidence["count"] == 12 and marker.step == NullMarkers(
        columns=["co"], markers=["-200"]
    )
    assert by_kind(found, "constant")["const"].step == DropColumns(columns=["const"])
    assert by_kind(found, "mostly_missing")["sparse"].evidence["missing"] == n - 67
    fill = by_kind(found, "missing_values")["some"]
    assert fill.step.value == statistics.median(i % 7 for i in range(n) if i % 10)
    leak = by_kind(found, "leakage")["status"]
    assert leak.evidence["share"] == 1.0 and leak.severity == "high"
    with pytest.raises(MlwbError, match="no target column 'Y'"):
        suggest(frame, target="Y")


def test_compare_labels_between_files(adult: pl.DataFrame) -> None:
    new = [">50K."] * 3 + ["<=50K."] * 5 + [" >50K"] * 2 + [">50K", "maybe", None]
    spelling, unseen = compare_labels(adult["income"], pl.Series(new), column="income")
    assert spelling.kind == "label_spelling"
    assert spelling.evidence["mapping"] == {"<=50K.": " <=50K", ">50K.": " >50K", ">50K": " >50K"}
    assert spelling.evidence["rows"] == 9
    assert unseen.kind == "unseen_labels" and unseen.evidence["values"] == {"maybe": 1}
    fixed = apply_step(pl.DataFrame({"income": new}).lazy(), spelling.step).collect()
    assert set(fixed["income"].drop_nulls()) == {" >50K", " <=50K", "maybe"}
    assert spelling.step == MapValues(column="income", mapping=spelling.evidence["mapping"])
    assert compare_labels(["a", "b"], ["b", "a"]) == []


def test_column_names_never_clash_with_internal_tables() -> None:
    frame = pl.DataFrame(
        {
            "n": [" 1", "2", "?", "3"] * 10,
            "__value": ["a"] * 40,
            "len": list(range(40)),
            "key": [-200] * 5 + list(range(35)),
        }
    )
    found = {(s.kind, ",".join(s.columns)): s for s in suggest(frame)}
    assert found[("numbers_as_text", "n")].evidence["examples_failed"] == ["?"]
    assert found[("missing_markers", "n")].evidence["count"] == 10
    assert found[("constant", "__value")].evidence["value"] == "a"
    assert ("id_like", "len") in found
    assert found[("missing_markers", "key")].evidence["count"] == 5
    assert suggest(pl.DataFrame()) == [] and suggest(pl.DataFrame({"a": []})) == []
