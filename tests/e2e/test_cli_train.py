"""``mlwb train`` and ``mlwb runs`` in a subprocess on a small adult project built by the CLI.

The leaderboard's order and p-values are checked against the fold metrics it prints
(recomputed with scipy), the chosen model file against its SHA-256, and bad flags against
a one-line message with nothing changed. The subprocesses run with one BLAS/OpenMP thread
so a busy machine does not slow gradient boosting down (results do not depend on it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from scipy import stats

from app.services.demo import DEMO_CHARTERS

ROOT = Path(__file__).resolve().parents[2]
LIGHT = ("--param", "rf.n_estimators=20", "--param", "rf.max_depth=6", "--param", "hgb.max_iter=30")


def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def stored(project: Path) -> tuple[Any, ...]:
    """Runs, sessions, splits and events as stored, read without mlwb."""
    with duckdb.connect(str(project / "project.duckdb"), read_only=True) as con:
        return tuple(
            con.execute(q).fetchall()
            for q in (
                "SELECT id, status, body FROM runs ORDER BY id",
                "SELECT id, status FROM train_sessions ORDER BY id",
                "SELECT count(*) FROM holdout_rows",
                "SELECT count(*), max(id) FROM events",
            )
        )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 trimmed adult rows under the adult demo charter, made with the CLI."""
    where = tmp_path_factory.mktemp("train")
    frame = pl.read_csv(ROOT / "sample_data" / "adult.csv", n_rows=2000)
    frame.with_columns(pl.col(pl.String).str.strip_chars()).write_csv(where / "adult.csv")
    (where / "charter.json").write_text(json.dumps(DEMO_CHARTERS["adult"]))
    path = where / "adult"
    ok(mlwb("new", str(path), "--no-open"))
    ok(mlwb("problem", "set", "-p", str(path), "--from", str(where / "charter.json")))
    ok(mlwb("data", "import", str(where / "adult.csv"), "-p", str(path), "--name", "adult"))
    return path


@pytest.fixture(scope="module")
def board(project: Path) -> dict[str, Any]:
    """The JSON of one quick training session."""
    result = mlwb("train", "-p", str(project), "--preset", "quick", "--cv", "3", "--json", *LIGHT)
    return json.loads(ok(result)) | {"stderr": result.stderr}


def corrected_p(a: list[float], b: list[float], n_train: float, n_test: float) -> float:
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    k = len(diffs)
    t = statistics.fmean(diffs) / math.sqrt((1 / k + n_test / n_train) * statistics.variance(diffs))
    return 2 * float(stats.t.sf(abs(t), k - 1))


def test_quick_preset_leaderboard(board: dict[str, Any]) -> None:
    assert board["cancelled"] is False and isinstance(board["session"], int)
    assert board["primary"] == "f1"
    assert board["split"]["kind"] == "stratified"
    assert board["split"]["n_train"] + board["split"]["n_holdout"] == 2000
    rows = board["leaderboard"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert sorted(r["run"]["candidate"] for r in rows) == ["dummy", "hgb", "logreg", "rf"]
    f1 = [r["run"]["mean"]["f1"] for r in rows]
    assert f1[0] == max(f1) and f1 == sorted(f1, reverse=True)
    leader = rows[0]["run"]
    assert rows[0]["p_value"] is None
    n_train = statistics.fmean(f["n_train"] for f in leader["folds"])
    n_test = statistics.fmean(f["n_valid"] for f in leader["folds"])
    for row in rows[1:]:
        folds = [f["metrics"]["f1"] for f in row["run"]["folds"]]
        expected = corrected_p(
            [f["metrics"]["f1"] for f in leader["folds"]], folds, n_train, n_test
        )
        assert row["p_value"] == pytest.approx(expected, rel=1e-9)
        assert row["tied"] == (expected > 0.05)
    for row in rows:
        run = row["run"]
        assert run["status"] == "done" and run["cv"] == 3 and run["seed"] == 42
        assert len(run["folds"]) == 3
        assert run["mean"]["f1"] == pytest.approx(
            statistics.fmean(f["metrics"]["f1"] for f in run["folds"]), rel=1e-12
        )
        assert f"run {run['id']} " in board["stderr"]
    assert board["failed"] == []


def test_runs_list_show_and_candidates(project: Path, board: dict[str, Any]) -> None:
    listed = json.loads(ok(mlwb("runs", "list", "-p", str(project), "--json")))
    assert [r["id"] for r in listed] == [r["run"]["id"] for r in board["leaderboard"]]
    text = ok(mlwb("runs", "list", "-p", str(project)))
    assert text.startswith("Leaderboard of adult@1 by F1")
    assert "Holdout (locked, never used here): 1,600 training rows, 400 holdout rows" in text
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide, too_wide  # the leaderboard is meant to fit 80 columns

    logreg = next(r["run"] for r in board["leaderboard"] if r["run"]["candidate"] == "logreg")
    shown = json.loads(ok(mlwb("runs", "show", str(logreg["id"]), "-p", str(project), "--json")))
    assert shown == logreg
    detail = ok(mlwb("runs", "show", str(logreg["id"]), "-p", str(project)))
    assert detail.startswith(f"Run {logreg['id']}: Logistic regression — done")
    assert "3-fold stratified CV, seed 42" in detail
    assert "parameters: C=1.0, class_weight=None" in detail
    assert f"{logreg['folds'][0]['metrics']['f1']:.4f}" in detail

    candidates = json.loads(ok(mlwb("runs", "candidates", "-p", str(project), "--json")))
    keys = [c["key"] for c in candidates]
    assert keys == ["dummy", "logreg", "knn", "nb", "dt", "rf", "et", "hgb", "svm", "sm_logit"]
    text = ok(mlwb("runs", "candidates", "-p", str(project)))
    assert "quick preset: dummy, logreg, rf, hgb" in text
    assert "rf.n_estimators=100" in text and "int in [10, 500]" in text
    assert "linreg" not in text

    missing = one_error_line(mlwb("runs", "show", "9999", "-p", str(project)))
    assert missing.startswith("error: there is no run 9999")


def test_rerun_is_identical_and_choose_keeps_the_model(
    project: Path, board: dict[str, Any]
) -> None:
    logreg = next(r["run"] for r in board["leaderboard"] if r["run"]["candidate"] == "logreg")
    text = ok(mlwb("train", "--rerun", str(logreg["id"]), "-p", str(project)))
    found = re.fullmatch(
        rf"run {logreg['id']} repeated as run (\d+): identical fold metrics \(3 folds\)\n", text
    )
    assert found, text
    rerun = json.loads(ok(mlwb("runs", "show", found[1], "-p", str(project), "--json")))
    assert rerun["rerun_of"] == logreg["id"] and rerun["params"] == logreg["params"]
    assert [f["metrics"] for f in rerun["folds"]] == [f["metrics"] for f in logreg["folds"]]

    hgb = next(r["run"] for r in board["leaderboard"] if r["run"]["candidate"] == "hgb")
    chosen = json.loads(ok(mlwb("train", "--choose", str(hgb["id"]), "-p", str(project), "--json")))
    path = Path(chosen["path"])
    assert path == project.resolve() / "artifacts" / "models" / f"run-{hgb['id']}.skops"
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == chosen["sha256"]
    assert chosen["bytes"] == path.stat().st_size and chosen["rows"] == 1600
    events = ok(mlwb("events", "-p", str(project)))
    assert f"run {hgb['id']} (Histogram gradient boosting) chosen" in events


BAD_FLAGS = [
    (("--budget", "10x"), "error: cannot read the budget '10x'"),
    (
        ("--param", "rf.n_estimators=0"),
        "rf: n_estimators must be int in [10, 500]; '0' is outside it",
    ),
    (("--models", "nope"), "error: unknown model 'nope'; models for binary classification:"),
]


def test_bad_flags_give_one_line_and_change_nothing(project: Path, board: dict[str, Any]) -> None:
    before = stored(project)
    for flags, message in BAD_FLAGS:
        line = one_error_line(mlwb("train", "-p", str(project), "--cv", "3", *flags))
        assert message in line and line.startswith("error: "), (flags, line)
    assert stored(project) == before
