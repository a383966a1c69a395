"""Profiling speed and memory: mlwb's full profile against ydata-profiling, same data, same run.

Targets (the Explore stage):

1. 1M rows x 20 columns: ``profile_dataset(..., refresh=True)`` (stats, histograms, top values,
   correlations, alerts) at least 10x faster than ydata-profiling in minimal mode
   (``ProfileReport(df, minimal=True).get_description()``).
2. 100k rows: the same mlwb profile at least 25x faster than ydata-profiling's default (full)
   mode, computing its description.
3. The peak RSS of a process that only profiles a 10M-row table stays under 1.5 GB.
4. With a stored profile, moving the cursor in the Explore screen's column list redraws the
   screen within 100 ms at the 95th percentile: headless ``run_test`` at 120x40, from the key
   press to the last frame the app writes (``App._display``), with a pause after each move
   (as when reading every column). Also shown, for scale: the moves back to back (the next
   press as soon as ``await pilot.pause(0)`` returns), timed to ``pause(0)`` returning. That
   figure is mostly the harness: ``pilot.press`` waits for idle twice (Textual's
   ``wait_for_idle(0)``: 20 ms sleeps, repeated while the process used 1 ms of CPU or more in
   the last 20 ms), so it moves in 20 ms steps from a floor that presses changing nothing
   show (40–70 ms on this machine, depending on the day). Also: the CPU time per move, and a
   held key (moves ``KEY_REPEAT`` apart, sent without waiting: last key to last frame, and
   the CPU used).
   ``MLWB_BENCH_PROFILE_ONLY=switch`` runs only this measurement (about 20 s, no
   ydata-profiling).

mlwb is timed in this process on a project where the CSV was imported first (the import is not
timed). ydata-profiling must not enter the product's environment (it pins an older NumPy), so
it lives in its own virtualenv, ``bench/out/ydata-venv``, made with uv on first use; a child
script there reads the same CSV with pandas (not timed) and times only the profiling. Timings
are the best and median of ``MLWB_BENCH_REPEATS`` runs (default 3); ratios use the medians.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPEATS,
    conditions,
    mb,
    median,
    run_polling_rss,
    seconds,
    table,
    timed,
    verdict,
    warm_cache,
)
from bench.datagen import OUT, make_csv

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
YDATA_VENV = OUT / "ydata-venv"
YDATA_PYTHON = YDATA_VENV / "bin" / "python"
YDATA_PACKAGES = ["ydata-profiling", "setuptools<81"]
"""ydata-profiling still imports ``pkg_resources``, which setuptools 81 removed."""

ROWS = int(os.environ.get("MLWB_BENCH_PROFILE_ROWS", "1000000"))
SMALL_ROWS = int(os.environ.get("MLWB_BENCH_PROFILE_SMALL_ROWS", "100000"))
BIG_ROWS = int(os.environ.get("MLWB_BENCH_PROFILE_BIG_ROWS", "10000000"))
ONLY = os.environ.get("MLWB_BENCH_PROFILE_ONLY", "")
"""``switch``: only the Explore column-switch measurement (a quick run); ``full``: only the
100k-row comparison with ydata-profiling's full mode."""
YDATA_REPEATS = int(os.environ.get("MLWB_BENCH_YDATA_REPEATS", str(REPEATS)))
MINIMAL_FACTOR = 10.0
FULL_FACTOR = 25.0
MEMORY_LIMIT_MB = 1500.0
SWITCH_LIMIT = 0.100
MOVES = 20
SETTLE_SECONDS = 0.3
"""After each timed move: time for a deferred plot to be drawn before the next move."""
KEY_REPEAT = 0.033
"""Seconds between the moves of a held arrow key (a typical 30 Hz key repeat)."""
SIZE = (120, 40)
POLL_SECONDS = 0.005

_YDATA_CHILD = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
csv, mode, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
def hwm_mb():
    # VmHWM: this process's own high-water mark; ru_maxrss would include the parent's at exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
import pandas as pd
from ydata_profiling import ProfileReport
df = pd.read_csv(csv)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    report = ProfileReport(df, minimal=(mode == "minimal"), progress_bar=False)
    report.get_description()
    times.append(time.perf_counter() - start)
    del report
import ydata_profiling
print(json.dumps({"seconds": times, "maxrss_mb": hwm_mb(),
                  "version": ydata_profiling.__version__, "pandas": pd.__version__}))
"""

_PROFILE_CHILD = r"""
import json, sys, time
mode, project, name = sys.argv[1], sys.argv[2], sys.argv[3]
def hwm_mb():
    # VmHWM: this process's own high-water mark; ru_maxrss would include the parent's at exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
from pathlib import Path
from app.services.profile import profile_dataset
from storage.db import ProjectStore
store = ProjectStore.open(Path(project))
start = time.perf_counter()
queries = 0
if mode == "profile":
    queries = profile_dataset(store, name, refresh=True).queries
elapsed = time.perf_counter() - start
print(json.dumps({"maxrss_mb": hwm_mb(), "seconds": elapsed, "queries": queries}))
"""


def _last_json(out: str) -> dict[str, Any]:
    """The JSON object a child printed last (DuckDB's progress bar may share its line)."""
    line = out.strip().splitlines()[-1]
    return json.loads(line[line.index("{") :])


# -- ydata-profiling in its own virtualenv --------------------------------------------------


def ensure_ydata() -> None:
    """Create ``bench/out/ydata-venv`` with ydata-profiling unless it already imports."""
    if YDATA_PYTHON.exists():
        check = subprocess.run(
            [str(YDATA_PYTHON), "-W", "ignore", "-c", "import ydata_profiling"],
            capture_output=True,
        )
        if check.returncode == 0:
            return
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    print(f"creating {YDATA_VENV} with {', '.join(YDATA_PACKAGES)} ...", file=sys.stderr)
    if not YDATA_PYTHON.exists():
        subprocess.run([str(UV), "venv", str(YDATA_VENV), "-p", "python3.11"], check=True, env=env)
    subprocess.run(
        [str(UV), "pip", "install", "-p", str(YDATA_PYTHON), *YDATA_PACKAGES],
        check=True,
        env=env,
    )


def ydata(csv: Path, mode: str) -> dict[str, Any]:
    """Time ydata-profiling (``minimal`` or ``full``) on ``csv`` in the ydata virtualenv."""
    done = subprocess.run(
        [str(YDATA_PYTHON), "-c", _YDATA_CHILD, str(csv), mode, str(YDATA_REPEATS)],
        capture_output=True,
        text=True,
        cwd=OUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ydata-profiling ({mode}) failed:\n{done.stderr[-4000:]}")
    return _last_json(done.stdout)


# -- mlwb ----------------------------------------------------------------------------------


def import_project(csv: Path, work: Path) -> tuple[Any, str, float]:
    """A new project in ``work`` with ``csv`` imported; the store, dataset name, seconds."""
    from app.services.ingest import import_file
    from storage.db import ProjectStore

    store = ProjectStore.create(work / "project", "bench")
    took, found = timed(lambda: import_file(store, csv, name="synthetic"))
    return store, found.name, took


def mlwb_profile(store: Any, name: str) -> dict[str, Any]:
    """Time ``profile_dataset(refresh=True)`` REPEATS times; phases of the last run."""
    from app.services.profile import profile_dataset

    times: list[float] = []
    cpu: list[float] = []
    marks: list[tuple[float, str]] = []
    profile = None
    for _ in range(REPEATS):
        marks.clear()
        before = os.times()
        start = time.perf_counter()

        def report(fraction: float, text: str, start: float = start) -> None:
            marks.append((time.perf_counter() - start, text))

        took, profile = timed(
            lambda: profile_dataset(store, name, refresh=True, on_progress=report)
        )
        after = os.times()
        times.append(took)
        cpu.append(after.user + after.system - before.user - before.system)
    assert profile is not None
    phases = list(marks)  # (seconds since the start, progress text) of the last run
    return {
        "seconds": times,
        "cpu": cpu,
        "load": os.getloadavg()[0],
        "phases": phases,
        "queries": profile.queries,
        "inner": profile.seconds,
        "alerts": len(profile.alerts),
        "sample": profile.sample_size,
    }


def profile_memory(project: Path, name: str, mode: str) -> dict[str, float]:
    """Peak RSS of a child that opens the project and profiles (or, ``baseline``, only opens)."""
    out, peak = run_polling_rss(
        [sys.executable, "-c", _PROFILE_CHILD, mode, str(project), name], ROOT, POLL_SECONDS
    )
    result = _last_json(out)
    result["polled_mb"] = peak / 1e6
    return result


class _Frames:
    """Records when the app last wrote a frame (wraps ``App._display``)."""

    def __init__(self, app: Any) -> None:
        self.last = 0.0
        self._display = app._display

        def display(*args: Any, **kwargs: Any) -> Any:
            self.last = time.perf_counter()
            return self._display(*args, **kwargs)

        app._display = display


async def _column_switches(store: Any) -> dict[str, list[float]]:
    from textual import events
    from textual.widgets import DataTable

    from app.tui import MlwbApp
    from screens.explore import ExploreScreen

    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("3")
        for _ in range(600):  # up to a minute for the (stored) profile to arrive
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            if isinstance(screen, ExploreScreen) and screen.profile is not None:
                break
            await asyncio.sleep(0.1)
        screen = app.screen
        if not isinstance(screen, ExploreScreen) or screen.profile is None:
            raise RuntimeError("the Explore screen did not show a profile")
        frames = _Frames(app)
        columns = screen.query_one("#column-list", DataTable)
        columns.focus()
        await pilot.pause()
        got: dict[str, list[float]] = {"press": [], "key_cpu": []}
        for _ in range(MOVES):  # back to back, as fast as the harness allows
            start, cpu = time.perf_counter(), time.process_time()
            await pilot.press("down")
            await pilot.pause(0)
            got["press"].append(time.perf_counter() - start)
            got["key_cpu"].append(time.process_time() - cpu)
        columns.move_cursor(row=0)
        await pilot.pause(SETTLE_SECONDS)
        got |= {"rested": [], "frame": [], "rested_cpu": [], "cpu": []}
        for _ in range(MOVES):  # with a pause after each move, as when reading each column
            start, cpu = time.perf_counter(), time.process_time()
            await pilot.press("down")
            await pilot.pause(0)
            got["rested"].append(time.perf_counter() - start)
            got["rested_cpu"].append(time.process_time() - cpu)
            await pilot.pause(SETTLE_SECONDS)  # any deferred redraw lands; idle work runs
            got["frame"].append(frames.last - start)
            got["cpu"].append(time.process_time() - cpu)
        got["floor"], got["floor_cpu"] = [], []
        for _ in range(10):  # the cursor is on the last row: nothing moves or repaints
            start, cpu = time.perf_counter(), time.process_time()
            await pilot.press("down")
            await pilot.pause(0)
            got["floor"].append(time.perf_counter() - start)
            got["floor_cpu"].append(time.process_time() - cpu)
        # a held key: moves every KEY_REPEAT seconds, whatever the screen is doing
        columns.move_cursor(row=0)
        await pilot.pause(SETTLE_SECONDS)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(min(MOVES, len(screen.shown) - 1)):
            app.post_message(events.Key("down", None))
            await asyncio.sleep(KEY_REPEAT)
        last_key = time.perf_counter() - KEY_REPEAT
        await pilot.pause()
        await pilot.pause(SETTLE_SECONDS)
        got["burst"] = [frames.last - last_key]
        got["burst_cpu"] = [time.process_time() - cpu]
        got["burst_row"] = [float(columns.cursor_row)]
        screen.PLOT_QUIET = 0  # the handler alone, drawing every plot
        got["direct"] = []
        for i in range(min(MOVES, len(screen.shown))):
            start = time.perf_counter()
            screen._show_column(i)
            got["direct"].append(time.perf_counter() - start)
        return got


def column_switches(store: Any) -> dict[str, list[float]]:
    """Seconds per cursor move in ``#column-list`` of the Explore screen (stored profile)."""
    return asyncio.run(_column_switches(store))


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


# -- report --------------------------------------------------------------------------------


def _speed_row(
    label: str, mine: list[float], theirs: list[float], factor: float
) -> list[list[str]]:
    ratio = median(theirs) / median(mine)
    return [
        [
            "  mlwb profile_dataset(refresh=True)",
            seconds(min(mine)),
            seconds(median(mine)),
            "",
            "",
        ],
        [
            f"  ydata-profiling {label}",
            seconds(min(theirs)),
            seconds(median(theirs)),
            f"{ratio:.1f}x",
            f">= {factor:g}x {verdict(ratio >= factor)}",
        ],
    ]


def _phases(label: str, mine: dict[str, Any]) -> str:
    marks = ", ".join(f"{at:.2f} {text!r}" for at, text in mine["phases"])
    return (
        f"mlwb {label} rows: {mine['queries']} DuckDB queries, sample {mine['sample']:,} rows, "
        f"{mine['alerts']} alerts; CPU time (all threads) per run, median "
        f"{median(mine['cpu']):.2f} s, load average {mine['load']:.1f} after the runs; progress "
        f"reports of the last run (s since start): {marks}"
    )


def _ms_cpu(values: list[float]) -> str:
    return f"{1000 * median(values):.1f} ms"


def _switch_rows(got: dict[str, list[float]]) -> list[list[str]]:
    press, rested, frame = got["press"], got["rested"], got["frame"]
    work = median(got["key_cpu"]) - median(got["floor_cpu"])
    return [
        [f"4. Explore column switch, stored profile ({MOVES} moves)", "", "", "", ""],
        [
            "  back to back: key press -> pilot.pause(0), p95 / median",
            seconds(p95(press)),
            seconds(median(press)),
            f"max {seconds(max(press))}",
            "info (harness)",
        ],
        [
            "  back to back: CPU per move / per floor press (median)",
            _ms_cpu(got["key_cpu"]),
            _ms_cpu(got["floor_cpu"]),
            f"{1000 * work:.1f} ms",
            "info",
        ],
        [
            f"  {SETTLE_SECONDS:g} s after each move: key press -> pilot.pause(0), p95 / median",
            seconds(p95(rested)),
            seconds(median(rested)),
            f"max {seconds(max(rested))}",
            "info",
        ],
        [
            f"  {SETTLE_SECONDS:g} s after each move: key press -> last frame, p95 / median",
            seconds(p95(frame)),
            seconds(median(frame)),
            f"max {seconds(max(frame))}",
            f"< {SWITCH_LIMIT * 1000:.0f} ms {verdict(p95(frame) < SWITCH_LIMIT)}",
        ],
        [
            f"  {SETTLE_SECONDS:g} s after each move: CPU to pause(0) / with idle work",
            _ms_cpu(got["rested_cpu"]),
            _ms_cpu(got["cpu"]),
            "",
            "info",
        ],
        [
            "  harness floor: press at the last row, median / max",
            seconds(median(got["floor"])),
            seconds(max(got["floor"])),
            "",
            "info",
        ],
        [
            f"  held key: {MOVES} moves {KEY_REPEAT * 1000:.0f} ms apart, last key -> last frame"
            " / CPU",
            seconds(got["burst"][0]),
            seconds(got["burst_cpu"][0]),
            f"row {got['burst_row'][0]:.0f}",
            "info",
        ],
        [
            "  of which _show_column (stats text + plot), median / max",
            seconds(median(got["direct"])),
            seconds(max(got["direct"])),
            "",
            "info",
        ],
    ]


def switch_only() -> None:
    """Only measurement 4 (``MLWB_BENCH_PROFILE_ONLY=switch``): import, profile once, switch."""
    from app.services.profile import profile_dataset

    csv = make_csv(ROWS)
    with tempfile.TemporaryDirectory(prefix="profile-bench-", dir=OUT) as tmp:
        store, name, _ = import_project(csv, Path(tmp))
        profile_dataset(store, name)
        got = column_switches(store)
    print(
        table(
            ["measurement", "best / a", "median / b", "ratio", "target"],
            _switch_rows(got),
            f"profile: Explore column switch on {ROWS:,} rows; {conditions()}",
        )
    )


def full_only() -> None:
    """Only measurement 2 (``MLWB_BENCH_PROFILE_ONLY=full``): 100k rows vs ydata full mode."""
    small = make_csv(SMALL_ROWS)
    with tempfile.TemporaryDirectory(prefix="profile-bench-", dir=OUT) as tmp:
        work = Path(tmp)
        warm_cache(small)
        (work / "s").mkdir()
        store_small, name_small, _ = import_project(small, work / "s")
        mine_small = mlwb_profile(store_small, name_small)
        full = ydata(small, "full")
    rows = [[f"2. {SMALL_ROWS:,} rows x 20 cols ({mb(small)} CSV)", "", "", "", ""]]
    rows += _speed_row(
        "default (full), get_description()", mine_small["seconds"], full["seconds"], FULL_FACTOR
    )
    print(_phases(f"{SMALL_ROWS:,}", mine_small))
    for row in rows:
        print("  ".join(str(cell) for cell in row))
    print(conditions())


def main() -> None:
    """Run the four profiling measurements and print one table (or only the column switch
    with ``MLWB_BENCH_PROFILE_ONLY=switch``: about 10 s, no ydata-profiling)."""
    if ONLY == "switch":
        switch_only()
        return
    ensure_ydata()
    if ONLY == "full":
        full_only()
        return
    csv = make_csv(ROWS)
    small = make_csv(SMALL_ROWS)
    big = make_csv(BIG_ROWS)
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="profile-bench-", dir=OUT) as tmp:
        work = Path(tmp)
        # 1. 1M rows, minimal ydata
        warm_cache(csv)
        (work / "m").mkdir()
        store, name, imported = import_project(csv, work / "m")
        print(f"imported {csv.name} in {imported:.1f} s", file=sys.stderr)
        mine = mlwb_profile(store, name)
        print(f"mlwb 1M: {mine['seconds']}", file=sys.stderr)
        theirs = ydata(csv, "minimal")
        print(f"ydata minimal 1M: {theirs['seconds']}", file=sys.stderr)
        rows.append([f"1. {ROWS:,} rows x 20 cols ({mb(csv)} CSV)", "", "", "", ""])
        rows += _speed_row(
            "minimal=True, get_description()", mine["seconds"], theirs["seconds"], MINIMAL_FACTOR
        )
        notes.append(_phases(f"{ROWS:,}", mine))
        notes.append(
            f"ydata-profiling {theirs['version']} (pandas {theirs['pandas']}), minimal child "
            f"peak RSS {theirs['maxrss_mb']:,.0f} MB"
        )

        # 4. column switch with the stored 1M profile
        switches = column_switches(store)
        del store

        # 2. 100k rows, full ydata
        warm_cache(small)
        (work / "s").mkdir()
        store_small, name_small, _ = import_project(small, work / "s")
        mine_small = mlwb_profile(store_small, name_small)
        del store_small
        notes.append(_phases(f"{SMALL_ROWS:,}", mine_small))
        print(f"mlwb 100k: {mine_small['seconds']}", file=sys.stderr)
        full = ydata(small, "full")
        print(f"ydata full 100k: {full['seconds']}", file=sys.stderr)
        rows.append([f"2. {SMALL_ROWS:,} rows x 20 cols ({mb(small)} CSV)", "", "", "", ""])
        rows += _speed_row(
            "default (full), get_description()", mine_small["seconds"], full["seconds"], FULL_FACTOR
        )

        # 3. peak memory profiling the big table
        warm_cache(big)
        (work / "b").mkdir()
        store_big, name_big, imported_big = import_project(big, work / "b")
        del store_big
        print(f"imported {big.name} in {imported_big:.1f} s", file=sys.stderr)
        base = profile_memory(work / "b" / "project", name_big, "baseline")
        used = profile_memory(work / "b" / "project", name_big, "profile")
        peak = max(used["maxrss_mb"], used["polled_mb"])
        rows.append([f"3. peak RSS profiling {BIG_ROWS:,} rows ({mb(big)} CSV)", "", "", "", ""])
        rows.append(
            [
                "  mlwb profile child: VmHWM / polled",
                f"{used['maxrss_mb']:,.0f} MB",
                f"{used['polled_mb']:,.0f} MB",
                seconds(used["seconds"]),
                f"< {MEMORY_LIMIT_MB:,.0f} MB {verdict(peak < MEMORY_LIMIT_MB)}",
            ]
        )
        rows.append(
            [
                "  baseline child (imports, open project)",
                f"{base['maxrss_mb']:,.0f} MB",
                f"{base['polled_mb']:,.0f} MB",
                "",
                "info",
            ]
        )

    rows += _switch_rows(switches)
    print(
        table(
            ["measurement", "best / a", "median / b", "ratio", "target"],
            rows,
            f"profile: mlwb vs ydata-profiling ({REPEATS} mlwb runs, {YDATA_REPEATS} ydata runs "
            f"each); {conditions()}",
        )
    )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
