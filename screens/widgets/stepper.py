"""The stage stepper: every stage's number, name and state, with the open stage marked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

from app.domain.stages import Stage, StageStatus


class StageStep(Static):
    """One stage in the stepper; clicking it asks to open that stage."""

    class Chosen(Message):
        """The user clicked a stage."""

        def __init__(self, stage: Stage) -> None:
            super().__init__()
            self.stage = stage

    def __init__(self, stage: Stage) -> None:
        super().__init__(f"{stage.number}○{stage.title}", id=f"step-{stage.value}", markup=False)
        self.stage = stage

    def on_click(self) -> None:
        self.post_message(self.Chosen(self.stage))


class Stepper(Horizontal):
    """The row of stages at the top of every screen."""

    def __init__(self, active: Stage) -> None:
        super().__init__(id="stepper")
        self.active = active

    def compose(self) -> ComposeResult:
        for stage in Stage:
            step = StageStep(stage)
            step.set_class(stage is self.active, "-active")
            yield step

    def show(self, statuses: list[StageStatus]) -> None:
        """Mark each stage with its state and put the summary in its tooltip."""
        for status in statuses:
            step = self.query_one(f"#step-{status.stage.value}", StageStep)
            step.update(f"{status.stage.number}{status.state.glyph}{status.stage.title}")
            for state in ("done", "current", "attention", "locked"):
                step.set_class(status.state.value == state, f"-{state}")
            tip = status.summary + (f"\n{status.next_step}" if status.next_step else "")
            step.tooltip = tip
