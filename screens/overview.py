"""Stages whose tools are not in this version: their purpose and their real current state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

from app.domain.guide import STAGE_GUIDE, STAGE_PURPOSE
from app.domain.stages import Stage, StageStatus
from screens.base import StageScreen


class StageOverviewScreen(StageScreen):
    """Shows what a stage is for, where the project stands in it, and what to do first."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage  # type: ignore[misc]
        super().__init__(name=stage.value)

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="overview", classes="stage-body"):
            yield Static(
                f"{self.stage.number}  {self.stage.title}", classes="stage-title", markup=False
            )
            yield Static(STAGE_PURPOSE[self.stage], classes="stage-purpose", markup=False)
            yield Static("Reading the project…", id="stage-state", classes="state-box")
            yield Markdown(STAGE_GUIDE[self.stage], id="stage-guide")

    def show_statuses(self, statuses: list[StageStatus]) -> None:
        super().show_statuses(statuses)
        status = next(s for s in statuses if s.stage is self.stage)
        box = self.query_one("#stage-state", Static)
        lines = [status.state.label, status.summary]
        if status.next_step and not status.summary.endswith(status.next_step):
            lines.append(f"Next: {status.next_step}")
        box.update("\n".join(lines))
        for state in ("done", "current", "attention", "locked"):
            box.set_class(status.state.value == state, f"-{state}")
