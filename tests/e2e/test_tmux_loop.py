"""The real TUI in tmux at 80x24 walks the whole loop on the bikes demo, by keys only.

Problem (rename the charter, save version 2) → Data (apply the suggested fix for the
``casual + registered == cnt`` leakage) → Explore (the profile and its alerts) → Train (the
quick preset; every model beats the baseline; choose the best) → Evaluate (the gate on the
holdout) → Deploy (build a bundle, promote it) → Monitor (two labelled 2012 batches from
``sample_data/bike_batches``: status, drift table) → Retrain (a challenger with November,
compared with the champion on December). After quitting, the project store is read to check
that every stage left its result.

Every step waits for text on the screen (keys sent in one burst can reach the widget that had
the focus before the key that moves it, so the walk waits after each focus move too). The
app runs with ``OMP_NUM_THREADS=1``: on a loaded two-core machine OpenMP's spinning threads
make gradient boosting many times slower than one thread.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services import browse, monitor, problem, registry, retrain
from app.services.demo import ensure_demo
from storage import training as store_runs
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
BATCHES = ROOT / "sample_data" / "bike_batches"
NEW_NAME = "Bike rentals per hour (workshop)"


class Tui:
    """One tmux session running mlwb: send keys, read the screen, wait for text."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.monotonic()
        self.marks: list[str] = []

    def mark(self, what: str) -> None:
        """Note how long the walk took to reach ``what`` (printed, never asserted)."""
        self.marks.append(f"{what} {time.monotonic() - self.started:.1f} s")

    def screen(self, styled: bool = False) -> str:
        args = ["tmux", "capture-pane", "-p", "-t", self.name] + (["-e"] if styled else [])
        return subprocess.run(args, capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def wait_for(self, *texts: str, limit: float = 30.0) -> str:
        """The screen once it shows every one of ``texts``."""
        deadline = time.monotonic() + limit
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if all(t in shown for t in texts):
                return shown
            time.sleep(0.05)
        raise AssertionError(f"{texts!r} not on screen after {limit} s:\n{shown}")

    def wait_gone(self, text: str, limit: float = 30.0) -> str:
        """The screen once ``text`` has left it (a notification timing out)."""
        deadline = time.monotonic() + limit
        shown = self.screen()
        while text in shown:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on screen after {limit} s:\n{shown}")
            time.sleep(0.1)
            shown = self.screen()
        return shown

    def wait_line(self, pattern: str, limit: float = 30.0) -> str:
        """The first screen line matching the regular expression ``pattern``."""
        deadline = time.monotonic() + limit
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            found = next((ln for ln in shown.splitlines() if re.search(pattern, ln)), None)
            if found is not None:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} after {limit} s:\n{shown}")

    def _styled_row(self, row: int) -> str:
        return self.screen(styled=True).splitlines()[row]

    def tab_to(self, label: str, limit: float = 10.0) -> None:
        """Press tab and wait until the field on the line with ``label`` is drawn focused
        (the colours of its screen row change), so the next keys reach it."""
        lines = self.screen().splitlines()
        row = next((i for i, ln in enumerate(lines) if label in ln), None)
        assert row is not None, f"no line with {label!r}:\n{self.screen()}"
        before = self._styled_row(row)
        self.keys("Tab")
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self._styled_row(row) != before:
                return
            time.sleep(0.05)
        styled = self.screen(styled=True).splitlines()
        raise AssertionError(
            f"the {label!r} field did not take the focus:\n{self.screen()}\n"
            f"row {row} before: {before!r}\nrow {row} now: {styled[row]!r}"
        )

    def quit(self) -> None:
        self.keys("C-q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True)
            if alive.returncode != 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"mlwb did not quit on ctrl+q:\n{self.screen()}")


@pytest.fixture
def bikes(tmp_path: Path) -> Path:
    """The bikes demo as ``mlwb demo bikes`` makes it: the charter and the raw import."""
    return ensure_demo("bikes", path=tmp_path / "bikes").root


@pytest.fixture
def tui(bikes: Path, tmp_path: Path) -> Iterator[Tui]:
    assert shutil.which("tmux"), "tmux is required for the end-to-end TUI test"
    name = f"mlwb-loop-{tmp_path.name}"[:60]
    command = f"cd {ROOT} && OMP_NUM_THREADS=1 {sys.executable} -m app open {bikes}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
        check=True,
        env={"TERM": "xterm-256color", "PATH": "/usr/bin:/bin", "MLWB_LOCK_WAIT": "5"},
    )
    yield Tui(name)
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)


def add_batch(tui: Tui, month: str, number: int) -> None:
    """Monitor's add dialog: the file, then the label column, then enter."""
    tui.keys("a")
    tui.wait_for("Add a batch: score it with v1", "label column")
    tui.type(str(BATCHES / f"bikes_2012-{month}.csv"))
    tui.wait_for(f"bikes_2012-{month}.csv")
    tui.tab_to("default: the file name")
    tui.tab_to("label column  ")
    tui.type("cnt")
    tui.wait_line(r"label column\s+cnt\b")
    tui.keys("Enter")
    tui.wait_for(f"Batch {number} (bikes_2012-{month}", limit=90)


def test_the_whole_loop_by_keys(tui: Tui, bikes: Path) -> None:
    tui.mark("problem")
    # 1 Problem: the demo charter is there; rename it and save version 2.
    tui.wait_for("Forecast hourly bike rentals", "1✓Problem", "2✓Data")
    tui.tab_to("Name ")
    tui.type(NEW_NAME)
    tui.wait_for(NEW_NAME)
    tui.keys("C-s")
    tui.wait_for("Save charter version 2?", f"name: {NEW_NAME}")
    tui.keys("y")
    tui.wait_for("Charter version 2 saved")
    # Digits type into the focused field, so leave it through the palette.
    tui.keys("C-p")
    tui.wait_for("🔎")
    tui.type("go to 2")
    tui.wait_for("Go to 2 Data")
    tui.keys("Enter")

    tui.mark("data")
    # 2 Data: the raw import, the leakage suggestion first; its fix makes version 2.
    tui.wait_for("bikes v1 (raw import) · 17,379 rows × 17 cols", "Suggestions: 3 (f)")
    tui.keys("f")
    tui.wait_for("fix: Drop columns casual, registered")
    tui.keys("Enter")
    tui.wait_for("Fix: possible target leakage", "removes column(s) casual, registered")
    tui.keys("C-s")
    tui.wait_for("bikes v2 (from v1) · 17,379 rows × 15 cols · 1 step(s)", limit=60)
    tui.wait_for("Recipe: 1 (r)")

    tui.mark("explore")
    # 3 Explore: the profile of the cleaned version, then its alerts.
    tui.keys("3")
    shown = tui.wait_for("bikes@2 · 17,379 rows × 15 cols", " alerts · ", limit=90)
    alerts = int(re.search(r"(\d+) alerts", shown).group(1))  # type: ignore[union-attr]
    assert alerts >= 1
    shown = tui.wait_gone("Drop columns")  # the Data screen's notice names them
    assert "casual" not in shown
    tui.keys("a")
    tui.wait_for(f"Alerts: {alerts} (a)", "high correlation")

    tui.mark("train")
    # 4 Train: the quick preset, a leaderboard where everything beats the baseline.
    tui.keys("4")
    tui.wait_for("bikes@2 · 17,379 rows · regression of 'cnt' · by MAE", "Models")
    tui.keys("q")
    tui.wait_for("Quick preset checked", "trains 4 model(s) × 5 folds")
    tui.keys("t")
    tui.wait_for("Session 1 finished. See the leaderboard (l).", limit=150)
    tui.keys("l")
    tui.wait_for("Leaderboard: 4 (l)", "vs best")
    # The whole board, the baseline last, its p-value shown (a toast may cover it a while).
    dummy = tui.wait_line(r"^\s*4\s+dummy\s.*p=\d\.\d+")
    best = tui.wait_line(r"^\s*1\s+\w+\s")
    best_model = best.split()[1]
    assert best_model in ("hgb", "rf", "ridge"), best
    # Last, and not "≈" the best: at 80 columns the column shows only the t-test's p.
    p_value = re.search(r"p=(\d\.\d+)", dummy)
    assert "≈" not in dummy and p_value is not None and float(p_value.group(1)) < 0.05, dummy
    tui.keys("c")
    tui.wait_for("Choose run", "Choose (y)")
    tui.keys("y")
    tui.wait_line(rf"^\s*1\s+{best_model} ✓", limit=90)
    tui.wait_for("4✓Train")

    tui.mark("evaluate")
    # 5 Evaluate: the chosen run on the holdout, and the gate.
    tui.keys("5")
    tui.wait_for("has not been evaluated yet: press e", limit=60)
    tui.keys("e")
    gate = tui.wait_line(r"▌\s+(PASS|FAIL|TOO CLOSE TO CALL)\s", limit=120)
    assert "PASS" in gate, tui.screen()
    tui.wait_for("✓ mae <= 60", "beats the baseline")

    tui.mark("deploy")
    # 6 Deploy: build the bundle, then promote it (the confirmation first).
    tui.keys("6")
    tui.wait_for("Press b to", limit=60)
    tui.keys("b")
    tui.wait_line(r"^\s*v1\s+\d+\s+\w+.*\bpass\s+candidate\b", limit=90)
    tui.keys("p")
    tui.wait_for("Promote v1 (run", "Promote (y)")
    tui.keys("y")
    tui.wait_line(r"^\s*v1\s+\d+\s+\w+.*\bpass\s+production\b", limit=60)
    tui.wait_for("v1 is in production.")

    tui.mark("monitor")
    # 7 Monitor: two labelled months of 2012, their status, the drift table.
    tui.keys("7")
    tui.wait_for("v1 is in production. No batches yet.", limit=60)
    add_batch(tui, "11", 1)
    add_batch(tui, "12", 2)
    # The row with the batch's MAE and its interval (a toast may cover the row's end a while).
    tui.wait_line(
        r"^\s*2\s+bikes_2012-12\s+\d+\s+(OK|warn|ALERT)\s+\d+/\d+.*\d+\.\d+ \[\d+\.\d+, \d+\.\d+\]"
    )
    tui.wait_for("v1 in production · 2 batches")
    tui.keys("f")
    shown = tui.wait_for("features drifted", "strongest statistic")
    assert "drifted " in shown

    tui.mark("retrain")
    # 8 Retrain: both labelled batches are offered; November trains, December is held out.
    tui.keys("8")
    tui.wait_for("champion: v1 in production", "2 labelled, 2 selected", limit=60)
    tui.wait_line(r"held out\s+2\s+bikes_2012-12")
    tui.keys("t")
    shown = tui.wait_for("Last comparison #", limit=150)
    decision = re.search(r"Last comparison #\d+:\s+(PROMOTE|KEEP)", shown)
    assert decision is not None, shown
    tui.wait_line(r"^ champion\s+\d+\.\d+\s+\[")
    tui.wait_line(r"^ challenger\s+\d+\.\d+\s+\[")
    tui.wait_for("MAE on ", "held-out rows of batch 2")
    tui.mark("done")
    tui.quit()
    print("walk:", ", ".join(tui.marks))

    # The store has every stage's result.
    store = ProjectStore.open(bikes)
    charter = problem.current_charter(store)
    assert charter is not None and charter.version == 2 and charter.charter.name == NEW_NAME
    cleaned = browse.list_versions(store, "bikes")[1]  # v3 and v4: the challenger's data
    assert (cleaned.version, cleaned.parent_version, cleaned.n_cols) == (2, 1, 15)
    assert [step["kind"] for step in cleaned.recipe] == ["drop_columns"]
    assert cleaned.recipe[0]["columns"] == ["casual", "registered"]
    comparison = retrain.last_comparison(store)
    champion = comparison.champion
    assert champion.candidate == best_model and champion.bundle_version == 1
    with store.connect() as con:
        evaluation = store_runs.latest_evaluation(con, champion.run_id)
    assert evaluation is not None and evaluation.gate.outcome.value == "pass"
    versions = registry.list_versions(store)
    assert [(v.version, v.run_id, v.aliases) for v in versions] == [
        (1, champion.run_id, ["production"])
    ]
    bundle = registry.resolve(store, versions[0].zip_path)
    assert bundle.is_file() and versions[0].gate == "pass"
    assert hashlib.sha256(bundle.read_bytes()).hexdigest() == versions[0].sha256
    batches = monitor.list_batches(store)
    assert [b.name for b in batches] == ["bikes_2012-11", "bikes_2012-12"]
    assert all(b.report.performance and b.report.performance.n_labelled > 700 for b in batches)
    assert comparison.decision == decision.group(1).lower()
    assert comparison.compare_batch == batches[1].id
    assert comparison.lineage["batches"] == [batches[0].id]
    assert comparison.challenger.run_id != champion.run_id
