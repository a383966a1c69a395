"""Serving latency: ``mlwb serve`` against a naive FastAPI endpoint, one row per request.

Target (issue 7, the Deploy stage): p99 at most 10 ms end to end for a histogram gradient
boosting bundle, one-row requests on loopback from a real HTTP client in another process.

The bundle: ``bench.train``'s churn table (``bench.datagen``'s synthetic data made model-ready,
20 columns, binary target ``churn``) with ``ROWS`` rows (default 1,000,000), imported into a
project, ``hgb`` trained (``CV``-fold) and chosen (refitted on the 80 % training part),
evaluated (100 resamples, no importance) and bundled with an override reason. The project and
bundle are built once and cached in ``bench/out/serve-project-<rows>``
(``MLWB_BENCH_SERVE_REBUILD=1`` builds them again).

Measured in the same run, each server in its own process (``OMP_NUM_THREADS`` =
``MLWB_BENCH_SERVE_THREADS``, default 1, for both), each client in another process (an httpx
loop with keep-alive: ``WARMUP`` requests, then ``REQUESTS`` timed ones, ``ROUNDS`` rounds
alternating the servers; the latencies of all rounds pooled):

a. ``mlwb serve --bundle B``: ``POST /predict`` with ``[row]`` (the lean one-row path when the
   pipeline compiles to it, else the batch path on one row);
b. naive: FastAPI's usual style, ``def predict(rows: list[dict])`` (pydantic body parsing, a
   sync endpoint run in the threadpool) building a one-row pandas DataFrame and calling the
   pipeline's ``predict_proba``;
c. the floor: ``GET /health`` on ``mlwb serve`` (HTTP, JSON and client cost, no model).

p50, p90, p99 and requests per second for each, and the ratios. The probabilities of (a) and
(b) are compared on the request rows (they must be equal). Also: whether the lean path is
used, one-row latency in process (``predict_row`` and ``predict([row])``), the bundle load time
from a cold process to the first prediction (interpreter start, imports, verifying and loading
the bundle, one prediction; median of ``REPEATS``), and ``mlwb serve``'s start until its first
answer. Results: a table on stdout, ``bench/out/serve.json`` and ``bench/out/serve.txt``.

Request rows are rows of the table without missing values (the naive endpoint would need the
contract's handling of missing categories to score those).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import REPEATS, conditions, median, table, verdict

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parents[1]
ROWS = int(os.environ.get("MLWB_BENCH_SERVE_ROWS", "1000000"))
REQUESTS = int(os.environ.get("MLWB_BENCH_SERVE_REQUESTS", "2000"))
WARMUP = int(os.environ.get("MLWB_BENCH_SERVE_WARMUP", "200"))
ROUNDS = int(os.environ.get("MLWB_BENCH_SERVE_ROUNDS", "2"))
THREADS = os.environ.get("MLWB_BENCH_SERVE_THREADS", "1")
REBUILD = os.environ.get("MLWB_BENCH_SERVE_REBUILD", "") == "1"
CV = 2
SAMPLE_ROWS = 500
TARGET_P99_MS = 10.0


# -- the bundle -------------------------------------------------------------------------------


def project_dir() -> Path:
    return OUT / f"serve-project-{ROWS}"


def cached_bundle() -> dict[str, Any]:
    """The project and bundle (built once); what building took."""
    ready = project_dir() / "bench-ready.json"
    if ready.exists() and not REBUILD:
        return dict(json.loads(ready.read_text()))
    shutil.rmtree(project_dir(), ignore_errors=True)
    from threadpoolctl import threadpool_limits

    from app.domain.training import TrainSettings
    from app.services import evaluation as ev
    from app.services import models
    from app.services.bundle import build_bundle
    from app.services.training import leaderboard, train
    from bench.train import churn_project, make_churn_csv

    print(f"building {project_dir().name}: import, train hgb ({CV}-fold), choose, evaluate, "
          "bundle", file=sys.stderr)  # fmt: skip
    csv = make_churn_csv(ROWS)
    info: dict[str, Any] = {"rows": ROWS, "csv": csv.name}
    with threadpool_limits(limits=int(THREADS) if THREADS else None):
        store, info["import_s"] = churn_project(csv, project_dir() / "project")
        started = time.perf_counter()
        train(store, TrainSettings(models=["hgb"], cv=CV, seed=42))
        info["train_s"] = time.perf_counter() - started
        run = next(row.run for row in leaderboard(store).rows if row.run.candidate == "hgb")
        started = time.perf_counter()
        models.choose(store, run.id)
        info["choose_s"] = time.perf_counter() - started
        started = time.perf_counter()
        ev.evaluate(store, run.id, resamples=100, importance=False)
        info["evaluate_s"] = time.perf_counter() - started
        path = build_bundle(store, run.id, override_reason="serving benchmark")
    info |= {"run_id": run.id, "bundle": str(path.relative_to(project_dir()))}
    info["model_mb"] = (path / "model.skops").stat().st_size / 1e6
    ready.write_text(json.dumps(info, indent=2))
    return info


def request_rows(info: dict[str, Any], bundle: Any) -> list[dict[str, Any]]:
    """``SAMPLE_ROWS`` rows of the table without missing values, as JSON-ready dicts."""
    import polars as pl

    frame = pl.read_csv(OUT / info["csv"], n_rows=50_000, infer_schema_length=50_000)
    names = list(bundle.raw.columns) or [c.name for c in bundle.contract.columns]
    names = [n for n in names if n != bundle.metadata.target and n in frame.columns]
    complete = frame.select(names).drop_nulls()
    return complete.sample(SAMPLE_ROWS, seed=1).to_dicts()


# -- the processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    out = dict(os.environ)
    if THREADS:
        out |= {"OMP_NUM_THREADS": THREADS, "OPENBLAS_NUM_THREADS": THREADS}
    return out


def start_server(args: list[str], port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server process; wait until ``/health`` (mlwb) or ``/docs`` answers."""
    import httpx

    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_client(url: str, path: str, rows_file: Path, method: str = "POST") -> dict[str, Any]:
    """Run the httpx loop in another process; its latencies (ms) and wall seconds."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.serve", "client", url, path, str(rows_file), method],
        cwd=ROOT, env=env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def client_main(url: str, path: str, rows_file: str, method: str) -> None:
    """The client process: ``WARMUP`` then ``REQUESTS`` one-row requests over keep-alive."""
    import httpx

    rows = json.loads(Path(rows_file).read_text())
    bodies = [json.dumps([r]).encode() for r in rows]
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:

        def once(i: int) -> None:
            if method == "GET":
                response = http.get(path)
            else:
                response = http.post(path, content=bodies[i % len(bodies)])
            if response.status_code != 200:
                raise SystemExit(f"{response.status_code}: {response.text[:500]}")

        for i in range(WARMUP):
            once(i)
        wall = time.perf_counter()
        for i in range(REQUESTS):
            start = time.perf_counter()
            once(i)
            latencies.append((time.perf_counter() - start) * 1000)
        wall = time.perf_counter() - wall
    print(json.dumps({"latencies_ms": latencies, "seconds": wall}))


def naive_main(bundle_path: str, port: str) -> None:
    """The naive server: a one-row pandas DataFrame into the pipeline's ``predict_proba``."""
    import pandas as pd
    import uvicorn
    from fastapi import FastAPI

    from app.services.bundle import load_bundle

    bundle = load_bundle(Path(bundle_path))
    model = bundle.model
    columns = [c.name for c in bundle.contract.columns]
    app = FastAPI()

    @app.post("/predict")
    def predict(rows: list[dict[str, Any]]) -> dict[str, Any]:
        frame = pd.DataFrame(rows)[columns]
        return {"probability": model.predict_proba(frame)[:, 1].tolist()}

    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)


# -- measuring --------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1]}


def load_time(bundle_path: Path, row: dict[str, Any]) -> dict[str, float]:
    """A cold process: interpreter start to the first prediction (median of ``REPEATS``)."""
    code = (
        "import json, sys, time\n"
        "t0 = time.perf_counter()\n"
        "from app.services.bundle import load_bundle\n"
        "t1 = time.perf_counter()\n"
        "from pathlib import Path\n"
        "b = load_bundle(Path(sys.argv[1]))\n"
        "t2 = time.perf_counter()\n"
        "b.predict_row(json.loads(sys.argv[2]))\n"
        "t3 = time.perf_counter()\n"
        "print(json.dumps({'imports': t1 - t0, 'load': t2 - t1, 'first': t3 - t2}))\n"
    )
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code, str(bundle_path), json.dumps(row)],
            cwd=ROOT, env=env(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        total = time.perf_counter() - started
        runs.append(json.loads(out.stdout) | {"total": total})
    return {k: median([r[k] for r in runs]) for k in runs[0]}


def in_process(bundle: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One-row latency in this process: ``predict_row`` and ``predict([row])``."""
    from threadpoolctl import threadpool_limits

    out: dict[str, Any] = {}
    with threadpool_limits(limits=int(THREADS) if THREADS else None):
        bundle.predict_row(rows[0])
        out["lean_path"] = bool(bundle._lean is not None and bundle._lean.ok)
        for name, call in (
            ("predict_row", lambda r: bundle.predict_row(r)),
            ("predict_one", lambda r: bundle.predict([r])),
        ):
            times = []
            for i in range(300):
                start = time.perf_counter()
                call(rows[i % len(rows)])
                times.append((time.perf_counter() - start) * 1000)
            out[name] = percentiles(times)
    return out


def same_probabilities(mlwb_url: str, naive_url: str, rows: list[dict[str, Any]]) -> float:
    """The largest difference of the two servers' probabilities on ``rows``."""
    import httpx

    ours = httpx.post(f"{mlwb_url}/predict", json=rows, timeout=120).json()["predictions"]
    theirs = httpx.post(f"{naive_url}/predict", json=rows, timeout=120).json()["probability"]
    return max(abs(a["probability"] - b) for a, b in zip(ours, theirs, strict=True))


def main() -> None:
    """Build (or reuse) the bundle, start both servers and measure."""
    import tempfile

    from app.services.bundle import load_bundle

    results: dict[str, Any] = {"conditions": conditions(), "threads": THREADS}
    info = cached_bundle()
    results["project"] = info
    bundle_path = project_dir() / info["bundle"]
    bundle = load_bundle(bundle_path)
    rows = request_rows(info, bundle)
    results["in_process"] = in_process(bundle, rows)
    results["load"] = load_time(bundle_path, rows[0])
    with tempfile.TemporaryDirectory(prefix="serve-bench-", dir=OUT) as tmp:
        rows_file = Path(tmp) / "rows.json"
        rows_file.write_text(json.dumps(rows))
        log_copy = Path(tmp) / "bundle"
        shutil.copytree(bundle_path, log_copy)  # the log goes next to this copy
        ours_port, naive_port = free_port(), free_port()
        ours, started_s = start_server(
            ["-m", "app", "serve", "--bundle", str(log_copy), "--port", str(ours_port)], ours_port
        )
        results["mlwb_start_to_ready_s"] = started_s
        naive, _ = start_server(
            ["-m", "bench.serve", "naive", str(bundle_path), str(naive_port)], naive_port
        )
        ours_url, naive_url = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{naive_port}"
        try:
            results["max_probability_difference"] = same_probabilities(ours_url, naive_url, rows)
            pooled: dict[str, list[float]] = {"mlwb": [], "naive": [], "floor": []}
            seconds: dict[str, float] = {"mlwb": 0.0, "naive": 0.0, "floor": 0.0}
            for _ in range(ROUNDS):
                for name, url, path, method in (
                    ("mlwb", ours_url, "/predict", "POST"),
                    ("naive", naive_url, "/predict", "POST"),
                    ("floor", ours_url, "/health", "GET"),
                ):
                    got = run_client(url, path, rows_file, method)
                    pooled[name] += got["latencies_ms"]
                    seconds[name] += got["seconds"]
            import httpx

            results["server_metrics"] = httpx.get(f"{ours_url}/metrics").json()
        finally:
            stop_server(ours)
            stop_server(naive)
        from app.services.prediction_log import read_log

        results["logged_entries"] = read_log(Path(f"{log_copy}.log")).height
    for name in pooled:
        results[name] = percentiles(pooled[name]) | {
            "requests_per_s": len(pooled[name]) / seconds[name],
            "requests": len(pooled[name]),
        }
    results["conditions_end"] = conditions()
    report(results)


def report(results: dict[str, Any]) -> None:
    ours, naive, floor = results["mlwb"], results["naive"], results["floor"]
    load, info, inproc = results["load"], results["project"], results["in_process"]

    def ms(v: float) -> str:
        return f"{v:.2f} ms"

    rows = [
        ["mlwb serve: p50", ms(ours["p50"]), ms(naive["p50"]), f"{naive['p50'] / ours['p50']:.2f}x", ""],
        ["mlwb serve: p90", ms(ours["p90"]), ms(naive["p90"]), f"{naive['p90'] / ours['p90']:.2f}x", ""],
        [
            "mlwb serve: p99", ms(ours["p99"]), ms(naive["p99"]), f"{naive['p99'] / ours['p99']:.2f}x",
            f"<= {TARGET_P99_MS:g} ms {verdict(ours['p99'] <= TARGET_P99_MS)}",
        ],
        [
            "requests/s (one client)", f"{ours['requests_per_s']:,.0f}",
            f"{naive['requests_per_s']:,.0f}",
            f"{ours['requests_per_s'] / naive['requests_per_s']:.2f}x", "",
        ],
        ["floor: GET /health p50 / p99", ms(floor["p50"]), ms(floor["p99"]), "", "HTTP + client"],
        [
            "in process: predict_row p50 / p99", ms(inproc["predict_row"]["p50"]),
            ms(inproc["predict_row"]["p99"]), "", f"lean path: {inproc['lean_path']}",
        ],
        [
            "in process: predict([row]) p50 / p99", ms(inproc["predict_one"]["p50"]),
            ms(inproc["predict_one"]["p99"]), "", "batch path, one row",
        ],
        [
            "cold process to first prediction", f"{load['total']:.2f} s",
            f"imports {load['imports']:.2f} s", f"load {load['load']:.2f} s",
            f"first {load['first'] * 1000:.0f} ms",
        ],
        ["mlwb serve start to first answer", f"{results['mlwb_start_to_ready_s']:.2f} s", "", "", ""],
    ]  # fmt: skip
    text = "\n".join(
        [
            table(
                ["measurement", "mlwb", "naive", "naive/mlwb", "target / note"],
                rows,
                f"serve: hgb bundle of the {info['rows']:,}-row x 20-column churn table "
                f"(model {info['model_mb']:.1f} MB), one-row requests over loopback from an "
                f"httpx client in another process, {ROUNDS} x {REQUESTS} requests per server "
                f"after {WARMUP} warm-up; OMP threads {THREADS or 'default'}; "
                f"{results['conditions']} at the start, {results['conditions_end']} at the end",
            ),
            f"probabilities of mlwb and the naive endpoint differ by at most "
            f"{results['max_probability_difference']:.3g} on {SAMPLE_ROWS} rows; "
            f"{results['logged_entries']:,} log entries flushed on SIGTERM; server /metrics p99 "
            f"{results['server_metrics']['latency_ms']['p99']} ms (handler only).",
        ]
    )
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "serve.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / "serve.txt").write_text(text + "\n")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "client":
        client_main(*args)
    elif command == "naive":
        naive_main(*args)
    else:
        sys.exit(f"unknown command {command!r}")
