"""``mlwb deploy --wheel`` and ``mlwb bundle wheel``, run as a user would, in a subprocess.

The wheel built by the CLI is unpacked (not installed: ``tests/unit/test_wheel.py`` installs
one into a fresh environment) and its ``python -m <package>`` scores a file, outside the mlwb
checkout so mlwb itself cannot be imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

from app.services.demo import DEMO_CHARTERS
from tests.e2e.test_cli_deploy import ROOT, mlwb, ok


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, Path]:
    """A project whose chosen run has been evaluated, and the CSV it was imported from."""
    where = tmp_path_factory.mktemp("deploy-wheel")
    frame = pl.read_csv(ROOT / "sample_data" / "adult.csv", n_rows=1500)
    frame.with_columns(pl.col(pl.String).str.strip_chars()).write_csv(where / "adult.csv")
    charter = {**DEMO_CHARTERS["adult"], "constraints": []}
    (where / "charter.json").write_text(json.dumps(charter))
    path = where / "Adult Income"
    ok(mlwb("new", str(path), "--name", "Adult Income", "--no-open"))
    ok(mlwb("problem", "set", "-p", str(path), "--from", str(where / "charter.json")))
    ok(mlwb("data", "import", str(where / "adult.csv"), "-p", str(path), "--name", "adult"))
    board = json.loads(
        ok(mlwb("train", "-p", str(path), "--models", "logreg", "--cv", "3", "--json"))
    )
    run = board["leaderboard"][0]["run"]["id"]
    ok(mlwb("train", "--choose", str(run), "-p", str(path)))
    ok(mlwb("evaluate", "-p", str(path), "--resamples", "200", "--json"))
    return path, run, where / "adult.csv"


def test_deploy_wheel_builds_a_predictor_that_scores_without_mlwb(project, tmp_path):
    path, run, csv = project
    got = json.loads(
        ok(mlwb("deploy", str(run), "-p", str(path), "--override-gate", "e2e", "--wheel", "--json"))
    )
    wheel = Path(got["wheel"])
    assert wheel.name == f"adult_income_predictor-1.0.{run}-py3-none-any.whl"
    assert wheel.parent == Path(got["folder"]).parent and wheel.is_file()

    text = ok(mlwb("deploy", str(run), "-p", str(path), "--override-gate", "again", "--wheel"))
    assert f"adult_income_predictor-2.0.{run}-py3-none-any.whl" in text
    assert "pip install" in text

    # mlwb bundle wheel: an existing bundle, another folder and name.
    again = json.loads(
        ok(
            mlwb(
                "bundle",
                "wheel",
                got["folder"],
                "-o",
                str(tmp_path / "w"),
                "--name",
                "churn",
                "--json",
            )
        )
    )
    assert Path(again["wheel"]).name == f"churn_predictor-1.0.{run}-py3-none-any.whl"
    refused = mlwb("bundle", "wheel", str(tmp_path / "nothing"))
    assert refused.returncode == 1 and "no bundle" in refused.stderr

    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "lib")
    rows = pl.read_csv(csv).drop("income").head(100)
    rows.write_csv(tmp_path / "in.csv")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-m", "adult_income_predictor", "in.csv", "out.ndjson"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path / "lib"), "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "scored 100 of 100 rows" in result.stdout
    scored = pl.read_ndjson(tmp_path / "out.ndjson")
    assert scored.height == 100 and scored["row"].to_list() == list(range(1, 101))
    assert set(scored["prediction"].unique()) <= {">50K", "<=50K"}
