"""The result side of the Train screen: the leaderboard table and the detail of one run."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from app.domain.training import CANDIDATES, Run, RunStatus
from screens.train_format import (
    display_name,
    failed_cells,
    fold_table,
    leaderboard_cells,
    leaderboard_headers,
    legend,
    other_metrics,
    run_footer,
    run_header,
)


def fill_leaderboard(
    table: DataTable, board: Any, chosen: int | None, wide: bool, keep: int | None
) -> list[Run]:
    """Put ``board`` (a service Leaderboard) into ``table``: ranked rows, then failed ones.

    Returns the runs in table order; the cursor stays on run ``keep`` when it is still there.
    """
    others = other_metrics(board.task, board.primary)
    table.clear(columns=True)
    table.add_columns(*leaderboard_headers(board.primary, others))
    runs: list[Run] = []
    for row in board.rows:
        table.add_row(*leaderboard_cells(row, board.primary, others, wide, chosen))
        runs.append(row.run)
    for run in board.failed:
        table.add_row(*failed_cells(run, others, wide))
        runs.append(run)
    ids = [r.id for r in runs]
    if keep in ids:
        table.move_cursor(row=ids.index(keep))
    return runs


def board_legend(board: Any, chosen: int | None = None) -> str:
    """The lines under the leaderboard: how to read it, the holdout and failures."""
    if not board.rows and not board.failed:
        return "No finished runs on this dataset version yet: pick models on Setup and press t."
    cv = board.rows[0].run.cv if board.rows else None
    lines = [legend(board.primary, cv, any(r.run.subsample for r in board.rows))]
    if chosen is not None and any(r.run.id == chosen for r in board.rows):
        lines.append("✓ = the chosen run: refitted on all training rows and kept for Evaluate.")
    if board.split is not None:
        lines.append(f"Holdout (locked, never used here): {board.split.text()}")
    for run in board.failed:
        lines.append(f"✗ {display_name(run.candidate)} {run.status.value}: {run.error or '?'}")
    lines.append("enter: run details · c: choose the highlighted run (refit and keep it)")
    return "\n".join(lines)


class RunDetail(VerticalScroll):
    """One run: parameters, timings, fold metrics, notes and errors, a coefficient table."""

    def compose(self) -> ComposeResult:
        yield Static(
            "Highlight a run on the Leaderboard (l) to see it here.", id="run-header", markup=False
        )
        yield DataTable(id="run-folds", show_cursor=False, zebra_stripes=True)
        yield Static("", id="run-summary", markup=False)
        yield Static("", id="run-footer", markup=False)

    def on_mount(self) -> None:
        self.query_one("#run-folds", DataTable).display = False
        self.query_one("#run-summary", Static).display = False

    def show(self, run: Run | None) -> None:
        """Show ``run`` (None clears the pane)."""
        header = self.query_one("#run-header", Static)
        folds = self.query_one("#run-folds", DataTable)
        footer = self.query_one("#run-footer", Static)
        self.show_summary(None)
        folds.clear(columns=True)
        if run is None:
            header.update("Highlight a run on the Leaderboard (l) to see it here.")
            folds.display = False
            footer.update("")
            return
        header.update(run_header(run))
        headers, rows = fold_table(run)
        folds.display = bool(rows)
        if rows:
            folds.add_columns(*headers)
            for row in rows:
                folds.add_row(*row)
        footer.update(run_footer(run))
        self.scroll_home(animate=False)

    def show_summary(self, text: str | None) -> None:
        """Show the statsmodels coefficient table (None hides it)."""
        box = self.query_one("#run-summary", Static)
        box.display = text is not None
        box.update(text or "")


def wants_summary(run: Run | None) -> bool:
    """Whether a run has a statsmodels coefficient table to show."""
    if run is None or run.status is not RunStatus.DONE:
        return False
    spec = CANDIDATES.get(run.candidate)
    return spec is not None and spec.family == "statsmodels"
