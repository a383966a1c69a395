"""Stage 3: the profile of the current dataset version, its plots, relationships and alerts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from app.domain.profile import ColumnProfile, Profile
from app.domain.recipe import parse_step
from app.domain.stages import Stage
from screens.base import StageScreen
from screens.data import DataScreen
from screens.widgets.plot import ChartPlot
from screens.widgets.progress_panel import ProgressPanel, ProgressReported

TYPE_ICONS = {
    "numeric": "#",
    "categorical": "≡",
    "boolean": "◐",
    "datetime": "◷",
    "text": "¶",
    "id": "⚿",
    "other": "?",
}
PLOT_KINDS = ("distribution", "target", "time")
SHADES = " ░▒▓█"


@dataclass
class ProfileReady(Message):
    """A profile is available (None when the project has no dataset)."""

    profile: Profile | None


class ExploreScreen(StageScreen):
    """Profile, plots, correlations, target view and alerts of the current dataset."""

    stage = Stage.EXPLORE

    BINDINGS = [
        Binding("c", "tab('tab-columns')", "Columns", show=False, id="explore.columns"),
        Binding("a", "tab('tab-alerts')", "Alerts", show=False, id="explore.alerts"),
        Binding(
            "x", "tab('tab-correlations')", "Correlations", show=False, id="explore.correlations"
        ),
        Binding("y", "tab('tab-target')", "Target", show=False, id="explore.target"),
        Binding(
            "p", "next_plot", "Plot kind", tooltip="Cycle the plot of the column", id="explore.plot"
        ),
        Binding("slash", "search", "Search", id="explore.search"),
        Binding("ctrl+r", "refresh_profile", "Recompute", id="explore.refresh"),
        Binding("escape", "cancel_work", "Cancel", show=False, id="explore.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__(name="explore")
        self.profile: Profile | None = None
        self.shown: list[ColumnProfile] = []
        self.plot_kind = 0
        self.search = ""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="explore-body", classes="stage-body"):
            yield Static("Reading the project…", id="profile-line", markup=False)
            with TabbedContent(id="explore-tabs"):
                with TabPane("Columns (c)", id="tab-columns"):
                    with Horizontal(id="columns-area"):
                        with Vertical(id="column-list-box"):
                            yield Input(
                                id="column-search", placeholder="search columns", compact=True
                            )
                            yield DataTable(id="column-list", cursor_type="row")
                        with Vertical(id="column-detail"):
                            yield Static("", id="column-stats", markup=False)
                            yield ChartPlot(id="column-plot")
                with TabPane("Alerts (a)", id="tab-alerts"):
                    yield DataTable(id="alerts", cursor_type="row")
                    yield Static("", id="alert-detail", markup=False)
                with TabPane("Correlations (x)", id="tab-correlations"):
                    with VerticalScroll(id="correlations-box"):
                        yield Static("", id="correlation-matrix", markup=False)
                        yield DataTable(id="correlation-pairs", cursor_type="row")
                with TabPane("Target (y)", id="tab-target"):
                    with Horizontal(id="target-area"):
                        with VerticalScroll(id="target-text-box"):
                            yield Static("", id="target-text", markup=False)
                        yield ChartPlot(id="target-plot")
            yield ProgressPanel(id="explore-progress")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#column-search", Input).display = False
        self.query_one("#column-list", DataTable).add_columns("", "column", "miss%", "!")
        self.query_one("#alerts", DataTable).add_columns("level", "kind", "finding")
        self.query_one("#correlation-pairs", DataTable).add_columns("a", "b", "method", "value")
        self.load_profile()

    # -- computing -------------------------------------------------------------------------

    def _progress(self, fraction: float, text: str) -> None:
        self.post_message(ProgressReported(fraction, text))

    def on_progress_reported(self, message: ProgressReported) -> None:
        self.query_one(ProgressPanel).report(message.fraction, message.text)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="explore-work",
        description="Profiling",
    )
    def load_profile(self, refresh: bool = False) -> None:
        """Read the stored profile, or compute it with progress (cancellable with esc)."""
        from app.services import browse, profile

        store = self.mlwb.store
        current = browse.current_dataset(store)
        if current is None:
            self.post_message(ProfileReady(None))
            return
        worker = get_current_worker()
        found = profile.profile_dataset(
            store,
            current.name,
            current.version,
            on_progress=self._progress,
            should_stop=lambda: worker.is_cancelled,
            refresh=refresh,
        )
        self.post_message(ProfileReady(found))

    def action_refresh_profile(self) -> None:
        """Recompute the profile of the current version."""
        self.query_one(ProgressPanel).start("Profiling")
        self.load_profile(refresh=True)

    def action_cancel_work(self) -> None:
        """Cancel a running profile (nothing is stored)."""
        search = self.query_one("#column-search", Input)
        if search.display:
            search.display = False
            return
        if self.workers.cancel_group(self, "explore-work"):
            self.notify("Cancelling the profile…")

    def on_worker_state_changed(self, event: Any) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "explore-work" and event.state.name in (
            "ERROR",
            "CANCELLED",
            "SUCCESS",
        ):
            self.query_one(ProgressPanel).finish()

    # -- showing ---------------------------------------------------------------------------

    def on_profile_ready(self, message: ProfileReady) -> None:
        self.query_one(ProgressPanel).finish()
        self.profile = message.profile
        line = self.query_one("#profile-line", Static)
        if message.profile is None:
            line.update("No dataset yet: import one on the Data screen (2), then come back.")
            return
        p = message.profile
        line.update(
            f"{p.ref} · {p.n_rows:,} rows × {p.n_cols} cols · {len(p.alerts)} alerts · "
            f"{p.seconds:.1f} s · sample {p.sample_size:,}"
        )
        self._fill_columns()
        if self.focused is None or type(self.focused).__name__ in ("Tabs", "ContentTabs"):
            self.query_one("#column-list", DataTable).focus()
        self._fill_alerts()
        self._fill_correlations()
        self._fill_target()
        self.mlwb.refresh_status()

    def _alert_columns(self) -> set[str]:
        assert self.profile is not None
        return {c for a in self.profile.alerts for c in a.columns}

    def _fill_columns(self) -> None:
        assert self.profile is not None
        flagged = self._alert_columns()
        needle = self.search.lower()
        self.shown = [c for c in self.profile.columns if needle in c.name.lower()]
        table = self.query_one("#column-list", DataTable)
        table.clear()
        for c in self.shown:
            table.add_row(
                TYPE_ICONS.get(c.semantic_type.value, "?"),
                c.name if len(c.name) <= 22 else c.name[:21] + "…",
                f"{c.missing_pct:.0f}",
                "!" if c.name in flagged else "",
            )
        self._show_column(0)

    @on(DataTable.RowHighlighted, "#column-list")
    def _column_moved(self, event: DataTable.RowHighlighted) -> None:
        self._show_column(event.cursor_row)

    def _show_column(self, index: int) -> None:
        stats = self.query_one("#column-stats", Static)
        plot = self.query_one("#column-plot", ChartPlot)
        if not 0 <= index < len(self.shown):
            stats.update("No column matches." if self.profile else "")
            plot.message("")
            return
        c = self.shown[index]
        stats.update(column_text(c))
        self._draw(c, plot)

    def _draw(self, c: ColumnProfile, plot: ChartPlot) -> None:
        kind = PLOT_KINDS[self.plot_kind]
        if kind == "target" and c.target_relation is not None and c.target_relation.rows:
            rel = c.target_relation
            labels = [r.label for r in rel.rows]
            values = [
                r.values[0] if r.values and r.values[0] is not None else 0.0 for r in rel.rows
            ]
            plot.bars(
                labels,
                values,
                f"{rel.target}: {rel.measures[0] if rel.measures else rel.kind} by {c.name}",
            )
        elif kind == "time" and c.time_series:
            plot.series(
                [b for b, _ in c.time_series],
                [n for _, n in c.time_series],
                f"{c.name}: rows over time",
            )
        elif c.histogram is not None:
            plot.histogram(
                c.histogram.edges, c.histogram.counts, f"{c.name}: histogram ({c.histogram.rule})"
            )
        elif c.bars:
            plot.bars([b for b, _ in c.bars], [n for _, n in c.bars], f"{c.name}: counts")
        else:
            plot.message(f"{c.name}: nothing to plot")

    def action_next_plot(self) -> None:
        """Cycle distribution → relation with the target → over time."""
        self.plot_kind = (self.plot_kind + 1) % len(PLOT_KINDS)
        self.notify(f"Plot: {PLOT_KINDS[self.plot_kind]}", timeout=1.5)
        self._show_column(self.query_one("#column-list", DataTable).cursor_row)

    def action_search(self) -> None:
        """Filter the column list by name (for wide tables)."""
        box = self.query_one("#column-search", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#column-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search = event.value
        if self.profile is not None:
            self._fill_columns()

    @on(Input.Submitted, "#column-search")
    def _search_done(self) -> None:
        self.query_one("#column-list", DataTable).focus()

    def _fill_alerts(self) -> None:
        assert self.profile is not None
        table = self.query_one("#alerts", DataTable)
        table.clear()
        for alert in self.profile.alerts:
            table.add_row(alert.severity, alert.kind.replace("_", " "), alert.message)
        tabs = self.query_one("#explore-tabs", TabbedContent)
        tabs.get_tab("tab-alerts").label = f"Alerts: {len(self.profile.alerts)} (a)"  # type: ignore[assignment]
        self._show_alert(0)

    @on(DataTable.RowHighlighted, "#alerts")
    def _alert_moved(self, event: DataTable.RowHighlighted) -> None:
        self._show_alert(event.cursor_row)

    def _show_alert(self, index: int) -> None:
        detail = self.query_one("#alert-detail", Static)
        if self.profile is None or not 0 <= index < len(self.profile.alerts):
            detail.update("No alerts." if self.profile else "")
            return
        a = self.profile.alerts[index]
        evidence = ", ".join(f"{k}={v}" for k, v in list(a.evidence.items())[:6])
        fix = (
            "enter opens the fix on the Data screen"
            if a.step
            else "no cleaning step fits: decide by hand"
        )
        detail.update(f"{a.message}\nevidence: {evidence}\n{fix}")

    @on(DataTable.RowSelected, "#alerts")
    def _alert_chosen(self, event: DataTable.RowSelected) -> None:
        if self.profile is None or not 0 <= event.cursor_row < len(self.profile.alerts):
            return
        alert = self.profile.alerts[event.cursor_row]
        if alert.step is None:
            self.notify("No cleaning step fits this alert.", markup=False)
            return
        step = parse_step(alert.step)

        async def open_fix() -> None:
            await self.app.switch_mode("data")
            screen = self.app.screen
            if isinstance(screen, DataScreen):
                screen.open_fix(step, f"Fix: {alert.message}")

        self.app.call_later(open_fix)

    def _fill_correlations(self) -> None:
        assert self.profile is not None
        corr = self.profile.correlations
        fits = max(2, (self.app.size.width - 12) // 7)
        self.query_one("#correlation-matrix", Static).update(matrix_text(corr, fits))
        table = self.query_one("#correlation-pairs", DataTable)
        table.clear()
        for pair in corr.pairs[:40]:
            table.add_row(pair.a, pair.b, pair.method, f"{pair.value:+.3f}")

    def _fill_target(self) -> None:
        assert self.profile is not None
        text = self.query_one("#target-text", Static)
        plot = self.query_one("#target-plot", ChartPlot)
        t = self.profile.target
        if t is None:
            text.update(
                "No target: name it in the charter (stage 1) or set a column's role to target."
            )
            plot.message("")
            return
        lines = [f"target {t.column!r} · {t.task}"]
        if t.classes:
            total = sum(c.count for c in t.classes) or 1
            lines += [
                f"  {c.value!s:<14} {c.count:>9,}  {100 * c.count / total:5.1f} %"
                for c in t.classes
            ]
            plot.bars(
                [c.value for c in t.classes],
                [c.count for c in t.classes],
                f"{t.column}: class balance",
            )
        elif t.numeric is not None:
            n = t.numeric
            lines.append(
                f"  mean {n.mean:.4g} · std {n.std:.4g} · min {n.min:.4g} · max {n.max:.4g}"
            )
            column = next((c for c in self.profile.columns if c.name == t.column), None)
            if column is not None and column.histogram is not None:
                plot.histogram(
                    column.histogram.edges, column.histogram.counts, f"{t.column}: distribution"
                )
        if t.top_features:
            lines.append("")
            lines.append(f"most related features (mutual information, {t.mi_sample_size:,} rows)")
            lines += [f"  {f.column:<24} {f.mutual_information:.3f}" for f in t.top_features[:12]]
        text.update("\n".join(lines))

    def action_tab(self, pane: str) -> None:
        """Show one tab."""
        self.query_one("#explore-tabs", TabbedContent).active = pane
        focus = {
            "tab-columns": "#column-list",
            "tab-alerts": "#alerts",
            "tab-correlations": "#correlation-pairs",
        }
        if pane in focus:
            self.query_one(focus[pane], DataTable).focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Recompute the profile",
            "Profile the current version again",
            self.action_refresh_profile,
        )
        yield SystemCommand("Search columns", "Filter the column list by name", self.action_search)
        yield SystemCommand(
            "Next plot kind", "Distribution, target relation, over time", self.action_next_plot
        )
        for pane, title in (
            ("tab-alerts", "alerts"),
            ("tab-correlations", "correlations"),
            ("tab-target", "target view"),
        ):
            yield SystemCommand(
                f"Show {title}", f"The {title} of the profile", lambda p=pane: self.action_tab(p)
            )


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def column_text(c: ColumnProfile) -> str:
    """The stats of one column as aligned text lines."""
    distinct = "–" if c.distinct is None else f"{'' if c.distinct_exact else '~'}{c.distinct:,}"
    lines = [
        f"{c.name}  ({c.semantic_type.value}, {c.dtype}, role {c.role.value})",
        f"rows {c.count:,} · missing {c.missing:,} ({c.missing_pct:.1f} %) · distinct {distinct}",
    ]
    n = c.numeric
    if n is not None:
        q = n.quantiles
        lines.append(
            f"min {_num(n.min)} · mean {_num(n.mean)} · std {_num(n.std)} · max {_num(n.max)}"
        )
        lines.append("quantiles " + " ".join(f"{k}:{_num(v)}" for k, v in q.items()))
        lines.append(
            f"skew {_num(n.skewness)} · kurtosis {_num(n.kurtosis)} · zeros {n.zeros:,} · "
            f"negatives {n.negatives:,} · inf {n.infinities:,}"
        )
    box = c.box_plot()
    if box is not None:
        lines.append("box  " + box_line(box))
    if c.outliers is not None:
        o = c.outliers
        lines.append(
            f"outliers: {o.below + o.above:,} outside IQR×{o.iqr_factor:g} fences "
            f"[{_num(o.lower_fence)}, {_num(o.upper_fence)}]; {o.z_count:,} with |z| > {o.z_limit:g}"
        )
    if c.text is not None:
        t = c.text
        lines.append(
            f"length {t.min_length}–{t.max_length} (mean {_num(t.mean_length)}) · padded {t.padded:,}"
        )
    if c.dates is not None:
        d = c.dates
        lines.append(f"from {d.min} to {d.max} ({_num(d.span_days)} days) {d.gap_note}")
    if c.top_values:
        lines.append("top: " + ", ".join(f"{v.value!s}×{v.count:,}" for v in c.top_values[:5]))
    return "\n".join(lines)


def box_line(box: Any, width: int = 40) -> str:
    """A box plot as one text line: whiskers ├─, the box [ ] and the median │, to scale."""
    low, high = box.low_whisker, box.high_whisker
    span = high - low
    if span <= 0:
        return f"{_num(low)} (all values equal)"

    def at(value: float) -> int:
        return round((value - low) / span * (width - 1))

    cells = [" "] * width
    for i in range(at(low), at(high) + 1):
        cells[i] = "─"
    for i in range(at(box.q1), at(box.q3) + 1):
        cells[i] = "▒"
    cells[at(low)], cells[at(high)] = "├", "┤"
    cells[at(box.median)] = "│"
    return f"{_num(low)} {''.join(cells)} {_num(high)}  (median {_num(box.median)})"


def matrix_text(corr: Any, most: int = 12) -> str:
    """A heat-map-like matrix in text: shades for |r| with the value, readable in 80 columns."""
    if not corr.columns or not corr.matrices:
        return corr.note or "No correlations (fewer than two comparable columns)."
    method, matrix = next(iter(corr.matrices.items()))
    matrix = [row[:most] for row in matrix[:most]]
    names = [n if len(n) <= 6 else n[:5] + "…" for n in corr.columns[:most]]
    lines = [f"{method} on {corr.sample_size:,} sampled rows · shade = |value|"]
    lines.append(" " * 8 + " ".join(f"{n:>6}" for n in names))
    for name, row in zip(names, matrix, strict=True):
        cells = []
        for value in row:
            if value is None:
                cells.append("     ·")
            else:
                shade = SHADES[min(4, int(abs(value) * 4.999))]
                cells.append(f"{shade}{value:+.2f}")
        lines.append(f"{name:>7} " + " ".join(cells))
    return "\n".join(lines)
