"""The bundle registry: deploy as candidate, promote, archive, roll back, with events.

Bad input: a missing version, a rollback with no previous production, a failed gate without
an override, and a database write that fails after the bundle was built (nothing is left).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits
from train_fixtures import passed_project

from app.domain.evaluation import GateOutcome
from app.errors import MlwbError
from app.services import bundle as bd
from app.services import evaluation as ev
from app.services import registry as rs
from storage import registry as reg
from storage import repositories as repo
from storage.db import ProjectStore


@pytest.fixture(autouse=True, scope="module")
def _fast() -> Iterator[None]:
    with threadpool_limits(limits=1), pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "LATENCY_CALLS", 10)
        yield


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, int]:
    return passed_project(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def project(evaluated: tuple[ProjectStore, int]) -> Iterator[tuple[ProjectStore, int]]:
    """The evaluated project with an empty registry (cleaned after each test)."""
    store, run_id = evaluated
    yield store, run_id
    with store.transaction() as con:
        con.execute("DELETE FROM bundles")
        con.execute("DELETE FROM bundle_aliases")
        con.execute("DELETE FROM events WHERE stage = 'deploy'")
    for p in (store.artifacts / "bundles").glob("*"):
        if p.is_dir():
            for f in p.iterdir():
                f.unlink()
            p.rmdir()
        else:
            p.unlink()


def deploy_events(store: ProjectStore) -> list[tuple[str, dict]]:
    with store.connect() as con:
        rows = con.execute(
            "SELECT action, details FROM events WHERE stage = 'deploy' ORDER BY id"
        ).fetchall()
    return [(a, json.loads(d)) for a, d in rows]


def bundle_rows(store: ProjectStore) -> int:
    with store.connect() as con:
        return int(con.execute("SELECT count(*) FROM bundles").fetchall()[0][0])


def test_deploy_promote_archive_rollback(project: tuple[ProjectStore, int]) -> None:
    store, run_id = project
    assert rs.production_bundle(store) is None

    v1 = rs.deploy(store)
    assert (v1.version, v1.run_id, v1.aliases, v1.gate) == (1, run_id, ["candidate"], "pass")
    folder = store.root / v1.path
    zipped = store.root / v1.zip_path
    assert not Path(v1.path).is_absolute() and v1.path.startswith("artifacts/bundles/")
    assert folder.is_dir() and zipped.is_file()
    assert rs._sha_file(zipped) == v1.sha256
    assert bd.load_bundle(folder).metadata.run_id == run_id
    assert v1.metadata["run_id"] == run_id

    p1 = rs.promote(store, 1)
    assert p1.aliases == ["production"]
    assert rs.production_bundle(store) == folder

    v2 = rs.deploy(store, run_id)
    assert v2.version == 2 and v2.aliases == ["candidate"]
    assert v2.path != v1.path
    rs.promote(store, 2)
    by_version = {v.version: v.aliases for v in rs.list_versions(store)}
    assert by_version == {2: ["production"], 1: ["archived"]}
    assert [v.version for v in rs.list_versions(store)] == [2, 1]
    assert rs.production_bundle(store) == store.root / v2.path

    back = rs.rollback(store)
    assert back.version == 1 and back.aliases == ["production"]
    by_version = {v.version: v.aliases for v in rs.list_versions(store)}
    assert by_version == {1: ["production"], 2: ["archived"]}
    assert rs.production_bundle(store) == folder

    history = deploy_events(store)
    assert [(a, d["version"]) for a, d in history] == [
        ("deploy", 1),
        ("promote", 1),
        ("deploy", 2),
        ("promote", 2),
        ("rollback", 1),
    ]
    assert history[3][1]["previous"] == 1 and history[4][1]["previous"] == 2
    assert all(d["by"] for _, d in history)
    with store.connect() as con:
        summaries = [e.summary for e in repo.list_events(con) if e.stage == "deploy"]
    assert "rolled back production from bundle v2 to v1" in summaries
    assert "bundle v2 promoted to production (v1 archived)" in summaries

    # v1 was the first production version: nothing further back.
    with pytest.raises(MlwbError, match="no previous one to roll back to"):
        rs.rollback(store)
    assert rs.production_bundle(store) == folder


def test_promote_missing_and_rollback_without_production(
    project: tuple[ProjectStore, int],
) -> None:
    store, _ = project
    with pytest.raises(MlwbError, match="no bundle is in production") as info:
        rs.rollback(store)
    assert "promote" in info.value.hint
    with pytest.raises(MlwbError, match="there is no bundle version 7") as info:
        rs.promote(store, 7)
    assert "mlwb registry list" in info.value.hint
    rs.deploy(store)
    rs.promote(store, 1)
    with pytest.raises(MlwbError, match="already in production"):
        rs.promote(store, 1)
    with pytest.raises(MlwbError, match="first production version"):
        rs.rollback(store)
    assert [a for a, _ in deploy_events(store)] == ["deploy", "promote"]


def test_failed_gate_needs_a_recorded_override(
    project: tuple[ProjectStore, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = project
    real = ev.latest(store, run_id)
    assert real is not None
    failed = real.model_copy(deep=True)
    failed.gate.outcome = GateOutcome.FAIL
    monkeypatch.setattr(bd.ev, "latest", lambda *_a, **_k: failed)
    with pytest.raises(MlwbError, match="did not pass the gate"):
        rs.deploy(store, run_id)
    assert bundle_rows(store) == 0 and deploy_events(store) == []
    assert not list((store.artifacts / "bundles").glob("*"))

    v = rs.deploy(store, run_id, override_reason="pilot for one region")
    assert v.gate == "fail" and v.override_reason == "pilot for one region"
    assert rs.list_versions(store)[0].override_reason == "pilot for one region"
    [(action, details)] = deploy_events(store)
    assert action == "deploy"
    assert details["override_reason"] == "pilot for one region" and details["gate"] == "fail"


def test_failed_database_write_leaves_nothing(
    project: tuple[ProjectStore, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = project
    rs.deploy(store)
    before = sorted(p.name for p in (store.artifacts / "bundles").iterdir())

    def broken(*_a: object, **_k: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(reg, "insert_bundle", broken)
    with pytest.raises(OSError, match="disk full"):
        rs.deploy(store)
    assert sorted(p.name for p in (store.artifacts / "bundles").iterdir()) == before
    assert bundle_rows(store) == 1
    assert [v.aliases for v in rs.list_versions(store)] == [["candidate"]]
    assert [a for a, _ in deploy_events(store)] == ["deploy"]

    monkeypatch.undo()
    monkeypatch.setattr(repo, "record_event", broken)
    with pytest.raises(OSError, match="disk full"):
        rs.deploy(store)
    assert sorted(p.name for p in (store.artifacts / "bundles").iterdir()) == before
    assert bundle_rows(store) == 1
