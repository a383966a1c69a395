"""``mlwb lesson`` in a subprocess: create, status --json, hints, reset with a backup, and the
one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo root shared by the lesson tests (checkpoints are cached in it)."""
    path = tmp_path_factory.getbasetemp() / "lesson-home"
    path.mkdir(exist_ok=True)
    return path


def mlwb(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MLWB_HOME": str(home), "COLUMNS": "100", "OMP_NUM_THREADS": "1"},
        timeout=600,
    )


def js(home: Path, *args: str) -> Any:
    result = mlwb(home, *args, "--json")
    assert result.returncode == 0, " ".join(args) + "\n" + result.stdout + result.stderr
    return json.loads(result.stdout)


def done_ids(status: dict[str, Any]) -> list[str]:
    return [t["id"] for s in status["stages"] for t in s["tasks"] if t["done"]]


def test_a_lesson_from_creation_to_reset(home: Path, tmp_path: Path) -> None:
    p = str(tmp_path / "learner")
    created = js(home, "lesson", "bikes", "--path", p, "--no-open")
    assert created == {"project": p, "lesson": "bikes"}

    status = js(home, "lesson", "status", "-p", p)
    assert (status["lesson"], status["done"], status["total"]) == ("bikes", 0, 10)
    assert status["current_stage"] == "problem"
    assert [s["stage"] for s in status["stages"]] == [
        "problem", "data", "explore", "train", "evaluate", "deploy", "monitor", "retrain",
    ]  # fmt: skip
    first = status["stages"][0]["tasks"][0]
    assert {k: first[k] for k in ("id", "title", "done", "evidence")} == {
        "id": "kpi",
        "title": "Define the KPI",
        "done": False,
        "evidence": "no charter saved yet",
    }
    assert "time-ordered" in first["why"]
    drift = status["stages"][6]["tasks"][0]
    assert str(SAMPLE / "bike_batches") in drift["todo"]
    explained = mlwb(home, "lesson", "status", "-p", p, "--explain")
    assert "Why: casual + registered = cnt in every row." in explained.stdout

    hints = [js(home, "lesson", "hint", "kpi", "-p", p) for _ in range(2)]
    assert [h["number"] for h in hints] == [1, 2] and hints[0]["total"] == 4
    assert "ctrl+s" in hints[0]["hint"]

    text = mlwb(home, "lesson", "reset", "--to", "train", "-p", p)
    assert text.returncode == 0, text.stderr
    backups = sorted(tmp_path.glob("learner.backup-*"))
    assert len(backups) == 1
    assert f"kept as {backups[0]}" in text.stdout
    assert "at the start of Train" in text.stdout

    after = js(home, "lesson", "status", "-p", p)
    assert done_ids(after) == ["kpi", "instant-id", "profile", "leakage"]
    assert after["current_stage"] == "train"
    again = js(home, "lesson", "reset", "--to", "data", "-p", p)
    assert Path(again["backup"]).is_dir() and again["stage"] == "data"
    assert done_ids(js(home, "lesson", "status", "-p", p)) == ["kpi"]
    # The first backup still holds the learner's own hints.
    events = js(home, "events", "-p", str(backups[0]), "--limit", "5")
    assert [e["action"] for e in events if e["stage"] == "lesson"][:2] == ["hint", "hint"]


def test_errors_are_one_line_with_a_way_out(home: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    assert mlwb(home, "new", str(plain)).returncode == 0
    refused = mlwb(home, "lesson", "reset", "--to", "train", "-p", str(plain))
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and "not a lesson or demo project" in refused.stderr
    assert "mlwb lesson adult" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]

    status = mlwb(home, "lesson", "status", "-p", str(plain))
    assert status.returncode == 1 and "not a lesson or demo project" in status.stderr

    p = str(tmp_path / "learner")
    js(home, "lesson", "adult", "--path", p, "--no-open")
    unknown = mlwb(home, "lesson", "hint", "leak", "-p", p)
    assert unknown.returncode == 1
    assert "no task 'leak'" in unknown.stderr and "markers" in unknown.stderr
    wrong_stage = mlwb(home, "lesson", "reset", "--to", "deployment", "-p", p)
    assert wrong_stage.returncode == 2 and "deployment" in wrong_stage.stderr
