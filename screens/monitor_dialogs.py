"""Dialogs of the Monitor screen: add a batch, add late labels, record a decision."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioSet, Static

from screens.monitor_messages import AddRequest, DecisionRequest, LabelsRequest
from screens.widgets.toggles import Radio

FORM_CSS = """
.mon-dialog { height: auto; }
.mon-row { height: 1; margin-bottom: 1; }
.mon-label { width: 14; padding-right: 1; color: $text-muted; }
.mon-row Input { width: 1fr; }
.mon-help { color: $text-muted; padding-bottom: 1; }
.mon-error { color: $error; height: auto; }
"""


def _text(value: str) -> str | None:
    return value.strip() or None


def batch_file(value: str) -> tuple[Path | None, str]:
    """The file a typed path names (``~`` expanded, relative to the current folder), or why
    it cannot be used."""
    text = value.strip()
    if not text:
        return None, "Type the path of a CSV, Parquet or NDJSON file."
    path = Path(text).expanduser()
    if not path.exists():
        return None, f"There is no file {path} (relative paths start at {Path.cwd()})."
    if not path.is_file():
        return None, f"{path} is a folder: name one file in it."
    return path, ""


class _FormModal(ModalScreen[object]):
    """A small form: labelled one-line inputs, an error line, submit and cancel buttons."""

    DEFAULT_CSS = FORM_CSS
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="mon.form_cancel")]

    def row(self, label: str, input_id: str, placeholder: str, value: str = "") -> ComposeResult:
        with Horizontal(classes="mon-row"):
            yield Label(label, classes="mon-label")
            yield Input(value, placeholder=placeholder, id=input_id, compact=True)

    def value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value

    def error(self, text: str) -> None:
        self.query_one(".mon-error", Static).update(text)

    def submit(self) -> None:
        """Check the form and dismiss with what it asks for."""

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.submit()
        else:
            self.dismiss(None)


class AddBatchModal(_FormModal):
    """Which file to monitor, and optionally its name, label column and key column."""

    def __init__(self, production: int, target: str = "") -> None:
        super().__init__(classes="modal")
        self.production = production
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(id="add-dialog", classes="dialog mon-dialog"):
            yield Label(
                f"Add a batch: score it with v{self.production} and compare it with training",
                classes="dialog-title",
            )
            yield Static(
                "A CSV, Parquet or NDJSON file with the model's input columns. With a label "
                "column the batch's metric is measured now; with a key column labels can be "
                "joined later (l).",
                classes="mon-help",
                markup=False,
            )
            yield from self.row("file", "add-path", "path/to/batch.csv (required)")
            yield from self.row("name", "add-name", "default: the file name")
            yield from self.row(
                "label column",
                "add-label",
                f"e.g. {self.target} (optional)" if self.target else "optional",
            )
            yield from self.row("key column", "add-key", "an ID column, for late labels")
            yield Static("", classes="mon-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add (enter)", id="ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#add-path", Input).focus()

    def submit(self) -> None:
        path, problem = batch_file(self.value("add-path"))
        if path is None:
            self.error(problem)
            self.query_one("#add-path", Input).focus()
            return
        self.dismiss(
            AddRequest(
                str(path),
                _text(self.value("add-name")),
                _text(self.value("add-label")),
                _text(self.value("add-key")),
            )
        )


class LabelsModal(_FormModal):
    """The labels file of a batch, the key column to join on and the label column."""

    def __init__(self, batch_id: int, name: str, key: str, target: str) -> None:
        super().__init__(classes="modal")
        self.batch_id = batch_id
        self.batch_name = name
        self.key = key
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(id="labels-dialog", classes="dialog mon-dialog"):
            yield Label(
                f"Labels for batch {self.batch_id} ({self.batch_name})",
                classes="dialog-title",
                markup=False,
            )
            yield Static(
                f"Rows are matched on the key; the batch was keyed on {self.key!r}. "
                "The metric and its interval are computed on the matched rows.",
                classes="mon-help",
                markup=False,
            )
            yield from self.row("labels file", "labels-path", "path/to/labels.csv (required)")
            yield from self.row("key column", "labels-key", "the ID column", self.key)
            yield from self.row(
                "label column", "labels-label", f"default: {self.target or 'the target'}"
            )
            yield Static("", classes="mon-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Join labels (enter)", id="ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#labels-path", Input).focus()

    def submit(self) -> None:
        path, problem = batch_file(self.value("labels-path"))
        key = self.value("labels-key").strip()
        if path is None or not key:
            self.error(problem or "Name the key column of the labels file.")
            return
        self.dismiss(LabelsRequest(str(path), key, _text(self.value("labels-label"))))


DECISIONS = (
    ("retrain", "Retrain: train a challenger on newer data (stage 8)"),
    ("inspect", "Inspect: the data looks broken; fix it upstream"),
    ("accept", "Accept: the change is the new normal; keep the model"),
)


class DecisionModal(_FormModal):
    """What the user decided about a batch: retrain, inspect or accept, with a note."""

    DEFAULT_CSS = FORM_CSS + "#decision-set { width: 1fr; margin-bottom: 1; }"

    def __init__(self, batch_id: int, recommended: str | None, current: str | None) -> None:
        super().__init__(classes="modal")
        self.batch_id = batch_id
        self.recommended = recommended
        self.current = current

    def compose(self) -> ComposeResult:
        chosen = self.current or self.recommended or "inspect"
        with Vertical(id="decision-dialog", classes="dialog mon-dialog"):
            yield Label(f"Decision for batch {self.batch_id}", classes="dialog-title")
            rec = f"recommended: {self.recommended}. " if self.recommended else ""
            yield Static(
                f"{rec}The decision and the note go into the batch and the audit trail.",
                classes="mon-help",
                markup=False,
            )
            with RadioSet(id="decision-set"):
                for value, text in DECISIONS:
                    yield Radio(text, value=value == chosen, id=f"decision-{value}")
            yield from self.row("note", "decision-note", "why (optional)")
            yield Static("", classes="mon-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Record (enter)", id="ok", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#decision-set", RadioSet).focus()

    def submit(self) -> None:
        pressed = self.query_one("#decision-set", RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            self.error("Pick retrain, inspect or accept.")
            return
        decision = pressed.id.removeprefix("decision-")
        self.dismiss(DecisionRequest(decision, self.value("decision-note").strip()))
