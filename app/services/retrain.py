"""The Retrain stage: train a challenger on fresher data and compare it with the champion.

The champion is the production bundle. The challenger repeats the champion's configuration
(candidate, parameters, folds, seed) — or, on request, the quick leaderboard — on a new version
of the champion's dataset: the raw rows of the champion's raw import plus labelled monitoring
batches (or only the rows of a recent time window), replayed through the same recipe steps.

Rules (stated, and stored with every comparison):

- Comparison set: the rows of one labelled batch that the challenger never trains on. By
  default the most recently added of the selected batches is held out; ``compare_on`` names
  another one. Both models score the same raw rows through their bundles (recipe replay and
  contract included); rows either bundle rejects or without a label are left out.
- Decision: promote when the challenger's gate passes against the charter *and* the 95 %
  paired-bootstrap interval of (challenger − champion) on the comparison rows lies on the
  challenger's side of ``−margin`` (``margin`` in the primary metric's units, default 0: the
  challenger must be better, not merely not worse). Otherwise keep the champion.

When the decision is to keep the champion, the dataset's current version and the chosen run
go back to what they were, so the other stages keep working on the champion; the challenger's
data version, run and model stay stored (``promote`` with an override still deploys it).

Every step is an event of stage ``retrain`` with its evidence; ``promote`` deploys the
challenger through the registry, and ``registry.rollback`` stays the way back.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import polars as pl

from app.domain.dataset import DatasetVersion
from app.domain.evaluation import GateOutcome
from app.domain.metrics import TaskType
from app.domain.recipe import Recipe
from app.domain.retrain import Comparison, Side
from app.domain.training import Run
from app.errors import MlwbError
from app.services.retrain_data import (
    MIN_COMPARE_ROWS,
    champion,
    choose_data,
    describe,
    store_data,
)
from storage import repositories as repo
from storage import retrain as store_retrain
from storage import training as store_runs
from storage.db import ProjectStore

STAGE = store_retrain.STAGE
RESAMPLES = 1000
SEED = 0

Progress = Callable[[float, str], None]


def _nothing(fraction: float, text: str) -> None:
    """A progress callback that ignores reports."""


class RetrainCancelled(MlwbError):
    """The user stopped retraining; no comparison was recorded."""


# -- the challenger -----------------------------------------------------------------------------


def _train_challenger(
    store: ProjectStore,
    champ: Run,
    version: DatasetVersion,
    rerun_leaderboard: bool,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Train the champion's configuration (or the quick preset) on ``version``; a run id.
    ``should_stop`` stops training between folds (``TrainingCancelled``)."""
    from app.domain.training import PRESETS, RunStatus, TrainSettings
    from app.services import training

    task = training.charter_task(store)
    if rerun_leaderboard:
        settings = TrainSettings(models=list(PRESETS["quick"][task]), cv=champ.cv, seed=champ.seed)
    else:
        settings = TrainSettings(
            models=[champ.candidate],
            params={champ.candidate: champ.params},
            cv=champ.cv,
            seed=champ.seed,
        )
    session = training.train(store, settings, should_stop=should_stop)
    if rerun_leaderboard:
        board = training.leaderboard(store, version)
        if not board.rows:
            raise MlwbError("no candidate of the quick preset finished on the new data")
        return board.rows[0].run.id
    with store.connect() as con:
        runs = store_runs.list_runs(con, session=session)
    done = [r for r in runs if r.status is RunStatus.DONE]
    if not done:
        error = runs[-1].error if runs else "no run was stored"
        raise MlwbError(f"the challenger's training failed: {error}", hint="see mlwb runs list")
    return done[0].id


def _labels(compare: pl.DataFrame, recipe: list[dict[str, Any]], target: str) -> np.ndarray:
    """The comparison rows' labels as the model learnt them (row-wise recipe steps applied)."""
    from app.services.recipe import replay_rowwise

    steps = Recipe.model_validate({"steps": recipe})
    try:
        replayed = replay_rowwise(compare, steps)
    except MlwbError:
        replayed = compare
    column = target if target in replayed.columns else None
    if column is None or replayed.height != compare.height:
        return compare[target].to_numpy()
    return replayed[column].to_numpy()


def _scored(bundle: Any, compare: pl.DataFrame) -> tuple[np.ndarray, Any]:
    result = bundle.predict(compare)
    return result.predictions["row"].to_numpy(dtype=np.int64), result.features


def compare_models(
    champ: Any,
    chall: Any,
    compare: pl.DataFrame,
    labels: np.ndarray,
    metric: str,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """Both bundles' ``metric`` on the same rows, each with a percentile interval, and the
    paired bootstrap interval of (challenger − champion): the same resamples for both."""
    from app.services import bootstrap as bs
    from app.services import evaluation as ev

    task = TaskType(champ.metadata.task)
    rows_a, X_a = _scored(champ, compare)
    rows_b, X_b = _scored(chall, compare)
    common = np.intersect1d(rows_a, rows_b)
    y_all = np.asarray(labels, dtype=object)
    if task is TaskType.REGRESSION:
        y = np.array([np.nan if v is None else float(v) for v in y_all[common]])
        keep = ~np.isnan(y)
    else:
        classes = set(map(str, champ.model.classes_)) & set(map(str, chall.model.classes_))
        y = np.array([None if v is None else str(v).strip() for v in y_all[common]], dtype=object)
        keep = np.array([v in classes for v in y], dtype=bool)
    common, y = common[keep], y[keep]
    if len(common) < MIN_COMPARE_ROWS:
        raise MlwbError(
            "too few comparison rows both models could score with a label",
            hint="hold out a larger labelled batch (--compare-on BATCH)",
        )

    def scored(bundle: Any, rows: np.ndarray, X: Any) -> Any:
        part = X.iloc[np.searchsorted(rows, common)].reset_index(drop=True)
        meta = bundle.metadata
        return ev.Scored(task, y, bundle.model, part, meta.positive_class, meta.threshold)

    a, b = scored(champ, rows_a, X_a), scored(chall, rows_b, X_b)
    point_a = ev.point_metrics(a, only=metric).get(metric)
    point_b = ev.point_metrics(b, only=metric).get(metric)
    samples = bs.bootstrap(
        len(common), resamples, seed, {"a": ev.bootstrap_fns(a), "b": ev.bootstrap_fns(b)}
    )
    out: dict[str, Any] = {"n_rows": len(common), "n_left_out": compare.height - len(common)}
    for name, point in (("champion", point_a), ("challenger", point_b)):
        values = samples["a" if name == "champion" else "b"].get(metric)
        low, high = (
            (None, None) if values is None else bs.percentile_interval(values, ev.CONFIDENCE)
        )
        out[name] = {"value": point, "low": low, "high": high}
    diff = None if point_a is None or point_b is None else point_b - point_a
    low = high = None
    if metric in samples["a"] and metric in samples["b"]:
        low, high = bs.percentile_interval(
            samples["b"][metric] - samples["a"][metric], ev.CONFIDENCE
        )
    out["difference"] = {"value": diff, "low": low, "high": high}
    return out


def decide(
    gate: str, higher: bool, low: float | None, high: float | None, margin: float
) -> tuple[Literal["promote", "keep"], str]:
    """Promote only when the gate passes and the whole difference interval is on the
    challenger's side of −margin."""
    if gate != "pass":
        return "keep", f"the challenger's gate is {GateOutcome(gate).label}, so the champion stays"
    if low is None or high is None:
        return "keep", "the difference has no interval, so the champion stays"
    favour = low > -margin if higher else high < margin
    what = "better" if margin == 0 else f"not worse by more than {margin:g}"
    bound = f"{low:+.4f}" if higher else f"{high:+.4f}"
    if favour:
        return "promote", f"the challenger passes the gate and is {what} (95% CI bound {bound})"
    return "keep", f"the challenger is not shown {what} (95% CI bound {bound}); keep the champion"


def retrain(
    store: ProjectStore,
    batches: list[int] | None = None,
    window_days: int | None = None,
    compare_on: int | None = None,
    rerun_leaderboard: bool = False,
    margin: float = 0.0,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    importance: bool = True,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Comparison:
    """Build the new data, train, choose and evaluate the challenger, compare it with the
    champion on the held-out batch and record the decision. Promotion is a separate step.

    ``should_stop`` is asked between steps and between training folds; stopping raises
    ``RetrainCancelled`` (no comparison is recorded; a stored data version and finished runs
    stay, as after a stopped training session)."""
    from app.services import bundle as bd
    from app.services import evaluation as ev
    from app.services import models, training

    if margin < 0:
        raise MlwbError("the margin cannot be negative", hint="e.g. --margin 2 (metric units)")
    progress = on_progress or _nothing

    def report(fraction: float, text: str) -> None:
        if should_stop is not None and should_stop():
            raise RetrainCancelled(f"retraining was stopped before: {text}")
        progress(fraction, text)

    prod_version, champ_bundle, champ_run = champion(store)
    charter = training.current_charter(store)
    before = _working_state(store, champ_run.dataset)
    report(0.05, "gathering the new training data")
    data = choose_data(store, batches, window_days, compare_on)
    report(0.15, f"storing {data.frame.height:,} rows as a new dataset version")
    version = store_data(store, data, charter.version)
    report(0.25, f"training the challenger on {version.ref}")
    from app.services.training import TrainingCancelled

    try:
        run_id = _train_challenger(store, champ_run, version, rerun_leaderboard, should_stop)
    except TrainingCancelled as exc:
        raise RetrainCancelled(f"retraining was stopped while training: {exc.message}") from exc
    report(0.6, f"refitting and evaluating run {run_id}")
    models.choose(store, run_id)
    evaluation = ev.evaluate(store, run_id, resamples=resamples, importance=importance)
    lineage = {
        "dataset": version.ref,
        "raw_version": version.parent_version or version.version,
        "batches": data.batches,
        "window": data.window,
        "recipe": f"{len(data.recipe)} step(s) of {champ_run.dataset}@{champ_run.version}",
        "charter_version": charter.version,
        "champion_run": champ_run.id,
        "configuration": "quick leaderboard" if rerun_leaderboard else "champion's",
    }
    with store.transaction() as con:
        chall_run = store_retrain.add_run_notes(
            con,
            run_id,
            [
                f"retrain challenger of run {champ_run.id} (bundle v{prod_version}): "
                f"{describe(data)}; charter v{charter.version}; compared on batch "
                f"{data.compare_batch}",
            ],
        )
    assert chall_run is not None
    report(0.8, f"comparing on batch {data.compare_batch}")
    scratch = store.artifacts / "retrain" / "compare"
    folder = bd.build_bundle(store, run_id, scratch, "retrain comparison only; not deployed")
    try:
        chall_bundle = bd.load_bundle(folder)
        metric = charter.charter.primary_metric
        labels = _labels(data.compare, data.recipe, data.target)
        result = compare_models(
            champ_bundle, chall_bundle, data.compare, labels, metric, resamples, seed
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        folder.with_name(folder.name + ".zip").unlink(missing_ok=True)
    higher = ev.higher_is_better(metric)
    gate = evaluation.gate.outcome.value
    d = result["difference"]
    decision, reason = decide(gate, higher, d["low"], d["high"], margin)
    comparison = Comparison(
        metric=metric,
        label=ev.metric_label(metric),
        higher_is_better=higher,
        compare_batch=data.compare_batch,
        n_rows=result["n_rows"],
        n_left_out=result["n_left_out"],
        resamples=resamples,
        seed=seed,
        confidence=ev.CONFIDENCE,
        champion=Side(
            run_id=champ_run.id,
            candidate=champ_run.candidate,
            dataset=f"{champ_run.dataset}@{champ_run.version}",
            bundle_version=prod_version,
            **result["champion"],
        ),
        challenger=Side(
            run_id=run_id,
            candidate=chall_run.candidate,
            dataset=version.ref,
            **result["challenger"],
        ),
        difference=d["value"],
        difference_low=d["low"],
        difference_high=d["high"],
        margin=margin,
        gate=gate,
        gate_summary=evaluation.gate.summary,
        decision=decision,
        reason=reason,
        lineage=lineage,
        notes=data.notes,
    )
    with store.transaction() as con:
        if decision == "keep":
            # the champion stays: so does the data and run the other stages work on
            _restore_working_state(con, champ_run.dataset, before)
        event = repo.record_event(
            con,
            STAGE,
            "compared",
            f"challenger run {run_id} vs champion bundle v{prod_version}: "
            f"{decision.upper()} — {reason}"[:500],
            comparison.model_dump(mode="json"),
        )
    progress(1.0, f"decision: {decision}")
    return comparison.model_copy(update={"id": event})


def _working_state(store: ProjectStore, dataset: str) -> dict[str, Any]:
    """What the other stages work on: the current dataset and its version, the chosen run."""
    from storage import datasets as ds

    with store.connect() as con:
        current = ds.current_version(con, dataset)
        return {
            "dataset": ds.get_state(con, ds.CURRENT_DATASET),
            "version": current.version if current else None,
            "chosen": ds.get_state(con, store_runs.CHOSEN_RUN),
        }


def _restore_working_state(con: Any, dataset: str, state: dict[str, Any]) -> None:
    from storage import datasets as ds

    if state["version"] is not None:
        ds.set_current_version(con, dataset, state["version"])
    if state["dataset"] is not None:
        ds.set_state(con, ds.CURRENT_DATASET, state["dataset"])
    if state["chosen"] is not None:
        ds.set_state(con, store_runs.CHOSEN_RUN, state["chosen"])


def last_comparison(store: ProjectStore) -> Comparison:
    """The newest comparison (a clear error when there is none)."""
    with store.connect() as con:
        found = store_retrain.latest_details(con, "compared")
    if found is None:
        raise MlwbError("there is no retrain comparison yet", hint="run one: mlwb retrain")
    event, details = found
    return Comparison.model_validate({**details, "id": event})


def promote(store: ProjectStore, override_reason: str | None = None) -> Any:
    """Deploy the last comparison's challenger as a bundle and make it production.

    Refused when the decision was to keep the champion (unless ``override_reason``), when it
    was promoted already, or when production changed since the comparison.
    """
    from app.services import registry

    comparison = last_comparison(store)
    reason = (override_reason or "").strip() or None
    with store.connect() as con:
        done = store_retrain.latest_details(con, "promoted")
    if done is not None and done[1].get("comparison") == comparison.id:
        raise MlwbError(
            f"the challenger of comparison {comparison.id} was promoted already",
            hint="roll back with: mlwb registry rollback",
        )
    production = next((v for v in registry.list_versions(store) if "production" in v.aliases), None)
    if production is None or production.version != comparison.champion.bundle_version:
        raise MlwbError(
            "production changed since the comparison, so it no longer compares with the champion",
            hint="compare again: mlwb retrain",
        )
    if comparison.decision != "promote" and reason is None:
        raise MlwbError(
            f"the comparison decided to keep the champion: {comparison.reason}",
            hint='promote anyway with --override "reason", or retrain with more data',
        )
    from app.services import shadow

    shadowed = shadow.current(store)
    evidence = shadow.results(store, shadowed) if shadowed is not None else []
    if shadowed is not None and registry.get_version(store, shadowed).run_id == (
        comparison.challenger.run_id
    ):
        deployed = registry.get_version(store, shadowed)
    else:
        gate_override = reason if comparison.gate != "pass" else None
        deployed = registry.deploy(store, comparison.challenger.run_id, gate_override)
        evidence = []
    promoted = registry.promote(store, deployed.version)
    if shadowed is not None:
        shadow.stop(store)
    with store.transaction() as con:
        repo.record_event(
            con,
            STAGE,
            "promoted",
            f"challenger run {comparison.challenger.run_id} promoted as bundle "
            f"v{promoted.version} (champion v{comparison.champion.bundle_version} archived)"
            + (f"; override: {reason}" if reason else ""),
            {
                "comparison": comparison.id,
                "version": promoted.version,
                "previous": comparison.champion.bundle_version,
                "run_id": comparison.challenger.run_id,
                "decision": comparison.decision,
                "override_reason": reason,
                "difference": [
                    comparison.difference,
                    comparison.difference_low,
                    comparison.difference_high,
                ],
                "shadow": [
                    {"batch": b, "name": n, **r.model_dump(mode="json")} for b, n, r in evidence
                ],
            },
        )
    return promoted
