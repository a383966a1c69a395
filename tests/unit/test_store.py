"""The project store: creation, opening, migrations, versions, events, refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from app.errors import MlwbError, ProjectCorrupt, ProjectNotFound, SchemaTooNew, ValidationFailed
from app.services import problem
from storage import repositories as repo
from storage import schema
from storage.db import PROJECT_DB, ProjectStore


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_create_makes_folder_database_and_artifacts(tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "a" / "b", 'Q3 "churn" [bold]')
    assert (tmp_path / "a" / "b" / PROJECT_DB).is_file()
    assert (tmp_path / "a" / "b" / "artifacts").is_dir()
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["artifacts", PROJECT_DB]
    with store.connect() as con:
        info = repo.project_info(con)
        events = repo.list_events(con)
    assert info.name == 'Q3 "churn" [bold]'
    assert info.schema_version == schema.LATEST_SCHEMA
    assert [(e.stage, e.action) for e in events] == [("project", "created")]


def test_create_refuses_existing_project_and_files(tmp_path: Path) -> None:
    ProjectStore.create(tmp_path / "p", "x")
    with pytest.raises(MlwbError, match="already an mlwb project"):
        ProjectStore.create(tmp_path / "p", "x")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ProjectNotFound, match="is a file, not a folder"):
        ProjectStore.create(tmp_path / "f", "x")


def test_open_refusals_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFound, match="no such folder") as info:
        ProjectStore.open(tmp_path / "nope")
    assert "mlwb new" in info.value.hint
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ProjectNotFound, match="is a file, not a project folder"):
        ProjectStore.open(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProjectNotFound, match="not an mlwb project") as info:
        ProjectStore.open(tmp_path / "empty")
    assert info.value.hint == f"create one with: mlwb new {tmp_path / 'empty'}"


def test_corrupt_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / PROJECT_DB).write_bytes(b"this is not a database" * 100)
    before = digest(folder / PROJECT_DB)
    with pytest.raises(ProjectCorrupt, match="cannot be read"):
        ProjectStore.open(folder)
    assert digest(folder / PROJECT_DB) == before


def test_foreign_duckdb_file_is_not_a_project(tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    con = duckdb.connect(str(folder / PROJECT_DB))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    with pytest.raises(ProjectCorrupt, match="not an mlwb project"):
        ProjectStore.open(folder)


def test_newer_schema_is_refused_without_change(store: ProjectStore) -> None:
    with store.connect() as con:
        con.execute(
            "INSERT INTO schema_version (version, description, applied_by) VALUES (99, 'future', 'mlwb 9')"
        )
    before = digest(store.db_path)
    with pytest.raises(SchemaTooNew) as info:
        ProjectStore.open(store.root)
    assert "schema version 99" in info.value.message
    assert f"reads up to version {schema.LATEST_SCHEMA}" in info.value.message
    assert digest(store.db_path) == before


def test_older_project_is_migrated_once(
    store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = [
        *schema.MIGRATIONS,
        (schema.LATEST_SCHEMA + 1, "test table", ["CREATE TABLE migrated_marker (x INTEGER)"]),
    ]
    monkeypatch.setattr(schema, "MIGRATIONS", newer)
    ProjectStore.open(store.root)
    ProjectStore.open(store.root)
    with store.connect() as con:
        versions = [
            r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        ]
        migrated = [e for e in repo.list_events(con) if e.action == "migrated"]
        assert repo.count_rows(con, "migrated_marker") == 0
    new = schema.LATEST_SCHEMA + 1
    assert versions == [*range(1, new), new]
    assert len(migrated) == 1
    assert migrated[0].details == {"applied": [new]}


def test_failed_migration_leaves_project_unchanged(
    store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        *schema.MIGRATIONS,
        (
            schema.LATEST_SCHEMA + 1,
            "broken",
            ["CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"],
        ),
    ]
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    with pytest.raises(duckdb.ParserException):
        ProjectStore.open(store.root)
    with store.connect() as con:
        assert schema.schema_version(con) == schema.LATEST_SCHEMA
        assert repo.count_rows(con, "half_done") is None


def test_every_save_is_a_version_with_an_event(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    first = problem.save_charter(store, charter_data, note="first")
    second = problem.save_charter(store, charter_data | {"threshold": 0.7})
    assert (first.version, second.version) == (1, 2)
    history = problem.charter_history(store)
    assert [v.version for v in history] == [2, 1]
    assert problem.charter_version(store, 1).charter.threshold == 0.65
    assert problem.current_charter(store).charter.threshold == 0.7
    with store.connect() as con:
        events = [e for e in repo.list_events(con) if e.action == "charter_saved"]
    assert [e.details["version"] for e in events] == [2, 1]
    assert events[0].details["changed"] == ["threshold"]
    assert events[0].stage == "problem"


def test_invalid_or_identical_save_changes_nothing(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    problem.save_charter(store, charter_data)
    before = digest(store.db_path)
    with pytest.raises(ValidationFailed):
        problem.save_charter(store, charter_data | {"threshold": 7})
    with pytest.raises(MlwbError, match="nothing to save"):
        problem.save_charter(store, charter_data)
    with store.connect() as con:
        assert repo.count_rows(con, "charters") == 1
        assert repo.count_rows(con, "events") == 2
    assert problem.current_charter(store).version == 1
    assert digest(store.db_path) == before


def test_failure_inside_transaction_rolls_back(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    from app.domain.charter import parse_charter

    with pytest.raises(RuntimeError), store.transaction() as con:
        repo.insert_charter(con, parse_charter(charter_data), "")
        repo.record_event(con, "problem", "charter_saved", "x")
        raise RuntimeError("boom")
    with store.connect() as con:
        assert repo.count_rows(con, "charters") == 0
        assert repo.count_rows(con, "events") == 1


def test_charter_files(tmp_path: Path, charter_data: dict[str, Any]) -> None:
    good = tmp_path / "c.json"
    good.write_text(json.dumps(charter_data))
    assert problem.read_charter_file(good)["target"] == "income"
    toml = tmp_path / "c.toml"
    toml.write_text('name = "x"\ntask = "binary"\n[budget]\ntime_hours = 3\n')
    assert problem.read_charter_file(toml) == {
        "name": "x",
        "task": "binary",
        "budget": {"time_hours": 3},
    }
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(MlwbError, match="bad.toml is not valid TOML"):
        problem.read_charter_file(bad)
    with pytest.raises(MlwbError, match="not valid JSON: Expecting value at line 1 column 1"):
        (tmp_path / "bad.json").write_text("nope")
        problem.read_charter_file(tmp_path / "bad.json")
    with pytest.raises(MlwbError, match="unknown charter format .yaml"):
        (tmp_path / "c.yaml").write_text("a: 1")
        problem.read_charter_file(tmp_path / "c.yaml")
    with pytest.raises(MlwbError, match="must hold a table"):
        (tmp_path / "list.json").write_text("[1, 2]")
        problem.read_charter_file(tmp_path / "list.json")
