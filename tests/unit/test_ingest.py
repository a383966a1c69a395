"""Importing data: the sample files, every kind of source, dirty files, cancel and failure.

Every failure must raise MlwbError with a one-line message naming the file (and line) and
leave the project exactly as it was: same database bytes, no table, no row, no event.
"""

from __future__ import annotations

import csv
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from storecheck import snapshot, table_rows, write

from app.domain.dataset import ColumnRole, ImportOptions, SourceKind, unique_column_names
from app.errors import MlwbError
from app.services import browse, ingest, problem, roles
from storage import datasets as ds
from storage import repositories as repo
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
BIKES = ROOT / "sample_data" / "bike_sharing_hour.csv"


# -- the sample data ------------------------------------------------------------------------


def test_adult_imports_exactly(store: ProjectStore) -> None:
    seen: list[tuple[float, str]] = []
    version = ingest.import_file(store, ADULT, on_progress=lambda f, m: seen.append((f, m)))
    with ADULT.open(newline="") as handle:
        reference = [r for r in csv.reader(handle) if r]
    assert (version.name, version.version, version.table_name) == ("adult", 1, "data_adult_v1")
    assert (version.n_rows, version.n_cols) == (32561, 15) == (len(reference) - 1, 15)
    assert version.kind is SourceKind.CSV
    assert version.file_hash == hashlib.sha256(ADULT.read_bytes()).hexdigest()
    with store.connect() as con:
        columns = ds.table_columns(con, version.table_name)
        assert [c for c, _ in columns] == reference[0]
        age_sum, question = con.execute(
            "SELECT sum(age), count_if(workclass = ' ?') FROM \"data_adult_v1\""
        ).fetchall()[0]
    assert age_sum == sum(int(r[0]) for r in reference[1:])
    assert question == 1836  # sample_data/README.md: workclass has 1,836 '?' markers
    assert dict(columns)["age"] == "BIGINT" and dict(columns)["workclass"] == "VARCHAR"
    assert table_rows(store, version.table_name)[0][:2] == (39, " State-gov")
    text = " | ".join(version.warnings)
    assert "ends with 1 blank line" in text
    assert "leading or trailing spaces in 9 column(s)" in text
    assert "' ?' looks like a missing-value marker (4,262 values" in text
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    assert browse.current_dataset(store).ref == "adult@1"


def test_bikes_imports_with_dates_and_roles_from_the_charter(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    from app.services.demo import DEMO_CHARTERS

    problem.save_charter(store, DEMO_CHARTERS["bikes"])
    version = ingest.import_file(store, BIKES)
    reference = pl.read_csv(BIKES, try_parse_dates=True)
    assert (version.n_rows, version.n_cols) == (17379, 17) == reference.shape
    with store.connect() as con:
        types = dict(ds.table_columns(con, version.table_name))
        cnt = con.execute(
            'SELECT sum(cnt), max(dteday) FROM "data_bikes_sharing_hour_v1"'.replace(
                "data_bikes_sharing_hour_v1", version.table_name
            )
        ).fetchall()[0]
    assert types["dteday"] == "DATE" and types["temp"] == "DOUBLE" and types["cnt"] == "BIGINT"
    assert cnt == (reference["cnt"].sum(), reference["dteday"].max())
    found = roles.column_roles(store, version.name)
    assert found["cnt"] is ColumnRole.TARGET
    assert found["dteday"] is ColumnRole.TIME
    assert [c for c, r in found.items() if r is not ColumnRole.FEATURE] == ["dteday", "cnt"]
    assert version.warnings == []


def test_import_writes_table_row_roles_state_and_event_together(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    problem.save_charter(store, charter_data)
    version = ingest.import_file(store, ADULT, name="census")
    with store.connect() as con:
        events = [e for e in repo.list_events(con) if e.action == "dataset_imported"]
        stored = ds.get_version(con, "census", 1)
        state = ds.get_state(con, ds.CURRENT_DATASET)
        role_rows = ds.get_roles(con, "census")
    assert stored == version
    assert state == "census"
    assert role_rows == {"income": ColumnRole.TARGET}
    assert len(events) == 1 and events[0].stage == "data"
    details = events[0].details
    assert details["dataset"] == "census" and details["rows"] == 32561
    assert details["sha256"] == version.file_hash and details["roles"] == {"income": "target"}
    assert version.options == ImportOptions(
        delimiter=",", quote="", escape="", encoding="utf-8", header=True, skip_rows=0
    )


def test_reimport_is_refused_unless_forced(store: ProjectStore, tmp_path: Path) -> None:
    scores = write(tmp_path / "scores.csv", "id,score\n1,0.5\n2,?\n3,0.25\n")
    ingest.import_file(store, scores)
    before = snapshot(store)
    with pytest.raises(MlwbError, match="already imported with these options as dataset 'scores'"):
        ingest.import_file(store, scores)
    copy = write(tmp_path / "copy.csv", scores.read_bytes())
    with pytest.raises(MlwbError, match="dataset 'scores' \\(version 1\\)") as info:
        ingest.import_file(store, copy, name="other")
    assert "--force" in info.value.hint
    with pytest.raises(MlwbError, match="a dataset named 'scores' already exists"):
        ingest.import_file(store, BIKES, name="scores")
    with pytest.raises(MlwbError, match="'2nd try' is not a valid dataset name"):
        ingest.import_file(store, BIKES, name="2nd try")
    assert snapshot(store) == before
    again = ingest.import_file(store, scores, force=True)
    first = browse.get_version(store, "scores")
    assert again.name == "scores_2" and again.fingerprint == first.fingerprint
    assert any("'scores' exists; this one is 'scores_2'" in w for w in again.warnings)
    marked = ingest.import_file(store, scores, options=ImportOptions(null_markers=["?"]))
    assert marked.name == "scores_3" and marked.fingerprint != first.fingerprint
    with store.connect() as con:
        types = [dict(ds.table_columns(con, v.table_name))["score"] for v in (first, marked)]
    assert types == ["VARCHAR", "DOUBLE"]


def test_fingerprint_ignores_row_order_but_not_content(store: ProjectStore, tmp_path: Path) -> None:
    lines = ["a,b", "1,x", "2,y", "2,y", "3,z"]
    first = ingest.import_file(store, write(tmp_path / "one.csv", "\n".join(lines) + "\n"))
    shuffled = [lines[0], lines[3], lines[1], lines[4], lines[2]]
    second = ingest.import_file(store, write(tmp_path / "two.csv", "\n".join(shuffled) + "\n"))
    changed = ingest.import_file(store, write(tmp_path / "three.csv", "\n".join(lines[:-1]) + "\n"))
    deduped = ingest.import_file(
        store, write(tmp_path / "four.csv", "\n".join(lines[:3] + lines[4:]))
    )
    assert first.fingerprint == second.fingerprint
    assert len({first.fingerprint, changed.fingerprint, deduped.fingerprint}) == 3


# -- bad inputs: a clear message and an unchanged project ------------------------------------


RAGGED_MID = "a,b,c\n" + "".join(f"{i},{i},{i}\n" for i in range(5_000)) + "1,2\n7,8,9\n"
RAGGED_LATE = "a,b,c\n" + "".join(f"{i},{i},{i}\n" for i in range(25_000)) + "1,2\n"

BAD_FILES: list[tuple[str, bytes | str, str, str]] = [
    ("empty.csv", b"", r"empty\.csv is empty \(0 bytes\)", "fully written"),
    ("blank.csv", "\n\n  \n", "blank.csv holds only blank lines", ""),
    (
        "header.csv",
        "a,b,c\n",
        r"header\.csv has no data rows \(only a header line\)",
        "--no-header",
    ),
    ("binary.csv", bytes(range(256)) * 4, "binary.csv is not a text file", "UTF-16"),
    (
        "short.csv",
        "a,b,c\n1,2,3\n4,5\n6,7,8\n",
        "short.csv, line 3: has 2 fields but the header has 3",
        "--pad-missing",
    ),
    (
        "long.csv",
        "a,b,c\n1,2,3\n4,5,6,7\n6,7,8\n",
        "long.csv, line 3: has 4 fields but the header has 3",
        "--ignore-errors",
    ),
    (
        "mid.csv",
        RAGGED_MID,
        "mid.csv, line 5002: has 2 fields but the header has 3",
        "--pad-missing",
    ),
    (
        "wide.csv",
        "a,b\n1,2\n3,4,5\n5,6\n",
        "wide.csv, line 3: has 3 fields but the header has 2",
        "quote values that contain the delimiter",
    ),
    (
        "late.csv",
        RAGGED_LATE,
        "late.csv, line 25002: has 2 fields but the header has 3",
        "--pad-missing",
    ),
    (
        "quote.csv",
        'a,b\n"x,y",1\n"z,2\n3,4\n',
        "quote.csv, line 3: a value has an unterminated quote",
        "--quote ''",
    ),
    (
        "latin.csv",
        "name,city\nJos\xe9,K\xf6ln\n".encode("latin-1"),
        "latin.csv, line 2: bytes that are not valid utf-8",
        "--encoding latin-1",
    ),
    (
        "types.csv",
        "a,b\n" + "1,1\n" * 30_000 + "oops,1\n",
        "types.csv, line 30002: column 'a' holds 'oops', which is not BIGINT",
        "--sample-size -1",
    ),
    (
        "broken.json",
        '[{"a": 1}, {"a": ',
        "cannot read broken.json as json: Malformed JSON",
        "JSON syntax",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "message", "hint"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_bad_files_are_refused_clearly_and_change_nothing(
    store: ProjectStore, tmp_path: Path, name: str, content: bytes | str, message: str, hint: str
) -> None:
    path = write(tmp_path / name, content)
    before = snapshot(store)
    with pytest.raises(MlwbError, match=message) as info:
        ingest.import_file(store, path)
    assert hint in info.value.hint
    assert "\n" not in info.value.one_line()
    assert snapshot(store) == before


def test_missing_paths_and_database_choices(store: ProjectStore, tmp_path: Path) -> None:
    before = snapshot(store)
    with pytest.raises(MlwbError, match="no such file: .*nope.csv"):
        ingest.import_file(store, tmp_path / "nope.csv")
    with pytest.raises(MlwbError, match="is a folder, not a file"):
        ingest.import_file(store, tmp_path)
    with pytest.raises(MlwbError, match="cannot open project.duckdb as a DuckDB database"):
        ingest.import_file(store, store.db_path, table="events")
    assert snapshot(store) == before


def test_remedies_named_in_the_messages_work(store: ProjectStore, tmp_path: Path) -> None:
    short = write(tmp_path / "short.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n")
    padded = ingest.import_file(store, short, options=ImportOptions(null_padding=True))
    assert table_rows(store, padded.table_name) == [(1, 2, 3), (4, 5, None), (6, 7, 8)]
    long = write(tmp_path / "long.csv", "a,b,c\n1,2,3\n4,5,6,7\n6,7,8\n")
    skipped = ingest.import_file(store, long, options=ImportOptions(ignore_errors=True))
    assert table_rows(store, skipped.table_name) == [(1, 2, 3), (6, 7, 8)]
    latin = write(tmp_path / "latin.csv", "name,city\nJos\xe9,K\xf6ln\n".encode("latin-1"))
    decoded = ingest.import_file(store, latin, options=ImportOptions(encoding="latin-1"))
    assert table_rows(store, decoded.table_name) == [("José", "Köln")]
    late = write(tmp_path / "types.csv", "a,b\n" + "1,1\n" * 30_000 + "oops,1\n")
    scanned = ingest.import_file(store, late, options=ImportOptions(sample_size=-1))
    with store.connect() as con:
        assert dict(ds.table_columns(con, scanned.table_name))["a"] == "VARCHAR"
    marked = ingest.import_file(
        store, late, name="marked", options=ImportOptions(null_markers=["oops"])
    )
    with store.connect() as con:
        assert con.execute(f'SELECT count(a), count(*) FROM "{marked.table_name}"').fetchall() == [
            (30_000, 30_001)
        ]


def test_dialects_encodings_and_options(store: ProjectStore, tmp_path: Path) -> None:
    euro = write(tmp_path / "euro.csv", "x;y\n1,5;2\n3,25;4\n")
    preview = ingest.preview_import(euro)
    assert any("decimal comma in 'x'" in w for w in preview.warnings)
    got = ingest.import_file(store, euro, options=ImportOptions(decimal=","))
    assert table_rows(store, got.table_name) == [(1.5, 2), (3.25, 4)]
    tsv = write(tmp_path / "t.tsv", "a\tb\n1\thello world\n")
    assert table_rows(store, ingest.import_file(store, tsv).table_name) == [(1, "hello world")]
    utf16 = write(tmp_path / "u16.csv", "name,v\nZoë,1\n".encode("utf-16"))
    wide = ingest.import_file(store, utf16)
    assert wide.options.encoding == "utf-16" and table_rows(store, wide.table_name) == [("Zoë", 1)]
    spaced = write(tmp_path / "spaced.csv", "a, b\n1, x\n2, y\n")
    clean = ingest.import_file(store, spaced, options=ImportOptions(delimiter=", "))
    assert table_rows(store, clean.table_name) == [(1, "x"), (2, "y")]
    notes = write(tmp_path / "notes.csv", "exported by tool\n\nid,v\n1,2\n")
    skipped = ingest.import_file(store, notes, options=ImportOptions(skip_rows=2, header=True))
    assert table_rows(store, skipped.table_name) == [(1, 2)]
    bare = write(tmp_path / "bare.csv", "1,2\n")
    headless = ingest.import_file(store, bare, options=ImportOptions(header=False))
    assert headless.n_rows == 1


def test_odd_column_names_and_values_work(store: ProjectStore, tmp_path: Path) -> None:
    header = [
        '"q""uote"',
        "with space",
        "[bold]x[/bold]",
        "select",
        "from",
        "Größe",
        "名前",
        "empty",
    ]
    big = "x" * 100_000
    content = ",".join(header) + "\n" + f"1,a,b,2,3,4.5,{big},\n" + "2,c,d,5,6,7.5,z,\n"
    version = ingest.import_file(store, write(tmp_path / "odd.csv", content))
    with store.connect() as con:
        names = [c for c, _ in ds.table_columns(con, version.table_name)]
        lengths = con.execute(f'SELECT length("名前") FROM "{version.table_name}"').fetchall()
    assert names == [
        'q"uote',
        "with space",
        "[bold]x[/bold]",
        "select",
        "from",
        "Größe",
        "名前",
        "empty",
    ]
    assert lengths == [(100_000,), (1,)]
    assert any("no values at all in 'empty'" in w for w in version.warnings)
    frame = browse.page(
        store, version.name, 1, 0, 5, order_by="Größe", descending=True, where='"select" > 2'
    )
    assert frame['q"uote'].to_list() == [2]


def test_duplicate_and_empty_header_names_are_made_unique(
    store: ProjectStore, tmp_path: Path
) -> None:
    version = ingest.import_file(store, write(tmp_path / "dupes.csv", "a,a,,b,,A\n1,2,3,4,5,6\n"))
    with store.connect() as con:
        names = [c for c, _ in ds.table_columns(con, version.table_name)]
    assert names == ["a", "a_2", "column_3", "b", "column_5", "A_3"]
    assert unique_column_names(["a", "a", None, " "]) == (
        ["a", "a_2", "column_3", "column_4"],
        [
            "2 column(s) had no name (position 3, 4); named column_N",
            "duplicate column names made unique: 'a' -> 'a_2'",
        ],
    )
    assert "2 column(s) had no name (position 3, 5)" in version.warnings[0]
    assert "'a' -> 'a_2', 'A' -> 'A_3'" in version.warnings[1]


def test_one_row_file_imports(store: ProjectStore, tmp_path: Path) -> None:
    version = ingest.import_file(store, write(tmp_path / "one.csv", "a,b\n1,2\n"))
    assert (version.n_rows, version.n_cols) == (1, 2)


# -- cancel, vanish, change --------------------------------------------------------------------


def test_cancel_after_first_progress_changes_nothing(store: ProjectStore) -> None:
    ingest.import_file(store, BIKES)
    before = snapshot(store)
    calls: list[str] = []
    with pytest.raises(
        ingest.ImportCancelled, match="import of adult.csv cancelled; nothing was saved"
    ):
        ingest.import_file(
            store, ADULT, on_progress=lambda f, m: calls.append(m), should_stop=lambda: bool(calls)
        )
    assert snapshot(store) == before


def test_cancel_while_the_query_runs_changes_nothing(store: ProjectStore) -> None:
    """The watcher thread asks should_stop while CREATE TABLE runs; the answer is yes."""
    before = snapshot(store)
    asked_from: list[str] = []

    def stop() -> bool:
        if threading.current_thread() is threading.main_thread():
            return False
        asked_from.append(threading.current_thread().name)
        return True

    with pytest.raises(ingest.ImportCancelled):
        ingest.import_file(store, ADULT, should_stop=stop)
    assert asked_from[0] == "mlwb-import-watch"
    assert snapshot(store) == before


def progress_hook(when: str, action: Callable[[], None]) -> Callable[[float, str], None]:
    def hook(_: float, message: str) -> None:
        if message.startswith(when):
            action()

    return hook


def test_a_file_that_vanishes_or_changes_during_import(store: ProjectStore, tmp_path: Path) -> None:
    before = snapshot(store)
    doomed = write(tmp_path / "doomed.csv", ADULT.read_bytes())
    with pytest.raises(MlwbError, match="doomed.csv disappeared while it was being read"):
        ingest.import_file(store, doomed, on_progress=progress_hook("reading rows", doomed.unlink))
    growing = write(tmp_path / "growing.csv", "a,b\n1,2\n")

    def append() -> None:
        with growing.open("a") as handle:
            handle.write("3,4\n")

    with pytest.raises(MlwbError, match="growing.csv changed while it was being imported"):
        ingest.import_file(store, growing, on_progress=progress_hook("checking the rows", append))
    assert snapshot(store) == before


# -- the import's shortcuts give what the plain queries give ---------------------------------


def _dirty_csv(path: Path, rows: int) -> Path:
    """Text dirt of every kind the warning scan looks for, spread over ``rows`` rows."""
    lines = ["id,city,amount,n,code,when,empty,note"]
    for i in range(rows):
        city = [" Paris", "Lyon", "?", "NA", "Nice "][i % 5]
        amount = "n/a" if i % 7 == 0 else str(i * 3)
        lines.append(f"{i},{city},{amount},{i % 9},{i % 13}5,2024-01-{1 + i % 28:02d},,x{i % 3}")
    return write(path, "\n".join(lines) + "\n")


@pytest.mark.parametrize("rows", [30, 30_000, 60_000])
def test_import_warnings_and_fingerprint_match_a_scan_of_the_table(
    store: ProjectStore, tmp_path: Path, rows: int
) -> None:
    """The warning checks on the source's first rows (run during the copy) and the one-scan
    fingerprint equal ``data_warnings`` and ``fingerprint_table`` run on the stored table.

    30,000 rows is between the scan limits: the import falls back to scanning the table.
    """
    from app.services.import_warnings import data_warnings

    csv_path = _dirty_csv(tmp_path / f"dirty{rows}.csv", rows)
    version = ingest.import_file(store, csv_path)
    with store.connect() as con:
        columns = ds.table_columns(con, version.table_name)
        expected = data_warnings(con, ds.quote_ident(version.table_name), columns)
        assert (version.n_rows, version.fingerprint) == ds.fingerprint_table(
            con, version.table_name
        )
    assert version.n_rows == rows
    assert [w for w in version.warnings if w in expected] == expected
    assert any("'empty'" in w and "no values at all" in w for w in expected)
    assert any("leading or trailing spaces" in w for w in expected)
    assert any("missing-value marker" in w for w in expected)
    assert any("'amount' is text but" in w for w in expected)


def test_head_scan_only_stands_in_for_the_scan_it_equals(tmp_path: Path) -> None:
    import duckdb

    from app.services import import_warnings as iw

    csv_path = _dirty_csv(tmp_path / "dirty.csv", 25_000)
    relation = f"read_csv({ds.quote_literal(str(csv_path))})"
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE t AS SELECT * FROM {relation}")
        columns = ds.table_columns(con, "t")
        head = iw.head_text_scan(con, relation)
        assert head is not None and head.scanned == iw.LARGE_SCAN_ROWS
        # 25,000 rows: a table scan reads them all, so the head's 20,000 do not stand in
        assert not iw.scan_fits(head, columns, 25_000)
        assert iw.scan_fits(head, columns, iw.SCAN_ROWS + 1)
        con.execute(f"DELETE FROM t WHERE id >= {iw.LARGE_SCAN_ROWS}")
        assert head == iw.text_scan(con, "t", columns, iw.LARGE_SCAN_ROWS)
        assert not iw.scan_fits(head, columns[:-1], iw.SCAN_ROWS + 1)


def test_csv_plan_spells_out_types_and_keeps_the_skip_warning(
    store: ProjectStore, tmp_path: Path
) -> None:
    """The planned read_csv needs no second sniff, and reads what auto-detection reads."""
    import duckdb

    from app.services.ingest_csv import plan_csv

    text = "exported by a tool\nid;when;at;price;ok;name;name\n" + "".join(
        f"{i};2024-02-{1 + i % 28:02d};2024-02-01 10:{i % 60:02d}:00;{i},5;true;a{i};b\n"
        for i in range(50)
    )
    path = write(tmp_path / "typed.csv", text)
    with duckdb.connect() as con:
        plan = plan_csv(con, path, ImportOptions(decimal=","))
        assert "auto_detect=false" in plan.relation and "columns={" in plan.relation
        planned = con.execute(f"DESCRIBE SELECT * FROM {plan.relation}").fetchall()
        rows = con.execute(f"SELECT * FROM {plan.relation}").fetchall()
        auto = con.execute(
            f"SELECT * FROM read_csv({ds.quote_literal(str(path))}, decimal_separator=',')"
        ).fetchall()
    assert [(r[0], r[1]) for r in planned] == [
        ("id", "BIGINT"),
        ("when", "DATE"),
        ("at", "TIMESTAMP"),
        ("price", "DOUBLE"),
        ("ok", "BOOLEAN"),
        ("name", "VARCHAR"),
        ("name_2", "VARCHAR"),
    ]
    assert rows == auto and len(rows) == 50
    text = " | ".join(plan.warnings)
    assert "the first 1 line(s) do not fit the table" in text
    assert "name" in text  # the duplicate header name is reported too
