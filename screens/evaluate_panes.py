"""The Plots, Segments and Importance tabs of the Evaluate screen: each shows one part of a
stored evaluation and redraws itself for the space it has."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from app.domain.evaluation import SEGMENT_MIN_ROWS, Evaluation
from screens.evaluate_format import PLOT_KINDS, importance_lines, plot_bar
from screens.evaluate_plots import EvaluationPlot, draw
from screens.evaluate_tables import fill_coefficients, fill_segments
from screens.evaluate_threshold import HoldoutScores

IMPORTANCE_BARS = 15
"""Most features in the importance chart (fewer when the plot is short)."""


class PlotsPane(Vertical):
    """One plot at a time (``p`` cycles): ROC, PR, calibration, threshold; or residuals."""

    def compose(self) -> ComposeResult:
        yield Static("", id="plot-bar", markup=False)
        yield EvaluationPlot(id="eval-plot")
        yield Static("", id="plot-caption", markup=False)

    def show(
        self,
        e: Evaluation | None,
        index: int,
        threshold: float | None,
        scores: HoldoutScores | None,
    ) -> None:
        """Draw plot number ``index`` (modulo the kinds of this task)."""
        plot = self.query_one("#eval-plot", EvaluationPlot)
        bar = self.query_one("#plot-bar", Static)
        caption = self.query_one("#plot-caption", Static)
        kinds = PLOT_KINDS.get(e.task, ()) if e is not None else ()
        if e is None or not kinds:
            bar.update("")
            caption.update("")
            plot.message(
                "No evaluation yet" if e is None else "No curves for this task: see Metrics (m)"
            )
            return
        kind = kinds[index % len(kinds)]
        bar.update(plot_bar(kinds, kind))
        caption.update(draw(plot, kind, e, threshold, scores))


class SegmentsPane(Vertical):
    """The primary metric per segment, worst first, and the columns to slice by."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="segment-bar"):
            yield Static("slice by", id="segment-label", markup=False)
            yield Input(
                id="segment-input",
                compact=True,
                placeholder="columns, e.g. sex,race (enter evaluates again)",
            )
        yield DataTable(id="segment-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="segment-note", markup=False)

    def show(self, e: Evaluation | None, typed: bool) -> None:
        """Fill the table; put the evaluation's columns in the input unless the user typed."""
        fill_segments(self.query_one("#segment-table", DataTable), e)
        note = self.query_one("#segment-note", Static)
        if e is None:
            note.update("")
            return
        if not typed:
            columns = list(dict.fromkeys(s.column for s in e.segments))
            self.query_one("#segment-input", Input).value = ",".join(columns)
        if not e.segments:
            note.update(
                "No segments: type columns to slice by above and press enter (numeric "
                "columns are cut into quartiles)."
            )
        else:
            note.update(
                f"{e.primary} per segment of the holdout, worst first; 'vs all' is the gap to "
                f"the whole holdout. Under {SEGMENT_MIN_ROWS} rows: no interval."
            )


class ImportancePane(Vertical):
    """Permutation importance as bars, and the coefficient table of statsmodels models."""

    def compose(self) -> ComposeResult:
        yield Static("", id="importance-line", markup=False)
        with Horizontal(id="importance-area"):
            yield EvaluationPlot(id="importance-plot")
            yield DataTable(id="coef-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#coef-table").display = False

    def show(self, e: Evaluation | None) -> None:
        """Draw as many bars as the plot's height shows legibly."""
        plot = self.query_one("#importance-plot", EvaluationPlot)
        self.query_one("#importance-line", Static).update(
            importance_lines(e) if e is not None else ""
        )
        if e is None or not e.importance:
            plot.message("No permutation importance")
        else:
            height = plot.size.height
            fits = max(3, min(IMPORTANCE_BARS, height - 5)) if height else IMPORTANCE_BARS
            top = e.importance[:fits]
            plot.bars(
                [i.feature for i in top],
                [i.mean for i in top],
                f"drop in {e.primary}: top {len(top)} of {len(e.importance)}",
            )
        coefficients = self.query_one("#coef-table", DataTable)
        coefficients.display = fill_coefficients(coefficients, e)
