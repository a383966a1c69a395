"""Stage 7: new batches scored by the production bundle and compared with its training
baseline: a timeline of batches, the drift of each feature, contract breaks, and the
recommendation with the user's decision.

Whether a version is in production shows at once (read through the storage layer); the
batches' reports are parsed in a worker. Adding a batch (``a``), joining late labels (``l``)
and recording a decision (``d``) each run one monitoring-service call in a thread worker
(``screens.monitor_runner``); esc stops a batch being added, and a stopped or failed batch
stores nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual.widgets.data_table import ColumnKey

from app.domain.stages import Stage
from screens.monitor_data import (
    FEATURE_COLUMNS,
    FEATURE_LABELS,
    STATUS_WORD,
    TIMELINE_COLUMNS,
    TIMELINE_LABELS,
    VIOLATION_COLUMNS,
    feature_detail,
    feature_row,
    metric_header,
    read_batches,
    read_overview,
    recommendation_head,
    recommendation_text,
    shadow_lines,
    share,
    timeline_row,
    violation_row,
    violation_summary,
)
from screens.monitor_messages import (
    BatchAdded,
    BatchesRead,
    BatchUpdated,
    OverviewRead,
    ShadowLinesRead,
)
from screens.monitor_plots import MonitorPlot
from screens.monitor_runner import MonitorRunner
from screens.widgets.progress_panel import ProgressPanel

if TYPE_CHECKING:
    from app.domain.drift import FeatureDrift
    from app.domain.monitor import MonitorBatch

TABS = {
    "tab-timeline": "#batch-table",
    "tab-features": "#feature-table",
    "tab-violations": "#violation-table",
    "tab-recommendation": "#recommendation-box",
}
BATCH_ACTIONS = {"add_labels", "decide", "tab", "next_view"}


class MonitorScreen(MonitorRunner):
    """Timeline, features with overlay plot, violations, recommendation and decision."""

    stage = Stage.MONITOR

    SCOPED_CSS = False  # the rules follow the app's -narrow / -wide breakpoint classes
    DEFAULT_CSS = """
    #monitor-line { height: auto; padding: 0 1; background: $panel; }
    #monitor-tabs { height: 1fr; }
    #monitor-tabs TabPane { padding: 0; }
    #batch-table { height: auto; max-height: 50%; }
    #trend-plot { height: 1fr; min-height: 8; }
    #feature-head { height: auto; padding: 0 1; color: $text-muted; }
    #features-main { height: 1fr; }
    #feature-table { width: auto; max-width: 65%; height: 1fr; }
    #overlay-box { width: 1fr; height: 1fr; border-left: vkey $panel; }
    #overlay-plot { height: 1fr; min-height: 8; }
    #feature-detail-box { height: auto; max-height: 12; padding: 0 1; }
    .-narrow #features-main { layout: vertical; }
    .-narrow #feature-table { width: 1fr; max-width: 100%; height: auto; max-height: 35%; }
    .-narrow #overlay-box { border-left: none; border-top: hkey $panel; }
    .-narrow #feature-detail-box { max-height: 3; }
    .-narrow #overlay-plot { min-height: 6; }
    #violation-table.-empty { display: none; }
    #violation-summary { height: auto; padding: 0 1; }
    #violation-table { height: 1fr; }
    #recommendation-box { height: 1fr; padding: 0 1; }
    #rec-head { text-style: bold; color: $success; margin-bottom: 1; }
    #rec-head.-alert { color: $error; }
    #rec-head.-warn { color: $warning; }
    """

    BINDINGS = [
        Binding(
            "a", "add_batch", "Add batch", tooltip="Score and check a new batch file", id="mon.add"
        ),
        Binding(
            "l", "add_labels", "Labels", tooltip="Join late labels to the batch", id="mon.labels"
        ),
        Binding(
            "d", "decide", "Decide", tooltip="Record retrain / inspect / accept", id="mon.decide"
        ),
        Binding("v", "next_view", "View", tooltip="Next view", id="mon.view"),
        Binding("escape", "cancel_add", "Cancel", tooltip="Stop adding the batch", id="mon.cancel"),
        Binding("t", "tab('tab-timeline')", "Timeline", show=False, id="mon.tab_timeline"),
        Binding("f", "tab('tab-features')", "Features", show=False, id="mon.tab_features"),
        Binding("c", "tab('tab-violations')", "Violations", show=False, id="mon.tab_violations"),
        Binding("r", "tab('tab-recommendation')", "Recommendation", show=False, id="mon.tab_rec"),
    ]

    def __init__(self) -> None:
        super().__init__(name=Stage.MONITOR.value)
        self.batches: list[MonitorBatch] | None = None
        self.selected: int | None = None
        """The highlighted batch's id."""
        self.feature: str | None = None
        """The highlighted feature of that batch."""
        self.shadow_lines: dict[int, str] = {}
        """Batch id -> its worded shadow result (read after the batches)."""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="monitor-body", classes="stage-body"):
            yield Static("Reading the project…", id="monitor-state", classes="state-box")
            yield Static("", id="monitor-line", markup=False)
            with TabbedContent(id="monitor-tabs"):
                with TabPane("Timeline (t)", id="tab-timeline"):
                    yield DataTable(id="batch-table", cursor_type="row", zebra_stripes=True)
                    yield MonitorPlot(id="trend-plot")
                with TabPane("Features (f)", id="tab-features"):
                    yield Static("", id="feature-head", markup=False)
                    with Horizontal(id="features-main"):
                        yield DataTable(id="feature-table", cursor_type="row", zebra_stripes=True)
                        with Vertical(id="overlay-box"):
                            yield MonitorPlot(id="overlay-plot")
                            with VerticalScroll(id="feature-detail-box"):
                                yield Static("", id="feature-detail", markup=False)
                with TabPane("Violations (c)", id="tab-violations"):
                    yield Static("", id="violation-summary", markup=False)
                    yield DataTable(id="violation-table", cursor_type="row", zebra_stripes=True)
                with TabPane("Recommendation (r)", id="tab-recommendation"):
                    with VerticalScroll(id="recommendation-box"):
                        yield Static("", id="rec-head", markup=False)
                        yield Static("", id="recommendation", markup=False)
            yield ProgressPanel(id="monitor-progress")

    def on_mount(self) -> None:
        super().on_mount()
        for table_id, columns, labels in (
            ("#batch-table", TIMELINE_COLUMNS, TIMELINE_LABELS),
            ("#feature-table", FEATURE_COLUMNS, FEATURE_LABELS),
            ("#violation-table", VIOLATION_COLUMNS, {}),
        ):
            table = self.query_one(table_id, DataTable)
            for name in columns:
                table.add_column(labels.get(name, name), key=name)
        self._show_content(False)
        self.load()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load()

    # -- reading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the production version and the batches again (off the UI thread)."""
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor-read")
    def _read(self) -> None:
        with self.read_lock:
            overview = read_overview(self.mlwb.store)
            self.post_message(OverviewRead(overview))
            if overview.n_batches:
                batches = read_batches(self.mlwb.store)
                self.post_message(BatchesRead(batches))
                lines = shadow_lines(batches)  # after the batches show: it may import seconds
                if lines:
                    self.post_message(ShadowLinesRead(lines))

    def on_overview_read(self, message: OverviewRead) -> None:
        self.overview = o = message.overview
        box = self.query_one("#monitor-state", Static)
        kind = "-done"
        if o.production is None:
            kind = "-locked"
            made = (
                f"{o.n_versions} bundle version(s) registered, none"
                if o.n_versions
                else "No bundle is"
            )
            box.update(
                f"{made} in production: there is nothing to monitor with yet.\n"
                "Monitoring scores each new batch with the production bundle and compares it "
                "with that bundle's training baseline.\n"
                "Go to Deploy (6): build a bundle (b), then promote it (p)."
            )
        elif not o.n_batches:
            kind = "-current"
            box.update(
                f"v{o.production} is in production. No batches yet.\n"
                "Press a to add a batch file (CSV, Parquet or NDJSON), or from a shell: "
                "mlwb monitor add FILE [--label-column C] [--key ID]."
            )
        for name in ("-locked", "-current", "-done"):
            box.set_class(name == kind, name)
        if not o.n_batches:
            self.batches = []
            self._show_content(False)
        elif not self.batches:
            self.query_one("#monitor-line", Static).update(f"Reading {o.n_batches} batch(es)…")
            self.query_one("#monitor-line").display = True
            box.display = False
        self.refresh_bindings()

    def on_batches_read(self, message: BatchesRead) -> None:
        first = not self.query_one("#monitor-tabs").display
        self.batches = message.batches
        self._show_content(bool(message.batches))
        if first and message.batches:
            tabs = self.query_one("#monitor-tabs", TabbedContent)
            self.query_one(TABS.get(tabs.active, "#batch-table")).focus()
        if message.batches:
            self._fill_timeline()
        self.refresh_bindings()

    def on_shadow_lines_read(self, message: ShadowLinesRead) -> None:
        self.shadow_lines = message.lines
        batch = self.selected_batch()
        if batch is not None and batch.id in message.lines:
            self._show_recommendation(batch)

    def _show_content(self, shown: bool) -> None:
        self.query_one("#monitor-state").display = not shown
        self.query_one("#monitor-line").display = shown
        self.query_one("#monitor-tabs").display = shown

    # -- timeline ----------------------------------------------------------------------------

    def _status_text(self, status: str) -> Text:
        theme = self.app.theme_variables
        color = {"ok": theme["success"], "warn": theme["warning"], "alert": theme["error"]}
        return Text(STATUS_WORD[status], style=f"bold {color[status]}")

    def _fill_timeline(self) -> None:
        batches = self.batches or []
        table = self.query_one("#batch-table", DataTable)
        table.columns[ColumnKey("metric")].label = Text(metric_header(batches))
        table.clear()
        for b in batches:
            cells: list[object] = [Text(c) for c in timeline_row(b)]
            cells[TIMELINE_COLUMNS.index("status")] = self._status_text(b.status.value)
            table.add_row(*cells, key=str(b.id))
        ids = [b.id for b in batches]
        if self.selected not in ids:
            self.selected = ids[-1] if ids else None
            self.feature = None
        if self.selected is not None:
            table.move_cursor(row=ids.index(self.selected))
        self.query_one("#trend-plot", MonitorPlot).trend(batches)
        self._show_batch()

    @on(DataTable.RowHighlighted, "#batch-table")
    def _batch_highlighted(self, event: DataTable.RowHighlighted) -> None:
        value = event.row_key.value
        if value is not None and int(value) != self.selected:
            self.selected = int(value)
            self.feature = None
            self._show_batch()
            self.refresh_bindings()

    @on(DataTable.RowSelected, "#batch-table")
    def _batch_chosen(self) -> None:
        self.action_tab("tab-features")

    def selected_batch(self) -> MonitorBatch | None:
        return next((b for b in self.batches or [] if b.id == self.selected), None)

    def _show_batch(self) -> None:
        batch = self.selected_batch()
        if batch is None:
            return
        total = len(self.batches or [])
        perf = batch.report.performance
        labelled = f"{perf.n_labelled:,} labelled" if perf else "no labels"
        rec = batch.report.recommendation
        production = self.overview.production if self.overview else None
        self.query_one("#monitor-line", Static).update(
            f"v{production} in production · {total} batch{'es' if total != 1 else ''} │ "
            f"batch {batch.id} {batch.name}: {STATUS_WORD[batch.status.value]} · {labelled}"
            + (f" · recommend {rec.value}" if rec else "")
            + (f" · decided {batch.decision.value}" if batch.decision else "")
        )
        self._fill_features(batch)
        self._fill_violations(batch)
        self._show_recommendation(batch)
        box = self.query_one("#rec-head", Static)
        box.update(recommendation_head(batch))
        for name in ("ok", "warn", "alert"):
            box.set_class(batch.status.value == name, f"-{name}")

    def _show_recommendation(self, batch: MonitorBatch) -> None:
        self.query_one("#recommendation", Static).update(
            recommendation_text(batch, self.shadow_lines.get(batch.id))
        )

    # -- features ----------------------------------------------------------------------------

    def _fill_features(self, batch: MonitorBatch) -> None:
        drift = batch.report.drift
        weighted = (
            f" ({share(drift.weighted_drifted_share)} by importance)"
            if drift.weighted_drifted_share is not None
            else ""
        )
        self.query_one("#feature-head", Static).update(
            f"{drift.n_drifted} of {drift.n_assessed} features drifted{weighted}, most severe first"
        )
        table = self.query_one("#feature-table", DataTable)
        table.clear()
        theme = self.app.theme_variables
        for f in drift.features:
            cells: list[object] = [Text(c) for c in feature_row(f)]
            if f.drifted:
                cells[1] = Text("drifted", style=f"bold {theme['error']}")
            table.add_row(*cells, key=f.name)
        names = [f.name for f in drift.features]
        if self.feature not in names:
            self.feature = names[0] if names else None
        if self.feature is not None:
            table.move_cursor(row=names.index(self.feature))
        self._show_feature()

    @on(DataTable.RowHighlighted, "#feature-table")
    def _feature_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and event.row_key.value != self.feature:
            self.feature = event.row_key.value
            self._show_feature()

    def selected_feature(self) -> FeatureDrift | None:
        """The highlighted feature's drift in the highlighted batch."""
        batch = self.selected_batch()
        if batch is None:
            return None
        return next((f for f in batch.report.drift.features if f.name == self.feature), None)

    def _show_feature(self) -> None:
        feature = self.selected_feature()
        batch = self.selected_batch()
        self.query_one("#overlay-plot", MonitorPlot).overlay(feature)
        detail = feature_detail(feature) if feature is not None else ""
        if batch is not None:
            detail += f"\nRule: {batch.report.drift.method}."
        self.query_one("#feature-detail", Static).update(detail.strip())

    # -- violations --------------------------------------------------------------------------

    def _fill_violations(self, batch: MonitorBatch) -> None:
        self.query_one("#violation-summary", Static).update(violation_summary(batch))
        table = self.query_one("#violation-table", DataTable)
        table.clear()
        columns = sorted(batch.report.violations.columns, key=lambda c: -c.total)
        table.set_class(not columns, "-empty")
        for c in columns:
            table.add_row(*(Text(v) for v in violation_row(c)), key=c.column)

    # -- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "add_batch":
            ready = self.overview is not None and self.overview.production is not None
            return True if ready and not self.adding else None
        if action in BATCH_ACTIONS:
            return True if self.selected_batch() is not None else None
        if action == "cancel_add":
            return self.adding
        return super().check_action(action, parameters)

    def action_tab(self, tab: str) -> None:
        """Show one view and focus its main widget."""
        tabs = self.query_one("#monitor-tabs", TabbedContent)
        tabs.active = tab
        self.query_one(TABS[tab]).focus()

    def action_next_view(self) -> None:
        """Timeline → Features → Violations → Recommendation → Timeline."""
        names = list(TABS)
        active = self.query_one("#monitor-tabs", TabbedContent).active
        index = names.index(active) if active in names else -1
        self.action_tab(names[(index + 1) % len(names)])

    def on_batch_added(self, message: BatchAdded) -> None:
        self._add_finished()
        b = message.batch
        self.selected = b.id
        self.feature = None
        self.notify(
            f"Batch {b.id} ({b.name}, {b.n_rows:,} rows): {STATUS_WORD[b.status.value]}; "
            f"{b.report.drift.n_drifted} of {b.report.drift.n_assessed} features drifted.",
            title="Batch added",
            severity={"ok": "information", "warn": "warning", "alert": "error"}[b.status.value],
            markup=False,
        )
        self.load()
        self.mlwb.refresh_status()

    def on_batch_updated(self, message: BatchUpdated) -> None:
        self.selected = message.batch.id
        self.notify(message.text, markup=False)
        self.load()
        self.mlwb.refresh_status()
