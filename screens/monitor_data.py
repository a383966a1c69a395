"""What the Monitor screen reads and how it words it: the production version, the batches,
their drift, contract breaks and recommendation.

Reading happens in two steps, both in a thread worker. ``read_overview`` is cheap (the storage
layer only): it tells whether a version is in production and how many batches there are, so
the empty states show at once. ``read_batches`` parses the stored reports into the monitoring
models (``app.domain.monitor``: pydantic only, no ML library).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.db import ProjectStore

if TYPE_CHECKING:
    from app.domain.drift import FeatureDrift
    from app.domain.monitor import ColumnViolations, MonitorBatch, Performance

STATUS_WORD = {"ok": "OK", "warn": "warn", "alert": "ALERT"}
VERDICT_ORDER = ("drifted", "ok", "not judged")


@dataclass
class Overview:
    """Whether monitoring can start and how many batches there are (cheap to read)."""

    production: int | None
    """The version in production (what new batches are scored with)."""
    n_versions: int
    n_batches: int
    target: str = ""
    """The charter's target (the default label column)."""


def read_overview(store: ProjectStore) -> Overview:
    """The production version and the number of batches, through the storage layer only."""
    from storage import registry as reg
    from storage import repositories as repo

    with store.connect() as con:
        production = None
        n_versions = 0
        if repo.count_rows(con, "bundles") is not None:
            n_versions = len(reg.list_bundles(con))
            production = reg.aliases(con).get("production")
        n_batches = repo.count_rows(con, "monitor_batches") or 0
        charter = repo.latest_charter(con)
    target = charter.charter.target if charter is not None else ""
    return Overview(production, n_versions, n_batches, target)


def read_batches(store: ProjectStore) -> list[MonitorBatch]:
    """Every stored batch, oldest first (no ML library imported)."""
    from storage import monitor as stored
    from storage import repositories as repo

    with store.connect() as con:
        if not repo.count_rows(con, "monitor_batches"):
            return []
        return stored.list_batches(con)


def shadow_lines(batches: list[MonitorBatch]) -> dict[int, str]:
    """``shadow.line`` of every batch scored by a shadowed challenger, by batch id. The shadow
    service imports scikit-learn, so this runs (in the read worker) only when there is one."""
    found = [b for b in batches if b.report.shadow is not None]
    if not found:
        return {}
    from app.services import shadow

    return {b.id: shadow.line(b.id, b.name, b.report.shadow) for b in found}


# -- numbers --------------------------------------------------------------------------------------


def num(value: float | None) -> str:
    """Four significant digits, or a dash."""
    return "—" if value is None else f"{value:.4g}"


def short(value: float | None) -> str:
    """Three significant digits, or a dash."""
    return "—" if value is None else f"{value:.3g}"


def share(value: float | None) -> str:
    """A share as a percentage, or a dash."""
    return "—" if value is None else f"{value:.0%}"


def decimals(value: float) -> int:
    """Decimals that give ``value`` three significant digits (at most six)."""
    if value == 0 or not math.isfinite(value):
        return 3
    return min(6, max(0, 2 - math.floor(math.log10(abs(value)))))


def metric_cell(perf: Performance | None) -> str:
    """``0.812 [0.790, 0.833]`` (the interval in the value's decimals); ``no labels`` before
    labels arrive."""
    if perf is None:
        return "no labels"
    if perf.value is None:
        return "—"
    d = decimals(perf.value)
    if perf.low is None or perf.high is None:
        return f"{perf.value:.{d}f}"
    return f"{perf.value:.{d}f} [{perf.low:.{d}f}, {perf.high:.{d}f}]"


def latency_cell(ms_per_1000: float | None) -> str:
    """Scoring time per 1,000 rows."""
    if ms_per_1000 is None:
        return "—"
    return f"{ms_per_1000:,.0f}" if ms_per_1000 >= 10 else f"{ms_per_1000:.1f}"


def metric_header(batches: list[MonitorBatch]) -> str:
    """The metric column's header: named when every labelled batch uses the same metric."""
    names = {b.report.performance.metric for b in batches if b.report.performance}
    return f"{names.pop()} [95% CI]" if len(names) == 1 else "metric [95% CI]"


# -- timeline -------------------------------------------------------------------------------------

TIMELINE_COLUMNS = ("id", "batch", "rows", "status", "drift", "decision", "metric", "latency")
TIMELINE_LABELS = {"id": "#", "drift": "drifted", "latency": "ms/1k"}
"""Latency: scoring milliseconds per 1,000 rows."""


def timeline_row(batch: MonitorBatch) -> list[str]:
    """One batch as a timeline row (status is styled by the screen)."""
    drift = batch.report.drift
    drifted = (
        f"{drift.n_drifted}/{drift.n_assessed} {share(drift.drifted_share)}"
        if drift.n_assessed
        else "—"
    )
    rows = f"{batch.n_rows:,}"
    if batch.n_rejected:
        rows += f" ({batch.n_rejected:,} rej.)"
    return [
        str(batch.id),
        batch.name,
        rows,
        STATUS_WORD[batch.status.value],
        drifted,
        batch.decision.value if batch.decision else "—",
        metric_cell(batch.report.performance),
        latency_cell(batch.report.latency_ms_per_1000),
    ]


# -- features -------------------------------------------------------------------------------------

FEATURE_COLUMNS = ("feature", "verdict", "severity", "strongest", "missing")
FEATURE_LABELS = {"strongest": "strongest statistic vs threshold"}


def verdict(feature: FeatureDrift) -> str:
    """``drifted``, ``ok`` or ``not judged`` (empty, all missing, or a date)."""
    if not feature.assessed:
        return "not judged"
    return "drifted" if feature.drifted else "ok"


def strongest(feature: FeatureDrift) -> str:
    """The decisive statistic closest to (or furthest over) its threshold: ``PSI 0.41 > 0.2``."""
    best = None
    ratio = -1.0
    for stat in feature.statistics.values():
        if not stat.decisive or stat.value is None or not stat.threshold:
            continue
        r = abs(stat.value) / stat.threshold
        if r > ratio:
            best, ratio = stat, r
    if best is None:
        return "—"
    sign = ">" if best.exceeded else "≤"
    return f"{best.label} {short(best.value)} {sign} {short(best.threshold)}"


def feature_row(feature: FeatureDrift) -> list[str]:
    """One feature of the selected batch, as the severity-sorted table shows it."""
    missing = share(feature.missing_rate)
    if feature.missing_rate is not None and feature.baseline_missing_rate:
        missing += f" (was {share(feature.baseline_missing_rate)})"
    return [
        feature.name,
        verdict(feature),
        f"{feature.severity:.2f}" if feature.assessed else "—",
        strongest(feature),
        missing,
    ]


def feature_detail(feature: FeatureDrift) -> str:
    """Every statistic of one feature with its threshold (under the overlay plot)."""
    lines = [f"{feature.name} ({feature.kind}): {verdict(feature)}"]
    if feature.assessed:
        lines[0] += f", severity {feature.severity:.2f} (largest value / threshold)"
    lines.append(f"  {'statistic':<19} {'value':>7}  threshold")
    for stat in feature.statistics.values():
        if stat.value is None:
            continue
        mark = "✗" if stat.exceeded and stat.decisive else " "
        limit = short(stat.threshold) if stat.threshold is not None else "(info)"
        lines.append(f"{mark} {stat.label:<19} {short(stat.value):>7}  {limit}")
    hist = feature.histogram
    if hist is not None and hist.unseen_levels:
        unseen = ", ".join(f"{k} ({v:,})" for k, v in list(hist.unseen_levels.items())[:5])
        lines.append(f"unseen: {unseen}")
    if feature.note:
        lines.append(feature.note)
    lines.append(f"How: {feature.method}.")
    return "\n".join(lines)


def overlay_shares(feature: FeatureDrift) -> tuple[list[str], list[float], list[float]] | None:
    """Bin labels and the baseline's and batch's shares (%) of non-missing rows per bin."""
    hist = feature.histogram
    if hist is None or not hist.labels:
        return None
    base_total = sum(hist.baseline_counts) or 1
    batch_total = sum(hist.counts) or 1
    return (
        list(hist.labels),
        [100 * c / base_total for c in hist.baseline_counts],
        [100 * c / batch_total for c in hist.counts],
    )


# -- violations -----------------------------------------------------------------------------------

VIOLATION_COLUMNS = ("column", "type", "missing", "range", "unseen", "miss. rate", "total")


def violation_row(column: ColumnViolations) -> list[str]:
    """One column's contract breaks."""
    rate = share(column.missing_rate)
    if column.missing_rate is not None and column.baseline_missing_rate is not None:
        rate = f"{share(column.baseline_missing_rate)} → {rate}"
    return [
        column.column,
        f"{column.type_failures:,}",
        f"{column.missing_not_allowed:,}",
        f"{column.out_of_range:,}",
        f"{column.unseen:,}",
        rate,
        f"{column.total:,}",
    ]


def violation_summary(batch: MonitorBatch) -> str:
    """The batch-level contract facts above the per-column table."""
    v = batch.report.violations
    parts = [
        f"{batch.n_rejected:,} of {batch.n_rows:,} rows rejected (not scored)"
        if batch.n_rejected
        else f"all {batch.n_rows:,} rows scored"
    ]
    if v.missing_columns:
        parts.append("optional columns absent: " + ", ".join(v.missing_columns))
    if v.extra_columns:
        parts.append("extra columns (ignored): " + ", ".join(v.extra_columns))
    if v.other_rejects:
        parts.append(f"{v.other_rejects:,} rejects without a column")
    if not any(c.total for c in v.columns):
        parts.append("no column broke the contract")
    return " · ".join(parts)


# -- recommendation -------------------------------------------------------------------------------


def recommendation_head(batch: MonitorBatch) -> str:
    """The verdict and what to do about it (shown in the status colour)."""
    r = batch.report
    head = f"{STATUS_WORD[batch.status.value]}"
    if r.recommendation is not None:
        head += f" · recommended: {r.recommendation.value.upper()}"
    if r.recommendation_text:
        head += f"\n{r.recommendation_text}"
    return head


def recommendation_text(batch: MonitorBatch, shadow_line: str | None = None) -> str:
    """The reasons behind the status, the evidence, and what was decided; ``shadow_line`` is
    the worded shadow result (``shadow.line``) once read, when the batch has one."""
    r = batch.report
    lines = [
        f"Batch {batch.id} · {batch.name} · {batch.n_rows:,} rows · "
        f"scored by v{batch.bundle_version}",
        "Why:",
    ]
    reasons = [x for x in r.reasons if r.shadow is None or not x.text.startswith("shadow: ")]
    for reason in reasons:
        lines.append(f"  [{STATUS_WORD[reason.status.value]}] {reason.text}")
    if not reasons:
        lines.append("  nothing moved beyond its threshold")
    if r.top_features:
        lines.append("Drifted, most severe first: " + ", ".join(r.top_features))
    if r.prediction_drift is not None:
        pd_ = r.prediction_drift
        lines.append(
            f"Predictions vs holdout: {verdict(pd_)} (severity {pd_.severity:.2f}; "
            f"{strongest(pd_)})"
        )
    perf = r.performance
    if perf is not None:
        base = f"; holdout {num(perf.baseline)}" if perf.baseline is not None else ""
        meets = {True: "meets", False: "misses", None: "cannot judge"}[perf.meets_threshold]
        lines.append(
            f"{perf.label}: {metric_cell(perf)} on {perf.n_labelled:,} labelled rows{base}; "
            f"{meets} the charter's {num(perf.threshold)}"
        )
    elif batch.key_column:
        lines.append(f"No labels yet: l joins them when they arrive (key {batch.key_column!r}).")
    else:
        lines.append("No labels: add the batch with a label or key column to measure the metric.")
    if r.shadow is not None:
        lines.append(f"Shadow challenger (bundle v{r.shadow.version}), scored beside production:")
        lines.append(f"  {shadow_line or 'reading…'}")
    lines.append("")
    if batch.decision is not None:
        when = f" on {batch.decided_at:%Y-%m-%d %H:%M}" if batch.decided_at else ""
        note = f": {batch.decision_note}" if batch.decision_note else ""
        lines.append(f"Decided{when}: {batch.decision.value}{note}")
    else:
        lines.append("No decision recorded yet: d records retrain, inspect or accept, with a note.")
    return "\n".join(lines)
