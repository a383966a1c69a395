"""Stage 1: the charter form, with inline validation, confirmed saves and version history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static, TextArea

from app.domain.charter import Charter, Problem, parse_charter
from app.domain.metrics import METRICS, TaskType, metrics_for
from app.domain.project import CharterVersion
from app.domain.stages import Stage
from app.errors import ValidationFailed
from app.services import problem as charter_service
from screens.base import StageScreen
from screens.charter_history import CharterHistoryModal
from screens.modals import ConfirmModal
from screens.widgets.toggles import Check

ERROR_SLOTS = [
    "name",
    "objective",
    "decision",
    "stakeholders",
    "task",
    "target",
    "positive_class",
    "time_column",
    "primary_metric",
    "threshold",
    "constraints",
    "data_sources",
    "budget",
    "notes",
]

DRIVES = (
    "The charter drives the rest of the project: the primary metric sorts the leaderboard, "
    "the threshold is the evaluation gate, constraints are checked before deployment, and "
    "monitoring alerts use the same levels."
)


@dataclass
class CharterLoaded(Message):
    """The newest charter was read from the store (None before the first save)."""

    current: CharterVersion | None
    project_name: str


@dataclass
class DataChecked(Message):
    """The saved charter checked against the current dataset: (dataset ref, problems)."""

    result: tuple[str, list[Problem]] | None


@dataclass
class CharterSaved(Message):
    """A new charter version was stored."""

    saved: CharterVersion


def _slot(field: str) -> str:
    head = field.split(".")[0].split("[")[0]
    return head if head in ERROR_SLOTS else "name"


def _parse_sources(text: str) -> list[dict[str, str]]:
    sources = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        sources.append(
            {
                "name": parts[0],
                "description": parts[1] if len(parts) > 1 else "",
                "limits": " | ".join(parts[2:]) if len(parts) > 2 else "",
            }
        )
    return sources


def _sources_text(charter: Charter) -> str:
    return "\n".join(
        " | ".join(p for p in (s.name, s.description, s.limits) if p) for s in charter.data_sources
    )


def _number(text: str) -> float | None:
    text = text.strip().replace(",", ".")
    return float(text) if text else None


class ProblemScreen(StageScreen):
    """The charter form."""

    stage = Stage.PROBLEM

    BINDINGS = [
        Binding(
            "ctrl+s", "save", "Save", tooltip="Save the charter as a new version", id="problem.save"
        ),
        Binding("f2", "history", "History", tooltip="Charter versions", id="problem.history"),
    ]

    def __init__(self) -> None:
        super().__init__(name="problem")
        self.current: CharterVersion | None = None
        self.project_name = ""
        self.constraints: list[dict[str, Any]] = []
        self._touched: set[str] = set()
        self._show_all = False
        self._filling = False

    # -- layout ----------------------------------------------------------------------------

    def _row(self, label: str, widget: Widget, slot: str) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(label, classes="form-label")
            yield widget
        yield Static("", id=f"err-{slot}", classes="field-error", markup=False)

    def compose_body(self) -> ComposeResult:
        task_options = [(t.label, t.value) for t in TaskType]
        with Horizontal(id="problem-body", classes="stage-body"):
            with VerticalScroll(id="charter-form"):
                yield Static("Business question", classes="form-section")
                yield from self._row(
                    "Name", Input(compact=True, id="f-name", placeholder="Project name"), "name"
                )
                yield from self._row(
                    "Objective",
                    TextArea(id="f-objective", soft_wrap=True, classes="short-text", compact=True),
                    "objective",
                )
                yield from self._row(
                    "Decision",
                    Input(
                        compact=True,
                        id="f-decision",
                        placeholder="Which decision does the model support?",
                    ),
                    "decision",
                )
                yield from self._row(
                    "Stakeholders",
                    Input(
                        compact=True,
                        id="f-stakeholders",
                        placeholder="comma-separated: Sales lead, Analysts",
                    ),
                    "stakeholders",
                )
                yield Static("ML goal", classes="form-section")
                yield from self._row(
                    "Task",
                    Select(task_options, id="f-task", prompt="Choose the task type", compact=True),
                    "task",
                )
                yield from self._row(
                    "Target column",
                    Input(compact=True, id="f-target", placeholder="e.g. income"),
                    "target",
                )
                yield from self._row(
                    "Positive class",
                    Input(
                        compact=True, id="f-positive_class", placeholder="binary only, e.g. >50K"
                    ),
                    "positive_class",
                )
                yield from self._row(
                    "Time column",
                    Input(
                        compact=True,
                        id="f-time_column",
                        placeholder="optional: orders the split by time",
                    ),
                    "time_column",
                )
                yield from self._row(
                    "Primary metric",
                    Select([], id="f-primary_metric", prompt="Choose the task first", compact=True),
                    "primary_metric",
                )
                yield from self._row(
                    "Threshold",
                    Input(
                        compact=True, id="f-threshold", placeholder="success threshold, e.g. 0.65"
                    ),
                    "threshold",
                )
                yield Static("", id="metric-hint", classes="form-hint", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label("Explainable", classes="form-label")
                    yield Check("the model must be explainable", id="f-explainable", compact=True)
                yield Static("Secondary constraints", classes="form-section")
                yield DataTable(id="constraints", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="constraint-add", classes="form-row"):
                    yield Select([], id="c-metric", prompt="metric", compact=True)
                    yield Select(
                        [(">=", ">="), ("<=", "<=")], id="c-bound", allow_blank=False, compact=True
                    )
                    yield Input(id="c-value", placeholder="value", compact=True)
                    yield Button("Add", id="c-add", compact=True)
                    yield Button("Remove", id="c-remove", compact=True)
                yield Static("", id="err-constraints", classes="field-error", markup=False)
                yield Static("Data and budget", classes="form-section")
                yield from self._row(
                    "Data sources",
                    TextArea(
                        id="f-data_sources", soft_wrap=True, classes="short-text", compact=True
                    ),
                    "data_sources",
                )
                yield Static(
                    "one source a line: name | description | limits",
                    classes="form-hint",
                    markup=False,
                )
                with Horizontal(classes="form-row"):
                    yield Label("Budget", classes="form-label")
                    yield Input(
                        compact=True, id="f-budget_hours", placeholder="hours", classes="budget"
                    )
                    yield Input(
                        compact=True, id="f-budget_cost", placeholder="cost", classes="budget"
                    )
                    yield Input(
                        compact=True, id="f-currency", placeholder="currency", classes="budget"
                    )
                yield Static("", id="err-budget", classes="field-error", markup=False)
                yield from self._row(
                    "Notes",
                    TextArea(id="f-notes", soft_wrap=True, classes="short-text", compact=True),
                    "notes",
                )
                yield from self._row(
                    "Version note",
                    Input(
                        compact=True,
                        id="f-save_note",
                        placeholder="why this version (saved with it)",
                    ),
                    "save_note",
                )
                with Horizontal(classes="form-buttons"):
                    yield Button("Save (ctrl+s)", id="save", variant="primary")
                    yield Button("History (F2)", id="history")
            with Vertical(id="charter-side"):
                yield Static("Charter", classes="side-title")
                yield Static("Reading the project…", id="charter-state", markup=False)
                yield Static("", id="charter-problems", markup=False)
                yield Static("", id="charter-data", markup=False)
                yield Static(DRIVES, id="charter-drives", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#constraints", DataTable)
        table.add_columns("metric", "bound", "value", "meaning")
        self.load_charter()

    # -- loading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="charter", exit_on_error=False)
    def load_charter(self) -> None:
        """Read the newest charter off the UI thread (the store may be busy)."""
        store = self.mlwb.store
        name = charter_service.project_name(store)
        current = charter_service.current_charter(store)
        self.post_message(CharterLoaded(current, name))
        self._check_data(current.charter if current else None)

    def _check_data(self, charter: Charter | None) -> None:
        """Check the saved charter against the current dataset (called in a worker)."""
        if charter is None:
            self.post_message(DataChecked(None))
            return
        from app.services import browse

        store = self.mlwb.store
        current = browse.current_dataset(store)
        if current is None:
            self.post_message(DataChecked(None))
            return
        problems = charter_service.check_against_data(store, charter)
        self.post_message(DataChecked((current.ref, problems)))

    def on_data_checked(self, message: DataChecked) -> None:
        box = self.query_one("#charter-data", Static)
        if message.result is None:
            box.update("No data yet: the target and time column are checked once data exists.")
            box.set_class(False, "-problems")
            return
        ref, problems = message.result
        if problems:
            box.update(
                f"Against {ref}:\n"
                + "\n".join(f"• {f}: {m}" for f, m in problems)
                + "\nClean the data (stage 2) or correct the charter."
            )
        else:
            box.update(f"Against {ref}: target and time column found. ✓")
        box.set_class(bool(problems), "-problems")

    def on_charter_loaded(self, message: CharterLoaded) -> None:
        self.current = message.current
        self.project_name = message.project_name
        if message.current:
            self.fill(message.current.charter)
        else:
            self.fill(None)
        self.refresh_checks()

    def fill(self, charter: Charter | None) -> None:
        """Put ``charter`` into the form (an empty form for None)."""
        self._filling = True
        try:
            c = charter
            self.query_one("#f-name", Input).value = c.name if c else self.project_name
            self.query_one("#f-objective", TextArea).text = c.objective if c else ""
            self.query_one("#f-decision", Input).value = c.decision if c else ""
            self.query_one("#f-stakeholders", Input).value = ", ".join(c.stakeholders) if c else ""
            task = self.query_one("#f-task", Select)
            if c:
                task.value = c.task.value
            else:
                task.clear()
            self._set_metric_options(c.task if c else None, c.primary_metric if c else None)
            self.query_one("#f-target", Input).value = c.target if c else ""
            self.query_one("#f-positive_class", Input).value = (c.positive_class or "") if c else ""
            self.query_one("#f-time_column", Input).value = (c.time_column or "") if c else ""
            self.query_one("#f-threshold", Input).value = f"{c.threshold:g}" if c else ""
            self.query_one("#f-explainable", Checkbox).value = c.explainable if c else False
            self.constraints = [x.model_dump() for x in c.constraints] if c else []
            self._draw_constraints()
            self.query_one("#f-data_sources", TextArea).text = _sources_text(c) if c else ""
            b = c.budget if c else None
            self.query_one("#f-budget_hours", Input).value = (
                f"{b.time_hours:g}" if b and b.time_hours is not None else ""
            )
            self.query_one("#f-budget_cost", Input).value = (
                f"{b.cost:g}" if b and b.cost is not None else ""
            )
            self.query_one("#f-currency", Input).value = b.currency if b else ""
            self.query_one("#f-notes", TextArea).text = c.notes if c else ""
            self.query_one("#f-save_note", Input).value = ""
        finally:
            self._filling = False
        self._touched.clear()
        self._show_all = False
        self.call_after_refresh(self.refresh_checks)

    def _set_metric_options(self, task: TaskType | None, keep: str | None = None) -> None:
        select = self.query_one("#f-primary_metric", Select)
        cmetric = self.query_one("#c-metric", Select)
        if task is None:
            select.set_options([])
            cmetric.set_options([])
            return
        options = [(f"{m.label} ({m.name})", m.name) for m in metrics_for(task)]
        current = keep if keep is not None else select.value
        select.set_options(options)
        if current in {value for _, value in options}:
            select.value = current
        cmetric.set_options([(m.name, m.name) for m in metrics_for(task, include_latency=True)])
        self.query_one("#f-positive_class", Input).disabled = task is not TaskType.BINARY

    def _draw_constraints(self) -> None:
        table = self.query_one("#constraints", DataTable)
        table.clear()
        for item in self.constraints:
            spec = METRICS.get(item["metric"])
            table.add_row(
                item["metric"],
                item["bound"],
                f"{item['value']:g}",
                spec.label if spec else "unknown metric",
            )

    # -- reading and checking the form -----------------------------------------------------

    def collect(self) -> tuple[Charter | None, list[Problem]]:
        """The form as a validated charter, or the problems that stop it."""
        problems: list[Problem] = []
        task = self.query_one("#f-task", Select).value
        metric = self.query_one("#f-primary_metric", Select).value
        data: dict[str, Any] = {
            "name": self.query_one("#f-name", Input).value,
            "objective": self.query_one("#f-objective", TextArea).text.strip(),
            "decision": self.query_one("#f-decision", Input).value,
            "stakeholders": self.query_one("#f-stakeholders", Input).value,
            "target": self.query_one("#f-target", Input).value,
            "time_column": self.query_one("#f-time_column", Input).value,
            "explainable": self.query_one("#f-explainable", Checkbox).value,
            "constraints": list(self.constraints),
            "data_sources": _parse_sources(self.query_one("#f-data_sources", TextArea).text),
            "notes": self.query_one("#f-notes", TextArea).text.strip(),
        }
        if task is not Select.NULL:
            data["task"] = task
            if task == TaskType.BINARY.value:
                data["positive_class"] = self.query_one("#f-positive_class", Input).value
        if metric is not Select.NULL:
            data["primary_metric"] = metric
        budget: dict[str, Any] = {"currency": self.query_one("#f-currency", Input).value.strip()}
        numbers = (
            ("threshold", "#f-threshold", "threshold"),
            ("time_hours", "#f-budget_hours", "budget"),
            ("cost", "#f-budget_cost", "budget"),
        )
        for key, selector, slot in numbers:
            raw = self.query_one(selector, Input).value
            try:
                value = _number(raw)
            except ValueError:
                problems.append((slot, f"{raw!r} is not a number"))
                continue
            if key == "threshold":
                if value is not None:
                    data["threshold"] = value
            elif value is not None:
                budget[key] = value
        data["budget"] = budget
        try:
            charter = parse_charter(data)
        except ValidationFailed as exc:
            known = {p[0] for p in problems}
            problems.extend(p for p in exc.problems if p[0] not in known or p[0] == "")
            return None, problems
        if problems:
            return None, problems
        return charter, []

    def refresh_checks(self) -> None:
        """Validate the whole form and show messages next to the fields."""
        charter, problems = self.collect()
        by_slot: dict[str, list[str]] = {}
        for field, message in problems:
            slot = _slot(field)
            if field.startswith("constraints["):
                index = int(field[len("constraints[") : field.index("]")])
                if index < len(self.constraints):
                    message = f"{self.constraints[index]['metric']}: {message}"
            if field.startswith("budget."):
                message = f"{field.removeprefix('budget.')} {message}"
            by_slot.setdefault(slot, []).append(message)
        for slot in ERROR_SLOTS:
            label = self.query_one(f"#err-{slot}", Static)
            shown = by_slot.get(slot) if (self._show_all or slot in self._touched) else None
            label.update("\n".join(shown) if shown else "")
            label.display = bool(shown)
        self._update_side(charter, problems)
        self._update_metric_hint()

    def _update_metric_hint(self) -> None:
        metric = self.query_one("#f-primary_metric", Select).value
        hint = self.query_one("#metric-hint", Static)
        spec = METRICS.get(str(metric)) if metric is not Select.NULL else None
        hint.update(
            f"success when {spec.name} {spec.default_bound} threshold; range {spec.range_text()}. "
            f"{spec.description}"
            if spec
            else ""
        )

    def _update_side(self, charter: Charter | None, problems: list[Problem]) -> None:
        state = self.query_one("#charter-state", Static)
        if self.current is None:
            head = "No charter saved yet."
        else:
            head = f"Version {self.current.version}, saved {self.current.saved_at:%Y-%m-%d %H:%M}."
        dirty = self.is_dirty(charter)
        state.update(head + ("\nUnsaved changes." if dirty else "\nNo unsaved changes."))
        box = self.query_one("#charter-problems", Static)
        if problems:
            box.update(
                f"{len(problems)} problem(s) to fix before saving:\n"
                + "\n".join(f"• {f or 'charter'}: {m}" for f, m in problems[:8])
            )
        else:
            box.update("The form is valid." + (" Save with ctrl+s." if dirty else ""))
        box.set_class(bool(problems), "-problems")

    def is_dirty(self, charter: Charter | None) -> bool:
        """Whether the form differs from the saved charter."""
        if self.current is None:
            return True
        return charter is None or charter != self.current.charter

    def _touch(self, widget: Widget | None) -> None:
        if self._filling or widget is None or not widget.id:
            return
        name = widget.id.removeprefix("f-")
        if name in ("budget_hours", "budget_cost", "currency"):
            name = "budget"
        self._touched.add(name)
        self.refresh_checks()

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self, event: Input.Changed | TextArea.Changed | Checkbox.Changed) -> None:
        widget = event.control
        if widget is not None and widget.id and widget.id.startswith("f-"):
            self._touch(widget)

    @on(Select.Changed, "#f-task")
    def _task_changed(self, event: Select.Changed) -> None:
        if self._filling:
            return
        task = TaskType(event.value) if event.value is not Select.NULL else None
        self._set_metric_options(task)
        self._touch(event.control)

    @on(Select.Changed, "#f-primary_metric")
    def _metric_changed(self, event: Select.Changed) -> None:
        self._touch(event.control)

    # -- constraints -----------------------------------------------------------------------

    @on(Button.Pressed, "#c-add")
    @on(Input.Submitted, "#c-value")
    def add_constraint(self) -> None:
        """Add the constraint typed in the row below the table."""
        metric = self.query_one("#c-metric", Select).value
        bound = self.query_one("#c-bound", Select).value
        raw = self.query_one("#c-value", Input).value
        error = self.query_one("#err-constraints", Static)
        if metric is Select.NULL:
            error.update("choose the task first, then a metric for the constraint")
            error.display = True
            return
        try:
            value = _number(raw)
        except ValueError:
            value = None
        if value is None:
            error.update(f"enter a number for the {metric} bound")
            error.display = True
            self.query_one("#c-value", Input).focus()
            return
        self.constraints.append({"metric": str(metric), "bound": str(bound), "value": value})
        self.query_one("#c-value", Input).value = ""
        self._draw_constraints()
        self._touched.add("constraints")
        self.refresh_checks()

    @on(Button.Pressed, "#c-remove")
    def remove_constraint(self) -> None:
        """Remove the highlighted constraint."""
        table = self.query_one("#constraints", DataTable)
        if not self.constraints:
            self.notify("There are no constraints to remove.")
            return
        row = min(max(table.cursor_row, 0), len(self.constraints) - 1)
        removed = self.constraints.pop(row)
        self._draw_constraints()
        self._touched.add("constraints")
        self.refresh_checks()
        self.notify(
            f"Removed {removed['metric']} {removed['bound']} {removed['value']:g}", markup=False
        )

    def on_key(self, event: Any) -> None:
        if event.key == "delete" and self.focused is self.query_one("#constraints", DataTable):
            self.remove_constraint()
            event.stop()

    # -- saving ----------------------------------------------------------------------------

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Validate, confirm, then save the form as a new charter version."""
        charter, problems = self.collect()
        if charter is None:
            self._show_all = True
            self.refresh_checks()
            self.notify(
                f"Not saved: {len(problems)} problem(s). Fix the fields marked in red.",
                severity="error",
                markup=False,
            )
            self._focus_first(problems)
            return
        if not self.is_dirty(charter):
            assert self.current is not None
            self.notify(f"Nothing to save: the form equals version {self.current.version}.")
            return
        number = (self.current.version if self.current else 0) + 1
        detail = self._changes_text(charter)
        note = self.query_one("#f-save_note", Input).value.strip()

        def answered(yes: bool | None) -> None:
            if yes:
                self.save_charter(charter, note)

        self.app.push_screen(ConfirmModal(f"Save charter version {number}?", detail), answered)

    def _changes_text(self, charter: Charter) -> str:
        after = charter.model_dump(mode="json")
        before = self.current.charter.model_dump(mode="json") if self.current else {}
        lines = []
        for key, value in after.items():
            if before.get(key) != value:
                shown = value if not isinstance(value, list | dict) else _short(value)
                lines.append(f"{key}: {shown}")
        return "Changed fields:\n" + "\n".join(lines) if lines else ""

    def _focus_first(self, problems: list[Problem]) -> None:
        for field, _ in problems:
            slot = _slot(field)
            for selector in (
                f"#f-{slot}",
                "#c-metric" if slot == "constraints" else "",
                "#f-budget_hours" if slot == "budget" else "",
            ):
                if selector and self.query(selector):
                    self.query_one(selector).focus()
                    return

    @work(thread=True, exclusive=True, group="charter", exit_on_error=False)
    def save_charter(self, charter: Charter, note: str) -> None:
        """Store the charter off the UI thread; failures reach the error modal."""
        saved = charter_service.save_charter(self.mlwb.store, charter, note)
        self.post_message(CharterSaved(saved))
        self._check_data(saved.charter)

    def on_charter_saved(self, message: CharterSaved) -> None:
        self.current = message.saved
        self.query_one("#f-save_note", Input).value = ""
        self._show_all = False
        self.refresh_checks()
        self.notify(
            f"Charter version {message.saved.version} saved: {message.saved.charter.primary_text()}",
            title="Saved",
            markup=False,
        )
        self.mlwb.refresh_status()

    # -- history ---------------------------------------------------------------------------

    @on(Button.Pressed, "#history")
    def action_history(self) -> None:
        """Show every saved version; one can be loaded back into the form."""

        def chosen(version: CharterVersion | None) -> None:
            if version is not None:
                self.fill(version.charter)
                self._show_all = True
                self.refresh_checks()
                self.notify(
                    f"Version {version.version} loaded into the form; save to make it current.",
                    markup=False,
                )

        self.app.push_screen(CharterHistoryModal(self.mlwb.store), chosen)

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Save charter", "Save the form as a new charter version", self.action_save
        )
        yield SystemCommand(
            "Charter history", "List and load earlier charter versions", self.action_history
        )
        yield SystemCommand(
            "Revert charter form",
            "Discard unsaved edits",
            lambda: self.fill(self.current.charter if self.current else None),
        )


def _short(value: Any) -> str:
    if isinstance(value, list):
        return (
            "; ".join(
                (
                    f"{v['metric']} {v['bound']} {v['value']:g}"
                    if isinstance(v, dict) and "metric" in v
                    else str(v.get("name", v))
                    if isinstance(v, dict)
                    else str(v)
                )
                for v in value
            )
            or "(none)"
        )
    return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, ""))
