"""``mlwb evaluate``, ``mlwb gate`` and ``mlwb model-card`` in a subprocess.

A small adult project is made with the CLI (1,500 trimmed rows, one logistic regression).
The evaluation's JSON is checked against the confusion matrix it prints (accuracy,
precision, recall and F1 worked out by hand) and against what the store holds; the gate's
exit codes by moving the charter's threshold with ``mlwb problem set``: far below the
model (0, pass), far above (1, fail) and inside the interval (2, too close to call).
The charter has no latency constraint, so no outcome depends on the machine's speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from app.services.demo import DEMO_CHARTERS

ROOT = Path(__file__).resolve().parents[2]
EVAL = ("--resamples", "200")


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


def stored_evaluations(project: Path) -> list[tuple[int, int, str, str]]:
    """(id, charter version, outcome, body) of every stored evaluation, read without mlwb."""
    with duckdb.connect(str(project / "project.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT id, charter_version, outcome, body FROM evaluations ORDER BY id"
        ).fetchall()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The project and its chosen run."""
    where = tmp_path_factory.mktemp("evaluate")
    frame = pl.read_csv(ROOT / "sample_data" / "adult.csv", n_rows=1500)
    frame.with_columns(pl.col(pl.String).str.strip_chars()).write_csv(where / "adult.csv")
    charter = {**DEMO_CHARTERS["adult"], "constraints": ["recall >= 0.3"]}
    (where / "charter.json").write_text(json.dumps(charter))
    path = where / "adult"
    ok(mlwb("new", str(path), "--no-open"))
    ok(mlwb("problem", "set", "-p", str(path), "--from", str(where / "charter.json")))
    ok(mlwb("data", "import", str(where / "adult.csv"), "-p", str(path), "--name", "adult"))
    board = json.loads(
        ok(mlwb("train", "-p", str(path), "--models", "logreg", "--cv", "3", "--json"))
    )
    run = board["leaderboard"][0]["run"]["id"]
    ok(mlwb("train", "--choose", str(run), "-p", str(path)))
    return path, run


@pytest.fixture(scope="module")
def evaluated(project: tuple[Path, int]) -> dict[str, Any]:
    """``mlwb evaluate --json`` of the chosen run (the first evaluation of the project)."""
    path, _ = project
    result = mlwb("evaluate", "-p", str(path), *EVAL, "--segments", "sex", "--json")
    return json.loads(ok(result))


def test_evaluate_json(project: tuple[Path, int], evaluated: dict[str, Any]) -> None:
    path, run = project
    e = evaluated
    assert e["run_id"] == run and e["candidate"] == "logreg"
    assert (e["charter_version"], e["trained_charter_version"]) == (1, 1)
    assert (e["task"], e["target"], e["positive_class"], e["primary"]) == (
        "binary",
        "income",
        ">50K",
        "f1",
    )
    assert (e["n_holdout"], e["resamples"], e["seed"]) == (300, 200, 0)
    assert (e["threshold"], e["threshold_source"]) == (0.5, "default")
    metrics = {m["name"]: m for m in e["metrics"]}
    assert list(metrics) == [
        "accuracy",
        "error_rate",
        "balanced_accuracy",
        "precision",
        "recall",
        "f1",
        "mcc",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
    ]
    for name, m in metrics.items():
        model = m["model"]
        assert model["low"] <= model["value"] <= model["high"], name
        assert set(m) == {"name", "label", "model", "baseline", "difference", "better"}
    # By hand from the confusion matrix (rows actual, columns predicted; '>50K' second).
    assert e["classes"] == ["<=50K", ">50K"]
    (tn, fp), (fn, tp) = e["confusion"]
    assert tn + fp + fn + tp == 300
    value = {name: m["model"]["value"] for name, m in metrics.items()}
    assert value["accuracy"] == pytest.approx((tp + tn) / 300)
    assert value["error_rate"] == pytest.approx((fp + fn) / 300)
    assert value["precision"] == pytest.approx(tp / (tp + fp))
    assert value["recall"] == pytest.approx(tp / (tp + fn))
    assert value["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert value["balanced_accuracy"] == pytest.approx((tp / (tp + fn) + tn / (tn + fp)) / 2)
    # The dummy baseline predicts '<=50K' for everyone: its accuracy is that class's share.
    assert metrics["accuracy"]["baseline"]["value"] == pytest.approx((tn + fp) / 300)
    assert metrics["f1"]["baseline"]["value"] == 0 and metrics["f1"]["better"] is True
    assert {s["column"] for s in e["segments"]} == {"sex"}
    assert sum(s["n"] for s in e["segments"]) == 300
    assert e["gate"]["outcome"] in ("pass", "fail", "too_close")
    assert e["gate"]["checks"][0]["name"] == "f1 >= 0.65"
    assert e["importance"] and e["importance_rows"] == 300
    # What was printed is what was stored.
    rows = stored_evaluations(path)
    assert [(r[0], r[1], r[2]) for r in rows] == [(e["id"], 1, e["gate"]["outcome"])]
    assert json.loads(rows[0][3]) == e


def test_gate_exit_codes_follow_the_charter(
    project: tuple[Path, int], evaluated: dict[str, Any]
) -> None:
    path, run = project
    before = len(stored_evaluations(path))

    ok(mlwb("problem", "set", "-p", str(path), "--threshold", "0.05", "--clear-constraints"))
    passed = mlwb("gate", "-p", str(path), *EVAL)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.startswith(
        f"Gate: PASS — run {run} (Logistic regression) against charter v2\n"
    )
    assert "✓ f1 >= 0.05: " in passed.stdout and "✓ beats the baseline" in passed.stdout

    ok(mlwb("problem", "set", "-p", str(path), "--threshold", "0.99"))
    failed = mlwb("gate", "-p", str(path), *EVAL, "--json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    verdict = json.loads(failed.stdout)
    assert verdict["outcome"] == "fail" and verdict["run"] == run
    assert verdict["checks"][0] == {
        "name": "f1 >= 0.99",
        "passed": False,
        "detail": verdict["checks"][0]["detail"],
    }
    assert "the whole interval misses it" in verdict["checks"][0]["detail"]

    # The same seed and resamples give the interval of the first evaluation: a threshold
    # in its middle is too close to call.
    f1 = next(m for m in evaluated["metrics"] if m["name"] == "f1")["model"]
    middle = round((f1["low"] + f1["high"]) / 2, 4)
    assert f1["low"] < middle < f1["high"]
    ok(mlwb("problem", "set", "-p", str(path), "--threshold", str(middle)))
    close = mlwb("gate", "-p", str(path), *EVAL, "--json")
    assert close.returncode == 2, close.stdout + close.stderr
    verdict = json.loads(close.stdout)
    assert verdict["outcome"] == "too_close" and verdict["checks"][0]["passed"] is None
    assert verdict["summary"].startswith("undecided: f1 >= ")

    rows = stored_evaluations(path)
    assert [(r[1], r[2]) for r in rows[before:]] == [(2, "pass"), (3, "fail"), (4, "too_close")]
    assert verdict["evaluation"] == rows[-1][0]


def test_model_card_is_written(project: tuple[Path, int], tmp_path: Path) -> None:
    path, run = project
    _, version, outcome, body = stored_evaluations(path)[-1]
    latest = json.loads(body)
    result = mlwb("model-card", "-p", str(path), "-o", str(tmp_path / "card.md"))
    assert ok(result) == f"model card written to {tmp_path / 'card.md'}\n"
    card = (tmp_path / "card.md").read_text()
    assert card.startswith(f"# Model card: Logistic regression (run {run})\n")
    label = {"pass": "PASS", "fail": "FAIL", "too_close": "TOO CLOSE TO CALL"}[outcome]
    assert f"**Gate: {label}** — {latest['gate']['summary']}" in card
    assert f"judged against charter v{version} on 300 holdout rows" in card
    for m in latest["metrics"]:
        assert f"| {m['label']} | {m['model']['value']:.4f} | " in card
    assert "## Limitations" in card


def test_bad_input_is_one_line_and_stores_nothing(project: tuple[Path, int]) -> None:
    path, _ = project
    before = stored_evaluations(path)
    result = mlwb("evaluate", "-p", str(path), "--threshold", "1.5")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: the decision threshold must be between 0 and 1, not 1.5 — e.g. --threshold 0.4"
    ]
    result = mlwb("evaluate", "-p", str(path), "--resamples", "5")
    assert result.returncode == 2 and "--resamples" in result.stderr
    assert "Traceback" not in result.stderr
    result = mlwb("evaluate", "999", "-p", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith("error: there is no run 999")
    assert stored_evaluations(path) == before
