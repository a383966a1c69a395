"""Browsing datasets: pages equal Polars' own slices, filters are safe, summaries are exact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from app.domain.dataset import ColumnRole, ImportOptions, parse_ref
from app.errors import MlwbError
from app.services import browse, ingest
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
BIKES = ROOT / "sample_data" / "bike_sharing_hour.csv"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ProjectStore:
    """One project with adult (raw), adult with '?' as missing, and bikes; read-only below."""
    store = ProjectStore.create(tmp_path_factory.mktemp("browse") / "p", "browse")
    ingest.import_file(store, ADULT)
    ingest.import_file(store, ADULT, name="adult_na", options=ImportOptions(null_markers=[" ?"]))
    ingest.import_file(store, BIKES, name="bikes")
    return store


@pytest.fixture(scope="module")
def adult() -> pl.DataFrame:
    """Polars' own reading of adult.csv; its ', ' separator leaves numbers as ' 77516' text."""
    raw = pl.read_csv(ADULT)
    raw = raw.filter(~pl.all_horizontal(pl.all().is_null()))  # Polars reads the blank last line
    numbers = ["fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    return raw.with_columns(pl.col(numbers).str.strip_chars().cast(pl.Int64))


@pytest.fixture(scope="module")
def bikes() -> pl.DataFrame:
    return pl.read_csv(BIKES, try_parse_dates=True)


def digest(store: ProjectStore) -> str:
    return hashlib.sha256(store.db_path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("offset", "limit"), [(0, 20), (1000, 37), (32550, 20), (40000, 5)])
def test_pages_equal_polars_slices(
    project: ProjectStore, adult: pl.DataFrame, offset: int, limit: int
) -> None:
    got = browse.page(project, "adult", 1, offset, limit)
    assert_frame_equal(got, adult.slice(offset, limit))


def test_bike_pages_keep_types(project: ProjectStore, bikes: pl.DataFrame) -> None:
    got = browse.page(project, "bikes", None, 17000, 500)
    assert got.height == 379
    assert got.schema["dteday"] == pl.Date
    assert_frame_equal(got, bikes.slice(17000, 500))


@pytest.mark.parametrize(
    ("column", "descending"),
    [("age", False), ("age", True), ("workclass", False), ("fnlwgt", True)],
)
def test_sorted_pages(
    project: ProjectStore, adult: pl.DataFrame, column: str, descending: bool
) -> None:
    expected = adult.sort(column, descending=descending, nulls_last=True, maintain_order=True)
    for offset in (0, 5000):
        got = browse.page(project, "adult", 1, offset, 50, order_by=column, descending=descending)
        assert_frame_equal(got, expected.slice(offset, 50))


FILTERS = [
    ("age > 60", pl.col("age") > 60),
    (
        "\"hours-per-week\" >= 40 AND workclass = ' Private'",
        (pl.col("hours-per-week") >= 40) & (pl.col("workclass") == " Private"),
    ),
    (
        "trim(income) = '>50K' OR age BETWEEN 20 AND 22",
        (pl.col("income").str.strip_chars() == ">50K") | pl.col("age").is_between(20, 22),
    ),
    (
        "lower(trim(sex)) LIKE 'fem%' AND NOT (race IN (' White', ' Black'))",
        (pl.col("sex") == " Female") & ~pl.col("race").is_in([" White", " Black"]),
    ),
    (
        '"capital-gain" % 1000 = 0 AND "capital-gain" > 0',
        ((pl.col("capital-gain") % 1000) == 0) & (pl.col("capital-gain") > 0),
    ),
]


@pytest.mark.parametrize(("where", "expr"), FILTERS, ids=[f[0] for f in FILTERS])
def test_filters_match_polars(
    project: ProjectStore, adult: pl.DataFrame, where: str, expr: pl.Expr
) -> None:
    expected = adult.filter(expr)
    assert browse.row_count(project, "adult", 1, where) == expected.height
    got = browse.page(project, "adult", 1, 3, 40, order_by="age", where=where)
    sorted_expected = expected.sort("age", nulls_last=True, maintain_order=True)
    assert_frame_equal(got, sorted_expected.slice(3, 40))


def test_date_filters_on_bikes(project: ProjectStore, bikes: pl.DataFrame) -> None:
    where = "year(dteday) = 2012 AND month(dteday) = 7 AND hr = 8"
    expected = bikes.filter(
        (pl.col("dteday").dt.year() == 2012)
        & (pl.col("dteday").dt.month() == 7)
        & (pl.col("hr") == 8)
    )
    assert browse.row_count(project, "bikes", None, where) == expected.height == 31
    assert_frame_equal(browse.page(project, "bikes", None, 0, 100, where=where), expected)


MALICIOUS = [
    ("1; DROP TABLE data_adult_v1", "';' is not allowed"),
    ("age > 1; ATTACH '/tmp/x.db' AS x", "';' is not allowed"),
    ("read_csv('/etc/passwd') IS NOT NULL", r"may not call read_csv\(\)"),
    ("getenv('HOME') IS NOT NULL", r"may not call getenv\(\)"),
    ("current_setting('home_directory') = ''", r"may not call current_setting\(\)"),
    ("age IN (SELECT 1)", "contains a query"),
    ("EXISTS (SELECT * FROM read_text('/etc/passwd'))", "contains a query"),
    ("age > 1) UNION ALL SELECT * FROM read_csv('/etc/passwd') WHERE (true", "changes the query"),
    ("age > 1) ORDER BY (age", "changes the query"),
    ("age > 1 /*", "unterminated /\\* comment"),
    ("age > $1", "may not use a parameter"),
    ("list_filter([age], x -> x > 1) = [1]", r"may not call list_filter\(\)"),
    ("main.lower(workclass) = 'x'", r"may not call lower\(\)"),
    ("count(*) > 1", r"may not call count_star\(\)|may not call count\(\)"),
    ("nope > 3", "the filter names 'nope', which is not a column"),
    ('workclass = "Private"', "the filter names 'Private', which is not a column"),
    ("age > 'abc'", "failed: Could not convert string 'abc'"),
    ("age >", "cannot read the filter 'age >'"),
]


@pytest.mark.parametrize(("where", "message"), MALICIOUS, ids=[m[0] for m in MALICIOUS])
def test_unsafe_or_invalid_filters_are_refused(
    project: ProjectStore, where: str, message: str
) -> None:
    before = digest(project)
    with pytest.raises(MlwbError, match=message) as info:
        browse.page(project, "adult", 1, 0, 10, where=where)
    assert "\n" not in info.value.message
    with pytest.raises(MlwbError, match=message):
        browse.row_count(project, "adult", 1, where)
    assert digest(project) == before
    assert browse.row_count(project, "adult", 1) == 32561


def test_column_summary_is_exact(project: ProjectStore, adult: pl.DataFrame) -> None:
    summary = {c.name: c for c in browse.column_summary(project, "adult")}
    assert list(summary) == adult.columns
    for name, column in summary.items():
        assert column.distinct == adult[name].n_unique(), name
        assert (column.missing, column.distinct_approx) == (0, False)
    assert (summary["age"].min, summary["age"].max) == (
        str(adult["age"].min()),
        str(adult["age"].max()),
    )
    counts = adult["workclass"].value_counts(sort=True).head(3).rows()
    assert summary["workclass"].top_values == [(v, n) for v, n in counts]
    assert summary["workclass"].type == "VARCHAR" and summary["age"].top_values == []


def test_markers_become_missing_values(project: ProjectStore) -> None:
    summary = {c.name: c for c in browse.column_summary(project, "adult_na")}
    # sample_data/README.md: workclass 1,836, occupation 1,843, native-country 583 '?' markers
    assert summary["workclass"].missing == 1836
    assert summary["occupation"].missing == 1843
    assert summary["native-country"].missing == 583
    assert summary["workclass"].missing_pct == round(100 * 1836 / 32561, 2)
    assert (
        browse.row_count(
            project,
            "adult_na",
            1,
            'workclass IS NULL OR occupation IS NULL OR "native-country" IS NULL',
        )
        == 2399
    )


def test_big_tables_use_approximate_distinct(
    project: ProjectStore, bikes: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browse, "EXACT_DISTINCT_ROWS", 1000)
    summary = {c.name: c for c in browse.column_summary(project, "bikes")}
    assert summary["instant"].distinct_approx
    assert abs(summary["instant"].distinct - 17379) / 17379 < 0.1
    assert summary["dteday"].type == "DATE" and summary["dteday"].role is ColumnRole.TIME
    assert (summary["dteday"].min, summary["dteday"].max) == ("2011-01-01", "2012-12-31")


def test_datasets_versions_and_references(project: ProjectStore) -> None:
    names = [v.ref for v in browse.list_datasets(project)]
    assert names == ["adult@1", "adult_na@1", "bikes@1"]
    assert browse.current_dataset(project).ref == "bikes@1"
    assert browse.resolve(project, None).ref == "bikes@1"
    assert browse.resolve(project, "adult@1").n_rows == 32561
    assert browse.resolve(project, "adult@v1").name == "adult"
    assert parse_ref("my.data-2@12") == ("my.data-2", 12)
    with pytest.raises(MlwbError, match="dataset 'adult' has no version 9"):
        browse.resolve(project, "adult@9")
    with pytest.raises(
        MlwbError, match=r"there is no dataset 'nope' \(datasets: adult, adult_na, bikes\)"
    ):
        browse.get_version(project, "nope")
    with pytest.raises(MlwbError, match="'salary' is not a column"):
        browse.page(project, "adult", 1, 0, 5, order_by="salary")


def test_data_facts_for_the_charter(project: ProjectStore) -> None:
    with project.connect() as con:
        facts = browse.data_facts(con, target="cnt")
        adult_facts = browse.data_facts(con, target="hr")
    assert facts is not None and facts.columns["dteday"] == "DATE" and len(facts.columns) == 17
    assert facts.target_values is None  # 869 distinct counts: too many to list
    assert adult_facts is not None and adult_facts.target_values == sorted(
        str(h) for h in range(24)
    )
    assert facts.source == "dataset bikes@1"


def test_empty_project_has_no_current_dataset(store: ProjectStore) -> None:
    assert browse.current_dataset(store) is None
    assert browse.list_datasets(store) == []
    with pytest.raises(MlwbError, match="this project has no dataset yet"):
        browse.resolve(store, None)
    with store.connect() as con:
        assert browse.data_facts(con) is None


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from app.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list_show_and_roles(
    project: ProjectStore, adult: pl.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    p = str(project.root)
    code, out, _ = run_cli(capsys, "data", "list", "-p", p)
    assert code == 0 and out.splitlines()[-1].startswith("* bikes@1")
    code, out, _ = run_cli(
        capsys, "data", "show", "adult", "-p", p, "--rows", "3", "--offset", "10"
    )
    lines = out.splitlines()
    assert code == 0 and lines[0] == "adult@1: 32,561 rows x 15 columns; rows 11-13"
    assert all(len(line) <= 80 for line in lines) and lines[3].startswith(str(adult["age"][10]))
    code, out, _ = run_cli(
        capsys,
        "data",
        "show",
        "adult@1",
        "-p",
        p,
        "--where",
        "age > 85",
        "--sort",
        "fnlwgt",
        "--desc",
        "--json",
    )
    body = json.loads(out)
    expected = adult.filter(pl.col("age") > 85).sort("fnlwgt", descending=True).head(10)
    assert body["matching"] == adult.filter(pl.col("age") > 85).height
    assert [r["fnlwgt"] for r in body["rows"]] == expected["fnlwgt"].to_list()
    code, out, _ = run_cli(capsys, "data", "show", "bikes", "-p", p, "--columns")
    assert code == 0 and "dteday      DATE    time" in out
    code, _, err = run_cli(
        capsys, "data", "show", "adult", "-p", p, "--where", "getenv('HOME') = ''"
    )
    assert code == 1 and err.startswith("error: the filter") and err.count("\n") == 1
    code, out, _ = run_cli(capsys, "data", "roles", "bikes", "-p", p, "--json")
    assert json.loads(out)["roles"]["dteday"] == "time"
    code, _, err = run_cli(capsys, "data", "roles", "bikes", "-p", p, "--set", "cnt")
    assert code == 1 and "write COLUMN=ROLE" in err


def test_current_version_pointer(store: ProjectStore, tmp_path: Path) -> None:
    """Recipe changes and undo move the pointer; browsing without @VERSION follows it."""
    from storage import datasets as ds

    source = tmp_path / "ptr.csv"
    source.write_text("a,b\n1,2\n3,4\n")
    first = ingest.import_file(store, source)
    with store.transaction() as con:
        table = ds.new_table_name(con, "ptr", 2)
        con.execute(f"CREATE TABLE {table} AS SELECT a FROM {first.table_name} WHERE a > 1")
        n_rows, fingerprint = ds.fingerprint_table(con, table)
        second = first.model_copy(
            update={
                "version": 2,
                "table_name": table,
                "parent_version": 1,
                "file_hash": None,
                "n_rows": n_rows,
                "n_cols": 1,
                "fingerprint": fingerprint,
            }
        )
        ds.insert_version(con, second)
        ds.set_current_version(con, "ptr", 2)
    assert [v.ref for v in browse.list_versions(store, "ptr")] == ["ptr@1", "ptr@2"]
    assert browse.current_dataset(store).ref == "ptr@2"
    assert browse.page(store, "ptr", None, 0, 10).to_dicts() == [{"a": 3}]
    with store.transaction() as con:
        ds.set_current_version(con, "ptr", 1)
    assert browse.resolve(store, "ptr").ref == "ptr@1"
    assert browse.resolve(store, "ptr@2").n_rows == 1
    assert list(roles_of(store, "ptr")) == ["a", "b"]


def roles_of(store: ProjectStore, name: str) -> dict[str, ColumnRole]:
    from app.services.roles import column_roles

    return column_roles(store, name)
