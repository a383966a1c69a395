"""``mlwb report`` in a subprocess on a small project (charter, 600 adult rows, one trained
logistic regression): the Markdown and HTML files appear, the JSON names each section's state,
the default goes to the project folder, and a folder that is no project is a one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from app.services.demo import DEMO_CHARTERS

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("report")
    frame = pl.read_csv(ROOT / "sample_data" / "adult.csv", n_rows=600)
    frame.with_columns(pl.col(pl.String).str.strip_chars()).write_csv(where / "adult.csv")
    (where / "charter.json").write_text(json.dumps({**DEMO_CHARTERS["adult"], "constraints": []}))
    path = where / "adult"
    ok(mlwb("new", str(path), "--no-open"))
    ok(mlwb("problem", "set", "-p", str(path), "--from", str(where / "charter.json")))
    ok(mlwb("data", "import", str(where / "adult.csv"), "-p", str(path), "--name", "adult"))
    ok(mlwb("train", "-p", str(path), "--models", "logreg", "--cv", "3"))
    return path


def test_report_writes_markdown_and_html(project: Path, tmp_path: Path) -> None:
    md, page = tmp_path / "x.md", tmp_path / "x.html"
    out = ok(mlwb("report", "-p", str(project), "-o", str(md), "--html", str(page)))
    assert f"wrote {md}" in out and f"wrote {page}" in out
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Lifecycle report: adult\n")
    assert "## Leaderboard\n" in text and "Logistic regression" in text
    assert "## Evaluation and gate (not started)" in text
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for needle in ("http://", "https://", "src=", "<link", "<script"):
        assert needle not in html.lower()


def test_report_json_and_default_path(project: Path) -> None:
    data = json.loads(ok(mlwb("report", "-p", str(project), "--json")))
    assert Path(data["markdown"]) == (project / "report.md").resolve()
    assert data["html"] is None
    assert (project / "report.md").is_file()
    states = {s["key"]: s["state"] for s in data["sections"]}
    assert states["charter"] == states["data"] == states["train"] == "done"
    assert states["evaluate"] == states["deploy"] == states["monitor"] == "not started"


def test_report_outside_a_project_is_one_line(tmp_path: Path) -> None:
    result = mlwb("report", "-p", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
