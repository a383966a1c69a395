"""Start-up time: from the command to the first interactive screen, measured in tmux.

Polls ``tmux capture-pane`` until the Problem screen shows the loaded charter (its version in
the side panel at 120x40, or the filled objective at 80x24). Prints each run and the median.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5


def _wait_for(session: str, needle: str, limit: float = 20.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        screen = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout
        if needle in screen:
            return time.perf_counter()
        time.sleep(0.01)
    raise TimeoutError(f"{needle!r} did not appear within {limit} s")


def measure(project: Path, width: int, height: int, needle: str) -> float:
    """Seconds from launching ``mlwb open`` to ``needle`` on screen."""
    session = f"mlwb-bench-{width}"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    command = f"{sys.executable} -m app open {project}"
    start = time.perf_counter()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command],
        check=True,
        env={"TERM": "xterm-256color", "PATH": "/usr/bin:/bin"},
    )
    try:
        end = _wait_for(session, needle)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return end - start


def main() -> None:
    """Run the start-up benchmark at 120x40 and 80x24."""
    if not shutil.which("tmux"):
        sys.exit("tmux is needed for the start-up benchmark")
    from app.services.demo import ensure_demo

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "demo"
        ensure_demo("adult", project)
        for width, height, needle in ((120, 40, "Version 1, saved"), (80, 24, "Find adults")):
            times = [measure(project, width, height, needle) for _ in range(RUNS)]
            shown = ", ".join(f"{t:.2f}" for t in times)
            print(
                f"start-up {width}x{height}: median {statistics.median(times):.2f} s "
                f"(runs: {shown}); target < 2 s"
            )
