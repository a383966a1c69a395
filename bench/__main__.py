"""Run a benchmark: ``./dev bench startup``. Benchmarks are run on purpose, never by the tests."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "startup": "bench.startup",
    "ingest": "bench.ingest",
    "recipe": "bench.recipe",
    "grid": "bench.grid",
    "memory": "bench.memory",
    "profile": "bench.profile",
    "train": "bench.train",
    "evaluate": "bench.evaluate",
    "deploy": "bench.deploy",
    "drift-power": "bench.drift_power",
    "serve": "bench.serve",
    "monitor": "bench.monitor",
    "monitor-memory": "bench.monitor_memory",
}


def main() -> None:
    """Dispatch to one benchmark module's ``main``; flags such as ``--quick`` are left in
    ``sys.argv`` for the module to read."""
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        importlib.import_module(BENCHMARKS[name]).main()


main()
