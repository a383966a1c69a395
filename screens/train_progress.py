"""The Progress tab of the Train screen: one row per candidate, updated from training events.

Rows show the trial, folds done, elapsed time (ticking between folds), status and the best
primary-metric value so far; errors of failed candidates are listed under the table.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import DataTable, Static

from app.domain.metrics import METRICS, Direction
from app.domain.training import CANDIDATES, Run, RunStatus
from screens.train_format import fmt

COLUMNS = ("trial", "folds", "elapsed", "status", "score")
IDLE = (
    "Nothing is training. Check models on Setup (s) and press t: each model gets a row here "
    "that follows its folds; the leaderboard (l) fills as models finish."
)


class TrainProgress(Vertical):
    """The live table of a training session."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self.rows: dict[str, dict[str, Any]] = {}
        self.current: str | None = None
        self.primary = ""
        self._ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        yield DataTable(id="train-progress", cursor_type="row")
        yield Static(IDLE, id="progress-note", classes="-idle", markup=False)

    @property
    def table(self) -> DataTable:
        """The progress table."""
        return self.query_one("#train-progress", DataTable)

    def begin(
        self, models: list[str], cv: int, kept: dict[str, Run], primary: str, wide: bool
    ) -> None:
        """One waiting row per model (``kept``: runs finished earlier in a resumed session)."""
        self.primary = primary
        self.current = None
        table = self.table
        table.clear(columns=True)
        table.add_column("model", key="model")
        for key in COLUMNS:
            table.add_column(primary if key == "score" else key, key=key)
        self.rows = {}
        for key in models:
            label = CANDIDATES[key].label if wide else key
            table.add_row(label, "", f"0/{cv}", "", "waiting", "", key=key)
            self.rows[key] = {"started": 0.0, "best": None, "errors": []}
            if key in kept:
                run = kept[key]
                self.run_done(key, run)
                done = run.status is RunStatus.DONE
                self._set(key, "status", "kept" if done else f"{run.status.value}, kept")
        self._note([])
        if self._ticker is None:
            self._ticker = self.set_interval(1.0, self._tick)
        self._ticker.resume()

    def _set(self, key: str, column: str, value: str) -> None:
        self.table.update_cell(key, column, value, update_width=True)

    def started(self, key: str, trial: str, folds: int) -> None:
        """A model (or one of its search trials) started."""
        if key not in self.rows:
            return
        self.current = key
        self.rows[key]["started"] = monotonic()
        self._set(key, "trial", trial)
        self._set(key, "folds", f"0/{folds}")
        self._set(key, "status", "running")

    def fold_done(self, key: str, fold: int, folds: int, elapsed: float) -> None:
        """A fold of the running model finished."""
        if key in self.rows:
            self._set(key, "folds", f"{fold}/{folds}")
            self._set(key, "elapsed", f"{elapsed:.1f} s")

    def run_done(self, key: str, run: Run) -> None:
        """A run ended: done (best value so far), failed or cancelled (error listed)."""
        if key not in self.rows:
            return
        row = self.rows[key]
        value = run.mean.get(self.primary)
        if run.status is RunStatus.DONE and value is not None:
            spec = METRICS.get(self.primary)
            lower = spec is not None and spec.direction is Direction.MINIMIZE
            best = row["best"]
            if best is None or (value < best if lower else value > best):
                row["best"] = value
        elif run.status is RunStatus.FAILED and run.error:
            row["errors"].append(f"✗ {key} failed: {run.error}")
        self._set(key, "folds", f"{len(run.folds)}/{run.cv}")
        self._set(key, "elapsed", f"{run.duration:.1f} s")
        self._set(key, "status", run.status.value)
        self._set(key, "score", fmt(row["best"]))
        if self.current == key:
            self.current = None
        self._note([line for r in self.rows.values() for line in r["errors"]])

    def _note(self, errors: list[str], idle: str = "") -> None:
        note = self.query_one("#progress-note", Static)
        note.set_class(not errors, "-idle")
        note.display = bool(errors or idle)
        note.update("\n".join([*errors, idle] if idle else errors))

    def _tick(self) -> None:
        """Keep the running model's elapsed time moving between folds."""
        key = self.current
        if key in self.rows and self.rows[key]["started"]:
            self._set(key, "elapsed", f"{monotonic() - self.rows[key]['started']:.1f} s")

    def end(self, text: str = "") -> None:
        """The session stopped (``text`` says how): models that never ran say so."""
        self.current = None
        if self._ticker is not None:
            self._ticker.pause()
        for key in self.rows:
            status = str(self.table.get_cell(key, "status"))
            if status == "waiting":
                self._set(key, "status", "not run")
            elif status == "running":
                self._set(key, "status", "stopped")
        errors = [line for r in self.rows.values() for line in r["errors"]]
        self._note(errors, text)

    def statuses(self) -> dict[str, str]:
        """Each model's status cell (for tests and the palette)."""
        return {key: str(self.table.get_cell(key, "status")) for key in self.rows}
