"""The whole lifecycle from the command line, in subprocesses, on both demos' data:
charter → import → clean → profile → train → evaluate → deploy → predict → monitor →
retrain → report, asserting the decision each stage takes.

Adult: a raw extract (leading spaces, ``?`` markers) cleaned by a recipe the bundle replays on
raw rows; a batch like the training data is OK, an older population alerts. Bikes: trained on
January–March 2011; later months drift (temperature) and, once labelled, miss the charter; a
challenger trained with June and July beats the champion on August and is promoted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl

from app.services.demo import DEMO_CHARTERS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"


def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "100", "OMP_NUM_THREADS": "1"},
        timeout=900,
    )


def ok(*args: str) -> str:
    result = mlwb(*args)
    assert result.returncode == 0, " ".join(args) + "\n" + result.stdout + result.stderr
    return result.stdout


def js(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def _charter(where: Path, name: str, **changes: Any) -> Path:
    path = where / f"{name}.json"
    path.write_text(json.dumps({**DEMO_CHARTERS[name], **changes}))
    return path


def test_adult_from_raw_file_to_report(tmp_path: Path) -> None:
    raw = pl.read_csv(SAMPLE / "adult.csv")
    raw.head(3000).write_csv(tmp_path / "adult.csv")
    p = str(tmp_path / "adult")
    ok("new", p, "--no-open")
    charter = _charter(tmp_path, "adult", threshold=0.5, constraints=[])
    ok("problem", "set", "-p", p, "--from", str(charter))
    ok("data", "import", str(tmp_path / "adult.csv"), "-p", p, "--name", "adult")
    ok("data", "step", "add", '{"kind": "trim_whitespace"}', "-p", p)
    ok("data", "step", "add", '{"kind": "null_markers", "markers": ["?"]}', "-p", p)
    profile = js("eda", "-p", p)
    assert profile["n_rows"] == 3000

    board = js("train", "-p", p, "--models", "hgb", "--cv", "3")
    run = board["leaderboard"][0]["run"]["id"]
    ok("train", "--choose", str(run), "-p", p)
    evaluation = js("evaluate", "-p", p, "--resamples", "200")
    assert evaluation["gate"]["outcome"] == "pass", evaluation["gate"]["summary"]

    deployed = js("deploy", "-p", p)
    ok("registry", "promote", str(deployed["version"]), "-p", p)

    # Raw rows as the source sends them: the bundle replays trim and markers itself.
    later = raw.slice(3000, 1500).with_row_index("id", offset=3000)
    later.drop("income").write_csv(tmp_path / "new.csv")
    scored = js(
        "predict", "--project", p, "--input", str(tmp_path / "new.csv"),
        "--output", str(tmp_path / "scored.parquet"),
    )  # fmt: skip
    assert scored["rows_in"] == 1500 and scored["rows_scored"] + scored["rows_rejected"] == 1500
    out = pl.read_parquet(tmp_path / "scored.parquet")
    assert not out["flags"].str.contains("=' ").any()  # no value flagged for its leading space

    later.write_csv(tmp_path / "same.csv")
    same = js("monitor", "add", str(tmp_path / "same.csv"), "-p", p, "--label-column", "income")
    assert same["status"] == "ok", same["report"]["reasons"]
    assert same["report"]["performance"]["metric"] == "f1"

    older = later.with_columns(pl.col("age") + 25)
    older.drop("income").write_csv(tmp_path / "older.csv")
    alarm = mlwb("monitor", "add", str(tmp_path / "older.csv"), "-p", p, "--fail-on", "warn")
    assert alarm.returncode == 1, alarm.stdout + alarm.stderr
    assert "age" in alarm.stdout and ("WARN" in alarm.stdout or "ALERT" in alarm.stdout)

    report = tmp_path / "report.md"
    ok("report", "-p", p, "-o", str(report), "--html", str(tmp_path / "report.html"))
    text = report.read_text()
    for heading in ("Charter", "Leaderboard", "Registry", "Monitoring"):
        assert heading in text
    assert "http://" not in (tmp_path / "report.html").read_text()


def _months(frame: pl.DataFrame, *months: str) -> pl.DataFrame:
    return frame.filter(pl.col("dteday").str.slice(0, 7).is_in(list(months)))


def test_bikes_drift_is_detected_and_a_challenger_replaces_the_champion(tmp_path: Path) -> None:
    bikes = pl.read_csv(SAMPLE / "bike_sharing_hour.csv").drop("casual", "registered")
    _months(bikes, "2011-01", "2011-02", "2011-03").write_csv(tmp_path / "bikes.csv")
    p = str(tmp_path / "bikes")
    ok("new", p, "--no-open")
    ok("problem", "set", "-p", p, "--from", str(_charter(tmp_path, "bikes", constraints=[])))
    ok("data", "import", str(tmp_path / "bikes.csv"), "-p", p, "--name", "bikes")
    ok("data", "roles", "-p", p, "--set", "instant=id")
    board = js("train", "-p", p, "--models", "hgb", "--cv", "3")
    run = board["leaderboard"][0]["run"]["id"]
    ok("train", "--choose", str(run), "-p", p)
    ok("evaluate", "-p", p, "--resamples", "200")
    deployed = js("deploy", "-p", p, "--override-gate", "winter-only model for the workshop")
    ok("registry", "promote", str(deployed["version"]), "-p", p)

    batches = []
    for month in ("2011-06", "2011-07", "2011-08"):
        path = tmp_path / f"{month}.csv"
        _months(bikes, month).write_csv(path)
        batches.append(
            js("monitor", "add", str(path), "-p", p, "--label-column", "cnt", "--key", "instant")
        )
    august = batches[-1]
    assert august["status"] == "alert"
    assert {"temp", "atemp"} <= set(august["report"]["top_features"])
    assert august["report"]["recommendation"] == "retrain"

    ids = ",".join(str(b["id"]) for b in batches)
    comparison = js("retrain", "-p", p, "--batches", ids, "--resamples", "300")
    assert comparison["decision"] == "promote", comparison
    promoted = js("retrain", "promote", "-p", p)
    versions = js("registry", "list", "-p", p)
    production = [v for v in versions if "production" in v["aliases"]]
    assert len(production) == 1 and production[0]["version"] != deployed["version"]
    assert promoted["version"] == production[0]["version"]
    ok("report", "-p", p, "-o", str(tmp_path / "bikes.md"))
    assert "Retrain" in (tmp_path / "bikes.md").read_text()
