"""Small helpers shared by the data benchmarks: timing, verdicts and plain-text tables."""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPEATS = int(os.environ.get("MLWB_BENCH_REPEATS", "3"))
"""Timed repetitions per measurement (the median is reported); override for quick runs."""


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``func`` took and what it returned (garbage collected first)."""
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def warm_cache(path: Path) -> None:
    """Read ``path`` once so every tool starts from the page cache, not the disk."""
    with path.open("rb") as handle:
        while handle.read(16 << 20):
            pass


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A left-aligned first column and right-aligned others, separated by two spaces."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [title] if title else []
    out.append(line(cells[0]))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)


def seconds(value: float) -> str:
    """``1.23 s`` or ``45.6 ms``."""
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def mb(path: Path) -> str:
    """A file's size in MB."""
    return f"{path.stat().st_size / 1e6:,.0f} MB"


def conditions() -> str:
    """The machine's core count and load, to judge how noisy a run was."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.1f} (1 min) / {five:.1f} (5 min)"


def run_polling_rss(args: list[str], cwd: Path, poll: float = 0.005) -> tuple[str, int]:
    """Run a child process to the end; return its stdout and the peak RSS (bytes) polled.

    The RSS of the child and its own children is summed every ``poll`` seconds. A non-zero
    exit raises RuntimeError with the end of stderr.
    """
    import subprocess

    import psutil

    child = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            rss = proc.memory_info().rss
            rss += sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(poll)
    out, err = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(args[3:5])} failed:\n{err[-4000:]}")
    return out, peak
