"""Where the project stands: the state of each of the eight stages, computed from the store."""

from __future__ import annotations

from typing import Any

from app.domain.charter import problems_against_data
from app.domain.dataset import DatasetVersion
from app.domain.evaluation import GateOutcome
from app.domain.guide import STAGE_PURPOSE
from app.domain.stages import Stage, StageState, StageStatus
from app.domain.training import Run, RunStatus
from app.services.problem import data_facts
from storage import datasets as ds
from storage import profiles
from storage import registry as registry_store
from storage import repositories as repo
from storage import training as store_runs
from storage.db import ProjectStore


def stage_statuses(store: ProjectStore) -> list[StageStatus]:
    """One status per stage, in lifecycle order."""
    with store.connect() as con:
        charter = repo.latest_charter(con)
        facts = data_facts(con, charter.charter.target if charter else None)
        current = None
        profile = None
        if facts is not None:
            name = ds.get_state(con, ds.CURRENT_DATASET)
            current = ds.current_version(con, name) if name else None
            if current is not None and repo.count_rows(con, "profiles") is not None:
                profile = profiles.latest_profile(
                    con, current.name, current.version, current.fingerprint
                )
    statuses: list[StageStatus] = []
    if charter is None:
        statuses.append(
            StageStatus(
                stage=Stage.PROBLEM,
                state=StageState.CURRENT,
                summary="No charter yet.",
                next_step="Fill in the charter and save it (ctrl+s on the Problem screen, "
                "or mlwb problem set).",
            )
        )
        statuses.append(_locked(Stage.DATA, "Save a charter first (stage 1)."))
    else:
        c = charter.charter
        statuses.append(
            StageStatus(
                stage=Stage.PROBLEM,
                state=StageState.DONE,
                summary=f"Charter v{charter.version}: {c.task.label} of {c.target!r}, "
                f"success when {c.primary_text()}.",
            )
        )
        if current is None or facts is None:
            statuses.append(
                StageStatus(
                    stage=Stage.DATA,
                    state=StageState.CURRENT,
                    summary="No dataset imported yet.",
                    next_step="Import the data the charter names (i on the Data screen, "
                    "or mlwb data import FILE).",
                )
            )
        else:
            problems = problems_against_data(c, facts)
            where = f"{current.ref}: {current.n_rows:,} rows × {current.n_cols} columns"
            if problems:
                statuses.append(
                    StageStatus(
                        stage=Stage.DATA,
                        state=StageState.ATTENTION,
                        summary=f"{where}; the charter does not fit it yet: "
                        + "; ".join(f"{f}: {m}" for f, m in problems),
                        next_step="Clean the data (see Suggestions) or correct the charter.",
                    )
                )
            else:
                statuses.append(
                    StageStatus(
                        stage=Stage.DATA,
                        state=StageState.DONE,
                        summary=f"{where}, recipe of {len(current.recipe)} step(s); "
                        f"target {c.target!r} found.",
                    )
                )
    if statuses[-1].state is not StageState.DONE:
        statuses.append(_locked(Stage.EXPLORE, "Finish Data (stage 2) first."))
    elif profile is None:
        statuses.append(
            StageStatus(
                stage=Stage.EXPLORE,
                state=StageState.CURRENT,
                summary="The current version has not been profiled yet.",
                next_step="Open Explore (3) or run mlwb eda.",
            )
        )
    else:
        high = [a for a in profile.alerts if a.severity == "high"]
        if high:
            statuses.append(
                StageStatus(
                    stage=Stage.EXPLORE,
                    state=StageState.ATTENTION,
                    summary=f"{profile.ref}: {len(high)} high-severity alert(s): "
                    + "; ".join(a.message for a in high[:3]),
                    next_step="Fix them in Data (Enter on an alert opens the fix).",
                )
            )
        else:
            statuses.append(
                StageStatus(
                    stage=Stage.EXPLORE,
                    state=StageState.DONE,
                    summary=f"{profile.ref} profiled: {len(profile.alerts)} alert(s), none high.",
                )
            )
    statuses.append(
        _train_status(
            store,
            current,
            statuses[-1].state is StageState.DONE,
            charter.charter.primary_metric if charter else "",
        )
    )
    statuses.append(
        _evaluate_status(
            store, statuses[-1].state is StageState.DONE, charter.version if charter else None
        )
    )
    statuses.append(_deploy_status(store, statuses[-1].state is StageState.DONE))
    statuses.append(_monitor_status(store, statuses[-1].state is StageState.DONE))
    statuses.append(_retrain_status(store, statuses[-1].state))
    return statuses


def _retrain_status(store: ProjectStore, monitor: StageState) -> StageStatus:
    """Retrain opens once batches are monitored; done when the last comparison was decided
    (a challenger promoted, or the champion kept)."""
    if monitor in (StageState.LOCKED, StageState.CURRENT):
        return _locked(Stage.RETRAIN, "Monitor at least one batch first (stage 7).")
    with store.connect() as con:
        rows = con.execute(
            "SELECT action, summary FROM events WHERE stage = 'retrain' "
            "AND action IN ('compared', 'promoted') ORDER BY id DESC LIMIT 1"
        ).fetchall()
    if not rows:
        return StageStatus(
            stage=Stage.RETRAIN,
            state=StageState.CURRENT,
            summary="No challenger trained yet.",
            next_step=STAGE_PURPOSE[Stage.RETRAIN],
        )
    action, summary = rows[0]
    return StageStatus(
        stage=Stage.RETRAIN,
        state=StageState.DONE,
        summary=f"Last {'promotion' if action == 'promoted' else 'comparison'}: {summary}"[:300],
    )


def _deploy_status(store: ProjectStore, evaluated: bool) -> StageStatus:
    """Deploy is done when a bundle version is in production. It opens once the gate passed,
    or once a bundle was built with a recorded override."""
    with store.connect() as con:
        versions = registry_store.list_bundles(con) if _has(con, "bundles") else []
    production = next((v for v in versions if "production" in v.aliases), None)
    if production is not None:
        return StageStatus(
            stage=Stage.DEPLOY,
            state=StageState.DONE,
            summary=f"Bundle v{production.version} (run {production.run_id}) is in production; "
            f"{len(versions)} version(s) registered.",
        )
    if not versions and not evaluated:
        return _locked(Stage.DEPLOY, "Finish Evaluate (stage 5) first: pass the gate.")
    if versions:
        return StageStatus(
            stage=Stage.DEPLOY,
            state=StageState.CURRENT,
            summary=f"{len(versions)} version(s) registered, none in production.",
            next_step=f"Promote one (p on the Deploy screen, or mlwb registry promote "
            f"{versions[0].version}).",
        )
    return StageStatus(
        stage=Stage.DEPLOY,
        state=StageState.CURRENT,
        summary="Nothing deployed yet.",
        next_step=STAGE_PURPOSE[Stage.DEPLOY],
    )


def _monitor_status(store: ProjectStore, deployed: bool) -> StageStatus:
    """Monitor is done once a batch was checked and its latest alarm (if any) was decided."""
    if not deployed:
        return _locked(Stage.MONITOR, "Finish Deploy (stage 6) first: promote a bundle.")
    with store.connect() as con:
        # Plain columns, not the report models (those load the drift statistics' SciPy).
        batches = (
            con.execute(
                "SELECT name, status, decision, "
                "json_extract_string(body, '$.recommendation_text') "
                "FROM monitor_batches ORDER BY id"
            ).fetchall()
            if _has(con, "monitor_batches")
            else []
        )
    if not batches:
        return StageStatus(
            stage=Stage.MONITOR,
            state=StageState.CURRENT,
            summary="No batch monitored yet.",
            next_step=STAGE_PURPOSE[Stage.MONITOR],
        )
    name, status, decision, recommendation = batches[-1]
    where = f"{len(batches)} batch(es); latest {name!r}: {str(status).upper()}"
    if status != "ok" and decision is None:
        return StageStatus(
            stage=Stage.MONITOR,
            state=StageState.ATTENTION,
            summary=f"{where} — {recommendation or ''}"[:300],
            next_step="Record a decision (d on the Monitor screen, or mlwb monitor decide).",
        )
    decided = f", decided: {decision}" if decision else ""
    return StageStatus(stage=Stage.MONITOR, state=StageState.DONE, summary=where + decided)


def _has(con: Any, table: str) -> bool:
    return repo.count_rows(con, table) is not None


def _evaluate_status(
    store: ProjectStore, trained: bool, charter_version: int | None
) -> StageStatus:
    """Evaluate is done when the chosen run passed the gate against the current charter."""
    if not trained:
        return _locked(Stage.EVALUATE, "Finish Train (stage 4) first: choose a run.")
    with store.connect() as con:
        value = ds.get_state(con, store_runs.CHOSEN_RUN)
        found = None
        if value and repo.count_rows(con, "evaluations") is not None:
            found = store_runs.latest_evaluation(con, int(value))
    if found is None:
        return StageStatus(
            stage=Stage.EVALUATE,
            state=StageState.CURRENT,
            summary="The chosen run has not been evaluated on the holdout yet.",
            next_step=STAGE_PURPOSE[Stage.EVALUATE],
        )
    stale = charter_version is not None and found.charter_version != charter_version
    where = f"run {found.run_id} on {found.n_holdout:,} holdout rows"
    if found.gate.outcome is GateOutcome.PASS and not stale:
        return StageStatus(
            stage=Stage.EVALUATE,
            state=StageState.DONE,
            summary=f"Gate PASS: {where}, charter v{found.charter_version}.",
        )
    if stale:
        return StageStatus(
            stage=Stage.EVALUATE,
            state=StageState.ATTENTION,
            summary=f"The charter changed (now v{charter_version}) since {where} was judged "
            f"against v{found.charter_version}.",
            next_step="Evaluate again (Evaluate screen, or mlwb evaluate).",
        )
    return StageStatus(
        stage=Stage.EVALUATE,
        state=StageState.ATTENTION,
        summary=f"Gate {found.gate.outcome.label}: {where} — {found.gate.summary}"[:300],
        next_step=found.gate.pointers[0].reason
        if found.gate.pointers
        else "Revisit Train or Data, or collect more holdout rows.",
    )


def _train_status(
    store: ProjectStore, current: DatasetVersion | None, explored: bool, metric: str
) -> StageStatus:
    """Train is done when a run of the current version is chosen (its model refitted)."""
    runs: list[Run] = []
    chosen: Run | None = None
    if current is not None:
        with store.connect() as con:
            if repo.count_rows(con, "runs") is not None:
                runs = store_runs.list_runs(con, current.name, current.version)
                value = ds.get_state(con, store_runs.CHOSEN_RUN)
                chosen = store_runs.get_run(con, int(value)) if value else None
    if chosen is not None and current is not None and chosen.fingerprint == current.fingerprint:
        score = chosen.mean.get(metric)
        return StageStatus(
            stage=Stage.TRAIN,
            state=StageState.DONE,
            summary=f"Run {chosen.id} ({chosen.label}) chosen"
            + (f": CV {metric} {score:.4g}" if score is not None else "")
            + f"; {len(runs)} run(s) on {current.ref}.",
        )
    done = [r for r in runs if r.status is RunStatus.DONE]
    if done:
        return StageStatus(
            stage=Stage.TRAIN,
            state=StageState.CURRENT,
            summary=f"{len(done)} finished run(s) on {current.ref if current else '?'}; "
            "none chosen yet.",
            next_step="Choose a run to refit and keep (c on the Train screen, or "
            "mlwb train --choose RUN).",
        )
    if not explored:
        return _locked(Stage.TRAIN, "Finish Explore (stage 3) first.")
    return StageStatus(
        stage=Stage.TRAIN,
        state=StageState.CURRENT,
        summary="Not started.",
        next_step="Train the quick preset (Start on the Train screen, or "
        "mlwb train --preset quick).",
    )


def _locked(stage: Stage, why: str) -> StageStatus:
    return StageStatus(stage=stage, state=StageState.LOCKED, summary=why)
