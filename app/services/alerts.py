"""The Explore stage's alerts: ranked data-quality findings, each with numbers and a fix.

Most alerts read the profile's statistics against ``AlertThresholds``. Those that are the same
thing as a Data-stage suggestion (marker values, spellings, numbers or dates stored as text,
sentinel values, target leakage) run the Data stage's own detectors (``app.services.suggest``)
on value counts computed in DuckDB (exact when a column has at most 2,000 distinct values,
else on the seeded sample), so both stages always agree.

Each alert's ``step`` is a recipe-step dict that ``parse_step`` accepts; steps whose parameters
come from the data (fill values, outlier bounds) are left unfrozen for the Data stage to freeze.
"""

from __future__ import annotations

from typing import Any

from app.domain.profile import SEVERITY_RANK, Alert
from app.services import suggest
from app.services.alert_rules import AlertContext, column_alerts, from_suggestion, ratio

__all__ = ["AlertContext", "build_alerts", "finish_alerts", "table_alerts"]

KIND_ORDER = (
    *("leakage", "imbalanced_target", "duplicates", "missing_markers", "numbers_as_text"),
    *("dates_as_text", "infinite_values", "high_missing", "constant", "unique", "spellings"),
    *("whitespace", "near_constant", "high_correlation", "suspicious_value"),
    *("unseen_categories", "high_cardinality", "time_gaps", "outliers", "high_skew"),
    "many_zeros",
)
"""Within a severity, alerts are ranked by kind in this order (most consequential first)."""


def build_alerts(ctx: AlertContext) -> list[Alert]:
    """Every alert for the profile, ranked: severity, then kind (``KIND_ORDER``), then column."""
    return finish_alerts(ctx, table_alerts(ctx))


def table_alerts(ctx: AlertContext) -> list[Alert]:
    """The alerts of the whole table and of each column, unranked: all but the target's and
    the correlations' (``ctx.target`` and ``ctx.correlations`` are not read; the column rules
    need only ``ctx.target_column``)."""
    found: list[Alert] = []
    if ctx.n_rows:
        found += _duplicates(ctx)
        found += _whitespace(ctx)
        for column in ctx.columns:
            found += column_alerts(ctx, column)
    return found


def finish_alerts(ctx: AlertContext, found: list[Alert]) -> list[Alert]:
    """``found`` (from ``table_alerts``) with the target's and the correlations' alerts, ranked
    as ``build_alerts`` ranks them."""
    found = list(found)
    if ctx.n_rows:
        found += _target_alerts(ctx)
        found += _correlation_alerts(ctx, found)
    order = {c.name: i for i, c in enumerate(ctx.columns)}
    found.sort(
        key=lambda a: (
            SEVERITY_RANK[a.severity],
            KIND_ORDER.index(a.kind),
            min((order.get(c, 0) for c in a.columns), default=-1),
        )
    )
    return found


# -- whole-table alerts -----------------------------------------------------------------------


def _duplicates(ctx: AlertContext) -> list[Alert]:
    if not ctx.duplicates:
        return []
    share = ratio(ctx.duplicates, ctx.n_rows)
    return [
        Alert(
            severity="high" if share >= ctx.thresholds.duplicate_share else "medium",
            kind="duplicates",
            columns=[],
            message=f"{ctx.duplicates:,} row(s) repeat an earlier row exactly ({share:.2%} of rows)",
            evidence={"duplicates": ctx.duplicates, "rows": ctx.n_rows, "share": share},
            step={"kind": "drop_duplicates"},
        )
    ]


def _whitespace(ctx: AlertContext) -> list[Alert]:
    padded = {c.name: c.text.padded for c in ctx.columns if c.text and c.text.padded}
    if not padded:
        return []
    shown = ", ".join(f"{c} ({n:,})" for c, n in list(padded.items())[:4])
    more = f" and {len(padded) - 4} more" if len(padded) > 4 else ""
    return [
        Alert(
            severity="medium",
            kind="whitespace",
            columns=list(padded),
            message=f"values start or end with spaces in {len(padded)} column(s): {shown}{more}",
            evidence={"values_per_column": padded},
            step={"kind": "trim_whitespace", "columns": list(padded)},
        )
    ]


# -- target and relationships -----------------------------------------------------------------


def _target_alerts(ctx: AlertContext) -> list[Alert]:
    target = ctx.target
    found: list[Alert] = []
    if target is None:
        return found
    if target.task != "regression" and len(target.classes) >= 2:
        total = sum(c.count for c in target.classes)
        minority = min(target.classes, key=lambda c: (c.count, c.value))
        share = ratio(minority.count, total)
        if share < ctx.thresholds.imbalance_share:
            severity = "high" if share < 0.05 else "medium" if share < 0.2 else "low"
            found.append(
                Alert(
                    severity=severity,
                    kind="imbalanced_target",
                    columns=[target.column],
                    message=f"{target.column} is imbalanced: {minority.value!r} is "
                    f"{minority.count:,} of {total:,} rows ({share:.1%}); stratify splits and "
                    "judge models by a threshold-aware metric",
                    evidence={
                        "classes": {c.value: c.count for c in target.classes},
                        "minority": minority.value,
                        "minority_count": minority.count,
                        "rows": total,
                        "share": share,
                        "threshold": ctx.thresholds.imbalance_share,
                    },
                )
            )
    if ctx.sample is not None and target.column in ctx.sample.columns:
        leaks = suggest.leakage_in_frame(ctx.sample, target.column)
        note = f"a sample of {ctx.sample.height:,} rows" if ctx.sample.height < ctx.n_rows else ""
        found += [from_suggestion(s, note) for s in leaks]
    return found


def _correlation_alerts(ctx: AlertContext, found: list[Alert]) -> list[Alert]:
    t = ctx.thresholds
    target = ctx.target.column if ctx.target else None
    leaked = {c for a in found if a.kind == "leakage" for c in a.columns}
    roles = {c.name: c.role.value for c in ctx.columns}
    out: list[Alert] = []
    seen: set[frozenset[str]] = set()
    for p in ctx.correlations.pairs:
        pair = frozenset((p.a, p.b))
        if pair in seen or p.a == p.b:
            continue
        strength = abs(p.value)
        if target in pair:
            other = p.b if p.a == target else p.a
            if (
                strength >= t.leakage_correlation
                and other not in leaked
                and roles.get(other) == "feature"
            ):
                seen.add(pair)
                leaked.add(other)
                out.append(
                    Alert(
                        severity="high",
                        kind="leakage",
                        columns=[other],
                        message=f"possible target leakage: {other} is associated with {target} "
                        f"at {p.value:.3f} ({_method_name(p.method)}); would it be known when "
                        "predicting?",
                        evidence=_pair_evidence(p, ctx.correlations.sample_size)
                        | {"target": target},
                        step={"kind": "drop_columns", "columns": [other]},
                    )
                )
            continue
        if strength >= t.high_correlation and roles.get(p.a) == roles.get(p.b) == "feature":
            seen.add(pair)
            out.append(
                Alert(
                    severity="low",
                    kind="high_correlation",
                    columns=[p.a, p.b],
                    message=f"{p.a} and {p.b} are associated at {p.value:.3f} "
                    f"({_method_name(p.method)}): they carry nearly the same information",
                    evidence=_pair_evidence(p, ctx.correlations.sample_size),
                    step={"kind": "drop_columns", "columns": [p.b]},
                )
            )
    return out


def _method_name(method: str) -> str:
    return {
        "pearson": "Pearson r",
        "spearman": "Spearman rho",
        "cramers_v": "Cramér's V",
        "correlation_ratio": "correlation ratio",
    }[method]


def _pair_evidence(p: Any, sample_size: int) -> dict[str, Any]:
    return {"method": p.method, "value": p.value, "rows": p.n, "sample_size": sample_size}
