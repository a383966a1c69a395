"""What a profile knows besides the data: the target, its task and positive class, the time
column and the train/holdout split, which columns the sample needs, and the target summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import polars as pl

from app.domain.charter import Charter
from app.domain.dataset import ColumnRole, DatasetVersion
from app.domain.profile import (
    ColumnProfile,
    Feature,
    ProfileSettings,
    SemanticType,
    TargetSummary,
    TopValue,
    settings_hash,
)
from app.services import profile_stats as stats
from app.services.correlations import mutual_information
from app.services.eda_thresholds import thresholds_in
from app.services.profile_columns import TargetSpec
from storage import datasets as ds
from storage import repositories as repo

Query = Callable[[str], list[tuple[Any, ...]]]
Progress = Callable[[float, str], None]

TARGET_CLASSES = 50
"""Classes listed in the class balance."""
DISTRIBUTION_CLASSES = 5
"""A multiclass target's relation shows the share of its most frequent classes."""
HOLDOUT_SHARE = 0.2
EXTRA_SAMPLE_COLUMNS = 20
"""Text columns with too many values to count exactly that the sample carries for detectors."""


def _match(name: str | None, columns: list[str]) -> str | None:
    if not name:
        return None
    if name in columns:
        return name
    return {c.lower(): c for c in columns}.get(name.lower())


class ProfileContext:
    """What shapes a profile besides the data: roles, target, time column, thresholds."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        found: DatasetVersion,
        settings: ProfileSettings,
    ) -> None:
        self.columns = ds.table_columns(con, found.table_name)
        names = [c for c, _ in self.columns]
        stored = ds.get_roles(con, found.name)
        self.roles = {c: stored.get(c, ColumnRole.FEATURE) for c in names}
        saved = repo.latest_charter(con)
        self.charter: Charter | None = saved.charter if saved else None
        by_role = [c for c, r in self.roles.items() if r is ColumnRole.TARGET]
        self.target = (
            by_role[0] if by_role else _match(getattr(self.charter, "target", None), names)
        )
        self.split_column = _match(getattr(self.charter, "time_column", None), names)
        times = [c for c, r in self.roles.items() if r is ColumnRole.TIME]
        self.time_column = self.split_column or (times[0] if times else None)
        self.thresholds = thresholds_in(con)
        charter = self.charter
        same_target = charter is not None and _match(charter.target, names) == self.target
        self.task = charter.task.value if charter and same_target else None
        self.positive = charter.positive_class if charter and same_target else None
        self.hash = settings_hash(
            settings,
            {
                "roles": {c: r.value for c, r in self.roles.items()},
                "target": self.target,
                "task": self.task,
                "positive": self.positive,
                "time": self.time_column,
                "split": self.split_column,
                "thresholds": self.thresholds.model_dump(),
            },
        )


def target_spec(
    query: Callable[[str], list[tuple[Any, ...]]],
    table: str,
    w: stats.ColumnWork | None,
    context: ProfileContext,
) -> TargetSpec | None:
    """What to measure per group for the target: a rate, a mean or class shares."""
    if w is None or w.family == "other" or w.temporal:
        return None
    y = w.q
    rows = query(
        f"SELECT {y}::VARCHAR AS v, count(*) AS n FROM {ds.quote_ident(table)} "
        f"WHERE {y} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT {TARGET_CLASSES + 1}"
    )
    classes = [TopValue(value=r[0], count=int(r[1])) for r in rows]
    task = context.task
    if task is None:
        if w.numeric and (len(classes) > 20 or w.family == "float"):
            task = "regression"
        else:
            task = "binary" if len(classes) == 2 else "multiclass"
    if task == "regression" and w.numeric:
        v = w.as_double()
        return TargetSpec(
            column=w.name,
            task=task,
            kind="mean",
            measures=[f"mean of {w.name}"],
            sql=[f"avg(CASE WHEN isfinite({v}) THEN {v} END)"],
            count_sql=f"count(CASE WHEN isfinite({v}) THEN 1 END)",
        )
    classes = classes[:TARGET_CLASSES]
    labels = [c.value for c in classes]
    if task == "binary" and len(labels) == 2:
        positive = (
            _match_label(context.positive, labels)
            or min(classes, key=lambda c: (c.count, c.value)).value
        )
        return TargetSpec(
            column=w.name,
            task=task,
            kind="rate",
            measures=[f"rate of {positive!r}"],
            sql=[f"avg(({y}::VARCHAR = {ds.quote_literal(positive)})::DOUBLE)"],
            count_sql=f"count({y})",
            positive=positive,
            classes=classes,
        )
    shown = labels[:DISTRIBUTION_CLASSES]
    return TargetSpec(
        column=w.name,
        task="multiclass",
        kind="distribution",
        measures=[f"share of {c!r}" for c in shown],
        sql=[f"avg(({y}::VARCHAR = {ds.quote_literal(c)})::DOUBLE)" for c in shown],
        count_sql=f"count({y})",
        classes=classes,
    )


def _match_label(wanted: str | None, labels: list[str]) -> str | None:
    """The data's spelling of the charter's positive class (exact, else ignoring spaces)."""
    if wanted is None:
        return None
    if wanted in labels:
        return wanted
    stripped = [label for label in labels if label.strip() == wanted.strip()]
    return stripped[0] if len(stripped) == 1 else None


def holdout(
    query: Callable[[str], list[tuple[Any, ...]]],
    table: str,
    by_name: dict[str, stats.ColumnWork],
    context: ProfileContext,
    settings: ProfileSettings,
) -> tuple[str, str]:
    """(SQL condition for holdout rows, description of the split)."""
    w = by_name.get(context.split_column) if context.split_column else None
    if w is not None and (w.temporal or w.numeric) and w.count:
        level = 1 - HOLDOUT_SHARE
        row = query(f"SELECT quantile_disc({w.q}, {level})::VARCHAR FROM {ds.quote_ident(table)}")
        cutoff = row[0][0] if row else None
        if cutoff is not None:
            literal = f"CAST({ds.quote_literal(cutoff)} AS {w.dtype})"
            return (
                f"{w.q} >= {literal}",
                f"time-ordered: rows with {w.name} >= {cutoff} (the last ~20 %) as holdout",
            )
    return (
        stats.random_holdout_sql(settings.seed),
        f"seeded random 80/20 split (seed {settings.seed}): rows with "
        f"hash(rowid, {settings.seed + 1}) mod 5 = 0 as holdout",
    )


def sample_columns(
    works: list[stats.ColumnWork],
    semantics: dict[str, SemanticType],
    context: ProfileContext,
    settings: ProfileSettings,
) -> tuple[list[str], list[str], list[str]]:
    """(numeric, categorical columns for correlations; other columns the sample needs)."""
    usable = [w for w in works if w.role not in (ColumnRole.ID, ColumnRole.IGNORE) and w.count]
    numeric = [w.name for w in usable if semantics[w.name] is SemanticType.NUMERIC]
    categorical = [
        w.name
        for w in usable
        if semantics[w.name] in (SemanticType.CATEGORICAL, SemanticType.BOOLEAN)
        and (w.distinct or 0) <= settings.max_categories
    ]
    limit = settings.correlation_columns
    target = context.target
    numeric = _keep(numeric, target, limit)
    categorical = _keep(categorical, target, limit)
    extra = [
        w.name
        for w in works
        if w.family == "string"
        and not w.values_complete
        and semantics[w.name] is not SemanticType.ID
        and w.count
    ][:20]
    if target and target not in numeric + categorical and target in {w.name for w in works}:
        extra.append(target)
    return numeric, categorical, extra


def _keep(columns: list[str], target: str | None, limit: int) -> list[str]:
    if target in columns:
        return [target, *[c for c in columns if c != target][: limit - 1]]
    return columns[:limit]


def rank_features(
    sample: pl.DataFrame | None,
    numeric: list[str],
    categorical: list[str],
    spec: TargetSpec | None,
    context: ProfileContext,
    settings: ProfileSettings,
) -> tuple[list[Feature], int]:
    """Features by mutual information with the target on the sample, and the rows used."""
    if spec is None or sample is None or spec.column not in sample.columns:
        return [], 0
    features = [c for c in numeric + categorical if context.roles.get(c) is ColumnRole.FEATURE]
    if not features:
        return [], 0
    return mutual_information(
        sample,
        [c for c in numeric if c in features],
        [c for c in categorical if c in features],
        spec.column,
        spec.task != "regression",
        settings,
    )


def target_summary(
    spec: TargetSpec | None,
    columns: list[ColumnProfile],
    ranked: list[Feature],
    used: int,
    settings: ProfileSettings,
) -> TargetSummary | None:
    """Class balance (or distribution) of the target and its most informative features."""
    if spec is None:
        return None
    profile = next(c for c in columns if c.name == spec.column)
    note = (
        f"scikit-learn k-NN estimate (k=3) on {used:,} rows with a target "
        f"(seeded sub-sample, seed {settings.seed}), in nats"
        if ranked
        else "no features to rank"
    )
    return TargetSummary(
        column=spec.column,
        task=spec.task,
        positive_class=spec.positive,
        classes=spec.classes if spec.task != "regression" else [],
        missing=profile.missing,
        numeric=profile.numeric if spec.task == "regression" else None,
        top_features=ranked,
        mi_sample_size=used,
        mi_note=note,
    )
