"""``mlwb serve`` run as a user would, in a subprocess: serve a project's production bundle,
answer a request from a real HTTP client, stop on SIGTERM with exit code 0 and the prediction
log flushed into the project; and the clear failures (port in use, no bundle, no production
version, a tampered bundle).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest

from app.services.demo import DEMO_CHARTERS
from app.services.prediction_log import read_log, read_rows

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=ENV,
        timeout=300,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def bundles(project: Path) -> list[Path]:
    """The bundle folders of ``project`` (not the logs served next to them)."""
    folder = project / "artifacts" / "bundles"
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.endswith(".log")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a deployed, promoted bundle (logistic regression on 1,500 rows)."""
    where = tmp_path_factory.mktemp("serve")
    frame = pl.read_csv(ROOT / "sample_data" / "adult.csv", n_rows=1500)
    frame.with_columns(pl.col(pl.String).str.strip_chars()).write_csv(where / "adult.csv")
    charter = {**DEMO_CHARTERS["adult"], "constraints": []}
    (where / "charter.json").write_text(json.dumps(charter))
    path = where / "adult"
    ok(mlwb("new", str(path)))
    ok(mlwb("problem", "set", "-p", str(path), "--from", str(where / "charter.json")))
    ok(mlwb("data", "import", str(where / "adult.csv"), "-p", str(path), "--name", "adult"))
    board = json.loads(
        ok(mlwb("train", "-p", str(path), "--models", "logreg", "--cv", "3", "--json"))
    )
    run = board["leaderboard"][0]["run"]["id"]
    ok(mlwb("train", "--choose", str(run), "-p", str(path)))
    ok(mlwb("evaluate", "-p", str(path), "--resamples", "100", "--json"))
    ok(mlwb("deploy", str(run), "-p", str(path), "--override-gate", "e2e", "--json"))
    ok(mlwb("registry", "promote", "1", "-p", str(path)))
    return path


@pytest.fixture()
def row() -> dict[str, object]:
    frame = pl.read_csv(ROOT / "sample_data" / "adult.csv", n_rows=1)
    return frame.with_columns(pl.col(pl.String).str.strip_chars()).drop("income").to_dicts()[0]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve", *args],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(process: subprocess.Popen[str], url: str) -> None:
    """Poll /health until the server answers (or the process ends)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"mlwb serve exited with {process.returncode}: {out}{err}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("mlwb serve did not become healthy")


@pytest.fixture()
def stop_later() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_project_answers_and_stops_cleanly_on_sigterm(
    project: Path, row: dict[str, object], stop_later: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start("--project", str(project), "--port", str(port))
    stop_later.append(process)
    wait_healthy(process, url)
    one = httpx.post(f"{url}/predict", json=[row], timeout=30)
    assert one.status_code == 200, one.text
    (result,) = one.json()["predictions"]
    assert result["prediction"] in {"<=50K", ">50K"}
    assert 0.0 <= result["probability"] <= 1.0
    bad = httpx.post(f"{url}/predict", json=[{**row, "age": "abc"}], timeout=30)
    assert bad.json()["predictions"][0]["errors"][0] == "age: 'abc' is not a number"
    assert httpx.post(f"{url}/predict", content=b"{", timeout=30).status_code == 422
    metrics = httpx.get(f"{url}/metrics", timeout=5).json()
    assert (metrics["requests"], metrics["rows"], metrics["rejects"]) == (3, 2, 1)

    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert f"on http://127.0.0.1:{port}" in out
    assert "stopped: 3 request(s), 2 row(s), 1 rejected" in out
    directory = project / "logs" / "predictions"
    entries = read_log(directory)
    assert entries["source"].to_list() == ["serve", "serve"]
    assert entries["rows"].to_list() == [1, 1]
    assert entries["rejected"].to_list() == [0, 1]
    rows = read_rows(directory)
    assert rows["age"].to_list() == [row["age"], None]
    assert rows["prediction"][0] == result["prediction"]


def test_serve_bundle_logs_next_to_it_and_port_in_use_fails(
    project: Path, row: dict[str, object], stop_later: list[subprocess.Popen[str]]
) -> None:
    (bundle,) = bundles(project)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start("--bundle", str(bundle), "--port", str(port))
    stop_later.append(process)
    wait_healthy(process, url)
    assert httpx.post(f"{url}/predict", json={"records": [row, row]}, timeout=30).status_code == 200

    second = mlwb("serve", "--bundle", str(bundle), "--port", str(port))
    assert second.returncode == 1
    assert second.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is already in use — "
        "stop the other server or choose another port with --port"
    )

    process.send_signal(signal.SIGINT)  # Ctrl+C
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    entries = read_log(bundle.with_name(f"{bundle.name}.log"))
    assert entries["rows"].to_list() == [2]


def test_serve_failures_are_one_clear_line(project: Path, tmp_path: Path) -> None:
    missing = mlwb("serve", "--bundle", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"error: there is no bundle at {tmp_path / 'nope'}")

    empty = tmp_path / "empty"
    ok(mlwb("new", str(empty)))
    none = mlwb("serve", "--project", str(empty))
    assert none.returncode == 1
    assert "no production bundle; deploy and promote first" in none.stderr

    (bundle,) = bundles(project)
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    (tampered / "metadata.json").write_text(
        (tampered / "metadata.json").read_text().replace('"threshold": 0.', '"threshold": 0.0')
    )
    refused = mlwb("serve", "--bundle", str(tampered))
    assert refused.returncode == 1
    assert "SHA-256 mismatch" in refused.stderr and "metadata.json" in refused.stderr
    assert "Traceback" not in refused.stderr

    usage = mlwb("serve")
    assert usage.returncode == 2
    assert "give exactly one of --bundle PATH or --project P" in usage.stderr
