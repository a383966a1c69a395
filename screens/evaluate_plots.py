"""The Evaluate screen's plots: curves and residuals drawn from a stored evaluation.

Every series comes from the evaluation (computed by the service) or from the live threshold
grid; this module only picks what to draw and draws it through ``ChartPlot``.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.evaluation import CurvePoint, Evaluation
from screens.evaluate_threshold import HoldoutScores
from screens.widgets.plot import ChartPlot

Series = tuple[str, Sequence[float], Sequence[float]]


class EvaluationPlot(ChartPlot):
    """A ChartPlot that also draws labelled lines, point clouds and reference lines."""

    def lines(
        self,
        series: Sequence[Series],
        title: str,
        xlabel: str,
        ylabel: str,
        *,
        unit_square: bool = False,
        marks: Sequence[tuple[float, float]] = (),
        vline: float | None = None,
    ) -> None:
        """Labelled lines (braille), optional marked points and a vertical line."""
        self._start(title)
        plt = self.plt
        for label, xs, ys in series:
            if xs:
                plt.plot(list(xs), list(ys), marker="braille", label=label)
        if marks:
            plt.scatter([m[0] for m in marks], [m[1] for m in marks], marker="●")
        if vline is not None:
            plt.vline(vline)
        if unit_square:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
        plt.xlabel(xlabel)
        plt.ylabel(ylabel)
        self.refresh()

    def cloud(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        title: str,
        xlabel: str,
        ylabel: str,
        *,
        diagonal: bool = False,
        zero_line: bool = False,
    ) -> None:
        """A point cloud (braille dots) with y = x or y = 0 drawn for reference."""
        self._start(title)
        plt = self.plt
        if xs:
            if diagonal:  # under the points, so a near-perfect model's points stay visible
                low, high = min(min(xs), min(ys)), max(max(xs), max(ys))
                plt.plot([low, high], [low, high], marker="dot", label="y = x")
            if zero_line:
                plt.hline(0.0)
            plt.scatter(list(xs), list(ys), marker="braille")
        plt.xlabel(xlabel)
        plt.ylabel(ylabel)
        self.refresh()

    def distribution(self, edges: Sequence[float], counts: Sequence[int], title: str) -> None:
        """A histogram from precomputed bins with a few readable x ticks."""
        self.histogram(edges, counts, title)
        if len(edges) > 1:
            ticks = [edges[round(i * (len(edges) - 1) / 4)] for i in range(5)]
            self.plt.xticks(ticks, [f"{t:.4g}" for t in ticks])
            self.refresh()


def _xy(points: Sequence[CurvePoint]) -> tuple[list[float], list[float]]:
    return [p.x for p in points], [p.y for p in points]


def draw(
    plot: EvaluationPlot,
    kind: str,
    e: Evaluation,
    threshold: float | None,
    scores: HoldoutScores | None,
) -> str:
    """Draw ``kind`` of evaluation ``e`` (live threshold ``threshold``); returns a caption."""
    curves = e.curves
    live = threshold is not None and scores is not None
    counts = scores.confusion_at(threshold) if live else None  # type: ignore[arg-type]
    if kind == "roc":
        points = curves.get("roc", [])
        if not points:
            plot.message("No ROC curve: the holdout needs both classes")
            return ""
        auc = e.metric("roc_auc")
        marks = []
        if counts is not None:
            tn, fp, fn, tp = counts
            marks = [(fp / max(1, fp + tn), tp / max(1, tp + fn))]
        title = "ROC" + (f" · AUC {auc.model.value:.3f}" if auc and auc.model.value else "")
        plot.lines(
            [("model", *_xy(points)), ("chance", [0.0, 1.0], [0.0, 1.0])],
            title,
            "false positive rate",
            "true positive rate",
            unit_square=True,
            marks=marks,
        )
        return f"● = the threshold {threshold:g}" if marks else ""
    if kind == "pr":
        points = curves.get("pr", [])
        if not points:
            plot.message("No precision–recall curve: the holdout needs both classes")
            return ""
        ap = e.metric("pr_auc")
        prevalence = ap.baseline.value if ap and ap.baseline else None
        series: list[Series] = [("model", *_xy(points))]
        if prevalence is not None:
            series.append(("no skill", [0.0, 1.0], [prevalence, prevalence]))
        marks = []
        if counts is not None:
            tn, fp, fn, tp = counts
            marks = [(tp / max(1, tp + fn), tp / max(1, tp + fp))]
        title = "precision–recall" + (
            f" · AP {ap.model.value:.3f}" if ap and ap.model.value else ""
        )
        plot.lines(series, title, "recall", "precision", unit_square=True, marks=marks)
        return f"● = the threshold {threshold:g}" if marks else ""
    if kind == "calibration":
        points = curves.get("calibration", [])
        if not points:
            plot.message("No calibration curve: the model gives no probabilities")
            return ""
        plot.lines(
            [("model", *_xy(points)), ("perfect", [0.0, 1.0], [0.0, 1.0])],
            "calibration (10 quantile bins)",
            "mean predicted probability",
            "observed positive share",
            unit_square=True,
        )
        return "on the diagonal: predicted probabilities match observed shares"
    if kind == "threshold":
        if scores is not None and scores.curve:
            grid = list(scores.curve["threshold"])
            series = [
                (name, grid, list(scores.curve[name]))
                for name in ("precision", "recall", "f1")
                if name in scores.curve
            ]
            if e.primary in scores.curve and e.primary not in ("precision", "recall", "f1"):
                series.append((e.primary, grid, list(scores.curve[e.primary])))
        else:
            series = [(e.primary, *_xy(curves.get("threshold", [])))]
        plot.lines(
            series,
            "label metrics by decision threshold",
            "threshold",
            "value",
            unit_square=True,
            vline=threshold,
        )
        return f"│ = the threshold {threshold:g}; + and - move it" if threshold is not None else ""
    if kind == "residuals":
        xs, ys = _xy(curves.get("residuals", []))
        plot.cloud(
            xs, ys, "residuals vs predicted", "predicted", "actual − predicted", zero_line=True
        )
        return f"a seeded sample of {len(xs):,} holdout rows"
    if kind == "actual_vs_predicted":
        xs, ys = _xy(curves.get("actual_vs_predicted", []))
        plot.cloud(xs, ys, "actual vs predicted", "predicted", "actual", diagonal=True)
        return f"a seeded sample of {len(xs):,} holdout rows; on the line = exact"
    if kind == "residual_histogram":
        edges = e.histogram.get("edges", [])
        counts_ = [int(c) for c in e.histogram.get("counts", [])]
        plot.distribution(edges, counts_, "residual distribution (actual − predicted)")
        return f"all {e.n_holdout:,} holdout rows"
    plot.message("No plots for this task: see the confusion matrix on the Metrics tab")
    return ""
