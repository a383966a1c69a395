"""Monitoring a batch in bounded memory: peak memory of ``mlwb monitor add`` as the batch grows.

Issue 8 asks that a batch larger than memory can be monitored. ``monitor.add_batch`` reads the
file in chunks, counts each feature (and the predictions) in the baseline's bins chunk by
chunk, counts contract breaks per column and stages the scored rows in a Parquet file that is
inserted into the project in the final transaction; nothing grows with the batch but that file.

The bench adds batches of 1x, 2x and 4x ``ROWS`` rows (the deploy bench's churn input,
repeated) to a copy of the serving bench's project (HGB bundle promoted to production), each in
a fresh child process, and polls the child's RSS. Bounded memory shows as a peak that stays
flat while the batch grows; the batch held in memory as a pandas frame is given for scale.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.common import conditions, table
from bench.deploy import OUT, ROOT, ROWS, cached_project, project_dir
from bench.monitor import run_polling_rss

MULTIPLES = (1, 2, 4)
WORK = OUT / f"monitor-memory-{ROWS}"

CHILD = """
import json, resource, sys, time
from app.services import monitor
from storage.db import ProjectStore
store = ProjectStore.open(sys.argv[1])
started = time.perf_counter()
batch = monitor.add_batch(store, sys.argv[2], name=sys.argv[3])
took = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": took, "rows": batch.n_rows, "status": batch.status.value,
                  "drifted": batch.report.drift.n_drifted, "maxrss_mb": peak}))
"""


def project() -> Path:
    """A copy of the serving bench's project with its bundle in production (made once)."""
    info = cached_project()
    target = WORK / "project"
    if (WORK / "ready").exists():
        return target
    source = Path(info["bundle"]).resolve().parents[2]
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    from app.services import registry
    from storage.db import ProjectStore

    store = ProjectStore.open(target)
    if registry.production_bundle(store) is None:
        version = registry.deploy(
            store,
            int(json.loads((source.parent / "bench-ready.json").read_text())["run_id"]),
            "bench: speed only",
        )
        registry.promote(store, version.version)
    (WORK / "ready").write_text("ok")
    return target


def batch_file(multiple: int) -> Path:
    """The deploy bench's input repeated ``multiple`` times, as Parquet."""
    import duckdb

    path = WORK / f"batch-{multiple}x.parquet"
    if not path.exists():
        source = project_dir() / cached_project()["input"]
        union = " UNION ALL ".join([f"SELECT * FROM read_parquet('{source}')"] * multiple)
        con = duckdb.connect()
        con.execute(f"COPY ({union}) TO '{path}' (FORMAT parquet)")
        con.close()
    return path


def in_memory_mb(path: Path) -> float:
    """The batch as a pandas frame (what holding it whole would cost), in MB."""
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(path).metadata.num_rows
    sample = pq.read_table(path).slice(0, 100_000).to_pandas()
    return sample.memory_usage(deep=True).sum() / len(sample) * rows / 1e6


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    root = project()
    results: list[dict[str, Any]] = []
    for multiple in MULTIPLES:
        path = batch_file(multiple)
        out, polled = run_polling_rss(
            [sys.executable, "-c", CHILD, str(root), str(path), f"{multiple}x"], cwd=ROOT
        )
        got = json.loads(out.strip().splitlines()[-1])
        got.update(multiple=multiple, polled_mb=polled / 1e6, frame_mb=in_memory_mb(path))
        results.append(got)
        print(f"{multiple}x: {got}", file=sys.stderr)
    (OUT / "monitor_memory.json").write_text(json.dumps(results, indent=2, default=float))
    report(results)


def report(results: list[dict[str, Any]]) -> None:
    """Write and print the table of ``results`` (``bench/out/monitor_memory.txt``)."""
    rows = [
        [
            f"{r['rows']:,}",
            f"{r['seconds']:.1f} s",
            f"{r['maxrss_mb']:,.0f} MB",
            f"{r['polled_mb']:,.0f} MB",
            f"{r['frame_mb']:,.0f} MB",
            r["status"],
        ]
        for r in results
    ]
    first, last = results[0], results[-1]
    more = (last["rows"] - first["rows"]) / 1e6
    growth = last["maxrss_mb"] - first["maxrss_mb"]
    text = "\n".join(
        [
            table(
                ["batch rows", "add time", "peak RSS", "polled RSS", "batch as pandas", "status"],
                rows,
                "mlwb monitor add: peak memory as the batch grows (HGB bundle, 16 features)",
            ),
            "peak RSS: the child's own high-water mark (ru_maxrss); polled: the process tree "
            "sampled every few ms",
            f"peak grows {growth:,.0f} MB for {more * 1e6:,.0f} more rows ({growth / more:,.0f} MB "
            f"per million rows; holding the rows would add "
            f"{(last['frame_mb'] - first['frame_mb']) / more:,.0f} MB per million)",
            conditions(),
        ]
    )
    (OUT / "monitor_memory.txt").write_text(text + "\n")
    print(text)
