"""Stage states follow the store: charter, data fit, profile and its high alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.services import cleaning, ingest, problem, profile
from app.services.demo import DEMO_CHARTERS
from app.services.lifecycle import stage_statuses
from storage.db import ProjectStore

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def states(store: ProjectStore) -> dict[str, str]:
    return {s.stage.value: s.state.value for s in stage_statuses(store)}


def test_adult_walks_from_charter_to_explore(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    assert states(store)["problem"] == "current"
    assert states(store)["data"] == "locked"
    problem.save_charter(store, charter_data)
    assert states(store)["data"] == "current"
    ingest.import_file(store, SAMPLE / "adult.csv", name="adult")
    found = {s.stage.value: s for s in stage_statuses(store)}
    assert found["data"].state.value == "attention"
    assert "'>50K' is not a value of 'income'" in found["data"].summary
    assert found["explore"].state.value == "locked"
    cleaning.add_step(store, "adult", {"kind": "trim_whitespace", "columns": ["income"]})
    assert states(store)["data"] == "done"
    assert states(store)["explore"] == "current"
    assert states(store)["train"] == "locked"
    profile.profile_dataset(store, "adult")
    result = states(store)
    assert result["explore"] == "done"
    assert result["train"] == "current"
    cleaning.undo(store, "adult")
    assert states(store)["data"] == "attention"


def test_leakage_needs_attention_before_training(tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "bikes", "bikes")
    problem.save_charter(store, DEMO_CHARTERS["bikes"])
    ingest.import_file(store, SAMPLE / "bike_sharing_hour.csv", name="bikes")
    assert states(store)["data"] == "done"
    profile.profile_dataset(store, "bikes")
    found = {s.stage.value: s for s in stage_statuses(store)}
    assert found["explore"].state.value == "attention"
    assert "casual" in found["explore"].summary and "registered" in found["explore"].summary
    assert found["train"].state.value == "locked"
    cleaning.add_step(store, "bikes", {"kind": "drop_columns", "columns": ["casual", "registered"]})
    profile.profile_dataset(store, "bikes")
    assert states(store)["explore"] == "done"
    assert states(store)["train"] == "current"
