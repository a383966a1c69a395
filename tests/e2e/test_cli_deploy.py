"""``mlwb deploy``, ``mlwb registry list|promote|rollback`` and ``mlwb bundle verify``, run as
a user would, in a subprocess; results are checked against the database read without mlwb and
against the bundle's files.

The commands are registered by importing ``app.cli_deploy`` (until ``app.cli`` imports it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from app.services.demo import DEMO_CHARTERS

ROOT = Path(__file__).resolve().parents[2]
RUNNER = "import app.cli_deploy, app.cli; app.cli.main()"


def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def registry_rows(project: Path) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """Bundles (version, run, path, zip, sha256, gate, override) and aliases, read directly."""
    with duckdb.connect(str(project / "project.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT version, run_id, path, zip_path, sha256, gate, override_reason "
            "FROM bundles ORDER BY version"
        ).fetchall()
        aliases = dict(con.execute("SELECT alias, version FROM bundle_aliases").fetchall())
    return rows, aliases


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A project whose chosen run has been evaluated."""
    where = tmp_path_factory.mktemp("deploy")
    frame = pl.read_csv(ROOT / "sample_data" / "adult.csv", n_rows=1500)
    frame.with_columns(pl.col(pl.String).str.strip_chars()).write_csv(where / "adult.csv")
    charter = {**DEMO_CHARTERS["adult"], "constraints": []}
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
    ok(mlwb("evaluate", "-p", str(path), "--resamples", "200", "--json"))
    return path, run


def test_deploy_promote_rollback_and_verify(project: tuple[Path, int], tmp_path: Path) -> None:
    path, run = project
    # The gate may or may not pass on this sample; an override always deploys and is recorded.
    first = json.loads(
        ok(mlwb("deploy", str(run), "-p", str(path), "--override-gate", "e2e check", "--json"))
    )
    assert first["version"] == 1 and first["aliases"] == ["candidate"]
    assert first["override_reason"] == "e2e check"
    rows, aliases = registry_rows(path)
    assert aliases == {"candidate": 1}
    [(version, run_id, rel, rel_zip, sha, _gate, reason)] = rows
    assert (version, run_id, reason) == (1, run, "e2e check")
    assert rel.startswith("artifacts/bundles/") and (path / rel).is_dir()
    assert hashlib.sha256((path / rel_zip).read_bytes()).hexdigest() == sha

    text = ok(mlwb("deploy", str(run), "-p", str(path), "--override-gate", "second"))
    assert "Registered bundle v2" in text and "mlwb registry promote 2" in text
    assert all(len(line) <= 80 for line in text.splitlines())

    ok(mlwb("registry", "promote", "1", "-p", str(path)))
    text = ok(mlwb("registry", "promote", "2", "-p", str(path)))
    assert "v2" in text and "production" in text
    assert registry_rows(path)[1] == {"production": 2, "archived": 1}
    listed = ok(mlwb("registry", "list", "-p", str(path)))
    assert "v1" in listed and "archived" in listed and "production" in listed
    assert all(len(line) <= 80 for line in listed.splitlines())

    back = json.loads(ok(mlwb("registry", "rollback", "-p", str(path), "--json")))
    assert back["version"] == 1 and back["aliases"] == ["production"]
    assert registry_rows(path)[1] == {"production": 1, "archived": 2}
    with duckdb.connect(str(path / "project.duckdb"), read_only=True) as con:
        actions = con.execute(
            "SELECT action FROM events WHERE stage = 'deploy' ORDER BY id"
        ).fetchall()
    assert [a for (a,) in actions] == ["deploy", "deploy", "promote", "promote", "rollback"]

    # A second rollback has nowhere to go; a missing version is named.
    result = mlwb("registry", "rollback", "-p", str(path))
    assert result.returncode == 1 and "no previous one" in result.stderr
    result = mlwb("registry", "promote", "9", "-p", str(path))
    assert result.returncode == 1 and "no bundle version 9" in result.stderr

    # bundle verify: the folder and the zip pass; a tampered copy is refused naming the file.
    good = json.loads(ok(mlwb("bundle", "verify", str(path / rel), "--json")))
    assert good["verified"] and good["metadata"]["run_id"] == run
    assert "model.skops" in good["manifest"]["files"]
    text = ok(mlwb("bundle", "verify", str(path / rel_zip)))
    assert "Verified" in text and "model.skops" in text and "e2e check" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    tampered = tmp_path / "tampered"
    shutil.copytree(path / rel, tampered)
    card = tampered / "model_card.md"
    card.write_text(card.read_text() + "\nedited\n")
    result = mlwb("bundle", "verify", str(tampered))
    assert result.returncode == 1
    assert "model_card.md" in result.stderr and "SHA-256" in result.stderr


def test_unknown_run_stores_nothing(project: tuple[Path, int]) -> None:
    path, _ = project
    before = registry_rows(path)
    result = mlwb("deploy", "999", "-p", str(path))
    assert result.returncode == 1 and "no run 999" in result.stderr
    assert registry_rows(path) == before
