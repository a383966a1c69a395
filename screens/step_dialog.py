"""Add or edit one cleaning step: a form built from the step's fields, a preview, then apply."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic.fields import FieldInfo
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from app.domain.recipe import STEP_TYPES, StepBase, parse_step
from app.errors import MlwbError, ValidationFailed
from screens.widgets.toggles import Check
from storage.db import ProjectStore

FIELD_HINTS = {
    "columns": "comma-separated column names (empty: all that apply)",
    "subset": "comma-separated columns (empty: all columns)",
    "markers": "comma-separated values, e.g. ?, NA, -200",
    "mapping": 'JSON object, e.g. {"old": "new"}',
    "groups": 'JSON object, e.g. {"Private": ["private", "Pvt"]}',
    "expression": 'e.g. age >= 18 and "hours-per-week" < 60',
    "parts": "comma-separated: year, month, weekday, hour, ...",
    "value": "a number or text (mean/median/mode are computed when the step is added)",
}


@dataclass
class StepPreviewed(Message):
    """A preview of the step on the current data (or why it cannot run)."""

    preview: Any
    error: str | None


def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation)


def _is_optional(annotation: Any) -> bool:
    return type(None) in _args(annotation)


def _base(annotation: Any) -> Any:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [a for a in _args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _literal_values(annotation: Any) -> tuple[Any, ...] | None:
    base = _base(annotation)
    return _args(base) if typing.get_origin(base) is Literal else None


def _coerce(annotation: Any, text: str) -> Any:
    """Turn the text of an input into the value the field expects."""
    text = text.strip()
    if not text:
        return None
    base = _base(annotation)
    origin = typing.get_origin(base)
    if origin is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    if origin is dict:
        return json.loads(text)
    if base in (int, float):
        return base(text.replace(",", "."))
    if base is str:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _start_value(values: StepBase | None, name: str, info: FieldInfo) -> Any:
    """The value a field starts with: the step's own, else the field's default; a required
    field starts empty (its "default" is pydantic's undefined marker)."""
    if values is not None:
        return getattr(values, name)
    if info.is_required():
        return None
    return info.get_default(call_default_factory=True)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class StepDialog(ModalScreen[StepBase | None]):
    """Build a step, preview it on the dataset, and return it to be applied."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="step.cancel"),
        Binding("ctrl+r", "preview", "Preview", id="step.preview"),
        Binding("ctrl+s", "apply", "Apply", id="step.apply"),
    ]

    def __init__(
        self,
        store: ProjectStore,
        dataset: tuple[str, int],
        start: StepBase | None = None,
        column: str | None = None,
        title: str = "Add a cleaning step",
    ) -> None:
        super().__init__(classes="modal")
        self.store = store
        self.dataset = dataset
        self.start = start
        self.column = column
        self.dialog_title = title
        self.kind = start.kind if start else "trim_whitespace"  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        options = [(f"{cls.title}  ({kind})", kind) for kind, cls in STEP_TYPES.items()]
        with Vertical(id="step-dialog", classes="dialog"):
            yield Label(self.dialog_title, classes="dialog-title", markup=False)
            with Horizontal(classes="form-row"):
                yield Label("Step", classes="form-label")
                yield Select(options, value=self.kind, id="s-kind", allow_blank=False, compact=True)
            yield Static("", id="s-doc", classes="form-hint", markup=False)
            yield Vertical(id="s-fields")
            yield Static("", id="s-errors", classes="field-error", markup=False)
            with VerticalScroll(id="s-preview-box"):
                yield Static("ctrl+r previews the step on the data.", id="s-summary", markup=False)
                yield DataTable(id="s-sample", show_cursor=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Preview (ctrl+r)", id="preview", compact=True)
                yield Button("Apply (ctrl+s)", id="apply", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    async def on_mount(self) -> None:
        await self._build_fields(self.start)
        if self.start is not None:
            self.action_preview()

    async def _build_fields(self, values: StepBase | None) -> None:
        cls = STEP_TYPES[self.kind]
        self.query_one("#s-doc", Static).update(
            (cls.__doc__ or "").strip().splitlines()[0]
            + ("" if cls.rowwise else "  Training data only: not replayed at prediction.")
        )
        box = self.query_one("#s-fields", Vertical)
        await box.remove_children()
        rows = []
        for name, info in cls.model_fields.items():
            if name == "kind":
                continue
            current = _start_value(values, name, info)
            if current is None and name in ("column",) and self.column:
                current = self.column
            if (
                current is None
                and name == "columns"
                and self.column
                and not _is_optional(info.annotation)
            ):
                current = [self.column]
            widget: Any
            choices = _literal_values(info.annotation)
            if _base(info.annotation) is bool:
                widget = Check(
                    name.replace("_", " "), value=bool(current), compact=True, id=f"sf-{name}"
                )
            elif choices is not None:
                widget = Select(
                    [(str(c), c) for c in choices],
                    value=current if current in choices else Select.NULL,
                    allow_blank=_is_optional(info.annotation),
                    compact=True,
                    id=f"sf-{name}",
                )
            else:
                widget = Input(
                    _text(current),
                    placeholder=FIELD_HINTS.get(name, "" if info.is_required() else "optional"),
                    compact=True,
                    id=f"sf-{name}",
                )
            label = Label(name.replace("_", " "), classes="form-label")
            rows.append(Horizontal(label, widget, classes="form-row"))
        await box.mount_all(rows)

    @on(Select.Changed, "#s-kind")
    async def _kind_changed(self, event: Select.Changed) -> None:
        if event.value != self.kind and event.value is not Select.NULL:
            self.kind = str(event.value)
            await self._build_fields(None)
            self.query_one("#s-summary", Static).update("ctrl+r previews the step on the data.")
            self.query_one("#s-sample", DataTable).clear(columns=True)

    def step(self) -> StepBase | None:
        """The step described by the form, or None after showing what is wrong."""
        cls = STEP_TYPES[self.kind]
        data: dict[str, Any] = {"kind": self.kind}
        errors = self.query_one("#s-errors", Static)
        for name, info in cls.model_fields.items():
            if name == "kind":
                continue
            widget = self.query_one(f"#sf-{name}")
            try:
                if isinstance(widget, Checkbox):
                    data[name] = widget.value
                elif isinstance(widget, Select):
                    if widget.value is not Select.NULL:
                        data[name] = widget.value
                else:
                    value = _coerce(info.annotation, widget.value)
                    if value is not None:
                        data[name] = value
            except (ValueError, json.JSONDecodeError) as exc:
                errors.update(f"{name}: {exc}")
                errors.display = True
                return None
        try:
            step = parse_step(data)
        except ValidationFailed as exc:
            errors.update("\n".join(f"{f}: {m}" for f, m in exc.problems))
            errors.display = True
            return None
        errors.display = False
        return step

    @on(Button.Pressed, "#preview")
    def action_preview(self) -> None:
        """Preview the step on the dataset off the UI thread."""
        step = self.step()
        if step is None:
            return
        self.query_one("#s-summary", Static).update("Previewing …")
        self._preview(step)

    @work(thread=True, exclusive=True, exit_on_error=False, group="step-preview")
    def _preview(self, step: StepBase) -> None:
        from app.services import cleaning

        name, version = self.dataset
        try:
            self.post_message(
                StepPreviewed(cleaning.preview(self.store, name, version, step), None)
            )
        except MlwbError as exc:
            self.post_message(StepPreviewed(None, exc.one_line()))

    def on_step_previewed(self, message: StepPreviewed) -> None:
        summary = self.query_one("#s-summary", Static)
        table = self.query_one("#s-sample", DataTable)
        table.clear(columns=True)
        if message.error:
            summary.update(f"✗ {message.error}")
            summary.add_class("-error")
            return
        summary.remove_class("-error")
        p = message.preview
        summary.update(f"{p.summary()}  ·  {p.rows_before:,} rows before, {p.rows_after:,} after")
        frame = _side_by_side(p)
        if frame is not None and frame.width:
            table.add_columns(*frame.columns)
            for row in frame.iter_rows():
                table.add_row(*["∅" if v is None else str(v)[:40] for v in row])

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        """Return the step; the Data screen applies it with progress."""
        step = self.step()
        if step is not None:
            self.dismiss(step)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.app.report_worker_error(event.worker)  # type: ignore[attr-defined]


def _side_by_side(preview: Any) -> Any:
    """Removed rows, or changed rows with each changed column before → after."""
    import polars as pl

    if preview.removed.height:
        return preview.removed
    before, after = preview.before, preview.after
    if not before.width and not after.width:
        return None
    row = before.columns[0] if before.width else after.columns[0]
    columns: list[pl.Series] = [after[row] if after.width else before[row]]
    for name in after.columns[1:]:
        if name in before.columns:
            columns.append(before[name].cast(pl.String).alias(f"{name} (before)"))
        columns.append(
            after[name].cast(pl.String).alias(f"{name} (after)" if name in before.columns else name)
        )
    return pl.DataFrame(columns)
