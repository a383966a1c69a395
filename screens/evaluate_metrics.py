"""The Metrics tab: the threshold control, the metrics table with its live column, the
confusion matrix and (wide terminals) the threshold curve with the tried threshold marked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from app.domain.charter import Charter
from app.domain.evaluation import Evaluation
from screens.evaluate_format import (
    binary_counts_text,
    charter_at_threshold,
    confusion_text,
    metrics_legend,
)
from screens.evaluate_plots import EvaluationPlot, draw
from screens.evaluate_tables import LIVE_COLUMN, fill_metrics, update_live
from screens.evaluate_threshold import HoldoutScores


class MetricsPane(Vertical):
    """Metrics with intervals next to the baseline, and the decision threshold tried live."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="threshold-bar"):
            yield Static("threshold T", id="threshold-label", markup=False)
            yield Input(
                id="threshold-input",
                compact=True,
                restrict=r"[0-9.]*",
                max_length=6,
                tooltip="Type a decision threshold and press enter",
            )
            yield Static("", id="threshold-note", markup=False)
        with Horizontal(id="metrics-area"):
            with Vertical(id="metrics-left"):
                yield DataTable(id="metric-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="metrics-legend", markup=False)
            with Vertical(id="confusion-box"):
                yield Static("", id="confusion", markup=False)
                yield EvaluationPlot(id="threshold-plot")

    def show(self, e: Evaluation | None) -> None:
        """Fill the table for ``e``; the threshold control only for binary models with one."""
        live = e is not None and e.task == "binary" and e.threshold is not None
        self.query_one("#threshold-bar").display = live
        self.set_class(not live, "-no-threshold")
        self.set_class(e is not None and e.task == "multiclass", "-multiclass")
        fill_metrics(self.query_one("#metric-table", DataTable), e, live)
        self.query_one("#metrics-legend", Static).update(metrics_legend(e, live) if e else "")

    def live_value(self, metric: str) -> str:
        """The text in the live column for ``metric`` (what the user reads)."""
        table = self.query_one("#metric-table", DataTable)
        return str(table.get_cell(metric, LIVE_COLUMN))

    def show_threshold(
        self,
        e: Evaluation | None,
        threshold: float | None,
        scores: HoldoutScores | None,
        charter: Charter | None,
        problem: str = "",
    ) -> None:
        """Put ``threshold`` in the input, the live column, the confusion matrix, the
        charter's checks and the curve (point values from ``scores``, once they arrived)."""
        confusion = self.query_one("#confusion", Static)
        if e is None:
            confusion.update("")
            return
        box = self.query_one("#threshold-input", Input)
        if threshold is not None and not box.has_focus:
            box.value = f"{threshold:g}"
        live = scores is not None and threshold is not None
        values = scores.metrics_at(threshold) if live else None  # type: ignore[union-attr,arg-type]
        if values is None and threshold == e.threshold:
            values = {m.name: m.model.value for m in e.metrics if m.model.value is not None}
        theme = self.app.theme_variables
        update_live(
            self.query_one("#metric-table", DataTable),
            e,
            values,
            (f"bold {theme['success']}", f"bold {theme['error']}"),
        )
        self._note(e, threshold, scores, problem)
        parts = [self._confusion(e, threshold if live else None, scores)]
        if values is not None and threshold is not None and e.task == "binary":
            parts.append(charter_at_threshold(charter, values, threshold))
        confusion.update("\n\n".join(p for p in parts if p))
        plot = self.query_one("#threshold-plot", EvaluationPlot)
        if plot.display:
            draw(plot, "threshold", e, threshold, scores if live else None)

    def _note(
        self, e: Evaluation, threshold: float | None, scores: HoldoutScores | None, problem: str
    ) -> None:
        note = self.query_one("#threshold-note", Static)
        if e.threshold is None or threshold is None:
            note.update("")
        elif problem:
            note.update(problem)
        elif scores is None:
            note.update("scoring the holdout for the live threshold…")
        elif threshold == e.threshold:
            note.update(f"= stored ({e.threshold_source}) · + and - try others")
        else:
            note.update(f"stored {e.threshold:g} · 'at T' is live, CIs are at {e.threshold:g}")

    def _confusion(
        self, e: Evaluation, threshold: float | None, scores: HoldoutScores | None
    ) -> str:
        width = self.query_one("#confusion-box").size.width or 40
        if threshold is not None and scores is not None and len(e.classes) == 2:
            tn, fp, fn, tp = scores.confusion_at(threshold)
            negative, positive = sorted(e.classes, key=lambda c: c == e.positive_class)
            text = confusion_text([negative, positive], [[tn, fp], [fn, tp]], width)
            title = f"Confusion matrix at T = {threshold:g}"
            return f"{title}\n{text}\n{binary_counts_text(tn, fp, fn, tp)}"
        if not e.confusion:
            return "Regression: see the residual plots (v)." if e.task == "regression" else ""
        title = "Confusion matrix" + (f" at T = {e.threshold:g}" if e.threshold else "")
        lines = [title, confusion_text(e.classes, e.confusion, width)]
        if e.task == "multiclass" and e.per_class:
            lines += ["", f"{'class':<14} precision recall     f1    rows"]
            for name, row in e.per_class.items():
                lines.append(
                    f"{name[:14]:<14} {row['precision']:>9.3f} {row['recall']:>6.3f} "
                    f"{row['f1']:>6.3f} {int(row['support']):>7,}"
                )
        return "\n".join(lines)
