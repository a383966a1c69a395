"""Shadow scoring: a challenger scored beside production on the next labelled batches.

A retrain comparison decides on one held-out batch. When the user wants more evidence before
promoting, ``start`` registers the last comparison's challenger as a bundle with the alias
``shadow``. Every labelled batch added to monitoring afterwards is scored by both bundles on the
same rows (a seeded sample of at most ``SHADOW_ROWS`` labelled rows), with the paired bootstrap
interval of (challenger − production) stored in the batch's report. Production answers every
request as before: the shadow model only scores. ``results`` lists the evidence, ``stop``
removes the alias, and ``retrain.promote`` promotes the shadowed bundle itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from app.domain.evaluation import GateOutcome
from app.domain.metrics import TaskType
from app.domain.monitor import ShadowResult
from app.errors import MlwbError
from app.services import registry
from app.services.predict import file_format, source_sql
from storage import registry as reg
from storage import repositories as repo
from storage.db import ProjectStore

STAGE = "retrain"
ALIAS = reg.SHADOW
SHADOW_ROWS = 50_000
"""Labelled rows per batch both models score (a seeded sample above it): enough for tight
intervals, bounded work for any batch size."""
RESAMPLES = 500
SEED = 0


def current(store: ProjectStore) -> int | None:
    """The bundle version being shadowed, if any."""
    with store.connect() as con:
        return reg.aliases(con).get(ALIAS)


def start(store: ProjectStore, override_reason: str | None = None) -> Any:
    """Register the last comparison's challenger as a bundle and shadow it; its version.

    A challenger whose gate did not pass needs ``override_reason`` (it is only scored, but it
    is on its way to production)."""
    from app.services import retrain

    comparison = retrain.last_comparison(store)
    reason = (override_reason or "").strip() or None
    if comparison.gate != "pass" and reason is None:
        raise MlwbError(
            f"the challenger's gate is {GateOutcome(comparison.gate).label}",
            hint='shadow it anyway with --override "reason"',
        )
    production = registry.production_bundle(store)
    if production is None:
        raise MlwbError("no bundle is in production to shadow", hint="deploy one first")
    shadowed = current(store)
    if shadowed is not None:
        found = registry.get_version(store, shadowed)
        if found.run_id == comparison.challenger.run_id:
            raise MlwbError(
                f"bundle v{shadowed} (run {found.run_id}) is already being shadowed",
                hint="see its results: mlwb retrain shadow status",
            )
    deployed = registry.deploy(
        store, comparison.challenger.run_id, reason if comparison.gate != "pass" else None
    )
    with store.transaction() as con:
        reg.set_alias(con, ALIAS, deployed.version)
        repo.record_event(
            con,
            STAGE,
            "shadow_started",
            f"challenger run {comparison.challenger.run_id} shadowed as bundle "
            f"v{deployed.version}: labelled batches will be scored by both models",
            {
                "version": deployed.version,
                "run_id": comparison.challenger.run_id,
                "comparison": comparison.id,
                "replaces": shadowed,
                "override_reason": reason,
            },
        )
    return registry.get_version(store, deployed.version)


def stop(store: ProjectStore) -> int:
    """Stop shadowing; the version that was shadowed (a clear error when none was)."""
    shadowed = current(store)
    if shadowed is None:
        raise MlwbError("no challenger is being shadowed", hint="start: mlwb retrain shadow start")
    with store.transaction() as con:
        reg.set_alias(con, ALIAS, None)
        repo.record_event(
            con,
            STAGE,
            "shadow_stopped",
            f"stopped shadowing bundle v{shadowed}",
            {"version": shadowed},
        )
    return shadowed


def _sample(path: Path, label: str, n: int) -> Any:
    """Up to ``n`` rows of the batch file that have a label (seeded sample), as Polars."""
    fmt = file_format(path, "batch")
    con = duckdb.connect(config={"threads": 1})
    try:
        source = source_sql(path, fmt, all_varchar=fmt == "csv")
        where = f'WHERE "{label.replace(chr(34), chr(34) * 2)}" IS NOT NULL'
        total = int(con.execute(f"SELECT count(*) FROM {source} {where}").fetchall()[0][0])
        sample = f" USING SAMPLE reservoir({n} ROWS) REPEATABLE ({SEED})" if total > n else ""
        frame = con.sql(f"SELECT * FROM {source} {where}{sample}").pl()
    finally:
        con.close()
    return frame, total > n


def score_batch(
    store: ProjectStore, production: Any, path: Path, label: str
) -> ShadowResult | None:
    """Both bundles on the batch's labelled rows, or None when nothing is shadowed."""
    from app.services import evaluation as ev
    from app.services import monitor, problem, retrain
    from app.services.bundle import load_bundle

    version = current(store)
    if version is None:
        return None
    found = registry.get_version(store, version)
    challenger = load_bundle(registry.resolve(store, found.path))
    charter = problem.current_charter(store)
    metric = charter.charter.primary_metric if charter else next(iter(production.metadata.metrics))
    out = ShadowResult(
        version=version,
        run_id=found.run_id,
        metric=metric,
        label=ev.metric_label(metric),
        higher_is_better=ev.higher_is_better(metric),
        n_rows=0,
    )
    frame, sampled = _sample(path, label, SHADOW_ROWS)
    labels = frame[label].to_numpy().astype(object)
    if TaskType(production.metadata.task).is_classification:
        classes = [str(c) for c in np.asarray(production.model.classes_)]
        labels, _, note = monitor.normalise_labels(labels, classes)
        out.note = note
    try:
        result = retrain.compare_models(
            production, challenger, frame.drop(label), labels, metric, RESAMPLES, SEED
        )
    except MlwbError as exc:
        out.note = "; ".join(n for n in (out.note, exc.message) if n)
        return out
    champ, chall, diff = result["champion"], result["challenger"], result["difference"]
    return out.model_copy(
        update={
            "n_rows": result["n_rows"],
            "sampled": sampled,
            "production": champ["value"],
            "production_low": champ["low"],
            "production_high": champ["high"],
            "challenger": chall["value"],
            "challenger_low": chall["low"],
            "challenger_high": chall["high"],
            "difference": diff["value"],
            "difference_low": diff["low"],
            "difference_high": diff["high"],
        }
    )


def results(store: ProjectStore, version: int | None = None) -> list[tuple[int, str, ShadowResult]]:
    """(batch id, batch name, result) of every batch that shadowed ``version`` (default: the
    one being shadowed now), oldest first."""
    from app.services import monitor

    version = version if version is not None else current(store)
    if version is None:
        return []
    return [
        (b.id, b.name, b.report.shadow)
        for b in sorted(monitor.list_batches(store), key=lambda b: b.id)
        if b.report.shadow is not None and b.report.shadow.version == version
    ]


def summary(store: ProjectStore) -> str:
    """The shadow evidence for people, a few lines."""
    version = current(store)
    if version is None:
        return "No challenger is being shadowed (start one: mlwb retrain shadow start)."
    found = registry.get_version(store, version)
    rows = results(store, version)
    lines = [f"Shadowing bundle v{version} (run {found.run_id}) beside production."]
    if not rows:
        lines.append(
            "  No labelled batch has been added since: add one on the Monitor stage (mlwb monitor add)."
        )
    for batch_id, name, r in rows:
        lines.append("  " + line(batch_id, name, r))
    better = sum(1 for _, _, r in rows if r.better)
    if rows:
        lines.append(f"  challenger better on {better} of {len(rows)} batch(es) (95% CI)")
    return "\n".join(lines)


def line(batch_id: int, name: str, r: ShadowResult) -> str:
    """One batch's shadow result in one line."""
    if r.difference is None:
        return f"batch {batch_id} ({name}): not compared — {r.note or 'no metric'}"
    interval = ""
    if r.difference_low is not None and r.difference_high is not None:
        interval = f" [{r.difference_low:+.4f}, {r.difference_high:+.4f}]"
    verdict = {True: "challenger better", False: "not shown better", None: "undecided"}
    return (
        f"batch {batch_id} ({name}): {r.label} production {r.production:.4f}, challenger "
        f"{r.challenger:.4f}, difference {r.difference:+.4f}{interval} on {r.n_rows:,} rows"
        f"{' (sample)' if r.sampled else ''} — {verdict[r.better]}"
    )
