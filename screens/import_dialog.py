"""Import dialog: a path and read options, a preview of what would be imported, then import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from app.domain.dataset import ImportOptions, ImportPreview
from app.errors import MlwbError
from screens.widgets.toggles import Check

ENCODINGS = [("detect", ""), ("UTF-8", "utf-8"), ("Latin-1", "latin-1"), ("UTF-16", "utf-16")]
DECIMALS = [("detect", ""), ("point  1.5", "."), ("comma  1,5", ",")]


@dataclass
class ImportRequest:
    """What the dialog returns: the file, the options and the dataset name."""

    path: Path
    options: ImportOptions
    name: str | None


@dataclass
class PreviewReady(Message):
    """A preview was computed (or failed with ``error``)."""

    preview: ImportPreview | None
    error: str | None


class ImportDialog(ModalScreen[ImportRequest | None]):
    """Choose a file and options, preview, and confirm the import."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="import.cancel"),
        Binding("ctrl+r", "preview", "Preview", id="import.preview"),
        Binding("ctrl+s", "confirm", "Import", id="import.confirm"),
    ]

    def __init__(self, start: str = "") -> None:
        super().__init__(classes="modal")
        self.start = start
        self.preview: ImportPreview | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="import-dialog", classes="dialog"):
            yield Label("Import a file", classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label("File", classes="form-label")
                yield Input(
                    self.start,
                    id="i-path",
                    placeholder="path to .csv .tsv .parquet .json .ndjson .duckdb .sqlite",
                    compact=True,
                )
            with Horizontal(classes="form-row"):
                yield Label("Dataset name", classes="form-label")
                yield Input(id="i-name", placeholder="default: from the file name", compact=True)
            with Horizontal(classes="form-row import-options"):
                yield Label("Delimiter", classes="form-label")
                yield Input(id="i-delimiter", placeholder="detect", compact=True)
                yield Label("Skip rows", classes="small-label")
                yield Input(id="i-skip", placeholder="0", compact=True, restrict=r"\d*")
            with Horizontal(classes="form-row import-options"):
                yield Label("Decimal", classes="form-label")
                yield Select(DECIMALS, id="i-decimal", allow_blank=False, compact=True)
                yield Label("Encoding", classes="small-label")
                yield Select(ENCODINGS, id="i-encoding", allow_blank=False, compact=True)
            with Horizontal(classes="form-row import-options"):
                yield Label("Null markers", classes="form-label")
                yield Input(id="i-nulls", placeholder="e.g. ?,NA,-200", compact=True)
                yield Label("Table", classes="small-label")
                yield Input(id="i-table", placeholder="DuckDB/SQLite", compact=True)
            with Horizontal(classes="form-row import-options"):
                yield Label("", classes="form-label")
                yield Check("no header line", id="i-noheader", compact=True)
                yield Check("skip malformed rows", id="i-ignore", compact=True)
            with VerticalScroll(id="import-preview-box"):
                yield Static(
                    "Type a path and press ctrl+r (Preview) to see what would be imported.",
                    id="import-summary",
                    markup=False,
                )
                yield DataTable(id="import-rows", show_cursor=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Preview (ctrl+r)", id="preview", compact=True)
                yield Button(
                    "Import (ctrl+s)", id="confirm", variant="primary", disabled=True, compact=True
                )
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#i-path", Input).focus()

    def options(self) -> ImportOptions:
        """The options typed in the dialog."""
        raw: dict[str, Any] = {}
        delimiter = self.query_one("#i-delimiter", Input).value
        if delimiter:
            raw["delimiter"] = delimiter
        decimal = self.query_one("#i-decimal", Select).value
        if decimal:
            raw["decimal"] = decimal
        encoding = self.query_one("#i-encoding", Select).value
        if encoding:
            raw["encoding"] = encoding
        skip = self.query_one("#i-skip", Input).value
        if skip:
            raw["skip_rows"] = int(skip)
        nulls = self.query_one("#i-nulls", Input).value
        if nulls.strip():
            raw["null_markers"] = [part.strip() for part in nulls.split(",") if part.strip()]
        table = self.query_one("#i-table", Input).value.strip()
        if table:
            raw["table"] = table
        if self.query_one("#i-noheader", Checkbox).value:
            raw["header"] = False
        raw["ignore_errors"] = self.query_one("#i-ignore", Checkbox).value
        return ImportOptions.model_validate(raw)

    @on(Button.Pressed, "#preview")
    @on(Input.Submitted)
    def action_preview(self) -> None:
        """Compute the preview off the UI thread."""
        path = self.query_one("#i-path", Input).value.strip()
        if not path:
            self._show_error("Type the path of the file to import.")
            return
        try:
            options = self.options()
        except ValueError as exc:
            self._show_error(f"Options: {exc}")
            return
        self.query_one("#import-summary", Static).update(f"Reading {path} …")
        self.query_one("#confirm", Button).disabled = True
        self._compute_preview(Path(path).expanduser(), options)

    @work(thread=True, exclusive=True, exit_on_error=False, group="import-preview")
    def _compute_preview(self, path: Path, options: ImportOptions) -> None:
        from app.services import ingest

        try:
            self.post_message(PreviewReady(ingest.preview_import(path, options), None))
        except MlwbError as exc:
            self.post_message(PreviewReady(None, exc.one_line()))

    def on_preview_ready(self, message: PreviewReady) -> None:
        summary = self.query_one("#import-summary", Static)
        table = self.query_one("#import-rows", DataTable)
        table.clear(columns=True)
        self.preview = message.preview
        if message.error or message.preview is None:
            self._show_error(message.error or "no preview")
            return
        p = message.preview
        opts = p.options.given()
        lines = [
            f"{p.kind.value} · {p.size_bytes:,} bytes"
            + (f" · {p.n_rows:,} rows" if p.n_rows is not None else "")
            + f" · {len(p.columns)} columns",
            "detected: " + (", ".join(f"{k}={v!r}" for k, v in opts.items()) or "defaults"),
            "columns: " + ", ".join(f"{n} {t}" for n, t in p.columns[:30]),
        ]
        if p.tables:
            lines.append("tables: " + ", ".join(p.tables))
        lines += [f"⚠ {w}" for w in p.warnings]
        if p.blocking_error:
            lines.append(f"✗ {p.blocking_error}")
        summary.update("\n".join(lines))
        summary.set_class(bool(p.blocking_error), "-error")
        if p.columns:
            table.add_columns(*[name for name, _ in p.columns])
            for row in p.rows[:20]:
                table.add_row(*[_cell(row.get(name)) for name, _ in p.columns])
        self.query_one("#confirm", Button).disabled = bool(p.blocking_error)

    def _show_error(self, text: str) -> None:
        summary = self.query_one("#import-summary", Static)
        summary.update(f"✗ {text}")
        summary.add_class("-error")
        self.query_one("#confirm", Button).disabled = True

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        """Return the request; the Data screen runs the import with progress."""
        if self.preview is None or self.preview.blocking_error:
            self.notify("Preview the file first (ctrl+r).", severity="warning")
            return
        name = self.query_one("#i-name", Input).value.strip() or None
        self.dismiss(ImportRequest(Path(self.preview.path), self.options(), name))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.app.report_worker_error(event.worker)  # type: ignore[attr-defined]


def _cell(value: Any) -> str:
    text = "∅" if value is None else str(value)
    return text if len(text) <= 40 else text[:39] + "…"
