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
c. the floor: ``GET /health`` on ``mlwb serve`` (HTTP, JSON and client cost, no model);
d. ``mlflow models serve --env-manager local`` on the same fitted pipeline (saved with
   ``mlflow.sklearn.save_model``, ``pyfunc_predict_fn="predict_proba"``), ``POST /invocations``
   with ``{"dataframe_records": [row]}``. MLflow must not enter the product's environment, so
   it lives in ``bench/out/mlflow-venv`` (made with uv on first use, the same scikit-learn,
   NumPy, pandas and skops versions as mlwb's; ``MLWB_BENCH_SERVE_MLFLOW=0`` skips it). When
   it cannot be installed the report says why.

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
MLFLOW = os.environ.get("MLWB_BENCH_SERVE_MLFLOW", "1") != "0"
MLFLOW_VENV = OUT / "mlflow-venv"
MLFLOW_PYTHON = MLFLOW_VENV / "bin" / "python"
UV = ROOT / ".tools" / "bin" / "uv"


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


def start_server(
    args: list[str],
    port: int,
    ready: str = "/docs",
    program: str = sys.executable,
    path: Path | None = None,
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server process (``path`` first on its ``PATH``); wait until ``ready`` answers."""
    import httpx

    started = time.perf_counter()
    server_env = env()
    if path is not None:
        server_env["PATH"] = f"{path}{os.pathsep}{server_env.get('PATH', '')}"
    process = subprocess.Popen(
        [program, *args], cwd=ROOT, env=server_env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1).status_code == 200:
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
    """Run the httpx loop in another process; its latencies (ms) and wall seconds.
    ``method`` ``MLFLOW`` posts ``{"dataframe_records": [row]}``."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.serve", "client", url, path, str(rows_file), method],
        cwd=ROOT, env=env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def client_main(url: str, path: str, rows_file: str, method: str) -> None:
    """The client process: ``WARMUP`` then ``REQUESTS`` one-row requests over keep-alive."""
    import httpx

    rows = json.loads(Path(rows_file).read_text())
    if method == "MLFLOW":
        bodies = [json.dumps({"dataframe_records": [r]}).encode() for r in rows]
    else:
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


# -- MLflow in its own virtualenv ------------------------------------------------------------

_MLFLOW_SAVE = """
import sys
import mlflow.sklearn
import skops.io as sio

source, target = sys.argv[1:]
trusted = sio.get_untrusted_types(file=source)
model = sio.load(source, trusted=trusted)
mlflow.sklearn.save_model(
    model, target, pyfunc_predict_fn="predict_proba", skops_trusted_types=trusted
)
"""


def ensure_mlflow() -> str | None:
    """Create ``bench/out/mlflow-venv`` unless MLflow already imports there; None when it is
    ready, else why it is not."""
    from importlib.metadata import version

    check = [str(MLFLOW_PYTHON), "-W", "ignore", "-c", "import mlflow.sklearn"]
    if MLFLOW_PYTHON.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    same = [f"{p}=={version(p)}" for p in ("scikit-learn", "numpy", "pandas", "scipy", "skops")]
    uv_env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    print(f"creating {MLFLOW_VENV} with mlflow-skinny ...", file=sys.stderr)
    for command in (
        [str(UV), "venv", str(MLFLOW_VENV), "-p", "python3.11", "-q"],
        [str(UV), "pip", "install", "-q", "-p", str(MLFLOW_PYTHON), "mlflow-skinny",
         "uvicorn", "fastapi", *same],
    ):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=uv_env)
        if done.returncode != 0:
            return f"MLflow did not install: {done.stderr.strip().splitlines()[-1:]}"
    return None


def mlflow_model(bundle_path: Path) -> Path:
    """The bundle's fitted pipeline saved as an MLflow model (once, next to the project)."""
    target = project_dir() / "mlflow-model"
    if not (target / "MLmodel").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [str(MLFLOW_PYTHON), "-W", "ignore", "-c", _MLFLOW_SAVE,
             str(bundle_path / "model.skops"), str(target)],
            check=True, capture_output=True, env=env(),
        )  # fmt: skip
    return target


def start_mlflow(model: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    args = ["models", "serve", "-m", str(model), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    bin_dir = MLFLOW_VENV / "bin"  # mlflow runs ``uvicorn`` from the PATH
    return start_server(args, port, ready="/ping", program=str(bin_dir / "mlflow"), path=bin_dir)


def mlflow_probabilities(url: str, rows: list[dict[str, Any]]) -> list[float]:
    import httpx

    body = {"dataframe_records": rows}
    got = httpx.post(f"{url}/invocations", json=body, timeout=120).json()["predictions"]
    return [float(p[1]) for p in got]


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


def httpx_post(url: str, body: Any) -> Any:
    import httpx

    return httpx.post(url, json=body, timeout=120).json()


def same_probabilities(mlwb_url: str, naive_url: str, rows: list[dict[str, Any]]) -> float:
    """The largest difference of the two servers' probabilities on ``rows``."""
    import httpx

    ours = httpx.post(f"{mlwb_url}/predict", json=rows, timeout=120).json()["predictions"]
    theirs = httpx.post(f"{naive_url}/predict", json=rows, timeout=120).json()["probability"]
    return max(abs(a["probability"] - b) for a, b in zip(ours, theirs, strict=True))


def add_mlflow(
    bundle: Any,
    bundle_path: Path,
    rows: list[dict[str, Any]],
    ours_url: str,
    tmp: Path,
    servers: list[Any],
    clients: list[Any],
    results: dict[str, Any],
) -> str:
    """Start ``mlflow models serve`` on the bundle's pipeline, add it to ``servers`` and
    ``clients``, and record how far its probabilities are from mlwb's; its URL."""
    mlflow_port = free_port()
    mlflow, results["mlflow_start_to_ready_s"] = start_mlflow(
        mlflow_model(bundle_path), mlflow_port
    )
    servers.append(mlflow)
    mlflow_url = f"http://127.0.0.1:{mlflow_port}"
    names = [c.name for c in bundle.contract.columns]
    mlflow_rows = [{k: r[k] for k in names} for r in rows]
    mlflow_file = tmp / "mlflow_rows.json"
    mlflow_file.write_text(json.dumps(mlflow_rows))
    clients.append(("mlflow", mlflow_url, "/invocations", "MLFLOW", mlflow_file))
    ours = [p["probability"] for p in httpx_post(f"{ours_url}/predict", rows)["predictions"]]
    theirs = mlflow_probabilities(mlflow_url, mlflow_rows)
    results["mlflow_max_probability_difference"] = max(
        abs(a - b) for a, b in zip(ours, theirs, strict=True)
    )
    return mlflow_url


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
        servers = [ours, naive]
        clients = [
            ("mlwb", ours_url, "/predict", "POST", rows_file),
            ("naive", naive_url, "/predict", "POST", rows_file),
            ("floor", ours_url, "/health", "GET", rows_file),
        ]
        try:
            results["max_probability_difference"] = same_probabilities(ours_url, naive_url, rows)
            results["mlflow_note"] = ensure_mlflow() if MLFLOW else "skipped"
            if results["mlflow_note"] is None:
                try:
                    add_mlflow(bundle, bundle_path, rows, ours_url, Path(tmp), servers, clients,
                               results)  # fmt: skip
                except subprocess.CalledProcessError as exc:
                    why = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
                    results["mlflow_note"] = f"the model could not be saved for MLflow: {why}"
                except RuntimeError as exc:
                    results["mlflow_note"] = f"the MLflow server did not start: {exc}"[:500]
            pooled: dict[str, list[float]] = {name: [] for name, *_ in clients}
            seconds: dict[str, float] = {name: 0.0 for name, *_ in clients}
            for _ in range(ROUNDS):
                for name, url, path, method, body_file in clients:
                    got = run_client(url, path, body_file, method)
                    pooled[name] += got["latencies_ms"]
                    seconds[name] += got["seconds"]
            import httpx

            results["server_metrics"] = httpx.get(f"{ours_url}/metrics").json()
        finally:
            for server in servers:
                stop_server(server)
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
    mlflow = results.get("mlflow")
    load, info, inproc = results["load"], results["project"], results["in_process"]

    def ms(v: float) -> str:
        return f"{v:.2f} ms"

    def against(key: str, fmt: Any = ms, per_second: bool = False) -> list[str]:
        """The mlwb, naive and MLflow values of ``key`` and the ratios, above 1 where mlwb
        is better (latency: theirs / mlwb; requests per second: mlwb / theirs)."""

        def ratio(theirs: float) -> str:
            return f"{(ours[key] / theirs) if per_second else (theirs / ours[key]):.2f}x"

        out = [fmt(ours[key]), fmt(naive[key]), ratio(naive[key])]
        if mlflow is not None:
            out += [fmt(mlflow[key]), ratio(mlflow[key])]
        return out

    blank = ["", ""] if mlflow is not None else []
    rows = [
        ["mlwb serve: p50", *against("p50"), ""],
        ["mlwb serve: p90", *against("p90"), ""],
        ["mlwb serve: p99", *against("p99"),
         f"<= {TARGET_P99_MS:g} ms {verdict(ours['p99'] <= TARGET_P99_MS)}"],
        ["requests/s (one client)", *against("requests_per_s", lambda v: f"{v:,.0f}", per_second=True), "ratio: mlwb / theirs"],
        ["floor: GET /health p50 / p99", ms(floor["p50"]), ms(floor["p99"]), "", *blank, "HTTP + client"],
        [
            "in process: predict_row p50 / p99", ms(inproc["predict_row"]["p50"]),
            ms(inproc["predict_row"]["p99"]), "", *blank, f"lean path: {inproc['lean_path']}",
        ],
        [
            "in process: predict([row]) p50 / p99", ms(inproc["predict_one"]["p50"]),
            ms(inproc["predict_one"]["p99"]), "", *blank, "batch path, one row",
        ],
        [
            "cold process to first prediction", f"{load['total']:.2f} s",
            f"imports {load['imports']:.2f} s", f"load {load['load']:.2f} s", *blank,
            f"first {load['first'] * 1000:.0f} ms",
        ],
        ["mlwb serve start to first answer", f"{results['mlwb_start_to_ready_s']:.2f} s", "", "",
         *(["", f"MLflow: {results['mlflow_start_to_ready_s']:.2f} s"] if mlflow else []), ""],
    ]  # fmt: skip
    headers = ["measurement", "mlwb", "naive", "naive/mlwb"]
    if mlflow is not None:
        headers += ["mlflow", "mlflow/mlwb"]
    lines = [
        table(
            [*headers, "target / note"],
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
    if mlflow is not None:
        lines.append(
            f"mlflow models serve --env-manager local (MLflow in bench/out/mlflow-venv): "
            f"probabilities differ from mlwb's by at most "
            f"{results['mlflow_max_probability_difference']:.3g} on {SAMPLE_ROWS} rows."
        )
    else:
        lines.append(f"MLflow: {results.get('mlflow_note')}")
    text = "\n".join(lines)
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
