"""Checks of lesson tasks against the project store, each with its evidence.

The facts every check needs are read once (``read_facts``): the charter, the lesson
dataset's current version and roles, the lifecycle statuses, runs and monitoring rows. A check
is then a function of those facts; the two that need the data itself (``?`` cells, duplicate
rows) run one aggregate query on the current version's table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.domain.dataset import ColumnRole, DatasetVersion
from app.domain.evaluation import Evaluation, GateOutcome
from app.domain.lesson import TaskProgress
from app.domain.metrics import METRICS, Direction
from app.domain.project import CharterVersion
from app.domain.stages import Stage, StageState, StageStatus
from app.domain.training import Run, RunStatus
from storage import datasets as ds
from storage import profiles
from storage import registry as registry_store
from storage import repositories as repo
from storage import training as store_runs
from storage.db import ProjectStore

EXPECTED = {
    "adult": {"task": "binary", "target": "income", "positive_class": ">50K"},
    "bikes": {"task": "regression", "target": "cnt", "time_column": "dteday"},
}
"""What a charter must say for each lesson's KPI task."""
UNFIT_METRICS = {"adult": {"accuracy": "'always <=50K' already scores 0.76 accuracy"}}
LEAKS = ("casual", "registered")


@dataclass
class Facts:
    """What the checks read from the store, gathered in one pass."""

    store: ProjectStore
    dataset: str
    charter: CharterVersion | None
    statuses: dict[Stage, StageStatus]
    current: DatasetVersion | None = None
    columns: list[tuple[str, str]] = field(default_factory=list)
    roles: dict[str, ColumnRole] = field(default_factory=dict)
    profiled: bool = False
    same_recipe_profiled: int | None = None
    """An earlier version with the current version's recipe that has a profile."""
    runs: list[Run] = field(default_factory=list)
    chosen: Run | None = None
    refitted: list[tuple[Run, list[Run]]] = field(default_factory=list)
    """Every run that was chosen (refitted) with the runs of its dataset version."""
    production: tuple[int, Evaluation | None] | None = None
    """The production bundle's run and its latest evaluation."""
    batches: list[tuple[Any, ...]] = field(default_factory=list)
    retrain_events: list[tuple[Any, ...]] = field(default_factory=list)


def read_facts(store: ProjectStore, dataset: str, statuses: list[StageStatus]) -> Facts:
    """Gather the facts for ``dataset``'s lesson from the store (one connection)."""
    with store.connect() as con:
        facts = Facts(store, dataset, repo.latest_charter(con), {s.stage: s for s in statuses})
        facts.current = ds.current_version(con, dataset)
        if facts.current is not None:
            v = facts.current
            facts.columns = ds.table_columns(con, v.table_name)
            facts.roles = ds.get_roles(con, dataset)
            facts.profiled = (
                profiles.latest_profile(con, v.name, v.version, v.fingerprint) is not None
            )
            facts.same_recipe_profiled = _same_recipe_profiled(con, v)
            facts.runs = store_runs.list_runs(con, v.name, v.version)
            value = ds.get_state(con, store_runs.CHOSEN_RUN)
            facts.chosen = store_runs.get_run(con, int(value)) if value else None
        facts.refitted = _refitted(con)
        facts.production = _production(con)
        if repo.count_rows(con, "monitor_batches") is not None:
            facts.batches = con.execute(
                "SELECT id, name, status, decision, "
                "json_extract_string(body, '$.top_features') "
                "FROM monitor_batches ORDER BY id"
            ).fetchall()
        facts.retrain_events = con.execute(
            "SELECT id, action, summary, details FROM events WHERE stage = 'retrain' "
            "AND action IN ('compared', 'promoted') ORDER BY id"
        ).fetchall()
    return facts


def _same_recipe_profiled(con: Any, current: DatasetVersion) -> int | None:
    """A profiled version whose recipe equals ``current``'s (e.g. before a retrain replayed
    it on new rows), or None."""
    for number in reversed(profiles.profiled_versions(con, current.name)):
        other = ds.get_version(con, current.name, number)
        if other is not None and other.recipe == current.recipe:
            return number
    return None


def _refitted(con: Any) -> list[tuple[Run, list[Run]]]:
    """Runs that were chosen at some point (they have a model), with their version's runs."""
    if repo.count_rows(con, "models") is None:
        return []
    found: list[tuple[Run, list[Run]]] = []
    for (run_id,) in con.execute("SELECT run_id FROM models ORDER BY run_id").fetchall():
        run = store_runs.get_run(con, int(run_id))
        if run is not None:
            found.append((run, store_runs.list_runs(con, run.dataset, run.version)))
    return found


def _production(con: Any) -> tuple[int, Evaluation | None] | None:
    """The production bundle's run and its latest evaluation, or None."""
    if repo.count_rows(con, "bundles") is None:
        return None
    live = next((v for v in registry_store.list_bundles(con) if "production" in v.aliases), None)
    if live is None:
        return None
    return live.run_id, store_runs.latest_evaluation(con, live.run_id)


def _progress(task_id: str, done: bool, evidence: str) -> TaskProgress:
    return TaskProgress(task_id=task_id, done=done, evidence=evidence)


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


def check_kpi(f: Facts) -> TaskProgress:
    """A charter with the lesson's task, target (and positive class or time column), a
    primary metric that fits the data, and a threshold."""
    if f.charter is None:
        return _progress("kpi", False, "no charter saved yet")
    c = f.charter.charter
    wrong = [
        f"{name} is {getattr(c, name)!r}, expected {value!r}"
        for name, value in EXPECTED[f.dataset].items()
        if not _same(str(getattr(c, name) or ""), value)
    ]
    unfit = UNFIT_METRICS.get(f.dataset, {}).get(c.primary_metric)
    if unfit:
        wrong.append(f"{c.primary_metric} does not suit this data: {unfit}")
    where = f"charter v{f.charter.version}: {c.primary_text()} on {c.target!r}"
    if wrong:
        return _progress("kpi", False, f"{where}; " + "; ".join(wrong))
    return _progress("kpi", True, where)


def check_spaces(f: Facts) -> TaskProgress:
    """The lifecycle says the data fits the charter (the positive class is a value)."""
    status = f.statuses.get(Stage.DATA)
    if status is None or status.state is StageState.LOCKED:
        return _progress("spaces", False, "save the charter first")
    return _progress("spaces", status.state is StageState.DONE, status.summary)


def _string_columns(f: Facts) -> list[str]:
    return [name for name, kind in f.columns if kind.upper() == "VARCHAR"]


def check_markers(f: Facts) -> TaskProgress:
    """No text cell of the current version is the ``?`` marker (spaces ignored)."""
    if f.current is None:
        return _progress("markers", False, f"no {f.dataset} dataset in the project")
    text = _string_columns(f)
    if not text:
        return _progress("markers", True, "no text columns left")
    q = ds.quote_ident
    parts = ", ".join(f"count(*) FILTER (WHERE trim({q(c)}) = '?')" for c in text)
    with f.store.connect() as con:
        row = con.execute(f"SELECT {parts} FROM {q(f.current.table_name)}").fetchone()
    counts = {c: int(n) for c, n in zip(text, row or (), strict=True) if n}
    if counts:
        where = ", ".join(f"{c} {n:,}" for c, n in counts.items())
        return _progress("markers", False, f"{f.current.ref} still has '?' cells: {where}")
    missing = ", ".join(c for c in text if c in {"workclass", "occupation", "native-country"})
    return _progress("markers", True, f"{f.current.ref}: no '?' left; {missing} now have nulls")


def check_profile(f: Facts) -> TaskProgress:
    """The current version has a stored profile."""
    if f.current is None:
        return _progress("profile", False, f"no {f.dataset} dataset in the project")
    if f.profiled:
        return _progress("profile", True, f"{f.current.ref} is profiled")
    if f.same_recipe_profiled is not None:
        return _progress(
            "profile",
            True,
            f"{f.current.name}@{f.same_recipe_profiled} (same recipe as {f.current.ref}) is profiled",
        )
    return _progress("profile", False, f"{f.current.ref} has not been profiled yet")


def check_duplicates(f: Facts) -> TaskProgress:
    """The current version has no exact duplicate rows."""
    if f.current is None:
        return _progress("duplicates", False, f"no {f.dataset} dataset in the project")
    table = ds.quote_ident(f.current.table_name)
    with f.store.connect() as con:
        row = con.execute(
            f"SELECT (SELECT count(*) FROM {table}) - (SELECT count(*) FROM "
            f"(SELECT DISTINCT * FROM {table}))"
        ).fetchone()
    extra = int(row[0]) if row else 0
    if extra:
        return _progress("duplicates", False, f"{f.current.ref}: {extra:,} duplicate row(s)")
    return _progress("duplicates", True, f"{f.current.ref}: no duplicate rows")


def check_instant(f: Facts) -> TaskProgress:
    """``instant`` is not a feature: dropped, or given a non-feature role."""
    names = [c for c, _ in f.columns]
    if f.current is None:
        return _progress("instant-id", False, f"no {f.dataset} dataset in the project")
    if "instant" not in names:
        return _progress("instant-id", True, f"instant is not a column of {f.current.ref}")
    role = f.roles.get("instant", ColumnRole.FEATURE)
    return _progress("instant-id", role is not ColumnRole.FEATURE, f"instant has role {role.value}")


def check_leakage(f: Facts) -> TaskProgress:
    """``casual`` and ``registered`` are dropped or not features."""
    if f.current is None:
        return _progress("leakage", False, f"no {f.dataset} dataset in the project")
    names = {c for c, _ in f.columns}
    left = [
        c for c in LEAKS if c in names and f.roles.get(c, ColumnRole.FEATURE) is ColumnRole.FEATURE
    ]
    if left:
        return _progress("leakage", False, f"{', '.join(left)} still feature(s) of {f.current.ref}")
    return _progress(
        "leakage", True, f"casual and registered are out of the features of {f.current.ref}"
    )


def _score(run: Run, metric: str) -> float | None:
    return run.mean.get(metric)


def _beats_baseline(run: Run, runs: list[Run], metric: str) -> tuple[bool | None, str]:
    """Whether ``run``'s CV score beats the best baseline of its version (None: no baseline)."""
    mine = _score(run, metric)
    baselines = [
        r for r in runs
        if r.candidate == "dummy" and r.status is RunStatus.DONE and _score(r, metric) is not None
        and r.fingerprint == run.fingerprint
    ]  # fmt: skip
    where = f"{run.dataset}@{run.version}"
    if run.candidate == "dummy" or mine is None:
        return False, f"run {run.id} is the baseline itself"
    if not baselines:
        return None, f"run {run.id} ({run.label}) has no baseline run on {where} to compare with"
    sign = 1 if METRICS[metric].direction is Direction.MAXIMIZE else -1
    best = max(baselines, key=lambda r: sign * (_score(r, metric) or 0.0))
    theirs = _score(best, metric) or 0.0
    text = f"run {run.id} ({run.label}) CV {metric} {mine:.4g} vs baseline {theirs:.4g} on {where}"
    return sign * mine > sign * theirs, text


def check_baseline(f: Facts) -> TaskProgress:
    """The chosen run beats the dummy baseline of its dataset version on the charter's metric
    in cross-validation; once achieved (a chosen run beat it), retraining keeps it done."""
    if f.charter is None or f.current is None:
        return _progress("baseline", False, "needs a charter and the data first")
    metric = f.charter.charter.primary_metric
    chosen = f.chosen
    if chosen is not None and chosen.fingerprint == f.current.fingerprint:
        won, text = _beats_baseline(chosen, f.runs, metric)
        if won:
            return _progress("baseline", True, text)
    else:
        done = sum(r.status is RunStatus.DONE for r in f.runs)
        text = f"no run of {f.current.ref} chosen ({done} finished)"
    for run, runs in reversed(f.refitted):
        won, earlier = _beats_baseline(run, runs, metric)
        if won:
            return _progress("baseline", True, earlier)
    return _progress("baseline", False, text)


def check_gate(f: Facts) -> TaskProgress:
    """The lifecycle reports Evaluate done, or the production model passed its gate."""
    status = f.statuses.get(Stage.EVALUATE)
    if status is not None and status.state is StageState.DONE:
        return _progress("gate", True, status.summary)
    if f.production is not None:
        run_id, evaluation = f.production
        if evaluation is not None and evaluation.gate.outcome is GateOutcome.PASS:
            return _progress("gate", True, f"the production model (run {run_id}) passed its gate")
    return _progress("gate", False, status.summary if status else "Evaluate has no status")


def _stage_done(task_id: str, stage: Stage) -> Callable[[Facts], TaskProgress]:
    def check(f: Facts) -> TaskProgress:
        status = f.statuses.get(stage)
        if status is None:
            return _progress(task_id, False, f"{stage.title} has no status")
        return _progress(task_id, status.state is StageState.DONE, status.summary)

    check.__doc__ = f"The lifecycle reports {stage.title} done."
    return check


def check_drift(f: Facts) -> TaskProgress:
    """A batch was flagged WARN or ALERT and a decision was recorded on it."""
    if not f.batches:
        return _progress("drift", False, "no batch monitored yet")
    flagged = [b for b in f.batches if b[2] != "ok"]
    decided = [b for b in flagged if b[3]]
    if decided:
        bid, name, status, decision, drifted = decided[-1]
        features = ", ".join(_json_list(drifted)[:4]) or "performance"
        return _progress(
            "drift",
            True,
            f"batch {bid} {name!r} {status.upper()} ({features}); decided: {decision}",
        )
    if flagged:
        bid, name, status, _, _ = flagged[-1]
        return _progress(
            "drift", False, f"batch {bid} {name!r} is {status.upper()}: no decision yet"
        )
    return _progress("drift", False, f"{len(f.batches)} batch(es), none flagged yet")


def _json_list(text: str | None) -> list[str]:
    import json

    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def check_challenger(f: Facts) -> TaskProgress:
    """A champion/challenger comparison is recorded."""
    compared = [e for e in f.retrain_events if e[1] == "compared"]
    if not compared:
        return _progress("challenger", False, "no challenger compared yet")
    return _progress("challenger", True, str(compared[-1][2]))


def check_decide(f: Facts) -> TaskProgress:
    """The latest comparison was acted on: promoted, or decided to keep the champion."""
    import json

    compared = [e for e in f.retrain_events if e[1] == "compared"]
    if not compared:
        return _progress("decide", False, "no comparison to decide on yet")
    event_id, _, _, details = compared[-1]
    decision = json.loads(details).get("decision") if details else None
    promoted = [e for e in f.retrain_events if e[1] == "promoted" and e[0] > event_id]
    if promoted:
        return _progress("decide", True, str(promoted[-1][2]))
    if decision == "keep":
        return _progress("decide", True, "the comparison kept the champion (recorded)")
    return _progress("decide", False, "the challenger won: promote it")


CHECKS: dict[str, Callable[[Facts], TaskProgress]] = {
    "kpi": check_kpi,
    "spaces": check_spaces,
    "markers": check_markers,
    "profile": check_profile,
    "duplicates": check_duplicates,
    "instant-id": check_instant,
    "leakage": check_leakage,
    "baseline": check_baseline,
    "gate": check_gate,
    "deploy": _stage_done("deploy", Stage.DEPLOY),
    "drift": check_drift,
    "challenger": check_challenger,
    "decide": check_decide,
}
