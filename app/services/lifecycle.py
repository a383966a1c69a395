"""Where the project stands: the state of each of the eight stages, computed from the store."""

from __future__ import annotations

from app.domain.charter import problems_against_data
from app.domain.guide import STAGE_PURPOSE
from app.domain.stages import Stage, StageState, StageStatus
from app.services.problem import data_facts
from storage import repositories as repo
from storage.db import ProjectStore


def stage_statuses(store: ProjectStore) -> list[StageStatus]:
    """One status per stage, in lifecycle order."""
    with store.connect() as con:
        charter = repo.latest_charter(con)
        facts = data_facts(con)
        datasets = repo.count_rows(con, "datasets") or 0
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
    else:
        problems = problems_against_data(charter.charter, facts) if facts else []
        if problems:
            statuses.append(
                StageStatus(
                    stage=Stage.PROBLEM,
                    state=StageState.ATTENTION,
                    summary=f"Charter v{charter.version} does not match the data: "
                    + "; ".join(f"{f}: {m}" for f, m in problems),
                    next_step="Fix the charter on the Problem screen.",
                )
            )
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
    if charter is None:
        statuses.append(_locked(Stage.DATA, "Save a charter first (stage 1)."))
    elif datasets == 0:
        statuses.append(
            StageStatus(
                stage=Stage.DATA,
                state=StageState.CURRENT,
                summary="No dataset imported yet.",
                next_step="Import the data the charter names.",
            )
        )
    else:
        statuses.append(
            StageStatus(stage=Stage.DATA, state=StageState.DONE, summary=f"{datasets} dataset(s).")
        )
    stages = list(Stage)
    for stage in stages[2:]:
        previous = stages[stages.index(stage) - 1]
        prior = statuses[-1]
        if prior.state is not StageState.DONE:
            statuses.append(
                _locked(stage, f"Finish {previous.title} (stage {previous.number}) first.")
            )
        else:
            statuses.append(
                StageStatus(
                    stage=stage,
                    state=StageState.CURRENT,
                    summary="Not started.",
                    next_step=STAGE_PURPOSE[stage],
                )
            )
    return statuses


def _locked(stage: Stage, why: str) -> StageStatus:
    return StageStatus(stage=stage, state=StageState.LOCKED, summary=why)
