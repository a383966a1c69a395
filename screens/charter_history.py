"""The charter history: every saved version, readable, and loadable back into the form."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label, Static
from textual.worker import Worker, WorkerState

from app.domain.project import CharterVersion
from app.services import problem as charter_service
from storage.db import ProjectStore


@dataclass
class HistoryLoaded(Message):
    """Charter versions read from the store, newest first."""

    versions: list[CharterVersion]


class CharterHistoryModal(ModalScreen[CharterVersion | None]):
    """Lists charter versions; enter or ``l`` loads the highlighted one into the form."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="history.close"),
        Binding("l", "load", "Load into form", id="history.load"),
    ]

    def __init__(self, store: ProjectStore) -> None:
        super().__init__(classes="modal")
        self.store = store
        self.versions: list[CharterVersion] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="history-dialog", classes="dialog"):
            yield Label("Charter history", classes="dialog-title")
            with Horizontal(id="history-panes"):
                yield DataTable(id="history-table", cursor_type="row")
                with VerticalScroll(id="history-detail-box"):
                    yield Static("Reading…", id="history-detail", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Load into form (l)", id="load", variant="primary", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("ver", "saved", "success", "note")
        table.loading = True
        self.read_history()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def read_history(self) -> None:
        """Read all versions off the UI thread."""
        self.post_message(HistoryLoaded(charter_service.charter_history(self.store)))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.versions = message.versions
        table = self.query_one(DataTable)
        table.loading = False
        for v in self.versions:
            table.add_row(
                f"v{v.version}", f"{v.saved_at:%Y-%m-%d %H:%M}", v.charter.primary_text(), v.note
            )
        if not self.versions:
            self.query_one("#history-detail", Static).update("No charter has been saved yet.")
        table.focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.app.report_worker_error(event.worker)  # type: ignore[attr-defined]

    @on(DataTable.RowHighlighted)
    def _show(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.versions):
            version = self.versions[event.cursor_row]
            self.query_one("#history-detail", Static).update(
                charter_service.describe_charter(version)
            )

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_load()

    def action_load(self) -> None:
        """Return the highlighted version to the form."""
        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self.versions):
            self.dismiss(self.versions[row])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "load":
            self.action_load()
        else:
            self.dismiss(None)
