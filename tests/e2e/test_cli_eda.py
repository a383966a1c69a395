"""``mlwb eda`` in a subprocess: profile, one column, alerts, correlations, thresholds, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def mlwb(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "80"},
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def fits(text: str) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide, too_wide


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eda") / "adult"
    ok(mlwb("demo", "--dataset", "adult", "--path", str(path), "--no-open"))
    return path


def test_profile_column_and_cache(project: Path) -> None:
    first = json.loads(ok(mlwb("eda", "--project", str(project), "--json")))
    assert (first["dataset"], first["n_rows"], first["n_cols"]) == ("adult", 32_561, 15)
    assert first["duplicate_rows"] == 24
    assert [c["count"] for c in first["target"]["classes"]] == [24_720, 7_841]
    text = ok(mlwb("eda", "-p", str(project)))
    fits(text)
    assert text.startswith("adult@1: 32,561 rows x 15 columns, profiled in")
    assert "target income (binary): ' <=50K' 24,720 (75.9%), ' >50K' 7,841 (24.1%)" in text
    assert "age             numeric      0.0%     73        17 .. 90, mean 38.5816" in text
    age = ok(mlwb("eda", "-p", str(project), "--column", "age"))
    fits(age)
    assert "quantiles (exact): 1% 17  5% 19  25% 28  50% 37  75% 48  95% 63  99% 74" in age
    assert "histogram: 37 bins (2 bins a line), Freedman-Diaconis" in age and "█" in age
    assert "rate of ' >50K' by age:" in age
    cached = json.loads(ok(mlwb("eda", "-p", str(project), "--json")))
    assert cached["computed_at"] == first["computed_at"]  # stored, not recomputed
    fresh = json.loads(ok(mlwb("eda", "-p", str(project), "--json", "--refresh", "--seed", "4")))
    assert fresh["computed_at"] != first["computed_at"] and fresh["settings"]["seed"] == 4


def test_alerts_and_correlations_text(project: Path) -> None:
    alerts = ok(mlwb("eda", "-p", str(project), "alerts"))  # group options reach the command
    fits(alerts)
    assert "MEDIUM duplicates: 24 row(s) repeat an earlier row exactly" in alerts
    assert 'step: {"kind": "null_markers", "markers": ["?"]' in alerts
    assert "fix: Turn '?' into null in workclass" in alerts
    correlations = ok(mlwb("eda", "correlations", "-p", str(project), "--top", "5"))
    fits(correlations)
    assert "education-num   education       corr. ratio  +1.000" in correlations
    assert "mutual information with income" in correlations


def test_thresholds_and_errors(project: Path) -> None:
    shown = json.loads(
        ok(mlwb("eda", "thresholds", "-p", str(project), "--set", "skew_abs=3", "--json"))
    )
    assert shown["thresholds"]["skew_abs"] == 3 and shown["defaults"]["skew_abs"] == 2
    text = ok(mlwb("eda", "thresholds", "-p", str(project)))
    fits(text)
    assert "* skew_abs             3 (default 2)" in text
    assert one_error_line(mlwb("eda", "thresholds", "-p", str(project), "--set", "skew=1")) == (
        "error: the thresholds are not valid: skew: unknown threshold; use one of "
        "near_constant_share, missing_share, mostly_missing_share, high_cardinality, "
        "id_distinct_share, skew_abs, zeros_share, imbalance_share, duplicate_share, "
        "high_correlation, leakage_correlation, outlier_share, iqr_factor, z_limit, "
        "regular_step_share — see them with: mlwb eda thresholds"
    )
    reset = json.loads(ok(mlwb("eda", "thresholds", "-p", str(project), "--reset-all", "--json")))
    assert reset["thresholds"]["skew_abs"] == 2
    assert one_error_line(mlwb("eda", "-p", str(project), "-c", "agee")) == (
        "error: 'agee' is not a column of adult@1 — did you mean 'age'?"
    )
