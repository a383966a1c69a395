"""Importing from Parquet, JSON, DuckDB and SQLite files; previews, roles, migration, CLI."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import duckdb
import polars as pl
import pytest
from storecheck import snapshot, table_rows, write

from app.domain.dataset import ColumnRole, ImportOptions, SourceKind
from app.errors import MlwbError
from app.services import ingest, ingest_sources, roles
from storage import datasets as ds
from storage import repositories as repo
from storage import schema
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
BIKES = ROOT / "sample_data" / "bike_sharing_hour.csv"
RAGGED_LATE = "a,b,c\n" + "".join(f"{i},{i},{i}\n" for i in range(25_000)) + "1,2\n"


# -- other sources ----------------------------------------------------------------------------


def test_parquet_json_and_ndjson(store: ProjectStore, tmp_path: Path) -> None:
    frame = pl.read_csv(BIKES, n_rows=300)
    frame.write_parquet(tmp_path / "bikes.parquet")
    parquet = ingest.import_file(store, tmp_path / "bikes.parquet")
    assert parquet.kind is SourceKind.PARQUET and (parquet.n_rows, parquet.n_cols) == frame.shape
    records = [{"id": i, "name": f"n{i}", "score": i / 2} for i in range(5)]
    write(tmp_path / "r.json", json.dumps(records))
    write(tmp_path / "r.ndjson", "\n".join(json.dumps(r) for r in records) + "\n")
    as_json = ingest.import_file(store, tmp_path / "r.json")
    as_lines = ingest.import_file(store, tmp_path / "r.ndjson", force=True)
    assert (as_json.kind, as_lines.kind) == (SourceKind.JSON, SourceKind.NDJSON)
    assert table_rows(store, as_json.table_name) == [tuple(r.values()) for r in records]
    assert table_rows(store, as_lines.table_name) == table_rows(store, as_json.table_name)
    assert roles.column_roles(store, as_json.name)["id"] is ColumnRole.ID


def test_gzip_csv_and_default_names(store: ProjectStore, tmp_path: Path) -> None:
    packed = tmp_path / "bikes.csv.gz"
    with gzip.open(packed, "wb") as handle:
        handle.write(BIKES.read_bytes())
    version = ingest.import_file(store, packed)
    assert (version.name, version.n_rows, version.n_cols) == ("bikes", 17379, 17)
    dotted = ingest.import_file(store, write(tmp_path / "Sales 2024.q1.csv", "a\n1\n"))
    assert dotted.name == "sales_2024.q1"
    with pytest.raises(MlwbError, match="is not a text file"):
        ingest.import_file(store, write(tmp_path / "fake.csv.gz", b"\x00\x01garbage"))


def test_duckdb_file_tables(store: ProjectStore, tmp_path: Path) -> None:
    source = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute(
            "CREATE TABLE people AS SELECT range AS id, 'p' || range AS name FROM range(50)"
        )
        con.execute("CREATE SCHEMA sales")
        con.execute('CREATE TABLE sales."order lines" AS SELECT 1 AS qty')
    assert ingest.source_tables(source) == ["people", "sales.order lines"]
    choose = ingest.preview_import(source)
    assert choose.tables == ["people", "sales.order lines"] and choose.rows == []
    assert choose.blocking_error == "warehouse.duckdb holds 2 tables: choose one"
    shown = ingest.preview_import(source, table="people")
    assert (shown.n_rows, shown.columns, shown.rows[1]) == (
        50,
        [("id", "BIGINT"), ("name", "VARCHAR")],
        {"id": 1, "name": "p1"},
    )
    before = snapshot(store)
    with pytest.raises(MlwbError, match=r"holds 2 tables \(people, sales.order lines\)"):
        ingest.import_file(store, source)
    with pytest.raises(MlwbError, match="has no table 'nope'"):
        ingest.import_file(store, source, table="nope")
    assert snapshot(store) == before
    people = ingest.import_file(store, source, table="people")
    lines = ingest.import_file(store, source, table="sales.order lines", name="lines")
    assert (people.n_rows, people.source_table, lines.n_rows) == (50, "people", 1)
    with store.connect() as con:
        attached = con.execute(
            "SELECT database_name FROM duckdb_databases() WHERE NOT internal"
        ).fetchall()
    assert attached == [("project",)]


def test_sqlite_file_via_arrow(store: ProjectStore, tmp_path: Path) -> None:
    source = tmp_path / "shop.sqlite"
    con = sqlite3.connect(source)
    con.execute(
        'CREATE TABLE customers (id INTEGER PRIMARY KEY, "full name" TEXT, spend REAL, mixed, raw BLOB)'
    )
    rows = [(1, "Ann", 1.5, 1, b"\x00\x01"), (2, "Bob", None, "two", None), (3, None, 3, 3.5, None)]
    con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE empty (x)")
    con.commit()
    con.close()
    assert ingest.source_tables(source) == ["customers", "empty"]
    version = ingest.import_file(store, source, table="customers")
    assert version.kind is SourceKind.SQLITE and version.n_rows == 3
    with store.connect() as con:
        types = ds.table_columns(con, version.table_name)
    assert types == [
        ("id", "BIGINT"),
        ("full name", "VARCHAR"),
        ("spend", "DOUBLE"),
        ("mixed", "VARCHAR"),
        ("raw", "BLOB"),
    ]
    assert table_rows(store, version.table_name) == [
        (1, "Ann", 1.5, "1", b"\x00\x01"),
        (2, "Bob", None, "two", None),
        (3, None, 3.0, "3.5", None),
    ]
    before = snapshot(store)
    with pytest.raises(MlwbError, match="shop.sqlite has no data rows"):
        ingest.import_file(store, source, table="empty")
    assert snapshot(store) == before


def test_cancel_a_sqlite_stream_between_batches(
    store: ProjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_sources, "SQLITE_BATCH", 10)
    source = tmp_path / "many.sqlite"
    con = sqlite3.connect(source)
    con.execute("CREATE TABLE t (x INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    con.commit()
    con.close()
    before = snapshot(store)
    batches: list[str] = []
    with pytest.raises(ingest.ImportCancelled):
        ingest.import_file(
            store,
            source,
            on_progress=lambda f, m: batches.append(m) if m.startswith("read ") else None,
            should_stop=lambda: len(batches) >= 2,
        )
    assert batches[:2] == ["read 10 of 100 rows", "read 20 of 100 rows"]
    assert snapshot(store) == before


# -- preview, roles, migration -----------------------------------------------------------------


def test_preview_shows_rows_types_and_problems_without_a_project(tmp_path: Path) -> None:
    shown = ingest.preview_import(ADULT)
    assert (shown.n_rows, len(shown.columns), len(shown.rows)) == (32561, 15, ingest.PREVIEW_ROWS)
    assert shown.rows[0]["workclass"] == " State-gov" and shown.blocking_error is None
    assert shown.columns[0] == ("age", "BIGINT")
    assert any("(in the first 10,000 rows)" in w for w in shown.warnings)
    ragged = ingest.preview_import(write(tmp_path / "r.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n"))
    assert ragged.blocking_error and "r.csv, line 3: has 2 fields" in ragged.blocking_error
    assert [r["a"] for r in ragged.rows] == [1, 6] and ragged.options.ignore_errors is False
    header = ingest.preview_import(write(tmp_path / "h.csv", "a,b\n"))
    assert header.n_rows == 0 and "has no data rows" in (header.blocking_error or "")
    late = ingest.preview_import(write(tmp_path / "late.csv", RAGGED_LATE))
    assert "line 25002" in (late.blocking_error or "")
    guessed = ingest.preview_import(write(tmp_path / "two.csv", "a,b\n1,2,3\n"))
    assert guessed.options.skip_rows == 1 and guessed.columns[0] == ("column0", "BIGINT")
    assert "the first 1 line(s) do not fit the table and are skipped" in guessed.warnings[0]
    kept = ingest.preview_import(tmp_path / "two.csv", ImportOptions(skip_rows=0, header=True))
    assert kept.blocking_error and "two.csv, line 2: has 3 fields" in kept.blocking_error
    assert ingest.detect_kind(write(tmp_path / "x.parquet", "not parquet")) is SourceKind.PARQUET
    assert ingest.detect_kind(write(tmp_path / "x.data", "a,b\n")) is SourceKind.CSV


def test_set_roles(store: ProjectStore, tmp_path: Path) -> None:
    people = "customer_id,fnlwgt,sex,income,when\n7,1.5,F,high,2024-01-02\n9,2.5,M,low,2024-02-03\n"
    ingest.import_file(store, write(tmp_path / "adult.csv", people))
    assert roles.column_roles(store, "adult") == {
        "customer_id": ColumnRole.ID,
        "fnlwgt": ColumnRole.FEATURE,
        "sex": ColumnRole.FEATURE,
        "income": ColumnRole.FEATURE,
        "when": ColumnRole.TIME,
    }
    found = roles.set_roles(store, "adult", {"income": "target", "FNLWGT": "ignore"})
    assert found["income"] is ColumnRole.TARGET and found["fnlwgt"] is ColumnRole.IGNORE
    found = roles.set_role(store, "adult", "sex", ColumnRole.TARGET)
    assert found["sex"] is ColumnRole.TARGET and found["income"] is ColumnRole.FEATURE
    before = snapshot(store)
    with pytest.raises(MlwbError, match="'boss' is not a column role"):
        roles.set_role(store, "adult", "sex", "boss")
    with pytest.raises(MlwbError, match="'salary' is not a column of adult"):
        roles.set_role(store, "adult", "salary", "target")
    with pytest.raises(MlwbError, match="there is no dataset 'nope'"):
        roles.set_role(store, "nope", "x", "id")
    assert snapshot(store) == before
    with store.connect() as con:
        events = [e for e in repo.list_events(con) if e.action == "roles_set"]
    assert events[0].details["roles"] == {"sex": "target", "income": "feature"}


def test_projects_from_schema_1_gain_the_data_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    old = ProjectStore.create(tmp_path / "old", "old")
    monkeypatch.undo()
    store = ProjectStore.open(old.root)
    with store.connect() as con:
        assert schema.schema_version(con) == schema.LATEST_SCHEMA
        assert repo.count_rows(con, "datasets") == 0
    assert ingest.import_file(store, BIKES).n_rows == 17379


# -- CLI ----------------------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from app.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_import_preview_and_errors(
    store: ProjectStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = str(store.root)
    code, out, _ = run_cli(capsys, "data", "import", str(ADULT), "--preview", "-p", project)
    assert code == 0 and out.startswith("adult.csv: csv, 32,561 rows x 15 columns")
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = run_cli(
        capsys, "data", "import", str(ADULT), "-p", project, "--null", " ?", "--json"
    )
    body = json.loads(out)
    assert code == 0 and body["n_rows"] == 32561 and body["options"]["null_markers"] == [" ?"]
    code, _, err = run_cli(capsys, "data", "import", str(ADULT), "-p", project, "--null", " ?")
    assert (
        code == 1
        and err.startswith("error: adult.csv was already imported")
        and err.count("\n") == 1
    )
    bad = write(tmp_path / "bad.csv", "a,b\n1,2\n3,4,5\n5,6\n")
    code, _, err = run_cli(capsys, "data", "import", str(bad), "-p", project, "--delimiter", "")
    assert code == 1 and "bad import option delimiter" in err
    code, out, _ = run_cli(
        capsys, "data", "import", str(bad), "-p", project, "--ignore-errors", "--json"
    )
    assert code == 0 and json.loads(out)["n_rows"] == 2
