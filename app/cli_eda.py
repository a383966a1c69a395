"""``mlwb eda``: the Explore stage headless: profile, one column, alerts, correlations,
alert thresholds. Text fits 80 columns; ``--json`` prints the stored profile's parts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from app.cli import debug_option, emit, json_option, project_option
from app.cli_data import _progress_printer, table_text, wrap

F = TypeVar("F", bound=Callable[..., Any])
BAR_WIDTH = 36
HISTOGRAM_ROWS = 20
"""Text histograms merge neighbouring bins until at most this many rows remain."""
METHOD_LABELS = {
    "pearson": "Pearson r",
    "spearman": "Spearman",
    "cramers_v": "Cramér's V",
    "correlation_ratio": "corr. ratio",
}
LEVELS = ("0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99")


def _common(func: F) -> F:
    """--project, --dataset, --refresh, --seed and --json, shared by every eda command."""
    func = click.option("--seed", type=int, help="Seed of the samples and the split (default 0).")(
        func
    )
    func = click.option(
        "--refresh", is_flag=True, help="Compute again, ignoring the stored profile."
    )(func)
    func = click.option("--dataset", "-d", help="NAME[@VERSION] (default: the current dataset).")(
        func
    )
    return json_option(project_option(func))


def _profile(
    ctx: click.Context,
    project: Path,
    dataset: str | None,
    refresh: bool,
    seed: int | None,
    quiet: bool,
) -> Any:
    """The profile of the chosen dataset; options not given fall back to the group's."""
    from app.domain.profile import ProfileSettings
    from app.services import browse
    from app.services.profile import profile_dataset
    from storage.db import ProjectStore

    group = ctx.obj or {}
    if project == Path(".") and group.get("project") is not None:
        project = group["project"]
    dataset = dataset or group.get("dataset")
    refresh = refresh or bool(group.get("refresh"))
    seed = seed if seed is not None else group.get("seed")
    store = ProjectStore.open(project)
    version = browse.resolve(store, dataset)
    return profile_dataset(
        store,
        version.name,
        version.version,
        on_progress=None if quiet else _progress_printer(),
        refresh=refresh,
        settings=ProfileSettings(seed=seed) if seed is not None else None,
    )


@click.group("eda", invoke_without_command=True)
@_common
@click.option("--column", "-c", help="Show one column in detail, with its histogram.")
@debug_option
@click.pass_context
def eda(
    ctx: click.Context,
    project: Path,
    dataset: str | None,
    refresh: bool,
    seed: int | None,
    as_json: bool,
    column: str | None,
) -> None:
    """Stage 3: profile the dataset (or one --column); see also alerts and correlations."""
    ctx.obj = {
        "project": project,
        "dataset": dataset,
        "refresh": refresh,
        "seed": seed,
        "json": as_json,
    }
    if ctx.invoked_subcommand is not None:
        return
    profile = _profile(ctx, project, dataset, refresh, seed, as_json)
    if column is None:
        emit(profile.model_dump(mode="json"), as_json, lambda: summary_text(profile))
        return
    found = _column(profile, column)
    emit(found.model_dump(mode="json"), as_json, lambda: column_text(profile, found))


def _column(profile: Any, name: str) -> Any:
    import difflib

    from app.errors import MlwbError

    try:
        return profile.column(name)
    except KeyError:
        names = [c.name for c in profile.columns]
        close = difflib.get_close_matches(name, names, n=1)
        raise MlwbError(
            f"{name!r} is not a column of {profile.ref}",
            hint=f"did you mean {close[0]!r}?" if close else "see the columns with: mlwb eda",
        ) from None


@eda.command("alerts")
@_common
@debug_option
@click.pass_context
def alerts(
    ctx: click.Context,
    project: Path,
    dataset: str | None,
    refresh: bool,
    seed: int | None,
    as_json: bool,
) -> None:
    """Ranked data-quality alerts, each with its evidence and a fixing step."""
    as_json = as_json or bool((ctx.obj or {}).get("json"))
    profile = _profile(ctx, project, dataset, refresh, seed, as_json)
    emit(
        {"dataset": profile.ref, "alerts": [a.model_dump(mode="json") for a in profile.alerts]},
        as_json,
        lambda: alerts_text(profile),
    )


@eda.command("correlations")
@_common
@click.option(
    "--top", type=click.IntRange(min=1), default=15, show_default=True, help="Pairs shown."
)
@debug_option
@click.pass_context
def correlations(
    ctx: click.Context,
    project: Path,
    dataset: str | None,
    refresh: bool,
    seed: int | None,
    as_json: bool,
    top: int,
) -> None:
    """The strongest associations between columns, and with the target."""
    as_json = as_json or bool((ctx.obj or {}).get("json"))
    profile = _profile(ctx, project, dataset, refresh, seed, as_json)
    data = {"dataset": profile.ref, **profile.correlations.model_dump(mode="json")}
    if profile.target is not None:
        data["target"] = profile.target.model_dump(mode="json")
    emit(data, as_json, lambda: correlations_text(profile, top))


@eda.command("thresholds")
@project_option
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a threshold (repeatable).",
)
@click.option(
    "--reset", "resets", multiple=True, metavar="NAME", help="Back to the default (repeatable)."
)
@click.option("--reset-all", is_flag=True, help="Every threshold back to its default.")
@json_option
@debug_option
@click.pass_context
def thresholds(
    ctx: click.Context,
    project: Path,
    changes: tuple[str, ...],
    resets: tuple[str, ...],
    reset_all: bool,
    as_json: bool,
) -> None:
    """Show (or --set / --reset) the thresholds the alerts use."""
    from app.domain.thresholds import REASONS, AlertThresholds
    from app.errors import MlwbError
    from app.services import profile as svc
    from storage.db import ProjectStore

    group = ctx.obj or {}
    project = project if project != Path(".") else group.get("project", project)
    as_json = as_json or bool(group.get("json"))
    store = ProjectStore.open(project)
    parsed: dict[str, str] = {}
    for change in changes:
        name, sep, value = change.partition("=")
        if not sep or not name.strip():
            raise MlwbError(
                f"cannot read --set {change!r}", hint="write NAME=VALUE, e.g. skew_abs=3"
            )
        parsed[name.strip()] = value.strip()
    if reset_all or resets:
        current = svc.reset_thresholds(store, None if reset_all else resets)
    if parsed:
        current = svc.set_thresholds(store, parsed)
    if not (parsed or reset_all or resets):
        current = svc.read_thresholds(store)
    defaults = AlertThresholds()

    def text() -> str:
        lines = ["alert thresholds (* = changed in this project):"]
        for name, value in current.model_dump().items():
            default = getattr(defaults, name)
            mark = "*" if value != default else " "
            shown = f"{value:g}" + (f" (default {default:g})" if value != default else "")
            lines.append(f"{mark} {name:<20} {shown}")
            lines.append(f"      {REASONS[name]}")
        lines.append("change one with: mlwb eda thresholds --set NAME=VALUE")
        return "\n".join(lines)

    emit(
        {"thresholds": current.model_dump(), "defaults": defaults.model_dump(), "reasons": REASONS},
        as_json,
        text,
    )


# -- text -----------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.6g}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _column_summary(c: Any) -> str:
    if c.numeric is not None and c.numeric.min is not None:
        s = c.numeric
        return f"{_num(s.min)} .. {_num(s.max)}, mean {_num(s.mean)}"
    if c.dates is not None and c.dates.min is not None:
        return f"{c.dates.min} .. {c.dates.max}"
    if c.top_values:
        top = c.top_values[0]
        return f"{top.value!r} {_pct(top.count, c.count)}"
    return c.top_values_note or ""


def summary_text(p: Any) -> str:
    """The profile at a glance: size, target, alerts, one line per column."""
    lines = [
        wrap(
            f"{p.ref}: {p.n_rows:,} rows x {p.n_cols} columns, profiled in {p.seconds:.2f} s "
            f"({p.computed_at:%Y-%m-%d %H:%M})"
        )
    ]
    if p.target is not None:
        lines.append(wrap(_target_line(p.target)))
    counts = {s: sum(a.severity == s for a in p.alerts) for s in ("high", "medium", "low")}
    lines.append(
        wrap(
            f"duplicate rows: {p.duplicate_rows:,}; alerts: {len(p.alerts)} "
            f"({counts['high']} high, {counts['medium']} medium, {counts['low']} low) "
            "- see: mlwb eda alerts"
        )
    )
    lines.append("")
    rows = [
        [
            c.name,
            c.semantic_type.value,
            f"{c.missing_pct:.1f}%",
            f"{c.distinct:,}{'' if c.distinct_exact else '~'}" if c.distinct is not None else "-",
            _column_summary(c),
        ]
        for c in p.columns
    ]
    lines.append(table_text(["column", "type", "missing", "distinct", "summary"], rows))
    if any(not c.distinct_exact for c in p.columns):
        lines.append("~ distinct count estimated (HyperLogLog)")
    lines.append("one column: mlwb eda --column NAME")
    return "\n".join(lines)


def _target_line(t: Any) -> str:
    if t.task == "regression" and t.numeric is not None:
        s = t.numeric
        return (
            f"target {t.column} (regression): mean {_num(s.mean)}, std {_num(s.std)}, "
            f"median {_num(s.quantile(0.5))}"
        )
    total = sum(c.count for c in t.classes)
    shown = ", ".join(f"{c.value!r} {c.count:,} ({_pct(c.count, total)})" for c in t.classes[:4])
    more = f" and {len(t.classes) - 4} more" if len(t.classes) > 4 else ""
    return f"target {t.column} ({t.task}): {shown}{more}"


def _bar(count: float, largest: float, width: int = BAR_WIDTH) -> str:
    if largest <= 0:
        return ""
    eighths = round(8 * width * count / largest)
    full, part = divmod(eighths, 8)
    return "█" * full + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[part]


def _merge_step(n: int) -> int:
    """Neighbours merged per text line so that at most HISTOGRAM_ROWS lines remain."""
    return max(1, -(-n // HISTOGRAM_ROWS))


def _merged_bins(h: Any, integer: bool) -> list[tuple[str, int]]:
    step = _merge_step(len(h.counts))
    rows = []
    for start in range(0, len(h.counts), step):
        end = min(start + step, len(h.counts))
        low, high = h.edges[start], h.edges[end]
        if integer:
            top = int(high) - 1
            label = f"{int(low)}" if top <= int(low) else f"{int(low)}-{top}"
        else:
            label = f"{low:.4g} - {high:.4g}"
        rows.append((label, sum(h.counts[start:end])))
    return rows


def _chart(rows: list[tuple[str, int]]) -> list[str]:
    if not rows:
        return []
    label_width = min(max(len(label) for label, _ in rows), 22)
    largest = max(n for _, n in rows)
    out = []
    for label, n in rows:
        shown = label if len(label) <= label_width else label[: label_width - 1] + "…"
        out.append(f"  {shown:<{label_width}} {_bar(n, largest):<{BAR_WIDTH}} {n:,}")
    return out


def column_text(p: Any, c: Any) -> str:
    """One column in detail: statistics, outliers, histogram or bars, target relation."""
    exact = "exact" if c.distinct_exact else "estimated"
    lines = [
        f"{c.name}  ({c.dtype}, {c.semantic_type.value}, role {c.role.value})  in {p.ref}",
        f"count {c.count:,}   missing {c.missing:,} ({c.missing_pct:.1f}%)   "
        + (f"distinct {c.distinct:,} ({exact})" if c.distinct is not None else ""),
    ]
    s = c.numeric
    if s is not None and s.min is not None:
        lines.append(
            f"min {_num(s.min)}  max {_num(s.max)}  mean {_num(s.mean)}  std {_num(s.std)}"
        )
        q = "  ".join(f"{float(k) * 100:g}% {_num(s.quantiles.get(k))}" for k in LEVELS)
        lines.append(wrap(f"quantiles ({'exact' if s.quantiles_exact else 'approx.'}): {q}"))
        lines.append(
            f"skewness {_num(s.skewness)}  kurtosis {_num(s.kurtosis)}  zeros {s.zeros:,}  "
            f"negatives {s.negatives:,}  inf {s.infinities:,}  NaN {s.nans:,}"
        )
    if c.outliers is not None:
        o = c.outliers
        lines.append(
            wrap(
                f"outliers: {o.iqr_count:,} outside [{_num(o.lower_fence)}, {_num(o.upper_fence)}] "
                f"(IQR x{o.iqr_factor:g}: {o.below:,} below, {o.above:,} above); "
                f"{o.z_count:,} beyond |z| {o.z_limit:g}"
            )
        )
    if c.text is not None and c.text.max_length is not None:
        t = c.text
        lines.append(
            f"length {t.min_length}..{t.max_length} (mean {t.mean_length:.1f}); "
            f"empty {t.empty:,}; padded with spaces {t.padded:,}"
        )
    if c.dates is not None and c.dates.min is not None:
        d = c.dates
        lines.append(f"range {d.min} .. {d.max} ({_num(d.span_days)} days)")
        if d.gaps is not None:
            g = d.gaps
            lines.append(
                wrap(
                    f"usual step {g.step_text} ({g.regular_share:.0%} of steps); "
                    f"{g.gaps:,} gap(s), {g.missing_periods:,} step(s) missing"
                )
            )
        elif d.gap_note:
            lines.append(d.gap_note)
    if c.histogram is not None:
        h = c.histogram
        step = _merge_step(len(h.counts))
        shown = f" ({step} bins a line)" if step > 1 else ""
        lines += ["", wrap(f"histogram: {len(h.counts)} bins{shown}, {h.rule}")]
        lines += _chart(_merged_bins(h, c.dtype.upper().endswith("INT")))
    elif c.bars:
        lines += ["", "values:"] + _chart([(str(label), n) for label, n in c.bars])
    if c.time_series:
        series = c.time_series
        step = _merge_step(len(series))
        shown = f" ({step} {c.time_unit}s a line)" if step > 1 else ""
        lines += ["", f"rows per {c.time_unit}{shown}:"]
        merged = [
            (series[i][0][:10], sum(n for _, n in series[i : i + step]))
            for i in range(0, len(series), step)
        ]
        lines += _chart(merged)
    if c.top_values and c.histogram is not None:
        shown = ", ".join(f"{v.value} ({v.count:,})" for v in c.top_values[:5])
        lines += ["", wrap(f"top values: {shown}")]
    if c.target_relation is not None:
        r = c.target_relation
        lines += ["", wrap(f"{', '.join(r.measures)} by {c.name}:")]
        rows = [
            [
                row.label,
                f"{row.count:,}",
                *(_num(v) if v is None else f"{v:.4g}" for v in row.values),
            ]
            for row in r.rows[:HISTOGRAM_ROWS]
        ]
        lines.append(table_text([c.name, "rows", *r.measures], rows))
    related = [a for a in p.alerts if c.name in a.columns]
    if related:
        lines += ["", "alerts:"] + [wrap(f"  {a.severity}: {a.message}") for a in related]
    return "\n".join(lines)


def alerts_text(p: Any) -> str:
    """The ranked alerts, each with its fix as a step and the command that applies it."""
    from app.domain.recipe import parse_step

    if not p.alerts:
        return f"{p.ref}: no alerts"
    lines = [f"{p.ref}: {len(p.alerts)} alert(s), most severe first"]
    for number, a in enumerate(p.alerts, 1):
        lines.append("")
        lines.append(wrap(f"{number:>2}. {a.severity.upper():<6} {a.kind}: {a.message}"))
        if a.step is not None:
            lines.append(wrap(f"    fix: {parse_step(a.step).describe()}"))
            lines.append(wrap(f"    step: {json.dumps(a.step, ensure_ascii=False)}"))
    if any(a.step is not None for a in p.alerts):
        lines += ["", wrap("apply a fix with: mlwb data step add 'STEP' (--json lists the steps)")]
    return "\n".join(lines)


def correlations_text(p: Any, top: int) -> str:
    """The strongest pairs, the target's related features, and what the numbers rest on."""
    c = p.correlations
    lines = [wrap(f"{p.ref}: associations {c.note}")]
    if not c.pairs:
        lines.append("no pairs to correlate")
    else:
        seen: set[frozenset[str]] = set()
        rows = []
        for pair in c.pairs:
            key = frozenset((pair.a, pair.b))
            if key in seen:
                continue
            seen.add(key)
            method = METHOD_LABELS[pair.method]
            rows.append([pair.a, pair.b, method, f"{pair.value:+.3f}", f"{pair.n:,}"])
            if len(rows) >= top:
                break
        lines += ["", table_text(["column", "column", "method", "value", "rows"], rows)]
    t = p.target
    if t is not None and t.top_features:
        lines += ["", wrap(f"mutual information with {t.column} ({t.mi_note}):")]
        largest = t.top_features[0].mutual_information or 1.0
        lines += _chart_values(
            [(f.column, f.mutual_information) for f in t.top_features[:top]], largest
        )
    return "\n".join(lines)


def _chart_values(rows: list[tuple[str, float]], largest: float) -> list[str]:
    label_width = min(max(len(label) for label, _ in rows), 22)
    out = []
    for label, value in rows:
        shown = label if len(label) <= label_width else label[: label_width - 1] + "…"
        out.append(f"  {shown:<{label_width}} {_bar(value, largest):<{BAR_WIDTH}} {value:.4f}")
    return out
