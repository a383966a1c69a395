"""The real TUI in tmux at 80x24: open a project, visit every stage, read help, quit."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.domain.guide import STAGE_PURPOSE
from app.domain.stages import Stage
from app.services import problem
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]


def screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
    ).stdout


def wait_for(session: str, text: str, limit: float = 30.0) -> str:
    deadline = time.monotonic() + limit
    shown = ""
    while time.monotonic() < deadline:
        shown = screen(session)
        if text in shown:
            return shown
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not on screen after {limit} s:\n{shown}")


@pytest.fixture
def session(tmp_path: Path, charter_data: dict[str, Any]) -> Any:
    assert shutil.which("tmux"), "tmux is required for the end-to-end TUI test"
    store = ProjectStore.create(tmp_path / "tmux-project", "Adult [demo]")
    problem.save_charter(store, charter_data)
    name = f"mlwb-e2e-{tmp_path.name}"[:60]
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "80",
            "-y",
            "24",
            f"cd {ROOT} && {sys.executable} -m app open {store.root}",
        ],
        check=True,
        env={"TERM": "xterm-256color", "PATH": "/usr/bin:/bin", "MLWB_LOCK_WAIT": "5"},
    )
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def test_walk_every_stage_in_tmux(session: str) -> None:
    wait_for(session, "Find adults likely")
    first = wait_for(session, "1✓Problem")
    assert "Adult [demo]" in first
    assert "2●Data" in first
    subprocess.run(["tmux", "send-keys", "-t", session, "2"], check=True)
    wait_for(session, "No dataset yet. Press i to import")
    wait_for(session, "Table (t)")
    subprocess.run(["tmux", "send-keys", "-t", session, "3"], check=True)
    wait_for(session, "No dataset yet: import one on the Data screen")
    wait_for(session, "Columns (c)")
    # Stages with nothing to work on yet say what comes first (their own empty states).
    empty = {
        Stage.DEPLOY: "Nothing to deploy yet",
        Stage.MONITOR: "there is nothing to monitor with yet",
    }
    for stage in list(Stage)[3:]:
        subprocess.run(["tmux", "send-keys", "-t", session, str(stage.number)], check=True)
        shown = wait_for(session, empty.get(stage, STAGE_PURPOSE[stage][:40]))
        assert f"{stage.number} {stage.title}" in shown or f"{stage.number}  {stage.title}" in shown
    subprocess.run(["tmux", "send-keys", "-t", session, "1"], check=True)
    wait_for(session, "Business question")
    subprocess.run(["tmux", "send-keys", "-t", session, "F1"], check=True)
    wait_for(session, "What it is for.")
    subprocess.run(["tmux", "send-keys", "-t", session, "Escape"], check=True)
    wait_for(session, "Business question")
    subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = subprocess.run(["tmux", "has-session", "-t", session], capture_output=True)
        if alive.returncode != 0:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("mlwb did not quit on ctrl+q")
