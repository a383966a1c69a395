"""Text of the Evaluate screen: the gate, metric and segment rows, the confusion matrix.

Pure functions of a stored ``Evaluation`` (and, for the live threshold, of counts), so the
screen only places them and the tests can read them without a terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from app.domain.charter import Charter
from app.domain.evaluation import Evaluation, Interval, MetricResult, SegmentResult

SHADES = " ░▒▓█"
BULLETS = {"✓ ", "✗ ", "? ", "→ ", "• "}
CHECK_MARKS = {True: "✓", False: "✗", None: "?"}
LOWER_IS_BETTER = {"error_rate", "brier", "log_loss", "mae", "rmse", "mape", "median_ae"}
"""Metrics where smaller is better (the services' METRICS say so for the charter's metrics;
these are the ones an evaluation table shows)."""
LABEL_METRICS = (
    "accuracy",
    "error_rate",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "mcc",
)
"""Binary metrics that depend on the decision threshold (recomputed live)."""
PLOT_KINDS = {
    "binary": ("roc", "pr", "calibration", "threshold"),
    "regression": ("residuals", "actual_vs_predicted", "residual_histogram"),
    "multiclass": (),
}
PLOT_TITLES = {
    "roc": "ROC",
    "pr": "precision–recall",
    "calibration": "calibration",
    "threshold": "threshold",
    "residuals": "residuals",
    "actual_vs_predicted": "actual vs predicted",
    "residual_histogram": "residual histogram",
}


def num(value: float | None, digits: int = 4) -> str:
    """A metric value, or a dash when undefined."""
    return "—" if value is None else f"{value:.{digits}f}"


def interval_text(i: Interval | None) -> str:
    """``low–high`` of an interval, or its note when there is none."""
    if i is None:
        return ""
    if i.low is None or i.high is None:
        return i.note
    return f"{num(i.low)}–{num(i.high)}"


def difference_text(m: MetricResult) -> str:
    """Model minus baseline, with ✓ when the paired interval says the model is better."""
    d = m.difference
    if d is None or d.value is None:
        return ""
    return f"{d.value:+.4f}" + (" ✓" if m.better else "")


def metric_cells(m: MetricResult) -> tuple[str, str, str, str, str]:
    """Label, model value, 95% interval, baseline value and the difference."""
    if m.model.value is None:
        return (m.label, "—", m.model.note, num(m.baseline.value) if m.baseline else "—", "")
    return (
        m.label,
        num(m.model.value),
        interval_text(m.model),
        num(m.baseline.value) if m.baseline else "—",
        difference_text(m),
    )


def headline(e: Evaluation) -> str:
    """Which run, against which charter, on how many holdout rows."""
    return (
        f"run {e.run_id} ({e.label}) · charter v{e.charter_version} · "
        f"{e.n_holdout:,} holdout rows of {e.dataset}@{e.version}"
    )


def threshold_text(e: Evaluation) -> str:
    """The stored decision threshold and where it came from."""
    if e.threshold is None:
        return ""
    return f"decision threshold {e.threshold:g} ({e.threshold_source})"


def wrap_lines(lines: Sequence[str], width: int) -> str:
    """Wrap each line to ``width`` with a hanging indent under its bullet or indentation."""
    out = []
    for line in lines:
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if body[:2] in BULLETS:
            indent += 2
        out.append(
            textwrap.fill(
                line,
                max(20, width),
                subsequent_indent=" " * indent,
                break_on_hyphens=False,
                drop_whitespace=True,
            )
            if line
            else ""
        )
    return "\n".join(out)


def gate_detail(e: Evaluation, width: int = 80) -> str:
    """The Gate tab: every check with its evidence, the pointers back, and the facts."""
    gate = e.gate
    lines = [f"{gate.outcome.label} — {gate.summary}", ""]
    lines.append("Checks")
    for check in gate.checks:
        lines.append(f"  {CHECK_MARKS[check.passed]} {check.name}: {check.detail}")
    if gate.pointers:
        lines += ["", "Where to go back"]
        lines += [f"  → revisit {p.stage}: {p.reason}" for p in gate.pointers]
    lines += ["", "Evidence"]
    lines.append(f"  {headline(e)}")
    lines.append(
        f"  95% intervals from {e.resamples:,} bootstrap resamples (seed {e.seed}); baseline = "
        "dummy fitted on the training part; differences are paired"
    )
    if e.threshold is not None:
        lines.append(f"  {threshold_text(e)}")
    primary = e.metric(e.primary)
    if e.cv_primary is not None and primary is not None and primary.model.value is not None:
        lines.append(
            f"  {e.primary}: cross-validation {e.cv_primary:.4f} · holdout {primary.model.value:.4f}"
        )
    if e.latency is not None:
        lat = e.latency
        lines.append(
            f"  latency: one row p50 {lat.single_p50_ms:.2f} ms, p95 {lat.single_p95_ms:.2f} ms; "
            f"batch {lat.batch_ms_per_row * 1000:.1f} µs per row"
        )
    if e.trained_charter_version not in (None, e.charter_version):
        lines.append(f"  trained under charter v{e.trained_charter_version}")
    when = e.created_at.strftime("%Y-%m-%d %H:%M") if e.created_at else "—"
    lines.append(f"  evaluation {e.id}, {when} UTC, took {e.seconds:.1f} s")
    if e.notes:
        lines += ["", "Notes"]
        lines += [f"  • {n}" for n in e.notes]
    return wrap_lines(lines, width)


def metrics_legend(e: Evaluation, live: bool) -> str:
    """What the columns of the metrics table mean."""
    text = (
        f"model: on {e.n_holdout:,} holdout rows · 95% CI: {e.resamples:,} bootstrap "
        "resamples · baseline: a dummy fitted on the training part · vs baseline: paired "
        "difference, ✓ when its interval excludes 0"
    )
    if live:
        text += " · at T: point values at the tried threshold (only label metrics move)"
    return text


def segment_cells(s: SegmentResult, overall: float | None) -> tuple[str, str, str, str, str, str]:
    """Column, value, rows, the metric, its interval (or why none) and the gap to overall."""
    gap = ""
    if s.metric.value is not None and overall is not None:
        gap = f"{s.metric.value - overall:+.4f}"
    return (
        s.column,
        s.value,
        f"{s.n:,}",
        num(s.metric.value),
        interval_text(s.metric) or s.metric.note,
        gap,
    )


def confusion_text(classes: Sequence[str], matrix: Sequence[Sequence[int]], width: int) -> str:
    """A confusion matrix as heat text: rows actual, columns predicted, each cell shaded by
    its share of its row (the row's recall on the diagonal)."""
    if not classes or not matrix:
        return "No confusion matrix."
    most = max(1, min(len(classes), (width - 12) // 10))
    names = [c if len(c) <= 9 else c[:8] + "…" for c in classes[:most]]
    label_w = max(6, *(len(n) for n in names))
    cell_w = max(8, *(len(f"{v:,}") + 2 for row in matrix for v in row[:most]))
    lines = [" " * (label_w + 1) + "predicted →"]
    lines.append(f"{'actual ↓':<{label_w}} " + " ".join(f"{n:>{cell_w}}" for n in names))
    for name, row in zip(names, matrix[:most], strict=False):
        total = sum(row) or 1
        cells = []
        for value in row[:most]:
            shade = SHADES[min(4, int(value / total * 4.999))]
            cells.append(f"{shade}{value:>{cell_w - 1},}")
        lines.append(f"{name:<{label_w}} " + " ".join(cells))
    if most < len(classes):
        lines.append(f"({len(classes) - most} more classes do not fit)")
    lines.append("shade = share of the actual row")
    return "\n".join(lines)


def binary_counts_text(tn: int, fp: int, fn: int, tp: int) -> str:
    """The four counts of a binary confusion matrix in words."""
    return f"TP {tp:,} · FP {fp:,} · FN {fn:,} · TN {tn:,}"


def importance_lines(e: Evaluation) -> str:
    """What the importance chart shows, in one line."""
    if not e.importance:
        return "No permutation importance in this evaluation."
    return (
        f"Permutation importance: drop in {e.primary} when a column is shuffled "
        f"({e.importance_rows:,} holdout rows, 5 shuffles; ± is the spread)"
    )


def coefficient_rows(e: Evaluation) -> list[tuple[str, str, str, str, str]]:
    """The statsmodels coefficient table as text cells."""
    return [
        (
            str(r.get("term", "")),
            num(r.get("coef")),
            num(r.get("std_err")),
            num(r.get("z_or_t"), 2),
            num(r.get("p_value")),
        )
        for r in e.coefficients
    ]


def plot_bar(kinds: Sequence[str], current: str) -> str:
    """The plot kinds with the shown one marked (``p`` cycles them)."""
    parts = [f"▸{PLOT_TITLES[k]}◂" if k == current else PLOT_TITLES[k] for k in kinds]
    return "p: " + "  ".join(parts)


def charter_at_threshold(
    charter: Charter | None, values: dict[str, float], threshold: float
) -> str:
    """The charter's label-metric requirements checked at a tried threshold (point values)."""
    if charter is None:
        return ""
    wanted: list[tuple[str, str, float]] = []
    if charter.primary_metric in LABEL_METRICS:
        bound = "<=" if charter.primary_metric in LOWER_IS_BETTER else ">="
        wanted.append((charter.primary_metric, bound, charter.threshold))
    wanted += [(c.metric, c.bound, c.value) for c in charter.constraints if c.metric in values]
    lines = []
    for metric, bound, limit in wanted:
        value = values.get(metric)
        if value is None:
            continue
        held = value >= limit if bound == ">=" else value <= limit
        lines.append(f"  {CHECK_MARKS[held]} {metric} {value:.4f} {bound} {limit:g}")
    if not lines:
        return ""
    return "\n".join([f"Charter at T = {threshold:g} (point values)", *lines])
