"""Stage 3: the profile of the current dataset version, its plots, relationships and alerts."""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from time import monotonic
from typing import Any, Self

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, RenderResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.styles import RulesMap
from textual.message import Message
from textual.reactive import Reactive
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.timer import Timer
from textual.visual import RenderOptions, Visual
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from app.domain.profile import ColumnProfile, Profile, ScatterSample, TargetBoxes
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
PLOT_KINDS = ("distribution", "target", "box by target", "scatter", "time")
"""What ``p`` cycles through; a kind that does not fit the column shows its distribution."""
SHADES = " ░▒▓█"
PLOT_RENDERS = 24
"""Rendered plots kept per plot widget, so going back to a column does not rebuild it."""


@dataclass
class ProfileReady(Message):
    """A profile is available (None when the project has no dataset)."""

    profile: Profile | None


@dataclass
class ScatterSampled(Message):
    """A seeded sample of two numeric columns arrived for the scatter view."""

    sample: ScatterSample


class KeptRender(Visual):
    """A plot rendered once: plotext's text converted to Content, and its strips kept per
    size and style, so repainting it (or showing it after rendering it ahead) is cheap."""

    def __init__(self, content: Content) -> None:
        self.content = content
        self._strips: dict[tuple[int, int | None, VisualStyle], list[Strip]] = {}

    def render_strips(
        self, width: int, height: int | None, style: VisualStyle, options: RenderOptions
    ) -> list[Strip]:
        if options.selection is not None:  # a text selection is drawn fresh each time
            return self.content.render_strips(width, height, style, options)
        key = (width, height, style)
        found = self._strips.get(key)
        if found is None:
            found = self._strips[key] = self.content.render_strips(width, height, style, options)
        return found

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return self.content.get_optimal_width(rules, container_width)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.content.get_height(rules, width)


class ColumnPlot(ChartPlot):
    """The column plot: a ChartPlot that also draws scatter samples, keeps its last renders
    by figure (a repaint or a return to a column skips plotext's rebuild) and can render a
    figure ahead, while the screen is idle, without showing it."""

    auto_links: Reactive[bool] = Reactive(False)
    """A plot has no links: skip Textual's link styling of every line."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self.figure: Any = None
        """What the current figure shows (a hashable key); None: do not keep renders."""
        self._drawer: Callable[[], None] | None = None
        self._renders: OrderedDict[Any, KeptRender] = OrderedDict()
        self._quiet = False

    def show(self, figure: Any, draw: Callable[[], None]) -> None:
        """Draw ``figure`` with ``draw`` (which sets up plotext) unless it is already shown."""
        if figure is not None and figure == self.figure:
            return
        self.figure, self._drawer = figure, draw
        draw()

    def prefetch(self, figure: Any, draw: Callable[[], None]) -> bool:
        """Render ``figure`` into the kept renders without showing it (the current figure is
        set up again afterwards); False when it is already kept or cannot be rendered yet."""
        key = self._key(figure)
        if figure is None or key in self._renders or not self.size or self._drawer is None:
            return False
        current, drawer = self.figure, self._drawer
        self._quiet = True
        try:
            self.figure = figure
            draw()
            kept = self._build()
            self._keep(key, kept)
            Visual.to_strips(self, kept, *self.size, self.visual_style)  # keeps the strips
            self.figure = current
            drawer()
        finally:
            self._quiet = False
        return True

    def forget(self) -> None:
        """Drop the kept renders (a new profile)."""
        self._renders.clear()
        self.figure = self._drawer = None

    def refresh(self, *args: Any, **kwargs: Any) -> Self:
        if self._quiet:  # drawing ahead: nothing on screen changes
            return self
        return super().refresh(*args, **kwargs)

    def scatter(self, points: list[tuple[float, float]], title: str, x: str, y: str) -> None:
        """Points of a seeded sample (drawn in braille dots), with the axes named."""
        self._start(title)
        if points:
            self.plt.scatter([p[0] for p in points], [p[1] for p in points], marker="braille")
            self.plt.xlabel(x)
            self.plt.ylabel(y)
        self.refresh()

    def _key(self, figure: Any) -> Any:
        return (figure, self.size, self.app.theme)

    def _build(self) -> KeptRender:
        """plotext's figure at the widget's size, converted once to Textual's Content."""
        text = super().render()
        assert isinstance(text, Text)
        return KeptRender(Content.from_rich_text(text, console=self.app.console))

    def _keep(self, key: Any, kept: KeptRender) -> None:
        self._renders[key] = kept
        if len(self._renders) > PLOT_RENDERS:
            self._renders.popitem(last=False)

    def render(self) -> RenderResult:
        if self.figure is None:
            return super().render()
        key = self._key(self.figure)
        found = self._renders.get(key)
        if found is None:
            found = self._build()
            self._keep(key, found)
        else:
            self._renders.move_to_end(key)
        return found


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

    PLOT_QUIET = 0.05
    """Seconds between cursor moves below which the plot waits until the cursor rests
    (a held arrow key skips the plots of the columns it passes; single moves draw at once)."""
    STEADY_PLOT_ROWS = 16
    """Plot rows left under the tallest stats for the stats to keep one height."""
    PREFETCH_IDLE = 0.15
    """Seconds of rest after which the plots of the neighbouring columns are rendered ahead."""

    def __init__(self) -> None:
        super().__init__(name="explore")
        self.profile: Profile | None = None
        self.shown: list[ColumnProfile] = []
        self.plot_kind = 0
        self.search = ""
        self.scatters: dict[tuple[str, str], ScatterSample] = {}
        self._stats_text: str | None = None
        self._stats_lines = 1
        self._stats_width = 0
        self._stats_tallest = self._stats_shown = 1
        self._pending: ColumnProfile | None = None
        self._plot_timer: Timer | None = None
        self._prefetch_timer: Timer | None = None
        self._last_move = 0.0

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
                            yield ColumnPlot(id="column-plot")
                            yield Static("", id="column-boxes", markup=False)
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
        self.query_one("#column-boxes", Static).display = False
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
        self.scatters.clear()
        self.query_one("#column-plot", ColumnPlot).forget()
        line = self.query_one("#profile-line", Static)
        if message.profile is None:
            line.update("No dataset yet: import one on the Data screen (2), then come back.")
            return
        p = message.profile
        line.update(
            f"{p.ref} · {p.n_rows:,} rows × {p.n_cols} cols · {len(p.alerts)} alerts · "
            f"{p.seconds:.1f} s · sample {p.sample_size:,}"
        )
        self._stats_lines = (
            max(column_text(c).count("\n") + 1 for c in p.columns) if p.columns else 1
        )
        self._stats_width = 0  # start the stats height again from the tallest column's lines
        self._fill_columns()
        if self.focused is None or type(self.focused).__name__ in ("Tabs", "ContentTabs"):
            self.query_one("#column-list", DataTable).focus()
        self._fill_alerts()
        self._fill_correlations()
        self._fill_target()
        self.mlwb.refresh_status()
        # The profile and its tables live as long as the screen: move them out of the
        # collector's reach so a full collection never pauses a cursor move.
        gc.collect()
        gc.freeze()

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
        """Show a column's stats at once and its plot at once too, unless the cursor is
        moving faster than ``PLOT_QUIET`` (then the plot follows when it rests)."""
        if not 0 <= index < len(self.shown):
            self._set_stats("No column matches." if self.profile else "")
            self._pending = None
            self._draw_plot()
            return
        c = self.shown[index]
        self._set_stats(column_text(c))
        now = monotonic()
        moving = now - self._last_move < self.PLOT_QUIET
        self._last_move = now
        self._pending = c
        for timer in (self._plot_timer, self._prefetch_timer):
            if timer is not None:
                timer.stop()
        self._plot_timer = self._prefetch_timer = None
        if moving:
            self._plot_timer = self.set_timer(self.PLOT_QUIET, self._draw_plot)
        else:
            self._draw_plot()

    def _set_stats(self, text: str) -> None:
        """Show ``text`` padded to the tallest stats shown so far (wrapped lines at this
        width) when that leaves the plot ``STEADY_PLOT_ROWS``: the plot then keeps its place
        and size from column to column (no relayout, and the plots rendered ahead for the
        neighbours fit). On short terminals every line goes to the plot instead."""
        stats = self.query_one("#column-stats", Static)
        width = stats.content_size.width
        if width != self._stats_width:
            self._stats_width, self._stats_tallest = width, self._stats_lines
        height = Content(text).get_height(stats.styles, width) if width else 1
        self._stats_tallest = max(self._stats_tallest, height)
        room = self.query_one("#column-detail").content_size.height - self._stats_tallest
        shown = self._stats_tallest if room >= self.STEADY_PLOT_ROWS else height
        padded = text + "\n " * (shown - height)
        if padded != self._stats_text:
            stats.update(padded, layout=shown != self._stats_shown or not width)
            self._stats_text, self._stats_shown = padded, shown

    def _draw_plot(self) -> None:
        """Draw the pending column's plot of the current kind."""
        self._plot_timer = None
        plot = self.query_one("#column-plot", ColumnPlot)
        boxes = self.query_one("#column-boxes", Static)
        c = self._pending
        kind = PLOT_KINDS[self.plot_kind]
        show_boxes = c is not None and kind == "box by target" and c.target_boxes is not None
        if boxes.display != show_boxes:
            boxes.display = show_boxes
            plot.display = not show_boxes
        if c is None:
            plot.show((None, ""), lambda: plot.message(""))
        elif show_boxes:
            assert c.target_boxes is not None
            width = self.query_one("#column-detail").content_size.width or 60
            boxes.update(boxes_text(c.name, c.target_boxes, width))
        else:
            plot.show(*self._figure(c, kind, plot))
            partner = self._partner(c, kind)
            if partner is not None and (c.name, partner) not in self.scatters:
                self.sample_scatter(c.name, partner)
            self._prefetch_later()

    def _partner(self, c: ColumnProfile, kind: str) -> str | None:
        """The column a numeric column's scatter plots it against (None: no scatter)."""
        if kind != "scatter" or self.profile is None or c.histogram is None:
            return None
        return self.profile.scatter_partner(c.name)

    def _figure(
        self, c: ColumnProfile, kind: str, plot: ColumnPlot
    ) -> tuple[tuple[str | None, ...], Callable[[], None]]:
        """Column ``c``'s figure for plot ``kind``: a key naming what it shows (``(None,
        text)`` for a message) and the call that sets it up. Kinds that do not fit the column
        show its distribution."""
        rel = c.target_relation
        partner = self._partner(c, kind)
        if partner is not None:
            return self._scatter_figure(c.name, partner, plot)
        if kind == "target" and rel is not None and rel.rows:
            labels = [r.label for r in rel.rows]
            values = [
                r.values[0] if r.values and r.values[0] is not None else 0.0 for r in rel.rows
            ]
            title = f"{rel.target}: {rel.measures[0] if rel.measures else rel.kind} by {c.name}"
            return (c.name, kind, title), lambda: plot.bars(labels, values, title)
        if kind == "time" and c.time_series:
            times, counts = [b for b, _ in c.time_series], [n for _, n in c.time_series]
            title = f"{c.name}: rows over time"
            return (c.name, kind, title), lambda: plot.series(times, counts, title)
        if c.histogram is not None:
            h = c.histogram
            title = _fit(f"{c.name}: histogram ({h.rule})", f"{c.name}: histogram", plot.size.width)
            return (c.name, "histogram", title), lambda: plot.histogram(h.edges, h.counts, title)
        if c.bars:
            labels, counts = [b for b, _ in c.bars], [n for _, n in c.bars]
            title = f"{c.name}: counts"
            return (c.name, "bars", title), lambda: plot.bars(labels, counts, title)
        title = f"{c.name}: nothing to plot"
        return (None, title), lambda: plot.message(title)

    def _scatter_figure(
        self, x: str, y: str, plot: ColumnPlot
    ) -> tuple[tuple[str | None, ...], Callable[[], None]]:
        """The scatter of ``x`` against ``y`` from its seeded sample, or a note that the
        sample is on its way."""
        sample = self.scatters.get((x, y))
        if sample is None:
            title = f"{x} vs {y}: sampling rows…"
            return (None, title), lambda: plot.message(title)
        shown = len(sample.points)
        rows = (
            f"all {shown:,} rows"
            if shown >= sample.rows
            else f"seeded sample of {shown:,} of {sample.rows:,} rows"
        )
        title = _fit(f"{x} vs {y}: {rows}", rows, plot.size.width)
        return (x, y, "scatter", title), lambda: plot.scatter(sample.points, title, x, y)

    def _prefetch_later(self) -> None:
        if self._prefetch_timer is not None:
            self._prefetch_timer.stop()
        self._prefetch_timer = self.set_timer(self.PREFETCH_IDLE, self._prefetch)

    def _prefetch(self) -> None:
        """Render the plot of a column next to the cursor ahead, while the screen is idle
        (one per idle moment), so the next single move finds it rendered."""
        self._prefetch_timer = None
        index = self.query_one("#column-list", DataTable).cursor_row
        c, kind = self._pending, PLOT_KINDS[self.plot_kind]
        if c is None or not 0 <= index < len(self.shown) or self.shown[index] is not c:
            return
        plot = self.query_one("#column-plot", ColumnPlot)
        if not plot.display:
            return
        for near in (index + 1, index - 1):
            if 0 <= near < len(self.shown):
                figure, draw = self._figure(self.shown[near], kind, plot)
                if figure[0] is not None and plot.prefetch(figure, draw):
                    self._prefetch_later()  # the other neighbour at the next idle moment
                    return

    @work(thread=True, exclusive=True, exit_on_error=False, group="explore-scatter")
    def sample_scatter(self, x: str, y: str) -> None:
        """Fetch a seeded sample of two numeric columns (DuckDB, never the whole table)."""
        from app.services import profile

        assert self.profile is not None
        p = self.profile
        found = profile.scatter_sample(
            self.mlwb.store, p.dataset, x, y, version=p.version, seed=p.settings.seed
        )
        self.post_message(ScatterSampled(found))

    def on_scatter_sampled(self, message: ScatterSampled) -> None:
        sample = message.sample
        self.scatters[(sample.x, sample.y)] = sample
        c = self._pending
        if c is not None and c.name == sample.x and PLOT_KINDS[self.plot_kind] == "scatter":
            self._draw_plot()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_detail)

    def _fit_detail(self) -> None:
        """Fit the stats (their padding) and the box lines to the new size."""
        c = self._pending
        if c is not None:
            self._stats_text = None
            self._set_stats(column_text(c))
            if PLOT_KINDS[self.plot_kind] == "box by target":
                self._draw_plot()

    def action_next_plot(self) -> None:
        """Cycle distribution → target relation → box by target → scatter → over time."""
        self.plot_kind = (self.plot_kind + 1) % len(PLOT_KINDS)
        self.notify(f"Plot: {PLOT_KINDS[self.plot_kind]}", timeout=1.5)
        self._draw_plot()

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
            "Next plot kind",
            "Distribution, target relation, box by target, scatter, over time",
            self.action_next_plot,
        )
        for pane, title in (
            ("tab-alerts", "alerts"),
            ("tab-correlations", "correlations"),
            ("tab-target", "target view"),
        ):
            yield SystemCommand(
                f"Show {title}", f"The {title} of the profile", lambda p=pane: self.action_tab(p)
            )


def _fit(title: str, short: str, width: int) -> str:
    """``title``, or ``short`` when the plot is too narrow (plotext drops a title that does
    not fit)."""
    return title if len(title) <= width - 4 else short


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


def box_cells(box: Any, width: int, low: float, high: float) -> str:
    """``width`` cells drawing ``box`` on the scale ``low``..``high``: whiskers ├─┤, the box
    ▒ from Q1 to Q3 and the median │."""
    span = high - low

    def at(value: float) -> int:
        return min(width - 1, max(0, round((value - low) / span * (width - 1))))

    cells = [" "] * width
    for i in range(at(box.low_whisker), at(box.high_whisker) + 1):
        cells[i] = "─"
    for i in range(at(box.q1), at(box.q3) + 1):
        cells[i] = "▒"
    cells[at(box.low_whisker)], cells[at(box.high_whisker)] = "├", "┤"
    cells[at(box.median)] = "│"
    return "".join(cells)


def box_line(box: Any, width: int = 40) -> str:
    """A box plot as one text line: whiskers ├─, the box [ ] and the median │, to scale."""
    low, high = box.low_whisker, box.high_whisker
    if high - low <= 0:
        return f"{_num(low)} (all values equal)"
    cells = box_cells(box, width, low, high)
    return f"{_num(low)} {cells} {_num(high)}  (median {_num(box.median)})"


def boxes_text(column: str, boxes: TargetBoxes, width: int) -> str:
    """One box line per target class (or target quartile bin), all to one scale: the group's
    label, rows, box, median and values outside the fences; the scale's ends underneath."""
    by = "class" if boxes.grouping == "class" else "quartile bin"
    approx = " (approximate quartiles)" if not boxes.exact else ""
    lines = [
        f"{column} by {boxes.target} {by}{approx} · rows · box: Q1–Q3, │ median, whiskers to "
        f"the IQR×{boxes.iqr_factor:g} fences · median · values outside the fences"
    ]
    low, high = boxes.scale
    if high - low <= 0:
        return "\n".join([*lines, f"every group holds only {_num(low)}"])
    groups = boxes.boxes
    labels = [g.label if len(g.label) <= 14 else g.label[:13] + "…" for g in groups]
    counts = [f"{g.count:,}" for g in groups]
    medians = [_num(g.box.median) for g in groups]
    outside = [f"{g.box.outliers_below + g.box.outliers_above:,}" for g in groups]
    lw, cw, mw, ow = (max(len(t) for t in texts) for texts in (labels, counts, medians, outside))
    cells = max(10, width - lw - cw - mw - ow - 5)
    for label, count, median, out, group in zip(
        labels, counts, medians, outside, groups, strict=True
    ):
        drawn = box_cells(group.box, cells, low, high)
        lines.append(f"{label:<{lw}} {count:>{cw}} {drawn} {median:>{mw}} {out:>{ow}}")
    ends = f"{_num(low)}".ljust(cells - len(_num(high))) + _num(high)
    lines.append(" " * (lw + cw + 2) + ends)
    return "\n".join(lines)


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
