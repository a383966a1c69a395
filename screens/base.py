"""The base of every stage screen: header, stage stepper, body and footer."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.actions import SkipAction
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, TextArea
from textual.worker import Worker, WorkerState

from app.domain.stages import Stage, StageStatus
from screens.lesson import LessonPanel
from screens.widgets.stepper import StageStep, Stepper

if TYPE_CHECKING:
    from app.tui import MlwbApp


class StageScreen(Screen[None]):
    """A lifecycle stage. Subclasses set ``stage`` and implement ``compose_body``."""

    stage: ClassVar[Stage]

    BINDINGS: ClassVar[list[Binding]] = [
        # First in every stage's escape list: while a text field has the focus, escape leaves
        # it (so 1-8 switch stages again); otherwise the stage's own escape (cancel) runs.
        Binding(
            "escape",
            "leave_field",
            "Leave field",
            tooltip="Leave the text field so the stage keys work again",
            id="stage.leave_field",
        ),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Held by the screen's state-reading worker from its read to its post. Exclusive
        # workers replace an older read without stopping its thread, so without the lock a
        # read started before a change (e.g. on return from the confirmation) could post
        # after the read started by the change, and leave the old state on screen.
        self.read_lock = threading.Lock()

    @property
    def mlwb(self) -> MlwbApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield Stepper(self.stage)
        yield from self.compose_body()
        yield LessonPanel(self.stage)
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """The stage's own widgets."""
        yield from ()

    def on_mount(self) -> None:
        self.sub_title = f"{self.stage.number} {self.stage.title}"
        if self.mlwb.statuses:
            self.show_statuses(self.mlwb.statuses)

    def on_screen_resume(self) -> None:
        self.mlwb.refresh_status()

    def show_statuses(self, statuses: list[StageStatus]) -> None:
        """Receive fresh lifecycle states (called by the app on the UI thread)."""
        self.query_one(Stepper).show(statuses)
        self.show_lesson()

    def show_lesson(self) -> None:
        """Show or hide the lesson panel and draw the app's lesson state in it."""
        panel = self.query_one(LessonPanel)
        panel.display = self.mlwb.lesson_on
        if self.mlwb.lesson_on:
            panel.show(self.mlwb.lesson_view)

    def editing(self) -> bool:
        """Whether a text field (where digits and letters type) has the focus."""
        return isinstance(self.focused, (Input, TextArea))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Stage screens refine this and end with ``super().check_action(...)``."""
        if action == "leave_field":
            return self.editing()
        return True

    def action_leave_field(self) -> None:
        """Take the focus off the text field: keys go to the stage again."""
        if not self.editing():
            raise SkipAction()  # the stage's own escape binding runs instead
        self.set_focus(None)

    def on_stage_step_chosen(self, event: StageStep.Chosen) -> None:
        self.mlwb.action_stage(event.stage.value)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.mlwb.report_worker_error(event.worker)

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Stage-specific actions for the command palette."""
        yield from ()
