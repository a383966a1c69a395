"""Stage 2: import, browse and clean data with a previewable, undoable recipe."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from app.domain.dataset import ColumnRole, ColumnSummary, DatasetVersion
from app.domain.recipe import StepBase, parse_step
from app.domain.stages import Stage
from app.errors import MlwbError
from screens.base import StageScreen
from screens.import_dialog import ImportDialog, ImportRequest
from screens.modals import ConfirmModal
from screens.step_dialog import StepDialog
from screens.widgets.page_grid import PageGrid
from screens.widgets.progress_panel import ProgressPanel, ProgressReported

PAGE = 100


@dataclass
class DatasetLoaded(Message):
    """The current dataset version, its columns and recipe (None before any import)."""

    version: DatasetVersion | None
    summaries: list[ColumnSummary] = field(default_factory=list)
    versions: list[DatasetVersion] = field(default_factory=list)


@dataclass
class PageLoaded(Message):
    """One page of rows as cell strings, and the total row count under the current filter."""

    columns: list[str]
    rows: list[list[str]]
    offset: int
    total: int


@dataclass
class SuggestionsReady(Message):
    """Detected issues, each with a ready step."""

    suggestions: list[Any]


@dataclass
class RoleChanged(Message):
    """A column's role was stored."""

    column: str
    role: ColumnRole


@dataclass
class DataChanged(Message):
    """An import or a recipe change made a new current version."""

    version: DatasetVersion
    what: str


class DataScreen(StageScreen):
    """Browse the current dataset version, act on suggestions, edit the recipe."""

    stage = Stage.DATA

    BINDINGS = [
        Binding(
            "i", "import_file", "Import", tooltip="Import a file as a new dataset", id="data.import"
        ),
        Binding(
            "a", "add_step", "Add step", tooltip="Add a cleaning step (previewed)", id="data.add"
        ),
        Binding("u", "undo", "Undo", tooltip="Return to the parent version", id="data.undo"),
        Binding("right_square_bracket", "page(1)", "Next page", show=False, id="data.next"),
        Binding("left_square_bracket", "page(-1)", "Prev page", show=False, id="data.prev"),
        Binding(
            "s",
            "sort",
            "Sort",
            tooltip="Sort by the highlighted column",
            show=False,
            id="data.sort",
        ),
        Binding(
            "slash",
            "filter",
            "Filter",
            tooltip="Filter rows with an expression",
            show=False,
            id="data.filter",
        ),
        Binding("g", "goto", "Go to row", show=False, id="data.goto"),
        Binding("o", "role", "Role", tooltip="Cycle the column's role", show=False, id="data.role"),
        Binding("t", "tab('tab-table')", "Table", show=False, id="data.tab_table"),
        Binding(
            "f", "tab('tab-suggest')", "Fixes", tooltip="Suggested fixes", id="data.tab_suggest"
        ),
        Binding(
            "r", "tab('tab-recipe')", "Recipe", tooltip="The recipe's steps", id="data.tab_recipe"
        ),
        Binding("escape", "cancel_work", "Cancel", show=False, id="data.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__(name="data")
        self.version: DatasetVersion | None = None
        self.summaries: list[ColumnSummary] = []
        self.suggestions: list[Any] = []
        self.row_offset = 0
        self.total = 0
        self.order_by: str | None = None
        self.descending = False
        self.where: str | None = None
        self._pending_fix: tuple[StepBase, str] | None = None
        self._goto_row: int | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="data-body", classes="stage-body"):
            yield Static("Reading the project…", id="dataset-line", markup=False)
            with TabbedContent(id="data-tabs"):
                with TabPane("Table (t)", id="tab-table"):
                    with Horizontal(id="grid-area"):
                        yield PageGrid(id="grid")
                        with VerticalScroll(id="column-panel"):
                            yield Static("", id="column-info", markup=False)
                    with Horizontal(id="grid-bar"):
                        yield Static("", id="grid-status", markup=False)
                        yield Input(id="grid-input", compact=True)
                with TabPane("Suggestions (f)", id="tab-suggest"):
                    yield DataTable(id="suggestions", cursor_type="row")
                    yield Static("", id="suggestion-detail", markup=False)
                    yield Static(
                        "enter: preview the fix and apply it · the list refreshes after each change",
                        classes="form-hint tab-hint",
                        markup=False,
                    )
                with TabPane("Recipe (r)", id="tab-recipe"):
                    yield DataTable(id="steps", cursor_type="row")
                    yield Static(
                        "enter: edit · delete: remove · ctrl+up/down: move · the recipe re-runs "
                        "from the raw import",
                        classes="form-hint tab-hint",
                        markup=False,
                    )
            yield ProgressPanel(id="data-progress")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#grid-input", Input).display = False
        self.query_one("#suggestions", DataTable).add_columns("level", "kind", "issue")
        self.query_one("#steps", DataTable).add_columns("#", "step", "replays at prediction")
        self.load_dataset()

    # -- loading ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="data-load")
    def load_dataset(self) -> None:
        """Read the current version, its column summaries and lineage."""
        from app.services import browse

        store = self.mlwb.store
        version = browse.current_dataset(store)
        if version is None:
            self.post_message(DatasetLoaded(None))
            return
        summaries = browse.column_summary(store, version.name, version.version)
        versions = browse.list_versions(store, version.name)
        self.post_message(DatasetLoaded(version, summaries, versions))

    def on_dataset_loaded(self, message: DatasetLoaded) -> None:
        self.version = message.version
        self.summaries = message.summaries
        line = self.query_one("#dataset-line", Static)
        if message.version is None:
            line.update(
                "No dataset yet. Press i to import a CSV, Parquet, JSON, DuckDB or SQLite file."
            )
            return
        v = message.version
        lineage = f"from v{v.parent_version}" if v.parent_version else "raw import"
        line.update(
            f"{v.name} v{v.version} ({lineage}) · {v.n_rows:,} rows × {v.n_cols} cols · "
            f"{len(v.recipe)} step(s) · {len(message.versions)} version(s)"
        )
        self.row_offset = 0
        grid = self.query_one("#grid", PageGrid)
        grid.clear()
        if self.focused is None or type(self.focused).__name__ in ("Tabs", "ContentTabs"):
            grid.focus()
        self._show_recipe()
        self.load_page()
        self.load_suggestions()
        pending, self._pending_fix = self._pending_fix, None
        if pending is not None:
            self.action_add_step(pending[0], title=pending[1])

    @work(thread=True, exclusive=True, exit_on_error=False, group="data-page")
    def load_page(self) -> None:
        """Fetch one page of rows (one open of the project without a filter) as cell strings."""
        from app.services import browse

        v = self.version
        if v is None:
            return
        store = self.mlwb.store
        where, offset, order_by, descending = (
            self.where,
            self.row_offset,
            self.order_by,
            self.descending,
        )
        total = browse.row_count(store, v.name, v.version, where=where) if where else v.n_rows
        frame = browse.page(
            store,
            v.name,
            v.version,
            offset=offset,
            limit=PAGE,
            order_by=order_by,
            descending=descending,
            where=where,
        )
        arrow = " ↓" if descending else " ↑"
        columns = [f"{name}{arrow}" if name == order_by else name for name in frame.columns]
        rows = [[_cell(value) for value in row] for row in frame.iter_rows()]
        self.post_message(PageLoaded(columns, rows, offset, total))

    def on_page_loaded(self, message: PageLoaded) -> None:
        grid = self.query_one("#grid", PageGrid)
        self.total = message.total
        labels = [str(n) for n in range(message.offset + 1, message.offset + len(message.rows) + 1)]
        grid.set_page(message.columns, message.rows, labels)
        if self._goto_row is not None:
            grid.move_cursor(row=self._goto_row - message.offset)
            self._goto_row = None
        last = min(message.offset + PAGE, message.total)
        pages = max(1, -(-message.total // PAGE))
        parts = [
            f"rows {message.offset + 1 if message.total else 0:,}–{last:,} of {message.total:,}",
            f"page {message.offset // PAGE + 1}/{pages}",
            "[ ] pages · g row · s sort · / filter",
        ]
        if self.where:
            parts.insert(1, f"filter: {self.where}")
        self.query_one("#grid-status", Static).update(" · ".join(parts))
        self._show_column()

    @work(thread=True, exclusive=True, exit_on_error=False, group="data-suggest")
    def load_suggestions(self) -> None:
        """Detect data issues on the current version."""
        from app.services import cleaning

        v = self.version
        if v is None:
            return
        self.post_message(
            SuggestionsReady(cleaning.suggestions(self.mlwb.store, v.name, v.version))
        )

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        self.suggestions = message.suggestions
        table = self.query_one("#suggestions", DataTable)
        table.clear()
        for s in self.suggestions:
            table.add_row(s.severity, s.kind.replace("_", " "), s.message)
        self._show_suggestion(0)
        tabs = self.query_one("#data-tabs", TabbedContent)
        tabs.get_tab("tab-suggest").label = f"Suggestions: {len(self.suggestions)} (f)"  # type: ignore[assignment]

    @on(DataTable.RowHighlighted, "#suggestions")
    def _suggestion_moved(self, event: DataTable.RowHighlighted) -> None:
        self._show_suggestion(event.cursor_row)

    def _show_suggestion(self, index: int) -> None:
        detail = self.query_one("#suggestion-detail", Static)
        if not 0 <= index < len(self.suggestions):
            detail.update("No suggestions: nothing obvious to fix." if not self.suggestions else "")
            return
        s = self.suggestions[index]
        evidence = ", ".join(f"{k}={v}" for k, v in list(s.evidence.items())[:6])
        fix = s.step.describe() if s.step is not None else "no automatic fix: look, then decide"
        detail.update(f"{s.message}\nfix: {fix}\nevidence: {evidence}")

    def _show_recipe(self) -> None:
        table = self.query_one("#steps", DataTable)
        table.clear()
        if self.version is None:
            return
        tabs = self.query_one("#data-tabs", TabbedContent)
        tabs.get_tab("tab-recipe").label = f"Recipe: {len(self.version.recipe)} (r)"  # type: ignore[assignment]
        for number, raw in enumerate(self.version.recipe, start=1):
            step = parse_step(raw)
            table.add_row(
                str(number), step.describe(), "yes" if step.rowwise else "no (training only)"
            )

    # -- column panel ----------------------------------------------------------------------

    @on(PageGrid.CellHighlighted, "#grid")
    def _column_moved(self) -> None:
        self._show_column()

    def current_column(self) -> str | None:
        """The name of the highlighted grid column."""
        grid = self.query_one("#grid", PageGrid)
        if not self.summaries or grid.cursor_column >= len(self.summaries):
            return None
        return self.summaries[grid.cursor_column].name

    def _show_column(self) -> None:
        name = self.current_column()
        info = self.query_one("#column-info", Static)
        summary = next((s for s in self.summaries if s.name == name), None)
        if summary is None:
            info.update("")
            return
        lines = [
            summary.name,
            f"type      {summary.type}",
            f"role      {summary.role.value} (o)",
            f"missing   {summary.missing:,} ({summary.missing_pct:.1f} %)",
            f"distinct  {'~' if summary.distinct_approx else ''}{summary.distinct:,}",
        ]
        if summary.min is not None:
            lines += [f"min       {summary.min}", f"max       {summary.max}"]
        if summary.top_values:
            lines.append("top values")
            lines += [f"  {_cell(v)!s:<16} {n:,}" for v, n in summary.top_values[:8]]
        info.update("\n".join(lines))

    # -- paging, sorting, filtering --------------------------------------------------------

    def action_tab(self, pane: str) -> None:
        """Show one of the tabs and focus its table."""
        self.query_one("#data-tabs", TabbedContent).active = pane
        target = {"tab-table": "#grid", "tab-suggest": "#suggestions", "tab-recipe": "#steps"}[pane]
        self.query_one(target).focus()

    def action_page(self, delta: int) -> None:
        """Move one page forward or back."""
        if self.version is None:
            return
        new = max(0, min(self.row_offset + delta * PAGE, max(0, self.total - 1) // PAGE * PAGE))
        if new != self.row_offset:
            self.row_offset = new
            self.load_page()

    def action_sort(self) -> None:
        """Sort by the highlighted column; again to reverse; a third time to clear."""
        name = self.current_column()
        if name is None:
            return
        if self.order_by != name:
            self.order_by, self.descending = name, False
        elif not self.descending:
            self.descending = True
        else:
            self.order_by, self.descending = None, False
        self.row_offset = 0
        self.load_page()  # the grid keeps the cursor's column across pages

    def _ask(self, purpose: str, placeholder: str, value: str = "") -> None:
        box = self.query_one("#grid-input", Input)
        box.placeholder = placeholder
        box.value = value
        box.display = True
        box.focus()
        self._asking = purpose

    def action_filter(self) -> None:
        """Type a filter expression, e.g. age > 40 and sex == 'Female' (empty clears)."""
        self._ask(
            "filter",
            "filter, e.g. age > 40 and workclass == ' Private' (enter; empty clears)",
            self.where or "",
        )

    def action_goto(self) -> None:
        """Jump to a row number."""
        self._ask("goto", "row number (enter)")

    @on(Input.Submitted, "#grid-input")
    def _answered(self, event: Input.Submitted) -> None:
        box = self.query_one("#grid-input", Input)
        box.display = False
        self.query_one("#grid", PageGrid).focus()
        text = event.value.strip()
        if getattr(self, "_asking", "") == "filter":
            self.where = text or None
            self.row_offset = 0
            self.load_page()
        elif text:
            try:
                row = max(1, int(text.replace(",", "").replace("_", "")))
            except ValueError:
                self.notify(f"{text!r} is not a row number", severity="error", markup=False)
                return
            self.row_offset = (row - 1) // PAGE * PAGE
            self._goto_row = row - 1
            self.load_page()

    def action_role(self) -> None:
        """Cycle the highlighted column's role: feature, target, id, time, ignore."""
        name = self.current_column()
        summary = next((s for s in self.summaries if s.name == name), None)
        if summary is None or self.version is None:
            return
        order = list(ColumnRole)
        new = order[(order.index(summary.role) + 1) % len(order)]
        self.set_role(self.version.name, summary.name, new)

    @work(thread=True, exclusive=True, exit_on_error=False, group="data-role")
    def set_role(self, dataset: str, column: str, role: ColumnRole) -> None:
        """Store a column role, then reload the column summaries."""
        from app.services import roles

        roles.set_roles(self.mlwb.store, dataset, {column: role})
        self.post_message(RoleChanged(column, role))

    def on_role_changed(self, message: RoleChanged) -> None:
        self.summaries = [
            s.model_copy(update={"role": message.role})
            if s.name == message.column
            else (
                s.model_copy(update={"role": ColumnRole.FEATURE})
                if message.role is ColumnRole.TARGET and s.role is ColumnRole.TARGET
                else s
            )
            for s in self.summaries
        ]
        self._show_column()
        self.notify(f"{message.column}: role {message.role.value}", markup=False)

    # -- import ------------------------------------------------------------------------------

    def action_import_file(self) -> None:
        """Open the import dialog; the import itself runs here with progress."""

        def chosen(request: ImportRequest | None) -> None:
            if request is not None:
                self.query_one(ProgressPanel).start(f"Importing {request.path.name}")
                self.run_import(request)

        self.app.push_screen(ImportDialog(), chosen)

    def _progress(self, fraction: float, text: str) -> None:
        self.post_message(ProgressReported(fraction, text))

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="data-work", description="Importing"
    )
    def run_import(self, request: ImportRequest) -> None:
        """Import the file as a new dataset (cancellable)."""
        from app.services import ingest

        worker = get_current_worker()
        version = ingest.import_file(
            self.mlwb.store,
            request.path,
            name=request.name,
            options=request.options,
            on_progress=self._progress,
            should_stop=lambda: worker.is_cancelled,
        )
        self.post_message(DataChanged(version, f"Imported {version.ref}: {version.n_rows:,} rows"))

    def on_progress_reported(self, message: ProgressReported) -> None:
        self.query_one(ProgressPanel).report(message.fraction, message.text)

    def action_cancel_work(self) -> None:
        """Cancel an import or a recipe run in progress."""
        if self.query("#grid-input").first().display:
            self.query_one("#grid-input", Input).display = False
            return
        cancelled = self.workers.cancel_group(self, "data-work")
        if cancelled:
            self.notify("Cancelling… the project stays as it was.")

    def on_data_changed(self, message: DataChanged) -> None:
        self.query_one(ProgressPanel).finish()
        self.notify(message.what, title="Data", markup=False)
        self.load_dataset()
        self.mlwb.refresh_status()

    def on_worker_state_changed(self, event: Any) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "data-work" and event.state.name in ("ERROR", "CANCELLED"):
            self.query_one(ProgressPanel).finish()
            if event.state.name == "CANCELLED":
                self.notify("Cancelled; nothing was changed.", markup=False)

    # -- recipe ------------------------------------------------------------------------------

    def _need_data(self) -> bool:
        if self.version is None:
            self.notify("Import a dataset first (i).", severity="warning")
            return False
        return True

    def open_fix(self, step: StepBase, title: str) -> None:
        """Open the step dialog with ``step``, once the current version is known."""
        if self.version is None:
            self._pending_fix = (step, title)
            return
        self.action_add_step(step, title=title)

    def action_add_step(
        self, start: StepBase | None = None, title: str = "Add a cleaning step"
    ) -> None:
        """Open the step dialog on the highlighted column."""
        if not self._need_data():
            return
        assert self.version is not None

        def chosen(step: StepBase | None) -> None:
            if step is not None:
                self.query_one(ProgressPanel).start(f"Applying: {step.describe()}")
                self.run_recipe_change("add", step=step)

        dialog = StepDialog(
            self.mlwb.store,
            (self.version.name, self.version.version),
            start=start,
            column=self.current_column(),
            title=title,
        )
        self.app.push_screen(dialog, chosen)

    @on(DataTable.RowSelected, "#suggestions")
    def _suggestion_chosen(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.suggestions):
            suggestion = self.suggestions[event.cursor_row]
            if suggestion.step is None:
                self.notify(suggestion.message, markup=False)
                return
            self.action_add_step(suggestion.step, title=f"Fix: {suggestion.message}")

    @on(DataTable.RowSelected, "#steps")
    def _step_chosen(self, event: DataTable.RowSelected) -> None:
        if self.version is None or not (0 <= event.cursor_row < len(self.version.recipe)):
            return
        index = event.cursor_row
        start = parse_step(self.version.recipe[index])

        def chosen(step: StepBase | None) -> None:
            if step is not None:
                self.query_one(ProgressPanel).start("Re-running the recipe")
                self.run_recipe_change("replace", step=step, index=index)

        dialog = StepDialog(
            self.mlwb.store,
            (self.version.name, self.version.version),
            start=start,
            title=f"Edit step {index + 1}",
        )
        self.app.push_screen(dialog, chosen)

    def on_key(self, event: Any) -> None:
        steps = self.query_one("#steps", DataTable)
        if self.focused is not steps or self.version is None or not self.version.recipe:
            return
        index = steps.cursor_row
        if event.key == "delete":
            event.stop()
            self._confirm_remove(index)
        elif event.key in ("ctrl+up", "ctrl+down"):
            event.stop()
            delta = -1 if event.key == "ctrl+up" else 1
            if 0 <= index + delta < len(self.version.recipe):
                self.query_one(ProgressPanel).start("Re-running the recipe")
                self.run_recipe_change("move", index=index, delta=delta)

    def _confirm_remove(self, index: int) -> None:
        assert self.version is not None
        step = parse_step(self.version.recipe[index])

        def answered(yes: bool | None) -> None:
            if yes:
                self.query_one(ProgressPanel).start("Re-running the recipe")
                self.run_recipe_change("remove", index=index)

        self.app.push_screen(
            ConfirmModal(
                f"Remove step {index + 1}?",
                f"{step.describe()}\n\nThe recipe re-runs from the raw import as a new version; "
                "older versions stay available.",
                yes="Remove",
            ),
            answered,
        )

    def action_undo(self) -> None:
        """Return to the parent version (nothing is deleted)."""
        if not self._need_data():
            return
        self.query_one(ProgressPanel).start("Undoing")
        self.run_recipe_change("undo")

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="data-work", description="Cleaning"
    )
    def run_recipe_change(
        self, what: str, step: StepBase | None = None, index: int = 0, delta: int = 0
    ) -> None:
        """Apply, replace, move, remove a step or undo: each makes a new current version."""
        from app.services import cleaning

        v = self.version
        if v is None:
            return
        worker = get_current_worker()
        store = self.mlwb.store
        kwargs: dict[str, Any] = {
            "on_progress": self._progress,
            "should_stop": lambda: worker.is_cancelled,
        }
        if what == "add" and step is not None:
            new = cleaning.add_step(store, v.name, step, **kwargs)
            text = f"{step.describe()} → {new.ref}: {new.n_rows:,} rows"
        elif what == "replace" and step is not None:
            new = cleaning.replace_step(store, v.name, index, step, **kwargs)
            text = f"Step {index + 1} changed → {new.ref}"
        elif what == "move":
            new = cleaning.move_step(store, v.name, index, delta, **kwargs)
            text = f"Step {index + 1} moved → {new.ref}"
        elif what == "remove":
            new = cleaning.remove_step(store, v.name, index, **kwargs)
            text = f"Step {index + 1} removed → {new.ref}"
        elif what == "undo":
            new = cleaning.undo(store, v.name)
            text = f"Back to {new.ref}"
        else:
            raise MlwbError(f"unknown recipe change {what!r}")
        self.post_message(DataChanged(new, text))

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Import a file", "Import CSV, Parquet, JSON, DuckDB or SQLite", self.action_import_file
        )
        yield SystemCommand(
            "Add a cleaning step", "Previewed before it is applied", self.action_add_step
        )
        yield SystemCommand("Undo the last step", "Return to the parent version", self.action_undo)
        yield SystemCommand(
            "Filter rows", "Show only rows matching an expression", self.action_filter
        )
        yield SystemCommand("Go to row", "Jump to a row number", self.action_goto)
        yield SystemCommand(
            "Sort by the column", "Sort the table by the highlighted column", self.action_sort
        )
        yield SystemCommand(
            "Change the column's role", "feature, target, id, time, ignore", self.action_role
        )
        yield SystemCommand(
            "Show suggested fixes", "Detected data issues", lambda: self.action_tab("tab-suggest")
        )
        yield SystemCommand(
            "Show the recipe",
            "The steps behind this version",
            lambda: self.action_tab("tab-recipe"),
        )
        yield SystemCommand("Next page", "The next 100 rows", lambda: self.action_page(1))


def _cell(value: Any) -> str:
    if value is None:
        return "∅"
    text = str(value)
    return text if len(text) <= 30 else text[:29] + "…"
