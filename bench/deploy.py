"""Batch scoring with a bundle against the bare pipeline, and bundle load time.

Issue 7 target: scoring 1M rows from Parquet with a histogram gradient boosting bundle
(``mlwb predict``'s ``predict_file``: read in chunks, raw types and null markers, recipe replay,
contract checks, scoring, writing predictions and rejects) runs at least 0.8x the throughput of
the bare pipeline's ``predict_proba`` on the same rows already in memory as a model-ready
pandas frame.

The project: ``bench.train``'s churn table with ``ROWS`` rows (default 1,000,000,
``MLWB_BENCH_DEPLOY_ROWS``), HGB trained with 2-fold CV and refitted on the training part,
evaluated and bundled (gate overridden: the bench measures speed). It is cached in
``bench/out/deploy-project-<rows>`` (``MLWB_BENCH_DEPLOY_REBUILD=1`` builds it again). The
input file is the dataset table without its target written to Parquet once.

Both sides use the same threads (``MLWB_BENCH_DEPLOY_THREADS``, default: scikit-learn's own).
``MLWB_BENCH_DEPLOY_CHUNK`` sets ``predict_file``'s chunk rows (default: its own, 250,000).
Each is timed ``REPEATS`` times, interleaved; medians are compared. Load time is a cold
``python -c`` process that opens the bundle and scores one row, minus a process that only
imports the runtime's libraries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPEATS, conditions, median, seconds, table, verdict

ROWS = int(os.environ.get("MLWB_BENCH_DEPLOY_ROWS", "1000000"))
REBUILD = os.environ.get("MLWB_BENCH_DEPLOY_REBUILD") == "1"
THREADS = os.environ.get("MLWB_BENCH_DEPLOY_THREADS")
CHUNK = int(os.environ.get("MLWB_BENCH_DEPLOY_CHUNK", "0")) or None
"""``predict_file``'s ``chunk_rows`` (default: its own, ``predict.CHUNK_ROWS``)."""
TARGET = 0.8
OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parent.parent


def project_dir() -> Path:
    return OUT / f"deploy-project-{ROWS}"


def build_project(root: Path) -> dict[str, Any]:
    """Import, train HGB, choose, evaluate, bundle; the build record."""
    from app.domain.training import TrainSettings
    from app.services import browse, models
    from app.services import evaluation as ev
    from app.services.bundle import build_bundle
    from app.services.training import leaderboard, train
    from bench.train import churn_project, make_churn_csv
    from storage import datasets as ds

    csv = make_churn_csv(ROWS)
    store, imported = churn_project(csv, root)
    started = time.perf_counter()
    train(store, TrainSettings(models=["hgb"], cv=2, seed=1))
    run = next(r.run for r in leaderboard(store).rows if r.run.candidate == "hgb")
    models.choose(store, run.id)
    ev.evaluate(store, run.id, resamples=100, importance=False)
    bundle = build_bundle(store, run.id, override_reason="benchmark bundle")
    built = time.perf_counter() - started
    version = browse.get_version(store, "churn")
    parquet = root / "input.parquet"
    with store.connect() as con:
        con.execute(
            f"COPY (SELECT * EXCLUDE (churn) FROM {ds.quote_ident(version.table_name)}) "
            f"TO '{parquet}' (FORMAT parquet)"
        )
    info = {
        "rows": ROWS,
        "import_s": imported,
        "train_choose_bundle_s": built,
        "bundle": str(bundle.relative_to(root)),
        "input": parquet.name,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (root / "bench-ready.json").write_text(json.dumps(info, indent=2))
    return info


def _from_serve_bench(root: Path) -> dict[str, Any] | None:
    """Reuse the serving benchmark's project (same churn table, HGB bundle) when it exists:
    only the input file is written."""
    source = OUT / f"serve-project-{ROWS}"
    ready = source / "bench-ready.json"
    if not ready.exists():
        return None
    from app.services import browse
    from storage import datasets as ds
    from storage.db import ProjectStore

    built = json.loads(ready.read_text())
    store = ProjectStore.open(source / "project")
    version = browse.get_version(store, "churn")
    root.mkdir(parents=True, exist_ok=True)
    parquet = root / "input.parquet"
    with store.connect() as con:
        con.execute(
            f"COPY (SELECT * EXCLUDE (churn) FROM {ds.quote_ident(version.table_name)}) "
            f"TO '{parquet}' (FORMAT parquet)"
        )
    info = {
        "rows": ROWS,
        "bundle": str((source / built["bundle"]).resolve()),
        "input": parquet.name,
        "from": source.name,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (root / "bench-ready.json").write_text(json.dumps(info, indent=2))
    return info


def cached_project() -> dict[str, Any]:
    root = project_dir()
    ready = root / "bench-ready.json"
    if ready.exists() and not REBUILD:
        return json.loads(ready.read_text())
    reused = None if REBUILD else _from_serve_bench(root)
    if reused is not None:
        return reused
    if root.exists():
        shutil.rmtree(root)
    print(f"building {root.name}: import, train hgb, choose, evaluate, bundle", file=sys.stderr)
    return build_project(root)


def _limits() -> Any:
    from threadpoolctl import threadpool_limits

    return threadpool_limits(int(THREADS)) if THREADS else threadpool_limits(None)


def model_ready(bundle: Any, parquet: Path) -> Any:
    """The input as the pipeline reads it: numbers as float, categories as text."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(parquet, columns=[c.name for c in bundle.contract.columns])
    for c in bundle.contract.columns:
        if c.kind == "categorical":
            text = frame[c.name].astype(object).where(frame[c.name].notna(), "(missing)")
            frame[c.name] = text.astype(str).to_numpy(dtype=object)
        elif c.kind == "numeric":
            frame[c.name] = frame[c.name].to_numpy(dtype=np.float64, na_value=np.nan)
    return frame


def bare(bundle: Any, X: Any) -> float:
    started = time.perf_counter()
    with _limits():
        bundle.model.predict_proba(X)
    return time.perf_counter() - started


def mlwb(bundle: Any, parquet: Path, work: Path) -> tuple[float, Any]:
    from app.services.predict import predict_file

    out = work / "predictions.parquet"
    started = time.perf_counter()
    chunk = {"chunk_rows": CHUNK} if CHUNK else {}
    with _limits():
        summary = predict_file(bundle, parquet, out, **chunk)
    took = time.perf_counter() - started
    out.unlink(missing_ok=True)
    summary.rejects.unlink(missing_ok=True)
    return took, summary


def load_time(bundle_path: Path, row: dict[str, Any]) -> tuple[float, float]:
    """Seconds for a cold process to open the bundle and score one row, and for one that
    only imports the libraries (the difference is mlwb's own cost)."""
    score = (
        "from app.services.bundle import load_bundle\n"
        f"b = load_bundle({str(bundle_path)!r})\n"
        f"print(b.predict_row({row!r}))\n"
    )
    imports = "import numpy, pandas, polars, sklearn.ensemble, skops.io, pydantic\n"
    times: dict[str, list[float]] = {"score": [], "imports": []}
    for _ in range(REPEATS):
        for name, code in (("score", score), ("imports", imports)):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    return median(times["score"]), median(times["imports"])


def main() -> None:
    import polars as pl

    from app.services.bundle import load_bundle

    info = cached_project()
    root = project_dir()
    parquet = root / info["input"]
    bundle = load_bundle(root / info["bundle"])
    X = model_ready(bundle, parquet)
    first = pl.read_parquet(parquet, n_rows=1).to_dicts()[0]
    mine: list[float] = []
    theirs: list[float] = []
    summary = None
    with tempfile.TemporaryDirectory() as temp:
        for _ in range(REPEATS):
            theirs.append(bare(bundle, X))
            took, summary = mlwb(bundle, parquet, Path(temp))
            mine.append(took)
    assert summary is not None
    cold, imports = load_time(root / info["bundle"], first)
    ratio = median(theirs) / median(mine)
    rows = [
        [
            "bare pipeline predict_proba (in memory)",
            seconds(min(theirs)),
            seconds(median(theirs)),
            f"{ROWS / median(theirs):,.0f} rows/s",
            "",
        ],
        [
            "mlwb predict_file (Parquet in and out)",
            seconds(min(mine)),
            seconds(median(mine)),
            f"{ROWS / median(mine):,.0f} rows/s",
            "",
        ],
        [
            "throughput ratio (mlwb / bare)",
            "",
            "",
            f"{ratio:.2f}x",
            f">= {TARGET}x {verdict(ratio >= TARGET)}",
        ],
        ["cold process: open bundle + score one row", "", seconds(cold), "", ""],
        ["  of which importing the libraries", "", seconds(imports), "", ""],
    ]
    text = "\n".join(
        [
            table(
                ["measurement", "best", "median", "rate", "target"],
                rows,
                title=f"Batch scoring, {ROWS:,} rows x {len(bundle.contract.columns)} features "
                f"(HGB bundle, {REPEATS} runs each, interleaved)",
            ),
            f"scored {summary.rows_scored:,}, rejected {summary.rows_rejected:,}, "
            f"flagged {summary.flagged:,}; threads: {THREADS or 'default'}; "
            f"chunk rows: {CHUNK or 'default'}",
            conditions(),
        ]
    )
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "deploy.txt").write_text(text + "\n")
    (OUT / "deploy.json").write_text(
        json.dumps(
            {
                "rows": ROWS,
                "bare_s": theirs,
                "mlwb_s": mine,
                "ratio": ratio,
                "cold_load_s": cold,
                "imports_s": imports,
                "threads": THREADS,
                "chunk_rows": CHUNK,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
