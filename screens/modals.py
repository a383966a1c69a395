"""Dialogs shared by every stage: the error modal, a yes/no confirmation and stage help."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Static, TextArea


class ErrorModal(ModalScreen[None]):
    """A failure with detail: scrollable, selectable text and a copy key."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="error.close"),
        Binding("c", "copy", "Copy", id="error.copy"),
    ]

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(classes="modal")
        self.error_title = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog"):
            yield Label(self.error_title, id="error-title", classes="dialog-title", markup=False)
            yield TextArea(self.detail, read_only=True, id="error-detail", soft_wrap=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy", id="copy", compact=True)
                yield Button("Close", id="close", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def action_copy(self) -> None:
        """Put the whole text on the clipboard (OSC 52, works over SSH in most terminals)."""
        self.app.copy_to_clipboard(f"{self.error_title}\n{self.detail}")
        self.notify("Error text copied to the clipboard.")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss()


class ConfirmModal(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True for yes."""

    BINDINGS = [
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", show=False, id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Save") -> None:
        super().__init__(classes="modal")
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(self.question, classes="dialog-title", markup=False)
            if self.detail:
                with VerticalScroll(id="confirm-detail"):
                    yield Static(self.detail, markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def action_answer(self, answer: bool) -> None:
        """Close the dialog with ``answer``."""
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ReasonModal(ModalScreen[str | None]):
    """Ask why something is done against a verdict (a failed gate, a "keep" decision);
    dismisses with the reason, which is recorded, or None when cancelled."""

    DEFAULT_CSS = """
    #reason-dialog { height: auto; }
    #reason-why { color: $warning; padding-bottom: 1; }
    #reason-input { margin-bottom: 0; }
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="reason.cancel")]

    def __init__(self, question: str, why: str, placeholder: str, yes: str, recorded: str) -> None:
        super().__init__(classes="modal")
        self.question = question
        self.why = why
        self.placeholder = placeholder
        self.yes = yes
        self.recorded = recorded
        """What the reason is recorded with, for the empty-reason warning."""

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-dialog", classes="dialog"):
            yield Label(self.question, classes="dialog-title", markup=False)
            yield Static(self.why, id="reason-why", markup=False)
            yield Input(placeholder=self.placeholder, id="reason-input")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (enter)", id="yes", variant="warning", compact=True)
                yield Button("Cancel (esc)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#reason-input", Input).focus()

    def _answer(self) -> None:
        reason = self.query_one("#reason-input", Input).value.strip()
        if not reason:
            self.notify(f"Give a reason: it is recorded with {self.recorded}.", severity="warning")
            return
        self.dismiss(reason)

    @on(Input.Submitted, "#reason-input")
    def _submitted(self) -> None:
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self._answer()
        else:
            self.dismiss(None)


class HelpModal(ModalScreen[None]):
    """Help for learners on the current stage, plus the keys that work everywhere."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("f1", "dismiss", "Close", show=False, id="help.close_f1"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_q"),
    ]

    KEYS = """
## Keys everywhere

| key | action |
|---|---|
| `1`-`8` | switch stage (Problem … Retrain) |
| `F1` or `?` | this help |
| `ctrl+p` | command palette: every action by name |
| `tab` / `shift+tab` | move between fields |
| `ctrl+q` | quit |
"""

    def __init__(self, text: str) -> None:
        super().__init__(classes="modal")
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            with VerticalScroll(id="help-scroll"):
                yield Markdown(self.text + self.KEYS, id="help-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss()
