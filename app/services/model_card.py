"""The model card: one Markdown page about a model, built from what the project recorded."""

from __future__ import annotations

from app.domain.evaluation import Evaluation
from app.domain.training import Run
from app.errors import MlwbError
from app.services import browse
from app.services import evaluation as ev
from storage import repositories as repo
from storage import training as store_runs
from storage.db import ProjectStore


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def model_card(store: ProjectStore, run_id: int | None = None) -> str:
    """Markdown for the latest evaluation of ``run_id`` (the chosen run by default)."""
    evaluation = ev.latest(store, run_id)
    if evaluation is None:
        raise MlwbError(
            "there is no evaluation to describe yet",
            hint="evaluate a run first (mlwb evaluate [RUN])",
        )
    with store.connect() as con:
        run = store_runs.get_run(con, evaluation.run_id)
        charter = repo.charter_version(con, evaluation.charter_version)
        model = store_runs.get_model(con, evaluation.run_id)
    assert run is not None and charter is not None
    version = browse.get_version(store, evaluation.dataset, evaluation.version)
    return render(evaluation, run, charter.charter, version, model or {})


def render(e: Evaluation, run: Run, charter: object, version: object, model: dict) -> str:
    """The card's Markdown."""
    c = charter
    lines = [
        f"# Model card: {run.label} (run {run.id})",
        "",
        f"**Gate: {e.gate.outcome.label}** — {e.gate.summary} "
        f"(judged against charter v{e.charter_version} on {e.n_holdout:,} holdout rows).",
        "",
        "## Purpose",
        "",
        f"- Project question: {getattr(c, 'objective', '') or getattr(c, 'name', '')}",
        f"- Decision it supports: {getattr(c, 'decision', '') or '(not stated)'}",
        f"- Task: {e.task} of `{e.target}`"
        + (f", positive class `{e.positive_class}`" if e.positive_class else ""),
        f"- Success: {getattr(c, 'primary_metric', '')} "
        f"{'>=' if ev.higher_is_better(e.primary) else '<='} {getattr(c, 'threshold', '')}"
        + (
            "; constraints: " + ", ".join(x.text() for x in getattr(c, "constraints", []))
            if getattr(c, "constraints", [])
            else ""
        ),
        "",
        "## Data",
        "",
        f"- Dataset `{e.dataset}@{e.version}` ({getattr(version, 'n_rows', 0):,} rows, "
        f"fingerprint `{run.fingerprint[:16]}`), from `{getattr(version, 'source_path', '')}`",
        f"- Split: {run.split}",
        f"- Recipe: {len(getattr(version, 'recipe', []))} step(s): "
        + (
            ", ".join(str(step.get("kind", "?")) for step in getattr(version, "recipe", []))
            or "none"
        ),
        f"- Features: {', '.join(model.get('features', [])) or '(see the run)'}",
        "",
        "## Model",
        "",
        f"- Candidate `{run.candidate}` with parameters "
        + (", ".join(f"`{k}={v}`" for k, v in run.params.items()) or "(defaults)"),
        f"- Cross-validation: {run.cv}-fold {run.cv_kind}, seed {run.seed}; "
        f"{e.primary} {_num(run.mean.get(e.primary))} ± {_num(run.std.get(e.primary))}",
        f"- Refitted on {model.get('n_rows', 0):,} training rows; file "
        f"`{model.get('path', '')}` ({model.get('bytes', 0) / 1e6:.2f} MB, SHA-256 "
        f"`{str(model.get('sha256', ''))[:16]}…`)",
    ]
    if e.threshold is not None:
        lines.append(f"- Decision threshold {e.threshold:g} ({e.threshold_source})")
    lines += [
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(run.libraries.items())),
        "",
        f"## Holdout metrics (95% bootstrap intervals, {e.resamples:,} resamples, seed {e.seed})",
        "",
        "| metric | model | 95% CI | baseline | difference (95% CI) |",
        "|---|---|---|---|---|",
    ]
    for m in e.metrics:
        ci = f"{_num(m.model.low)} – {_num(m.model.high)}" if m.model.low is not None else "—"
        base = _num(m.baseline.value) if m.baseline else "—"
        diff = (
            f"{m.difference.value:+.4f} ({m.difference.low:+.4f} – {m.difference.high:+.4f})"
            if m.difference and m.difference.value is not None and m.difference.low is not None
            else "—"
        )
        value = _num(m.model.value) if m.model.value is not None else f"— ({m.model.note})"
        lines.append(f"| {m.label} | {value} | {ci} | {base} | {diff} |")
    lines += ["", "## Gate checks", ""]
    for check in e.gate.checks:
        mark = {True: "✓", False: "✗", None: "?"}[check.passed]
        lines.append(f"- {mark} {check.name}: {check.detail}")
    for p in e.gate.pointers:
        lines.append(f"- → revisit **{p.stage}**: {p.reason}")
    if e.segments:
        lines += [
            "",
            f"## Segments ({e.primary}, worst first)",
            "",
            "| column | value | rows | value | 95% CI |",
            "|---|---|---|---|---|",
        ]
        for s in e.segments[:15]:
            ci = (
                f"{_num(s.metric.low)} – {_num(s.metric.high)}"
                if s.metric.low is not None
                else s.metric.note
            )
            lines.append(f"| {s.column} | {s.value} | {s.n:,} | {_num(s.metric.value)} | {ci} |")
    if e.importance:
        lines += [
            "",
            f"## What the model relies on (permutation importance on {e.importance_rows:,} rows)",
            "",
        ]
        for imp in e.importance[:10]:
            lines.append(f"- `{imp.feature}`: {imp.mean:+.4f} ± {imp.std:.4f}")
    if e.latency:
        lines += [
            "",
            "## Latency",
            "",
            f"- Single row: p50 {e.latency.single_p50_ms:.2f} ms, p95 "
            f"{e.latency.single_p95_ms:.2f} ms; batch {e.latency.batch_ms_per_row * 1000:.1f} µs "
            f"per row ({e.latency.batch_rows:,} rows)",
        ]
    lines += ["", "## Limitations", ""]
    limits = [
        f"Measured on {e.n_holdout:,} holdout rows of `{e.dataset}@{e.version}`; data from "
        "another time, place or population may behave differently (monitor it).",
        "Intervals cover sampling noise of the holdout only, not changes in the world.",
    ]
    if run.subsample:
        limits.append(f"Fitted on a seeded subsample of {run.subsample:,} rows (row limit).")
    small = [s for s in e.segments if s.metric.low is None]
    if small:
        limits.append(
            f"{len(small)} segment(s) are too small or lack positives for an interval; "
            "the model's behaviour there is not established."
        )
    limits += e.notes
    limits += [n for n in run.notes if "leakage" in n]
    lines += [f"- {x}" for x in limits]
    return "\n".join(lines) + "\n"
