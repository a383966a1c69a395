"""The lifecycle report: one document of the whole project, as Markdown and self-contained HTML.

``build_report`` reads what every stage recorded (charter and its history, dataset versions and
recipe, the profile's facts and alerts, the leaderboard, the evaluation and its gate, the model
card, the registry and its history, the monitoring timeline, retraining decisions) into plain
sections of blocks; a stage not reached yet gives a section that says so. ``to_markdown`` and
``to_html`` render the same sections. The HTML has no external references at all: the style is
inline, plots are inline SVG, every piece of project text is escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.domain.evaluation import Evaluation
from app.domain.recipe import parse_step
from app.errors import MlwbError
from app.services import browse, evaluation, lifecycle, model_card, models, monitor, registry
from app.services import training as tr
from storage import profiles
from storage import repositories as repo
from storage.artifacts import atomic_path
from storage.db import ProjectStore, mlwb_version

NOT_STARTED = "not started"
DONE = "done"
ALERT_ROWS = 30
"""Alerts listed in full; the rest are counted."""
EVENT_LIMIT = 100_000


# -- the report as data ------------------------------------------------------------------------


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Heading:
    text: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Chart:
    """Horizontal bars, one per label, with an optional reference line (a threshold)."""

    title: str
    labels: list[str]
    values: list[float]
    reference: float | None = None
    reference_label: str = ""


@dataclass
class Embedded:
    """A Markdown document of its own (the model card), nested under the section."""

    markdown: str


Block = Paragraph | Bullets | Heading | Table | Chart | Embedded


@dataclass
class Section:
    key: str
    title: str
    state: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Report:
    project: str
    root: str
    generated_at: datetime
    version: str
    sections: list[Section]

    def section(self, key: str) -> Section:
        """The section named ``key`` (KeyError when there is none)."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ci(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{low:.4f} – {high:.4f}"


def _when(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _not_started(key: str, title: str, why: str) -> Section:
    return Section(key, title, NOT_STARTED, [Paragraph(f"Not started: {why}")])


# -- sections ----------------------------------------------------------------------------------


def _overview(store: ProjectStore) -> Section:
    rows = [
        [f"{s.stage.number} {s.stage.title}", s.state.label, s.summary]
        for s in lifecycle.stage_statuses(store)
    ]
    return Section(
        "overview", "Where each stage stands", DONE, [Table(["stage", "state", "summary"], rows)]
    )


def _charter(store: ProjectStore) -> Section:
    with store.connect() as con:
        history = repo.charter_history(con)
    if not history:
        return _not_started("charter", "Charter", "no charter saved yet (mlwb problem set …).")
    current = history[0]
    c = current.charter
    sources = "; ".join(f"{d.name}: {d.description} {d.limits}".strip() for d in c.data_sources)
    budget = ", ".join(
        x
        for x in (
            f"{c.budget.time_hours:g} h" if c.budget.time_hours is not None else "",
            f"{c.budget.cost:g} {c.budget.currency}".strip() if c.budget.cost is not None else "",
        )
        if x
    )
    fields = [
        ("name", c.name),
        ("objective", c.objective),
        ("stakeholders", ", ".join(c.stakeholders)),
        ("decision", c.decision),
        ("task", c.task.value),
        ("target", c.target),
        ("positive class", c.positive_class or ""),
        ("time column", c.time_column or ""),
        ("success", c.primary_text()),
        ("constraints", ", ".join(x.text() for x in c.constraints)),
        ("explainable", "yes" if c.explainable else "no"),
        ("data sources", sources),
        ("budget", budget),
        ("notes", c.notes),
    ]
    blocks: list[Block] = [
        Paragraph(f"Version {current.version}, saved {_when(current.saved_at)}."),
        Table(["field", "value"], [[k, v or "—"] for k, v in fields]),
        Heading("History"),
    ]
    rows = []
    for i, v in enumerate(history):
        older = history[i + 1].charter.model_dump(mode="json") if i + 1 < len(history) else {}
        now = v.charter.model_dump(mode="json")
        changed = [k for k in now if older.get(k) != now[k]] if older else ["first version"]
        rows.append([f"v{v.version}", _when(v.saved_at), v.note or "—", ", ".join(changed) or "—"])
    blocks.append(Table(["version", "saved", "note", "changed"], rows))
    return Section("charter", "Charter", DONE, blocks)


def _step_text(step: dict[str, Any]) -> str:
    try:
        return parse_step(step).describe()
    except (ValueError, TypeError):
        return str(step.get("kind", step))


def _data(store: ProjectStore) -> Section:
    versions = browse.list_datasets(store)
    if not versions:
        return _not_started("data", "Data", "no dataset imported yet (mlwb data import FILE).")
    current = browse.current_dataset(store)
    rows = [
        [
            v.ref + (" (current)" if current and v.ref == current.ref else ""),
            f"{v.n_rows:,}",
            str(v.n_cols),
            v.source_path or (f"v{v.parent_version} + recipe" if v.parent_version else "—"),
            str(len(v.recipe)),
            _when(v.created_at),
            v.fingerprint[:12],
        ]
        for v in versions
    ]
    blocks: list[Block] = [
        Table(
            ["version", "rows", "columns", "source", "recipe steps", "created", "fingerprint"], rows
        )
    ]
    if current is not None:
        blocks.append(Heading(f"Recipe of {current.ref}"))
        steps = [_step_text(s) for s in current.recipe]
        blocks.append(
            Bullets([f"{i}. {t}" for i, t in enumerate(steps, 1)])
            if steps
            else Paragraph("No cleaning steps: the current version is the raw import.")
        )
        if current.warnings:
            blocks += [Heading("Import warnings"), Bullets(list(current.warnings))]
    return Section("data", "Data sources and versions", DONE, blocks)


def _explore(store: ProjectStore) -> Section:
    title = "Profile and alerts"
    current = browse.current_dataset(store)
    if current is None:
        return _not_started("explore", title, "no dataset to profile yet.")
    with store.connect() as con:
        p = profiles.latest_profile(con, current.name, current.version, current.fingerprint)
    if p is None:
        return _not_started("explore", title, f"{current.ref} has no profile yet (mlwb eda).")
    facts = [
        f"{p.ref}: {p.n_rows:,} rows, {p.n_cols} columns, {p.duplicate_rows:,} duplicate rows; "
        f"profiled {_when(p.computed_at)}.",
    ]
    missing = sorted((c for c in p.columns if c.missing), key=lambda c: -c.missing_pct)[:5]
    if missing:
        facts.append(
            "Most missing: " + ", ".join(f"{c.name} {c.missing_pct:.1%}" for c in missing) + "."
        )
    blocks: list[Block] = []
    if p.target is not None:
        t = p.target
        if t.classes:
            total = sum(c.count for c in t.classes) or 1
            facts.append(
                f"Target {t.column}: "
                + ", ".join(f"{c.value} {c.count / total:.1%}" for c in t.classes[:8])
                + "."
            )
        elif t.numeric is not None:
            facts.append(
                f"Target {t.column}: mean {_num(t.numeric.mean, 3)}, sd {_num(t.numeric.std, 3)}, "
                f"range {_num(t.numeric.min, 3)} – {_num(t.numeric.max, 3)}."
            )
        if t.top_features:
            top = t.top_features[:8]
            blocks.append(
                Chart(
                    f"Mutual information with {t.column} (nats)",
                    [f.column for f in top],
                    [f.mutual_information for f in top],
                )
            )
    blocks.insert(0, Bullets(facts))
    blocks.append(Heading(f"Alerts ({len(p.alerts)})"))
    if p.alerts:
        rows = [
            [a.severity, a.kind, ", ".join(a.columns), a.message] for a in p.alerts[:ALERT_ROWS]
        ]
        blocks.append(Table(["severity", "kind", "columns", "message"], rows))
        if len(p.alerts) > ALERT_ROWS:
            blocks.append(Paragraph(f"… and {len(p.alerts) - ALERT_ROWS} more (mlwb eda alerts)."))
    else:
        blocks.append(Paragraph("No alerts."))
    return Section("explore", title, DONE, blocks)


def _train(store: ProjectStore) -> Section:
    title = "Leaderboard"
    try:
        board = tr.leaderboard(store)
    except MlwbError as exc:
        return _not_started("train", title, exc.message)
    if not board.rows:
        return _not_started("train", title, "no finished training run yet (mlwb train).")
    chosen = models.chosen_run(store)
    metric = board.primary
    rows = [
        [
            str(r.rank),
            r.run.label + (" (chosen)" if chosen and chosen.id == r.run.id else ""),
            str(r.run.id),
            f"{_num(r.run.mean.get(metric))} ± {_num(r.run.std.get(metric))}",
            str(r.trials),
            "leader" if r.rank == 1 else ("—" if r.p_value is None else f"{r.p_value:.3f}"),
            "yes" if r.tied else "",
        ]
        for r in board.rows
    ]
    blocks: list[Block] = []
    if board.split is not None:
        blocks.append(Paragraph(f"Holdout: {board.split.text()}."))
    blocks += [
        Table(
            ["rank", "candidate", "run", f"{metric} (mean ± sd)", "trials", "p vs leader", "tied"],
            rows,
        ),
        Chart(
            f"Cross-validated {metric}",
            [r.run.label for r in board.rows],
            [r.run.mean.get(metric) or 0.0 for r in board.rows],
        ),
    ]
    if board.failed:
        blocks.append(
            Bullets(
                [f"{r.label} (run {r.id}) {r.status.value}: {r.error or ''}" for r in board.failed]
            )
        )
    return Section("train", title, DONE, blocks)


def _latest_evaluation(store: ProjectStore) -> Evaluation | None:
    chosen = models.chosen_run(store)
    found = evaluation.latest(store, chosen.id) if chosen else None
    return found or evaluation.latest(store)


def _evaluate(store: ProjectStore, e: Evaluation | None) -> Section:
    title = "Evaluation and gate"
    if e is None:
        return _not_started(
            "evaluate", title, "no run evaluated on the holdout yet (mlwb evaluate)."
        )
    threshold = (
        f"; threshold {e.threshold:g} ({e.threshold_source})" if e.threshold is not None else ""
    )
    blocks: list[Block] = [
        Paragraph(
            f"Run {e.run_id} ({e.label}) on {e.n_holdout:,} holdout rows of {e.dataset}@{e.version}, "
            f"against charter v{e.charter_version}{threshold}; 95% bootstrap intervals from "
            f"{e.resamples:,} resamples (seed {e.seed})."
        ),
        Paragraph(f"Gate: {e.gate.outcome.label} — {e.gate.summary}"),
        Bullets(
            [
                f"{ {True: '✓', False: '✗', None: '?'}[c.passed] } {c.name}: {c.detail}"
                for c in e.gate.checks
            ]
            + [f"→ revisit {p.stage}: {p.reason}" for p in e.gate.pointers]
        ),
    ]
    rows = []
    for m in e.metrics:
        d = m.difference
        rows.append(
            [
                m.label + (" (primary)" if m.name == e.primary else ""),
                _num(m.model.value) if m.model.value is not None else f"— {m.model.note}".strip(),
                _ci(m.model.low, m.model.high),
                _num(m.baseline.value) if m.baseline else "—",
                f"{d.value:+.4f}" if d and d.value is not None else "—",
                _ci(d.low, d.high) if d else "—",
            ]
        )
    blocks.append(
        Table(["metric", "model", "95% CI", "baseline", "difference", "difference CI"], rows)
    )
    if e.latency:
        blocks.append(
            Paragraph(
                f"Latency: single row p50 {e.latency.single_p50_ms:.2f} ms, p95 "
                f"{e.latency.single_p95_ms:.2f} ms."
            )
        )
    return Section("evaluate", title, DONE, blocks)


def _card(store: ProjectStore, e: Evaluation | None) -> Section:
    if e is None:
        return _not_started("model_card", "Model card", "the card is written from an evaluation.")
    return Section(
        "model_card", "Model card", DONE, [Embedded(model_card.model_card(store, e.run_id))]
    )


def _events(store: ProjectStore, stage: str) -> list[Any]:
    with store.connect() as con:
        found = repo.list_events(con, EVENT_LIMIT)
    return [e for e in reversed(found) if e.stage == stage]


def _deploy(store: ProjectStore) -> Section:
    title = "Registry"
    versions = registry.list_versions(store)
    if not versions:
        return _not_started("deploy", title, "no bundle deployed yet (mlwb deploy).")
    rows = [
        [
            f"v{v.version}",
            str(v.run_id),
            v.gate + (f" (override: {v.override_reason})" if v.override_reason else ""),
            ", ".join(v.aliases) or "—",
            _when(v.created_at),
            v.sha256[:12],
        ]
        for v in versions
    ]
    history = [[_when(ev.at), ev.action, ev.summary] for ev in _events(store, "deploy")]
    return Section(
        "deploy",
        title,
        DONE,
        [
            Table(["version", "run", "gate", "aliases", "created", "sha256"], rows),
            Heading("History"),
            Table(["when", "action", "what"], history) if history else Paragraph("No events."),
        ],
    )


def _monitor(store: ProjectStore) -> Section:
    title = "Monitoring timeline"
    batches = monitor.list_batches(store)
    if not batches:
        return _not_started("monitor", title, "no batch monitored yet (mlwb monitor add FILE).")
    rows = []
    for b in batches:
        s = b.summary()
        metric = "—"
        if s["value"] is not None:
            metric = f"{s['metric']} {s['value']:.4f} ({_ci(s['low'], s['high'])})"
        rows.append(
            [
                str(b.id),
                b.name,
                _when(b.created_at),
                f"{b.n_rows:,}",
                f"{b.n_rejected:,}",
                b.status.value.upper(),
                f"{s['drifted']}/{s['assessed']}",
                metric,
                b.decision.value if b.decision else "—",
            ]
        )
    blocks: list[Block] = [
        Table(
            [
                "id",
                "batch",
                "added",
                "rows",
                "rejected",
                "status",
                "drifted",
                "metric (95% CI)",
                "decision",
            ],
            rows,
        )
    ]
    scored = [(b, b.report.performance) for b in batches if b.report.performance]
    scored = [(b, p) for b, p in scored if p is not None and p.value is not None]
    if scored:
        p0 = scored[0][1]
        blocks.append(
            Chart(
                f"{p0.label} per batch",
                [f"{b.id} {b.name}" for b, _ in scored],
                [p.value or 0.0 for _, p in scored],
                p0.threshold,
                "charter threshold",
            )
        )
    blocks.append(
        Chart(
            "Importance-weighted share of drifted features",
            [f"{b.id} {b.name}" for b in batches],
            [b.drifted_share or 0.0 for b in batches],
        )
    )
    for b in batches:
        items = [f"[{r.status.value}] {r.text}" for r in b.report.reasons]
        if b.report.recommendation is not None:
            items.append(
                f"Recommendation: {b.report.recommendation_text or b.report.recommendation.value}"
            )
        if b.decision is not None:
            note = f" — {b.decision_note}" if b.decision_note else ""
            items.append(f"Decision ({_when(b.decided_at)}): {b.decision.value}{note}")
        blocks += [
            Heading(f"Batch {b.id} — {b.name}: {b.status.value.upper()}"),
            Bullets(items or ["Nothing to report."]),
        ]
    return Section("monitor", title, DONE, blocks)


def _retrain(store: ProjectStore) -> Section:
    title = "Retraining decisions"
    found = _events(store, "retrain")
    wanted = [
        b for b in monitor.list_batches(store) if b.decision and b.decision.value == "retrain"
    ]
    blocks: list[Block] = []
    if wanted:
        blocks.append(
            Paragraph(
                "Monitoring decided to retrain after batch(es) "
                + ", ".join(f"{b.id} ({b.name})" for b in wanted)
                + "."
            )
        )
    if not found:
        blocks.insert(0, Paragraph("None yet: no challenger has been trained or promoted."))
        return Section("retrain", title, NOT_STARTED, blocks)
    blocks.append(
        Table(["when", "action", "what"], [[_when(e.at), e.action, e.summary] for e in found])
    )
    return Section("retrain", title, DONE, blocks)


def build_report(store: ProjectStore) -> Report:
    """Read every stage's records into the report's sections (stages not reached say so)."""
    with store.connect() as con:
        info = repo.project_info(con)
    e = _latest_evaluation(store)
    sections = [
        _overview(store),
        _charter(store),
        _data(store),
        _explore(store),
        _train(store),
        _evaluate(store, e),
        _card(store, e),
        _deploy(store),
        _monitor(store),
        _retrain(store),
    ]
    return Report(info.name, str(store.root), datetime.now(), mlwb_version(), sections)


# -- Markdown ----------------------------------------------------------------------------------

BAR_WIDTH = 30


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _scale(chart: Chart) -> tuple[float, float]:
    points = [*chart.values, *([chart.reference] if chart.reference is not None else [])]
    low, high = min(0.0, *points), max(0.0, *points)
    return low, (high if high > low else low + 1.0)


def chart_text(chart: Chart) -> str:
    """The chart as text bars (a reference value is marked ┆ on every bar)."""
    low, high = _scale(chart)
    width = max(len(label) for label in chart.labels) if chart.labels else 0
    mark = None
    if chart.reference is not None:
        mark = round((chart.reference - low) / (high - low) * BAR_WIDTH)
    lines = [chart.title]
    for label, value in zip(chart.labels, chart.values, strict=True):
        n = round((value - low) / (high - low) * BAR_WIDTH)
        bar = list("█" * n + " " * (BAR_WIDTH - n))
        if mark is not None:
            bar.insert(mark, "┆")
        lines.append(f"{label:<{width}} {''.join(bar).rstrip()} {value:.4f}")
    if chart.reference is not None:
        lines.append(f"┆ {chart.reference_label or 'reference'} {chart.reference:g}")
    return "\n".join(lines)


def _block_markdown(block: Block) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Heading):
        return f"### {block.text}"
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        lines = ["| " + " | ".join(_cell(h) for h in block.headers) + " |"]
        lines.append("|" + "---|" * len(block.headers))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Chart):
        return "```text\n" + chart_text(block) + "\n```"
    return re.sub(
        r"^(#+) ", lambda m: "#" * min(6, len(m[1]) + 2) + " ", block.markdown.strip(), flags=re.M
    )


def to_markdown(report: Report) -> str:
    """The whole report as one Markdown document."""
    parts = [
        f"# Lifecycle report: {report.project}",
        f"Project folder `{report.root}`; generated {report.generated_at:%Y-%m-%d %H:%M} by mlwb "
        f"{report.version}.",
    ]
    for s in report.sections:
        parts.append(f"## {s.title}" + (f" ({NOT_STARTED})" if s.state == NOT_STARTED else ""))
        parts += [_block_markdown(b) for b in s.blocks]
    return "\n\n".join(parts) + "\n"


# -- HTML --------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{border-bottom:2px solid #446}h2{margin-top:2.5rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef}code{background:#f4f4f8;padding:0 .2rem}
.meta{color:#666}.state{font-size:.8rem;color:#fff;background:#5a5;padding:0 .4rem;border-radius:.3rem}
.state.not-started{background:#999}nav li{margin:.15rem 0}.card{border-left:4px solid #ccd;padding-left:1rem}
svg text{font-size:12px;font-family:monospace}
"""

BAR_PX = 320
LABEL_PX = 200


def _inline(text: str) -> str:
    """Escaped text with Markdown's **bold** and `code` as tags (the card's only inline marks)."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def chart_svg(chart: Chart) -> str:
    """The chart as inline SVG (no namespace URL: HTML5 does not need one)."""
    low, high = _scale(chart)
    row = 20
    height = row * len(chart.values) + 30

    def x(v: float) -> float:
        return LABEL_PX + (v - low) / (high - low) * BAR_PX

    parts = [
        f'<svg role="img" width="{LABEL_PX + BAR_PX + 80}" height="{height}" '
        f'viewBox="0 0 {LABEL_PX + BAR_PX + 80} {height}">',
        f"<title>{html.escape(chart.title)}</title>",
    ]
    for i, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        y = 5 + i * row
        left, right = sorted((x(0.0), x(value)))
        parts.append(
            f'<text x="{LABEL_PX - 6}" y="{y + 13}" text-anchor="end">{html.escape(label[:28])}</text>'
            f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 0.5):.1f}" height="{row - 6}" '
            f'fill="#57a"/><text x="{max(right, left) + 4:.1f}" y="{y + 13}">{value:.4f}</text>'
        )
    if chart.reference is not None:
        rx = x(chart.reference)
        bottom = 5 + row * len(chart.values)
        parts.append(
            f'<line x1="{rx:.1f}" y1="0" x2="{rx:.1f}" y2="{bottom}" stroke="#c33" stroke-width="2" '
            f'stroke-dasharray="4 3"/><text x="{rx:.1f}" y="{bottom + 16}" fill="#c33">'
            f"{html.escape(chart.reference_label or 'reference')} {chart.reference:g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _table_html(headers: list[str], rows: list[list[str]], inline: bool = False) -> str:
    cell = _inline if inline else html.escape
    head = "".join(f"<th>{cell(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def markdown_html(text: str, shift: int = 2) -> str:
    """The small Markdown subset of the model card (headings, lists, tables, bold, code)."""
    out: list[str] = []
    bullets: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if bullets:
            out.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in bullets) + "</ul>")
            bullets.clear()
        if table:
            out.append(_table_html(table[0], table[1:], inline=True))
            table.clear()

    for line in text.splitlines():
        stripped = line.strip()
        heading = re.match(r"^(#+) (.*)$", stripped)
        if stripped.startswith("|"):
            if bullets:
                flush()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                table.append(cells)
            continue
        flush()
        if not stripped:
            continue
        if heading:
            level = min(6, len(heading[1]) + shift)
            out.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
        elif stripped.startswith("- "):
            bullets.append(stripped[2:])
        else:
            out.append(f"<p>{_inline(stripped)}</p>")
    flush()
    return "\n".join(out)


def _block_html(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h3>{html.escape(block.text)}</h3>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table_html(block.headers, block.rows)
    if isinstance(block, Chart):
        return f"<figure>{chart_svg(block)}<figcaption>{html.escape(block.title)}</figcaption></figure>"
    return f'<div class="card">{markdown_html(block.markdown)}</div>'


def _state(section: Section) -> str:
    css = "state not-started" if section.state == NOT_STARTED else "state"
    return f'<span class="{css}">{html.escape(section.state)}</span>'


def to_html(report: Report) -> str:
    """The whole report as one self-contained HTML page (inline style and SVG, nothing fetched)."""
    title = html.escape(f"Lifecycle report: {report.project}")
    nav = "".join(
        f'<li><a href="#{s.key}">{html.escape(s.title)}</a> {_state(s)}</li>'
        for s in report.sections
    )
    body = "\n".join(
        f'<section id="{s.key}"><h2>{html.escape(s.title)} {_state(s)}</h2>\n'
        + "\n".join(_block_html(b) for b in s.blocks)
        + "</section>"
        for s in report.sections
    )
    meta = html.escape(
        f"Project folder {report.root}; generated {report.generated_at:%Y-%m-%d %H:%M} by mlwb "
        f"{report.version}."
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body>"
        f'<h1>{title}</h1><p class="meta">{meta}</p><nav><ol>{nav}</ol></nav>\n{body}\n'
        "</body></html>\n"
    )


def write_report(
    store: ProjectStore, md_path: Path | None = None, html_path: Path | None = None
) -> Report:
    """Build the report and write the Markdown (default ``<project>/report.md``) and, when
    asked, the HTML, each through a temporary file renamed into place."""
    report = build_report(store)
    targets = [(md_path or store.root / "report.md", to_markdown(report))]
    if html_path is not None:
        targets.append((html_path, to_html(report)))
    for path, text in targets:
        with atomic_path(Path(path)) as temp:
            temp.write_text(text, encoding="utf-8")
    return report
