"""``mlwb monitor add|labels|list|show|history|decide``: new batches against the baseline.

Importing this module registers the commands on ``app.cli.cli``. The monitoring service (and
the drift statistics, which load SciPy) are imported when a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from app.cli import cli, debug_option, emit, json_option, project_option
from app.cli_data import _progress_printer, table_text, wrap
from storage.db import ProjectStore

FAIL_LEVELS = ("warn", "alert")


def _svc() -> Any:
    from app.services import monitor

    return monitor


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "—" if value is None else format(value, fmt)


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _metric(batch: Any) -> str:
    p = batch.report.performance
    if p is None or p.value is None:
        return "—"
    interval = f" [{p.low:.3f}, {p.high:.3f}]" if p.low is not None and p.high is not None else ""
    return f"{p.metric} {p.value:.3f}{interval}"


def _timeline(batches: list[Any]) -> str:
    if not batches:
        return "No batches yet. Add one: mlwb monitor add FILE [--label-column C]"
    rows = [
        [
            b.id,
            b.name,
            f"{b.n_rows:,}",
            f"{b.n_rejected:,}",
            b.status.value.upper(),
            f"{b.report.drift.n_drifted}/{b.report.drift.n_assessed}",
            _metric(b),
            _num(b.report.latency_ms_per_1000, ".0f"),
            b.decision.value if b.decision else "—",
        ]
        for b in batches
    ]
    return table_text(
        ["id", "batch", "rows", "rejected", "status", "drifted", "metric", "ms/1k", "decision"],
        rows,
    )


def _show(batch: Any) -> str:
    r = batch.report
    lines = [
        f"Batch {batch.id} — {batch.name}: {batch.status.value.upper()}",
        wrap(
            f"{batch.n_rows:,} rows, {batch.n_scored:,} scored, {batch.n_rejected:,} rejected; "
            f"bundle v{batch.bundle_version}; source {batch.source}"
        ),
    ]
    for reason in r.reasons:
        lines.append(wrap(f"  [{reason.status.value}] {reason.text}"))
    if r.recommendation is not None:
        lines.append(wrap(f"Recommendation: {r.recommendation_text}"))
    if batch.decision is not None:
        note = f" ({batch.decision_note})" if batch.decision_note else ""
        lines.append(f"Decision: {batch.decision.value}{note}")
    p = r.performance
    if p is not None:
        base = f"; holdout {p.baseline:.3f}" if p.baseline is not None else ""
        lines.append(
            wrap(
                f"Performance on {p.n_labelled:,} labelled rows: {_metric(batch)}{base}; "
                f"charter {'>=' if p.higher_is_better else '<='} {p.threshold:g}"
            )
        )
    lines.append("")
    lines.append("Features by severity (a statistic must beat both its minimum effect and noise):")
    rows = []
    for f in r.drift.features:
        stats = f.statistics
        rows.append(
            [
                f.name,
                f.kind,
                "DRIFT" if f.drifted else ("—" if not f.assessed else "ok"),
                _num(f.severity, ".2f"),
                _num(stats["psi"].value if "psi" in stats else None),
                _num(stats["js"].value if "js" in stats else None),
                _num(stats["wasserstein"].value if "wasserstein" in stats else None),
                _share(f.missing_rate),
            ]
        )
    lines.append(
        table_text(["feature", "kind", "verdict", "severity", "PSI", "JS", "W/sd", "missing"], rows)
    )
    if r.prediction_drift is not None:
        pd_ = r.prediction_drift
        lines.append(
            wrap(
                f"Predictions vs holdout: {'moved' if pd_.drifted else 'stable'} "
                f"(severity {pd_.severity:.2f})"
            )
        )
    v = r.violations
    broken = [c for c in v.columns if c.total]
    if broken or v.extra_columns or v.missing_columns:
        lines.append("")
        lines.append("Contract violations:")
        if broken:
            lines.append(
                table_text(
                    ["column", "type", "missing", "out of range", "unseen"],
                    [
                        [c.column, c.type_failures, c.missing_not_allowed, c.out_of_range, c.unseen]
                        for c in broken
                    ],
                )
            )
        if v.missing_columns:
            lines.append(
                wrap("  optional columns absent (read as missing): " + ", ".join(v.missing_columns))
            )
        if v.extra_columns:
            lines.append(wrap("  extra columns (ignored): " + ", ".join(v.extra_columns)))
    lines.append("")
    lines.append(wrap(f"Method: {r.drift.method}."))
    return "\n".join(lines)


def _exit_for(status: str, fail_on: str | None) -> None:
    if fail_on is None:
        return
    ranks = {"ok": 0, "warn": 1, "alert": 2}
    if ranks[status] >= ranks[fail_on]:
        sys.exit(1)


@cli.group("monitor")
def monitor() -> None:
    """New batches against the production bundle's baseline: drift, violations, performance."""


@monitor.command("add")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option(
    "--from-log",
    is_flag=True,
    help="Monitor the rows the server scored since the last batch taken from the log.",
)
@click.option("--name", "-n", help="Batch name (default: the file name).")
@click.option("--label-column", help="A column holding the true outcome (performance).")
@click.option("--key", "key", help="The row ID column, for labels that arrive later.")
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_LEVELS),
    help="Exit with code 1 when the batch's status is at least this (for scheduled jobs).",
)
@project_option
@json_option
@debug_option
def monitor_add(
    file: Path | None,
    from_log: bool,
    name: str | None,
    label_column: str | None,
    key: str | None,
    fail_on: str | None,
    project: Path,
    as_json: bool,
) -> None:
    """Score FILE (CSV, Parquet, NDJSON) — or, with --from-log, the rows the server scored —
    with the production bundle and compare it with the training baseline; the batch is stored
    with its status and recommendation."""
    if (file is None) == (not from_log):
        raise click.UsageError("give a FILE or --from-log (one of them)")
    store = ProjectStore.open(project)
    progress = None if as_json else _progress_printer()
    if from_log:
        batch = _svc().add_log_batch(store, name=name, on_progress=progress)
    else:
        batch = _svc().add_batch(
            store,
            file,
            name=name,
            label_column=label_column,
            key_column=key,
            on_progress=progress,
        )
    emit(batch.model_dump(mode="json"), as_json, lambda: _show(batch))
    _exit_for(batch.status.value, fail_on)


@monitor.command("labels")
@click.argument("batch", type=int)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--key", "key", required=True, help="The ID column shared with the batch.")
@click.option("--label-column", help="The label column (default: the charter's target).")
@project_option
@json_option
@debug_option
def monitor_labels(
    batch: int, file: Path, key: str, label_column: str | None, project: Path, as_json: bool
) -> None:
    """Join labels that arrived later to BATCH's scored rows and compute its performance."""
    store = ProjectStore.open(project)
    updated = _svc().add_labels(store, batch, file, key, label_column)
    emit(updated.model_dump(mode="json"), as_json, lambda: _show(updated))


@monitor.command("list")
@project_option
@json_option
@debug_option
def monitor_list(project: Path, as_json: bool) -> None:
    """The batch timeline: size, status, drifted features, metric, latency, decision."""
    store = ProjectStore.open(project)
    batches = _svc().list_batches(store)
    emit([b.summary() for b in batches], as_json, lambda: _timeline(batches))


@monitor.command("history")
@project_option
@json_option
@debug_option
def monitor_history(project: Path, as_json: bool) -> None:
    """Monitoring events (batches added, failures, labels, decisions), newest first."""
    from storage import repositories as repo

    store = ProjectStore.open(project)
    with store.connect() as con:
        events = [e for e in repo.list_events(con, limit=500) if e.stage == "monitor"]
    data = [e.model_dump(mode="json") for e in events]

    def text() -> str:
        if not events:
            return "No monitoring events yet."
        rows = [[e.id, str(e.at)[:16], e.action, e.summary] for e in events]
        return table_text(["id", "when", "action", "summary"], rows)

    emit(data, as_json, text)


@monitor.command("show")
@click.argument("batch", type=int)
@project_option
@json_option
@debug_option
def monitor_show(batch: int, project: Path, as_json: bool) -> None:
    """One batch: status and reasons, drift per feature, violations, performance."""
    store = ProjectStore.open(project)
    found = _svc().get_batch(store, batch)
    emit(found.model_dump(mode="json"), as_json, lambda: _show(found))


@monitor.command("decide")
@click.argument("batch", type=int)
@click.argument("decision", type=click.Choice(["retrain", "inspect", "accept"]))
@click.option("--note", default="", help="Why (recorded in the events).")
@project_option
@json_option
@debug_option
def monitor_decide(batch: int, decision: str, note: str, project: Path, as_json: bool) -> None:
    """Record what you decided about BATCH's recommendation."""
    store = ProjectStore.open(project)
    updated = _svc().decide(store, batch, decision, note)
    emit(
        updated.summary(),
        as_json,
        f"batch {batch}: decision '{decision}' recorded" + (f" ({note})" if note else ""),
    )
