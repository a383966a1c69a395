"""Messages of the Retrain screen (facts its workers report) and the override dialog."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from screens.retrain_data import RetrainState


@dataclass
class RetrainStateRead(Message):
    """The champion, the batches and the last comparison were read."""

    state: RetrainState


@dataclass
class ChallengerCompared(Message):
    """A challenger was trained and compared with the champion; ``text`` is the decision."""

    decision: str
    text: str


@dataclass
class RetrainStopped(Message):
    """Training the challenger ended without a comparison: cancelled, or failed."""

    cancelled: bool
    step: str = ""


@dataclass
class ProductionChanged(Message):
    """The challenger was promoted, or production rolled back; ``text`` says which."""

    version: int
    text: str


class Cancelled(Exception):
    """Raised from the progress callback when the user stopped the retrain."""


class OverrideModal(ModalScreen[str | None]):
    """Ask why a challenger the comparison decided to keep out is promoted anyway."""

    DEFAULT_CSS = """
    #override-dialog { height: auto; }
    #override-why { color: $warning; padding-bottom: 1; }
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="override.cancel")]

    def __init__(self, question: str, why: str) -> None:
        super().__init__(classes="modal")
        self.question = question
        self.why = why

    def compose(self) -> ComposeResult:
        with Vertical(id="override-dialog", classes="dialog"):
            yield Label(self.question, classes="dialog-title", markup=False)
            yield Static(self.why, id="override-why", markup=False)
            yield Input(
                placeholder="why promote it anyway (recorded with the event)",
                id="override-input",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Promote anyway (enter)", id="yes", variant="warning", compact=True)
                yield Button("Cancel (esc)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#override-input", Input).focus()

    def _answer(self) -> None:
        reason = self.query_one("#override-input", Input).value.strip()
        if not reason:
            self.notify("Give a reason: it is recorded with the promotion.", severity="warning")
            return
        self.dismiss(reason)

    @on(Input.Submitted, "#override-input")
    def _submitted(self) -> None:
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self._answer()
        else:
            self.dismiss(None)
