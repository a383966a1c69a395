"""The hyperparameter editor: pick a candidate, edit each parameter with its range and help.

Values are checked with ``ParamSpec.parse`` as they are typed; an invalid value shows its
message under the field and blocks saving. The dialog returns every candidate's overrides
(only values that differ from the default), or None when cancelled.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from app.domain.training import CANDIDATES, ParamValue
from screens.train_format import show_value

Overrides = dict[str, dict[str, ParamValue]]


class ParamEditor(ModalScreen[Overrides | None]):
    """Edit the hyperparameters of the candidates in ``keys``, starting at ``start``."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="params.cancel"),
        Binding("ctrl+s", "save", "Save", id="params.save"),
        Binding("ctrl+d", "defaults", "Defaults", id="params.defaults"),
    ]

    def __init__(self, keys: list[str], start: str | None, overrides: Overrides) -> None:
        super().__init__(classes="modal")
        self.keys = [k for k in keys if CANDIDATES[k].params]
        self.current = start if start in self.keys else (self.keys[0] if self.keys else "")
        self.texts: dict[str, dict[str, str]] = {
            key: {
                p.name: show_value(overrides.get(key, {}).get(p.name, p.default))
                for p in CANDIDATES[key].params
            }
            for key in self.keys
        }
        self.errors: dict[str, dict[str, str]] = {key: {} for key in self.keys}

    def compose(self) -> ComposeResult:
        options = [(f"{CANDIDATES[k].label} ({k})", k) for k in self.keys]
        with Vertical(id="params-dialog", classes="dialog"):
            yield Label("Hyperparameters", classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label("Model", classes="form-label")
                yield Select(
                    options,
                    value=self.current or Select.NULL,
                    allow_blank=not options,
                    compact=True,
                    id="p-model",
                )
            yield Static("", id="p-doc", markup=False)
            yield VerticalScroll(id="p-fields")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Defaults (ctrl+d)", id="p-defaults", compact=True)
                yield Button("Save (ctrl+s)", id="p-save", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="p-cancel", compact=True)

    async def on_mount(self) -> None:
        await self._build()

    async def _build(self) -> None:
        doc = self.query_one("#p-doc", Static)
        box = self.query_one("#p-fields", VerticalScroll)
        await box.remove_children()
        if not self.current:
            doc.update("None of these models has hyperparameters to edit.")
            return
        spec = CANDIDATES[self.current]
        doc.update(spec.description)
        rows = []
        for p in spec.params:
            hint = f"{p.range_text()} · default {show_value(p.default)}"
            if p.help:
                hint += f" · {p.help}"
            if not p.search:
                hint += " · not searched"
            rows.append(
                Vertical(
                    Horizontal(
                        Label(p.name, classes="form-label"),
                        Input(self.texts[self.current][p.name], compact=True, id=f"pf-{p.name}"),
                        classes="form-row param-row",
                    ),
                    Static(hint, classes="form-hint", markup=False),
                    Static("", id=f"pe-{p.name}", classes="field-error", markup=False),
                    classes="param-field",
                )
            )
        await box.mount_all(rows)
        for name, message in self.errors[self.current].items():
            self._show_error(name, message)
        first = self.query(Input).first() if rows else None
        if first is not None:
            first.focus()

    def _show_error(self, name: str, message: str) -> None:
        error = self.query_one(f"#pe-{name}", Static)
        error.update(f"✗ {message}")
        error.display = bool(message)

    @on(Select.Changed, "#p-model")
    async def _model_changed(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.current:
            return
        self.current = str(event.value)
        await self._build()

    @on(Input.Changed)
    def _value_changed(self, event: Input.Changed) -> None:
        if not event.input.id or not event.input.id.startswith("pf-") or not self.current:
            return
        name = event.input.id.removeprefix("pf-")
        self.texts[self.current][name] = event.value
        try:
            CANDIDATES[self.current].param(name).parse(event.value)
        except ValueError as exc:
            self.errors[self.current][name] = str(exc)
            self._show_error(name, str(exc))
        else:
            self.errors[self.current].pop(name, None)
            self._show_error(name, "")

    def overrides(self) -> Overrides:
        """Every candidate's valid values that differ from its defaults."""
        out: Overrides = {}
        for key, texts in self.texts.items():
            spec = CANDIDATES[key]
            for p in spec.params:
                value = p.parse(texts[p.name])
                if value != p.default or type(value) is not type(p.default):
                    out.setdefault(key, {})[p.name] = value
        return out

    @on(Button.Pressed, "#p-save")
    async def action_save(self) -> None:
        """Return the overrides, or point at the first invalid value."""
        for key, errors in self.errors.items():
            if errors:
                if key != self.current:
                    self.current = key
                    self.query_one("#p-model", Select).value = key
                    await self._build()
                name, message = next(iter(errors.items()))
                self.query_one(f"#pf-{name}", Input).focus()
                self.notify(
                    f"{CANDIDATES[key].label}: {message}",
                    title="Not saved",
                    severity="error",
                    markup=False,
                )
                return
        self.dismiss(self.overrides())

    @on(Button.Pressed, "#p-defaults")
    async def action_defaults(self) -> None:
        """Put the shown model's parameters back to their defaults."""
        if not self.current:
            return
        spec = CANDIDATES[self.current]
        self.texts[self.current] = {p.name: show_value(p.default) for p in spec.params}
        self.errors[self.current] = {}
        await self._build()

    @on(Button.Pressed, "#p-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
