"""What the Retrain screen reads and how it words it: the champion in production, the
monitoring batches that could train a challenger, and the last champion/challenger comparison.

Everything here goes through the storage layer only (the retrain service trains, so it imports
scikit-learn: seconds on a cold start). The last comparison is parsed from its ``compared``
event into ``app.domain.retrain.Comparison``, the model the service stores.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from app.domain.evaluation import GateOutcome
from app.domain.monitor import MonitorBatch
from app.domain.retrain import Comparison
from storage.db import ProjectStore

STATUS_WORD = {"ok": "OK", "warn": "warn", "alert": "ALERT"}
_WINDOW = re.compile(r"^\s*(\d+)\s*d?\s*$", re.IGNORECASE)


@dataclass
class BatchChoice:
    """One monitoring batch as a possible part of the challenger's data."""

    id: int
    name: str
    n_rows: int
    n_labelled: int
    status: str
    recommendation: str | None
    decision: str | None
    in_champion: bool = False
    """Already in the champion's training data (an earlier retrain used it)."""

    @property
    def usable(self) -> bool:
        """Labelled and not yet trained on: it can be selected."""
        return self.n_labelled > 0 and not self.in_champion


@dataclass
class RetrainState:
    """Everything the screen shows, read in one worker."""

    production: int | None = None
    production_run: int | None = None
    candidate: str = ""
    n_versions: int = 0
    rollback_to: int | None = None
    batches: list[BatchChoice] = field(default_factory=list)
    comparison: Comparison | None = None
    promoted_as: int | None = None
    """The bundle version the last comparison's challenger was promoted as, if it was."""
    override_reason: str | None = None
    time_column: str | None = None
    shadow: int | None = None
    """The bundle version being shadowed (alias ``shadow``), if any."""
    shadow_run: int | None = None
    """The run that bundle was built from."""

    @property
    def labelled(self) -> list[BatchChoice]:
        return [b for b in self.batches if b.n_labelled > 0]


def _choice(batch: MonitorBatch, trained: set[int]) -> BatchChoice:
    perf = batch.report.performance
    return BatchChoice(
        id=batch.id,
        name=batch.name,
        n_rows=batch.n_rows,
        n_labelled=perf.n_labelled if perf is not None else 0,
        status=batch.status.value,
        recommendation=batch.report.recommendation.value if batch.report.recommendation else None,
        decision=batch.decision.value if batch.decision else None,
        in_champion=batch.id in trained,
    )


def _details(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def read_state(store: ProjectStore) -> RetrainState:
    """The champion, the batches and the last comparison, through the storage layer only."""
    from storage import monitor as store_monitor
    from storage import registry as reg
    from storage import repositories as repo
    from storage import retrain as store_retrain
    from storage import training as store_runs

    state = RetrainState()
    with store.connect() as con:
        charter = repo.latest_charter(con)
        if charter is not None:
            state.time_column = charter.charter.time_column
        if repo.count_rows(con, "bundles") is None:
            return state
        versions = reg.list_bundles(con)
        state.n_versions = len(versions)
        state.production = reg.aliases(con).get("production")
        if state.production is None:
            return state
        current = reg.get_bundle(con, state.production)
        state.shadow = reg.aliases(con).get(reg.SHADOW)
        shadowed = reg.get_bundle(con, state.shadow) if state.shadow is not None else None
        state.shadow_run = shadowed.run_id if shadowed is not None else None
        history = reg.production_history(con)
        if history and history[-1] == state.production:
            history.pop()
        state.rollback_to = history[-1] if history else None
        trained: set[int] = set()
        if current is not None:
            state.production_run = current.run_id
            run = store_runs.get_run(con, current.run_id)
            if run is not None:
                state.candidate = run.candidate
                for built in store_retrain.all_details(con, "data_built"):
                    if built.get("dataset") == run.dataset and run.version in (
                        built.get("version"),
                        built.get("raw_version"),
                    ):
                        trained = set(built.get("lineage_batches", []))
                        break
        if repo.count_rows(con, "monitor_batches"):
            state.batches = [_choice(b, trained) for b in store_monitor.list_batches(con)]
        found = store_retrain.latest_details(con, "compared")
        if found is not None:
            event, details = found
            state.comparison = Comparison.model_validate({**_details(details), "id": event})
            promoted = store_retrain.latest_details(con, "promoted")
            if promoted is not None and promoted[1].get("comparison") == event:
                state.promoted_as = promoted[1].get("version")
                state.override_reason = promoted[1].get("override_reason")
    return state


# -- the user's choices ------------------------------------------------------------------------


def parse_window(text: str) -> int | None:
    """``90d`` (or ``90``) -> 90 days; empty -> None. Raises ValueError otherwise."""
    if not text.strip():
        return None
    found = _WINDOW.match(text)
    if found is None or int(found.group(1)) <= 0:
        raise ValueError(f"the window takes days such as 90d, not {text.strip()!r}")
    return int(found.group(1))


def parse_margin(text: str) -> float:
    """The margin in metric units; empty -> 0. Raises ValueError when not a number >= 0."""
    if not text.strip():
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"the margin is a number in metric units, not {text.strip()!r}") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError("the margin cannot be negative")
    return value


def cli_line(
    batches: list[int], window: str, compare_on: int | None, rerun: bool, margin: str
) -> str:
    """The ``mlwb retrain`` command that does what the panel is set to."""
    parts = ["mlwb retrain"]
    if batches:
        parts.append("--batches " + ",".join(map(str, batches)))
    if window.strip():
        parts.append(f"--window {window.strip()}")
    if compare_on is not None:
        parts.append(f"--compare-on {compare_on}")
    if rerun:
        parts.append("--rerun-leaderboard")
    if margin.strip() and margin.strip() not in {"0", "0.0"}:
        parts.append(f"--margin {margin.strip()}")
    return " ".join(parts)


# -- numbers -----------------------------------------------------------------------------------


def metric_decimals(c: Any) -> int:
    """Decimals that give the comparison's metric four significant digits (at most six)."""
    values = [abs(v) for v in (c.champion.value, c.challenger.value) if v is not None]
    top = max(values, default=0.0)
    if top == 0 or not math.isfinite(top):
        return 4
    return min(6, max(0, 3 - math.floor(math.log10(top))))


def fmt(value: float | None, decimals: int, signed: bool = False) -> str:
    """A metric value in the comparison's decimals, or a dash."""
    if value is None:
        return "—"
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def interval(low: float | None, high: float | None, decimals: int, signed: bool = False) -> str:
    """``[low, high]`` or a dash."""
    if low is None or high is None:
        return "—"
    return f"[{fmt(low, decimals, signed)}, {fmt(high, decimals, signed)}]"


def comparison_rows(c: Any) -> list[tuple[str, str, str, str]]:
    """Champion, challenger and difference: name, value, 95 % interval, what it is.

    ``c`` is the stored ``Comparison``.
    """
    d = metric_decimals(c)
    champ, chall = c.champion, c.challenger
    where = f"bundle v{champ.bundle_version} · " if champ.bundle_version else ""
    return [
        (
            "champion",
            fmt(champ.value, d),
            interval(champ.low, champ.high, d),
            f"run {champ.run_id} {champ.candidate} · {where}{champ.dataset}",
        ),
        (
            "challenger",
            fmt(chall.value, d),
            interval(chall.low, chall.high, d),
            f"run {chall.run_id} {chall.candidate} · {chall.dataset}",
        ),
        (
            "difference",
            fmt(c.difference, d, signed=True),
            interval(c.difference_low, c.difference_high, d, signed=True),
            f"challenger − champion, paired bootstrap ×{c.resamples}",
        ),
    ]


def lineage_lines(c: Any) -> list[str]:
    """Where the challenger's data came from: batches, window, recipe, charter."""
    lin = c.lineage
    batches = ", ".join(map(str, lin.get("batches") or [])) or "none"
    window = lin.get("window")
    span = "none (all rows)"
    if window:
        start, end = str(window.get("start", ""))[:10], str(window.get("end", ""))[:10]
        span = f"last {window.get('days')} days ({start} – {end})"
    return [
        f"data       {lin.get('dataset', c.challenger.dataset)}: original rows + batches {batches}",
        f"window     {span}",
        f"recipe     {lin.get('recipe', '—')}",
        f"charter    v{lin.get('charter_version', '—')} · "
        f"{lin.get('configuration', '—')} configuration",
    ]


# -- words -------------------------------------------------------------------------------------


def gate_label(gate: str) -> str:
    """The gate's outcome as every screen says it (``GateOutcome.label``)."""
    return GateOutcome(gate).label if gate in GateOutcome._value2member_map_ else gate.upper()


def reason_text(c: Any) -> str:
    """The comparison's reason, capitalised, with the gate named as everywhere else (the
    service writes the raw value, e.g. ``gate is TOO_CLOSE``)."""
    reason = c.reason.replace(f"gate is {c.gate.upper()}", f"gate is {gate_label(c.gate)}")
    return reason[:1].upper() + reason[1:]
