"""``mlwb evaluate``, ``mlwb gate`` and ``mlwb model-card``: the Evaluate stage headless."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from app.cli import cli, debug_option, emit, json_option, project_option
from app.cli_data import _progress_printer, table_text, wrap


def _n(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def gate_text(e: Any) -> str:
    """The gate banner and its checks."""
    lines = [
        f"Gate: {e.gate.outcome.label} — run {e.run_id} ({e.label}) against charter "
        f"v{e.charter_version}",
        wrap(f"  {e.gate.summary}"),
    ]
    for check in e.gate.checks:
        mark = {True: "✓", False: "✗", None: "?"}[check.passed]
        lines.append(wrap(f"  {mark} {check.name}: {check.detail}"))
    for p in e.gate.pointers:
        lines.append(wrap(f"  → revisit {p.stage}: {p.reason}"))
    return "\n".join(lines)


def evaluation_text(e: Any) -> str:
    """The whole evaluation for people, 80 columns wide."""
    lines = [gate_text(e), ""]
    head = (
        f"Holdout of {e.dataset}@{e.version}: {e.n_holdout:,} rows; 95% intervals from "
        f"{e.resamples:,} bootstrap resamples (seed {e.seed}); baseline = dummy fitted on the "
        "training part, difference = paired bootstrap."
    )
    if e.threshold is not None:
        head += f" Decision threshold {e.threshold:g} ({e.threshold_source})."
    lines.append(wrap(head))
    rows = []
    for m in e.metrics:
        if m.model.value is None:
            rows.append([m.label, "—", m.model.note, "", ""])
            continue
        ci = f"{_n(m.model.low)}–{_n(m.model.high)}" if m.model.low is not None else ""
        diff = ""
        if m.difference is not None and m.difference.value is not None:
            diff = f"{m.difference.value:+.4f}" + (" ✓" if m.better else "")
        rows.append(
            [m.label, _n(m.model.value), ci, _n(m.baseline.value) if m.baseline else "—", diff]
        )
    lines += ["", table_text(["metric", "model", "95% CI", "baseline", "vs baseline"], rows)]
    if e.confusion:
        lines += ["", "Confusion matrix (rows: actual, columns: predicted)"]
        lines.append(
            table_text(
                ["actual \\ predicted", *e.classes],
                [[c, *row] for c, row in zip(e.classes, e.confusion, strict=True)],
            )
        )
    if e.segments:
        lines += ["", f"Segments by {e.primary}, worst first:"]
        seg_rows = []
        for s in e.segments[:12]:
            ci = (
                f"{_n(s.metric.low)}–{_n(s.metric.high)}"
                if s.metric.low is not None
                else s.metric.note
            )
            seg_rows.append([s.column, s.value, f"{s.n:,}", _n(s.metric.value), ci])
        lines.append(table_text(["column", "value", "rows", e.primary, "95% CI"], seg_rows))
    if e.importance:
        lines += [
            "",
            f"Permutation importance ({e.primary} drop, {e.importance_rows:,} rows, 5 shuffles):",
        ]
        top = e.importance[:10]
        scale = max((abs(i.mean) for i in top), default=1) or 1
        for imp in top:
            bar = "█" * max(0, int(round(24 * imp.mean / scale)))
            lines.append(f"  {imp.feature[:22]:<22} {imp.mean:+.4f} ±{imp.std:.4f} {bar}")
    if e.coefficients:
        lines += ["", "Coefficients (statsmodels):"]
        lines.append(
            table_text(
                ["term", "coef", "std err", "z/t", "p"],
                [
                    [
                        r["term"],
                        _n(r["coef"]),
                        _n(r["std_err"]),
                        _n(r["z_or_t"], 2),
                        _n(r["p_value"]),
                    ]
                    for r in e.coefficients[:30]
                ],
            )
        )
    if e.latency:
        lat = e.latency
        lines += [
            "",
            f"Latency: single row p50 {lat.single_p50_ms:.2f} ms, p95 {lat.single_p95_ms:.2f} ms; "
            f"batch {lat.batch_ms_per_row * 1000:.1f} µs per row",
        ]
    lines += [wrap(f"note: {n}") for n in e.notes]
    lines.append(f"\nEvaluated in {e.seconds:.1f} s; stored as evaluation {e.id}.")
    return "\n".join(lines)


def _run_evaluation(
    project: Path,
    run: int | None,
    threshold: float | None,
    tune: bool,
    segments: str | None,
    resamples: int,
    seed: int,
    quiet: bool,
) -> Any:
    from app.services import evaluation as ev
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    columns = [c.strip() for c in segments.split(",") if c.strip()] if segments else None
    return ev.evaluate(
        store,
        run,
        threshold=threshold,
        tune=tune,
        segments=columns,
        resamples=resamples,
        seed=seed,
        on_progress=None if quiet else _progress_printer(),
    )


def _options(func: Any) -> Any:
    func = click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")(
        func
    )
    func = click.option(
        "--resamples", type=click.IntRange(100, 100_000), default=1000, show_default=True
    )(func)
    func = click.option("--segments", help="Columns to slice by, e.g. sex,race (default: two).")(
        func
    )
    func = click.option(
        "--tune", is_flag=True, help="Tune the threshold on out-of-fold predictions."
    )(func)
    func = click.option("--threshold", type=float, help="Decision threshold (binary), 0–1.")(func)
    func = click.argument("run", type=int, required=False)(func)
    return json_option(project_option(func))


@cli.command("evaluate")
@_options
@debug_option
def evaluate_command(
    run: int | None,
    project: Path,
    threshold: float | None,
    tune: bool,
    segments: str | None,
    resamples: int,
    seed: int,
    as_json: bool,
) -> None:
    """Stage 5: judge RUN (default: the chosen run) on the locked holdout, with intervals."""
    e = _run_evaluation(project, run, threshold, tune, segments, resamples, seed, as_json)
    emit(e.model_dump(mode="json"), as_json, lambda: evaluation_text(e))


@cli.command("gate")
@_options
@debug_option
def gate_command(
    run: int | None,
    project: Path,
    threshold: float | None,
    tune: bool,
    segments: str | None,
    resamples: int,
    seed: int,
    as_json: bool,
) -> None:
    """Stage 5: the gate alone. Exit code 0 pass, 1 fail, 2 too close to call, 3 when no
    verdict could be reached (e.g. no chosen run, a damaged model file)."""
    from app.errors import MlwbError

    try:
        e = _run_evaluation(project, run, threshold, tune, segments, resamples, seed, as_json)
    except MlwbError as exc:
        click.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(3)
    emit(
        {"evaluation": e.id, "run": e.run_id, **e.gate.model_dump(mode="json")},
        as_json,
        lambda: gate_text(e),
    )
    sys.exit(e.gate.outcome.exit_code)


@cli.command("model-card")
@click.argument("run", type=int, required=False)
@project_option
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to this file.")
@debug_option
def model_card_command(run: int | None, project: Path, output: Path | None) -> None:
    """Stage 5: a Markdown model card from the latest evaluation of RUN (default: chosen)."""
    from app.services.model_card import model_card
    from storage.artifacts import write_bytes_atomic
    from storage.db import ProjectStore

    text = model_card(ProjectStore.open(project), run)
    if output is None:
        click.echo(text, nl=False)
        return
    write_bytes_atomic(output.resolve(), text.encode())
    click.echo(f"model card written to {output}")
