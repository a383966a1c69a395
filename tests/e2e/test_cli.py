"""The CLI in a subprocess: project creation, the charter, status, errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def mlwb(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_problem_stage_headless(tmp_path: Path) -> None:
    project = tmp_path / "churn"
    made = mlwb("new", str(project), "--name", '[bold]Q3 "churn"', "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["name"] == '[bold]Q3 "churn"'

    status = json.loads(mlwb("status", "--project", str(project), "--json").stdout)
    states = {s["stage"]: s["state"] for s in status["stages"]}
    assert states == {
        "problem": "current",
        "data": "locked",
        "explore": "locked",
        "train": "locked",
        "evaluate": "locked",
        "deploy": "locked",
        "monitor": "locked",
        "retrain": "locked",
    }

    bad = mlwb(
        "problem",
        "set",
        "--objective",
        "Find churners",
        "--task",
        "binary",
        "--target",
        "churn",
        "--positive-class",
        "yes",
        "--metric",
        "f1",
        "--threshold",
        "7",
        cwd=project,
    )
    assert one_error_line(bad) == (
        "error: the charter is not valid: threshold: 7 is outside the range of F1 [0, 1]"
        " — fix the fields named and save again"
    )

    charter = tmp_path / "charter.toml"
    charter.write_text(
        'name = "Churn"\nobjective = "Find churners"\ntask = "binary"\ntarget = "churn"\n'
        'positive_class = "yes"\nprimary_metric = "f1"\nthreshold = 0.7\n'
        'constraints = ["recall >= 0.6", "latency_p95_ms <= 50"]\n'
        "[budget]\ntime_hours = 12\n"
    )
    saved = mlwb("problem", "set", "--project", str(project), "--from", str(charter), "--json")
    assert saved.returncode == 0, saved.stderr
    assert json.loads(saved.stdout)["version"] == 1

    second = mlwb(
        "problem", "set", "--project", str(project), "--threshold", "0.75", "--note", "stricter"
    )
    assert second.returncode == 0, second.stderr
    assert "success         f1 >= 0.75" in second.stdout

    history = json.loads(mlwb("problem", "history", "--project", str(project), "--json").stdout)
    assert [(v["version"], v["note"]) for v in history] == [(2, "stricter"), (1, "")]
    old = json.loads(
        mlwb("problem", "show", "--project", str(project), "--version", "1", "--json").stdout
    )
    assert old["charter"]["threshold"] == 0.7
    assert old["charter"]["constraints"][1] == {
        "metric": "latency_p95_ms",
        "bound": "<=",
        "value": 50.0,
    }

    status = json.loads(mlwb("status", "--project", str(project), "--json").stdout)
    assert status["stages"][0]["state"] == "done"
    assert status["stages"][1]["state"] == "current"

    events = json.loads(mlwb("events", "--project", str(project), "--json").stdout)
    assert [e["action"] for e in events] == ["charter_saved", "charter_saved", "created"]


def test_bad_projects_and_files(tmp_path: Path) -> None:
    missing = one_error_line(mlwb("status", "--project", str(tmp_path / "nope")))
    assert (
        missing
        == f"error: no such folder: {tmp_path / 'nope'} — create a project there with: mlwb new {tmp_path / 'nope'}"
    )
    (tmp_path / "plain").mkdir()
    not_project = one_error_line(mlwb(str(tmp_path / "plain")))
    assert "is not an mlwb project" in not_project and "mlwb new" in not_project
    (tmp_path / "f.txt").write_text("x")
    assert "is a file" in one_error_line(mlwb("open", str(tmp_path / "f.txt")))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "project.duckdb").write_bytes(b"\x00garbage" * 64)
    assert "cannot be read" in one_error_line(mlwb("status", "--project", str(corrupt)))

    project = tmp_path / "p"
    assert mlwb("new", str(project)).returncode == 0
    for content, suffix, expected in [
        ("name = \n", ".toml", "is not valid TOML"),
        ('{"task": "binary", "primary_metric": "f2"}', ".json", "unknown metric 'f2'"),
        (
            '{"task": "binary", "primary_metric": "f1", "threshold": 7}',
            ".json",
            "7 is outside the range of F1",
        ),
    ]:
        path = tmp_path / f"c{suffix}"
        path.write_text(content)
        line = one_error_line(
            mlwb("problem", "set", "--project", str(project), "--from", str(path))
        )
        assert expected in line
    no_charter = one_error_line(mlwb("problem", "show", "--project", str(project)))
    assert no_charter == "error: this project has no charter yet — set one with: mlwb problem set"
    usage = mlwb("problem", "set", "--project", str(project), "--task", "ranking")
    assert usage.returncode == 2 and "ranking" in usage.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = mlwb("status", "--project", str(tmp_path / "nope"), "--debug")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ProjectNotFound" in result.stderr


def test_demo_is_created_once_and_reset(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    first = mlwb("demo", "--path", str(where), "--no-open", "--json")
    assert first.returncode == 0, first.stderr
    shown: dict[str, Any] = json.loads(
        mlwb("problem", "show", "--project", str(where), "--json").stdout
    )
    assert shown["charter"]["target"] == "income" and shown["version"] == 1
    again = mlwb("demo", "--path", str(where), "--no-open")
    assert again.returncode == 0
    assert (
        len(json.loads(mlwb("problem", "history", "--project", str(where), "--json").stdout)) == 1
    )
    mlwb("problem", "set", "--project", str(where), "--threshold", "0.7")
    reset = mlwb("demo", "--path", str(where), "--no-open", "--reset")
    assert reset.returncode == 0
    assert (
        len(json.loads(mlwb("problem", "history", "--project", str(where), "--json").stdout)) == 1
    )
    bikes = mlwb(
        "demo", "--dataset", "bikes", "--no-open", env={"MLWB_HOME": str(tmp_path / "home")}
    )
    assert bikes.returncode == 0, bikes.stderr
    assert (tmp_path / "home" / "demo-bikes" / "project.duckdb").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("mine")
    refused = one_error_line(
        mlwb("demo", "--path", str(tmp_path / "other"), "--no-open", "--reset")
    )
    assert "will not delete it" in refused
    assert (tmp_path / "other" / "keep.txt").read_text() == "mine"


def test_version_and_help() -> None:
    version = mlwb("--version")
    assert version.returncode == 0 and version.stdout.startswith("mlwb, version ")
    assert "problem" in mlwb("--help").stdout
    for command in (["new"], ["demo"], ["status"], ["problem", "set"], ["problem", "show"]):
        assert mlwb(*command, "--help").returncode == 0
