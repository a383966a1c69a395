"""Dialogs of the Deploy screen: the gate-override reason and the "try it" form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Select, Static

from app.errors import MlwbError
from screens.deploy_form import FormField, form_fields, result_text, typed_value


@dataclass
class RowPredicted(Message):
    """The bundle's answer for the form's row (or the error that stopped it)."""

    result: dict[str, Any] | None
    error: str = ""


class TryItModal(ModalScreen[None]):
    """One row in, the bundle's prediction out: a form generated from the contract."""

    DEFAULT_CSS = """
    #tryit-dialog { height: 90%; }
    #tryit-form { height: 1fr; }
    #tryit-dialog.-fits { height: auto; }
    #tryit-dialog.-fits #tryit-form { height: auto; }
    .tryit-row { height: 1; }
    .tryit-label { width: 18; padding-right: 1; text-overflow: ellipsis; text-wrap: nowrap; }
    .tryit-row Input, .tryit-row Select { width: 1fr; }
    .tryit-hint { width: 24; padding-left: 1; color: $text-muted; text-wrap: nowrap; }
    #tryit-result {
        height: auto;
        max-height: 8;
        border-top: solid $primary;
        padding: 0 1;
    }
    #tryit-result.-error { color: $error; }
    #tryit-help { color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="tryit.close"),
        Binding("ctrl+r", "predict", "Predict", tooltip="Score the row", id="tryit.predict"),
        Binding(
            "ctrl+d", "typical", "Typical row", tooltip="Typical training values", id="tryit.reset"
        ),
    ]

    def __init__(self, bundle: Any, label: str) -> None:
        super().__init__(classes="modal")
        self.bundle = bundle
        self.label = label
        self.fields: list[FormField] = form_fields(bundle)
        self.last: dict[str, Any] | None = None
        """The last result shown (for tests and copying)."""

    def compose(self) -> ComposeResult:
        md = self.bundle.metadata
        with Vertical(id="tryit-dialog", classes="dialog"):
            yield Label(
                f"Try {self.label}: {md.task} → {md.target}",
                classes="dialog-title",
                markup=False,
            )
            yield Static(
                "Typical training values are filled in. Change any, enter predicts; "
                "an empty field is a missing value.",
                id="tryit-help",
                markup=False,
            )
            with VerticalScroll(id="tryit-form"):
                for i, f in enumerate(self.fields):
                    with Horizontal(classes="tryit-row"):
                        yield Label(f.name, classes="tryit-label", markup=False)
                        yield self._widget(f, i)
                        yield Label(f.hint, classes="tryit-hint", markup=False)
            yield Static("", id="tryit-result", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Predict (enter)", id="predict", variant="primary", compact=True)
                yield Button("Typical (ctrl+d)", id="typical", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def _widget(self, f: FormField, i: int) -> Input | Select[str]:
        if f.uses_select:
            options = [(c, c) for c in f.choices]
            return Select(
                options,
                prompt="(missing)" if f.nullable else "choose",
                allow_blank=f.nullable or f.default not in f.choices,
                value=f.default if f.default in f.choices else Select.NULL,
                compact=True,
                id=f"field-{i}",
            )
        return Input(
            f.default,
            placeholder=f.placeholder,
            suggester=SuggestFromList(f.choices, case_sensitive=False) if f.choices else None,
            compact=True,
            id=f"field-{i}",
        )

    def on_mount(self) -> None:
        self._fit()
        if self.fields:
            self.query_one("#field-0").focus()
        self.action_predict()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """As tall as the form when it fits (with room for the longest answer), else 90 %."""
        room = int(self.app.size.height * 0.9) - len(self.fields) - 16
        self.query_one("#tryit-dialog").set_class(room >= 0, "-fits")

    def record(self) -> dict[str, Any]:
        """The row the form holds, as the JSON a client would send."""
        row: dict[str, Any] = {}
        for i, f in enumerate(self.fields):
            widget = self.query_one(f"#field-{i}")
            if isinstance(widget, Select):
                text = None if widget.is_blank() else str(widget.value)
            else:
                assert isinstance(widget, Input)
                text = widget.value
            row[f.name] = typed_value(f, text)
        return row

    def action_predict(self) -> None:
        """Score the form's row with the bundle (in a worker)."""
        self.query_one("#tryit-result", Static).update("Predicting…")
        self._predict(self.record())

    def action_typical(self) -> None:
        """Put the typical training values back."""
        for i, f in enumerate(self.fields):
            widget = self.query_one(f"#field-{i}")
            if isinstance(widget, Select):
                if f.default in f.choices:
                    widget.value = f.default
                else:
                    widget.clear()
            else:
                assert isinstance(widget, Input)
                widget.value = f.default
        self.action_predict()

    @work(thread=True, exclusive=True, exit_on_error=False, group="tryit")
    def _predict(self, row: dict[str, Any]) -> None:
        try:
            result = self.bundle.predict_row(row)
        except MlwbError as error:
            self.post_message(RowPredicted(None, error.one_line()))
            return
        self.post_message(RowPredicted(result))

    def on_row_predicted(self, message: RowPredicted) -> None:
        box = self.query_one("#tryit-result", Static)
        self.last = message.result
        if message.result is None:
            box.update(f"Not scored: {message.error}")
            box.add_class("-error")
            return
        text, refused = result_text(message.result)
        box.update(text)
        box.set_class(refused, "-error")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_predict()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "predict":
            self.action_predict()
        elif event.button.id == "typical":
            self.action_typical()
        else:
            self.dismiss(None)
