"""``mlwb retrain``, ``mlwb retrain compare`` and ``mlwb retrain promote`` in a subprocess: the
help, and the error paths a user meets first (the full story runs in tests/unit/test_retrain.py).

The commands are registered by importing ``app.cli_retrain`` (until ``app.cli`` imports it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = "import app.cli_retrain, app.cli; app.cli.main()"


def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80"},
        timeout=120,
    )


def test_help_names_the_options_and_subcommands() -> None:
    result = mlwb("retrain", "--help")
    assert result.returncode == 0, result.stderr
    for word in ("--batches", "--window", "--rerun-leaderboard", "--margin", "compare", "promote"):
        assert word in result.stdout


@pytest.fixture(scope="module")
def empty_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("retrain") / "p"
    result = mlwb("new", str(path), "--no-open")
    assert result.returncode == 0, result.stderr
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "error: there is no production bundle, so there is no champion to challenge"),
        (("--window", "ninety"), "error: --window takes days such as 90d"),
        (("--batches", "3,x"), "error: --batches takes batch ids separated by commas"),
        (("compare",), "error: there is no retrain comparison yet"),
        (("promote",), "error: there is no retrain comparison yet"),
    ],
)
def test_errors_are_one_line_with_exit_1(empty_project: Path, args: tuple, message: str) -> None:
    if args and args[0] in ("compare", "promote"):
        argv = ["retrain", args[0], "--project", str(empty_project), *args[1:]]
    else:
        argv = ["retrain", "--project", str(empty_project), *args]
    result = mlwb(*argv)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr
