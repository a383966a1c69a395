"""Import speed: ``import_file`` against DuckDB's own CTAS, polars and pandas on one CSV.

Issue 3 targets, on a generated 1M-row x 20-column CSV (``bench.datagen``):

* mlwb's import into the project store takes at most 1.1x DuckDB's own
  ``CREATE TABLE t AS SELECT * FROM read_csv(...)`` into a file database (connect, CTAS and
  close are timed, as ``import_file`` opens, commits and closes the project);
* and, as an aim, at most 1.5x ``polars.read_csv``, which only parses into memory.

Every tool reads the same file from the page cache; each is timed ``REPEATS`` times,
interleaved, and the median is compared. A last, instrumented import shows where
``import_file``'s time goes (hashing, sniffing, the CTAS, fingerprint, warning scan...).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from bench.common import REPEATS, conditions, mb, median, seconds, table, timed, verdict, warm_cache
from bench.datagen import make_csv

ROWS = int(os.environ.get("MLWB_BENCH_ROWS", "1000000"))
TARGET_DUCKDB = 1.1
TARGET_POLARS = 1.5


def mlwb_import(csv: Path, root: Path) -> float:
    """Seconds ``import_file`` takes into a fresh project (creating it is not timed)."""
    from app.services.ingest import import_file
    from storage.db import ProjectStore

    store = ProjectStore.create(root, "bench")
    elapsed, version = timed(lambda: import_file(store, csv))
    assert version.n_rows > 0
    return elapsed


def duckdb_ctas(csv: Path, db: Path) -> float:
    """Seconds for DuckDB's own CTAS from read_csv into a new file database."""

    def run() -> int:
        con = duckdb.connect(str(db))
        try:
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv}')")
            return con.execute("SELECT count(*) FROM t").fetchall()[0][0]
        finally:
            con.close()

    elapsed, rows = timed(run)
    assert rows > 0
    return elapsed


def polars_read(csv: Path) -> float:
    """Seconds for ``polars.read_csv`` (into memory)."""
    import polars as pl

    elapsed, frame = timed(lambda: pl.read_csv(csv))
    assert frame.height > 0
    return elapsed


def pandas_read(csv: Path) -> float:
    """Seconds for ``pandas.read_csv`` (into memory)."""
    import pandas as pd

    elapsed, frame = timed(lambda: pd.read_csv(csv))
    assert len(frame) > 0
    return elapsed


# -- where import_file's time goes ----------------------------------------------------------


class _TimedConnection:
    """A DuckDB connection that adds the time of some statements to ``phases``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, phases: dict[str, float]) -> None:
        self._con, self._phases = con, phases

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            label = None
            if sql.startswith("CREATE TABLE"):
                label = "CREATE TABLE AS SELECT (the CTAS)"
            elif sql.strip() == "COMMIT":
                label = "COMMIT"
            if label:
                self._phases[label] = self._phases.get(label, 0.0) + time.perf_counter() - start


def _wrap(module: Any, name: str, label: str, phases: dict[str, float]) -> Callable[[], None]:
    """Time every call of ``module.name`` under ``label``; returns the undo."""
    original = getattr(module, name, None)
    if original is None:
        return lambda: None

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phases[label] = phases.get(label, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)
    return lambda: setattr(module, name, original)


CONCURRENT = "(concurrent)"
"""Phases that run beside the CTAS in a helper thread: not part of the sum."""


def import_phases(csv: Path, root: Path) -> tuple[float, dict[str, float]]:
    """One import with its phases timed (functions wrapped by name in the ingest module)."""
    import app.services.ingest as ingest
    from storage import datasets
    from storage.db import ProjectStore

    phases: dict[str, float] = {}

    class TimedStore(ProjectStore):
        @contextlib.contextmanager
        def connect(self) -> Iterator[Any]:
            with super().connect() as con:
                yield _TimedConnection(con, phases)
                closing = time.perf_counter()
            phases["close (checkpoint)"] = (
                phases.get("close (checkpoint)", 0.0) + time.perf_counter() - closing
            )

    ProjectStore.create(root, "bench")
    store = TimedStore(root)
    undo = [
        _wrap(ingest, "file_sha256", f"{CONCURRENT} SHA-256 of the file", phases),
        _wrap(ingest, "_scan_head", f"{CONCURRENT} text checks on the first rows", phases),
        _wrap(ingest, "_plan", "sniff / plan the read", phases),
        _wrap(ingest, "data_warnings", "data-warning scan", phases),
        _wrap(ingest, "suggest_roles", "suggest roles", phases),
        _wrap(ingest, "_fingerprint_and_counts", "fingerprint + column counts (one scan)", phases),
        _wrap(datasets, "fingerprint_table", "fingerprint (row hash sum)", phases),
    ]
    try:
        elapsed, _ = timed(lambda: ingest.import_file(store, csv))
    finally:
        for u in undo:
            u()
    return elapsed, phases


def main() -> None:
    """Time the import of the 1M-row CSV with mlwb, DuckDB, polars and pandas."""
    csv = make_csv(ROWS)
    warm_cache(csv)
    tools: dict[str, list[float]] = {"mlwb": [], "duckdb": [], "polars": [], "pandas": []}
    with tempfile.TemporaryDirectory(prefix="mlwb-bench-ingest-") as tmp:
        work = Path(tmp)
        for i in range(REPEATS):
            tools["mlwb"].append(mlwb_import(csv, work / f"project{i}"))
            shutil.rmtree(work / f"project{i}")
            tools["duckdb"].append(duckdb_ctas(csv, work / f"duck{i}.duckdb"))
            (work / f"duck{i}.duckdb").unlink()
            tools["polars"].append(polars_read(csv))
            tools["pandas"].append(pandas_read(csv))
        total, phases = import_phases(csv, work / "profiled")

    mlwb = median(tools["mlwb"])
    rows: list[list[str]] = [
        ["mlwb import_file (into the project)", seconds(mlwb), seconds(min(tools["mlwb"])), "", ""]
    ]
    competitors = [
        ("duckdb", "DuckDB CTAS into a file database", f"<= {TARGET_DUCKDB}", TARGET_DUCKDB),
        ("polars", "polars.read_csv (memory only)", f"<= {TARGET_POLARS} (aim)", TARGET_POLARS),
        ("pandas", "pandas.read_csv (memory only)", "info", None),
    ]
    for key, label, target, limit in competitors:
        ratio = mlwb / median(tools[key])
        shown = f"{target} {verdict(ratio <= limit)}" if limit else target
        rows.append(
            [label, seconds(median(tools[key])), seconds(min(tools[key])), f"{ratio:.2f}x", shown]
        )
    print(
        table(
            ["tool", "median", "best", "mlwb / tool", "target"],
            rows,
            f"ingest: {ROWS:,} rows x 20 columns, {mb(csv)} CSV, median of {REPEATS}; "
            f"{conditions()}",
        )
    )
    print()
    accounted = sum(t for name, t in phases.items() if not name.startswith(CONCURRENT))
    breakdown = [
        [name, seconds(t), f"{100 * t / total:.0f}%"]
        for name, t in sorted(phases.items(), key=lambda kv: -kv[1])
    ]
    breakdown.append(["other (metadata, events, Python)", seconds(total - accounted), ""])
    breakdown.append(["total (one instrumented import)", seconds(total), "100%"])
    print(table(["import_file phase", "time", "share"], breakdown))


if __name__ == "__main__":
    main()
