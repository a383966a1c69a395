"""Peak memory while importing a 5M-row CSV.

Issue 3 target: the resident memory of a process running ``import_file`` on the generated
5M-row CSV (``bench.datagen``) peaks under 1 GB (1,000 MB).

Each tool runs in a fresh subprocess. The parent polls the child's RSS with psutil every
5 ms, and the child reports its own ``getrusage(RUSAGE_SELF).ru_maxrss`` when done (the
kernel's exact high-water mark; the polled peak can only miss short spikes). For reference the
same file goes through DuckDB's own CTAS into a file database (same DuckDB settings as mlwb:
defaults), polars.read_csv and pandas.read_csv, and a child that only imports mlwb shows the
baseline of the interpreter and libraries.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import psutil

from bench.common import conditions, mb, run_polling_rss, table, verdict, warm_cache
from bench.datagen import make_csv

ROWS = int(os.environ.get("MLWB_BENCH_MEMORY_ROWS", "5000000"))
LIMIT_MB = 1000.0
POLL_SECONDS = 0.005
ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, time
mode, csv, work = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
if mode == "baseline":
    import app.services.ingest, storage.db  # noqa: F401
elif mode == "mlwb":
    from pathlib import Path
    from app.services.ingest import import_file
    from storage.db import ProjectStore
    store = ProjectStore.create(Path(work) / "project", "bench")
    start = time.perf_counter()
    import_file(store, csv)
elif mode == "duckdb":
    import duckdb
    con = duckdb.connect(work + "/duck.duckdb")
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')")
    con.close()
elif mode == "polars":
    import polars as pl
    pl.read_csv(csv)
elif mode == "pandas":
    import pandas as pd
    pd.read_csv(csv)
elapsed = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"maxrss_mb": peak_kb * 1024 / 1e6, "seconds": elapsed}))
"""


def measure(mode: str, csv: Path) -> dict[str, float]:
    """Run one tool in a subprocess; its polled RSS peak, ru_maxrss and run time."""
    with tempfile.TemporaryDirectory(prefix="mlwb-bench-memory-") as work:
        out, peak = run_polling_rss(
            [sys.executable, "-c", _CHILD, mode, str(csv), work], ROOT, POLL_SECONDS
        )
    report = json.loads(out.strip().splitlines()[-1])
    report["polled_mb"] = peak / 1e6
    return report


def main() -> None:
    """Measure the peak memory of importing the 5M-row CSV."""
    csv = make_csv(ROWS)
    warm_cache(csv)
    results = {
        mode: measure(mode, csv) for mode in ("baseline", "mlwb", "duckdb", "polars", "pandas")
    }
    labels = {
        "mlwb": "mlwb import_file (into a project)",
        "duckdb": "DuckDB CTAS into a file database",
        "polars": "polars.read_csv (memory)",
        "pandas": "pandas.read_csv (memory)",
        "baseline": "baseline: python + mlwb imports",
    }
    rows = []
    for mode in ("mlwb", "duckdb", "polars", "pandas", "baseline"):
        r = results[mode]
        peak = max(r["maxrss_mb"], r["polled_mb"])
        target = f"< {LIMIT_MB:,.0f} MB {verdict(peak < LIMIT_MB)}" if mode == "mlwb" else "info"
        timing = f"{r['seconds']:.1f} s" if mode != "baseline" else ""
        rows.append(
            [
                labels[mode],
                f"{r['maxrss_mb']:,.0f} MB",
                f"{r['polled_mb']:,.0f} MB",
                timing,
                target,
            ]
        )
    print(
        table(
            ["process", "ru_maxrss", "polled RSS peak", "time", "target (peak)"],
            rows,
            f"memory: importing {ROWS:,} rows x 20 columns ({mb(csv)} CSV), "
            f"{psutil.virtual_memory().total / 1e9:.0f} GB RAM; {conditions()}",
        )
    )


if __name__ == "__main__":
    main()
