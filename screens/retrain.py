"""Stage 8: a challenger trained on fresher data against the champion in production.

The data panel lists the monitoring batches (space selects the labelled ones to add to the
champion's raw rows; the latest selected is held out for the comparison unless another is
chosen), an optional time window, the margin and whether to re-run the quick leaderboard.
``t`` (or enter) trains and compares in a worker (``screens.retrain_runner``); the comparison
panel shows the last comparison from the store — champion and challenger with intervals, the
paired difference, the challenger's gate, the decision and the challenger's lineage — and
``p`` promotes the challenger, ``r`` rolls production back, ``s`` shadows the challenger
(labelled batches added on Monitor are scored by both models) or stops shadowing; the shadow
evidence shows in the comparison panel.

Below 150 columns the comparison sits under the data panel, at full width; from 150 columns
the two panels share the width.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, DataTable, Input, Label, Select, Static

from app.domain.stages import Stage
from screens.retrain_data import (
    STATUS_WORD,
    cli_line,
    parse_margin,
    parse_window,
    read_state,
)
from screens.retrain_dialogs import RetrainStateRead, ShadowSummaryRead
from screens.retrain_runner import RetrainRequest, RetrainRunner
from screens.retrain_view import comparison_text, empty_state
from screens.widgets.progress_panel import ProgressPanel
from screens.widgets.toggles import Check

COLUMNS = ("use", "id", "batch", "rows", "labelled", "status", "recommend", "decision")
LABELS = {"use": "use", "id": "#"}
LATEST = -1
"""The hold-out choice "the latest selected batch" (the service's default)."""


class RetrainScreen(RetrainRunner):
    """Data selection, challenger training, the comparison and promotion."""

    stage = Stage.RETRAIN

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide"), (150, "-side-by-side")]
    """The app's breakpoints plus one: side by side only when both panels get ~75 columns."""
    SCOPED_CSS = False  # the rules follow the screen's breakpoint classes
    DEFAULT_CSS = """
    #retrain-line { height: auto; padding: 0 1; background: $panel; }
    #retrain-main { height: 1fr; layout: vertical; }
    #data-panel { width: 1fr; height: auto; }
    #data-head { height: auto; padding: 0 1; color: $text-muted; }
    #retrain-batches { height: auto; max-height: 8; }
    .retrain-options { height: auto; padding: 0 1; }
    .retrain-options Label { padding: 0 1 0 0; color: $text-muted; }
    .retrain-options Input { width: 12; margin-right: 2; }
    #holdout { width: 1fr; max-width: 40; }
    #rerun { margin-left: 0; }
    #cli-line { height: auto; padding: 0 1; color: $text-muted; }
    #compare-box { width: 1fr; height: 1fr; padding: 0 1; border-top: hkey $panel; }
    .-narrow #retrain-batches { max-height: 6; }
    .-side-by-side #retrain-main { layout: horizontal; }
    .-side-by-side #data-panel { height: 1fr; }
    .-side-by-side #retrain-batches { max-height: 1fr; }
    .-side-by-side #compare-box { border-top: none; border-left: vkey $panel; }
    """

    BINDINGS = [
        Binding("space", "toggle", "Select", tooltip="Add or leave out the batch", id="ret.toggle"),
        Binding("t", "train", "Train", tooltip="Train and compare a challenger", id="ret.train"),
        Binding("p", "promote", "Promote", tooltip="Challenger to production", id="ret.promote"),
        Binding("r", "rollback", "Roll back", tooltip="Previous production", id="ret.rollback"),
        Binding(
            "s",
            "shadow",
            "Shadow",
            tooltip="Score the challenger beside production on the next labelled batches",
            id="ret.shadow",
        ),
        Binding(
            "s",
            "stop_shadow",
            "Stop shadow",
            tooltip="Stop scoring the shadowed challenger",
            id="ret.stop_shadow",
        ),
        Binding("escape", "cancel", "Cancel", tooltip="Stop the retrain", id="ret.cancel"),
        Binding("a", "all", "All new", show=False, tooltip="Select all new batches", id="ret.all"),
    ]

    def __init__(self) -> None:
        super().__init__(name=Stage.RETRAIN.value)
        self.chosen: set[int] = set()
        """Ids of the selected batches."""
        self._seen: set[int] = set()
        """Usable batch ids already offered (new ones are selected by default)."""
        self._champion: int | None = None
        """The production version the selection was made for."""
        self.shadow_summary: tuple[int, str] | None = None
        """The shadowed version and its evidence (``shadow.summary``), once read."""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="retrain-body", classes="stage-body"):
            yield Static("Reading the project…", id="retrain-state", classes="state-box")
            yield Static("", id="retrain-line", markup=False)
            with Horizontal(id="retrain-main"):
                with Vertical(id="data-panel"):
                    yield Static(
                        "New training data: space selects a batch · trained: already in "
                        "the champion",
                        id="data-head",
                        markup=False,
                    )
                    yield DataTable(id="retrain-batches", cursor_type="row", zebra_stripes=True)
                    with Horizontal(classes="retrain-options"):
                        yield Label("window")
                        yield Input(placeholder="e.g. 90d", id="window", compact=True)
                        yield Label("hold out")
                        yield Select(
                            [("latest selected", LATEST)],
                            value=LATEST,
                            allow_blank=False,
                            id="holdout",
                            compact=True,
                        )
                    with Horizontal(classes="retrain-options"):
                        yield Label("margin")
                        yield Input("0", id="margin", compact=True, type="number")
                        yield Check("rerun leaderboard", id="rerun", compact=True)
                    yield Static("", id="cli-line", markup=False)
                with VerticalScroll(id="compare-box"):
                    yield Static("", id="comparison")
            yield ProgressPanel(id="retrain-progress")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#retrain-batches", DataTable)
        for name in COLUMNS:
            table.add_column(LABELS.get(name, name), key=name)
        self._show_content(False)
        self.load()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load()

    # -- reading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the champion, the batches and the last comparison (off the UI thread)."""
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="retrain-read")
    def _read(self) -> None:
        with self.read_lock:
            state = read_state(self.mlwb.store)
            self.post_message(RetrainStateRead(state))
            if state.shadow is not None:  # the service imports scikit-learn: only when needed
                from app.services import shadow

                summary = shadow.summary(self.mlwb.store)
                self.post_message(ShadowSummaryRead(state.shadow, summary))

    def on_shadow_summary_read(self, message: ShadowSummaryRead) -> None:
        self.shadow_summary = (message.version, message.text)
        if self.state is not None and self.state.comparison is not None:
            self._show_comparison()

    def on_retrain_state_read(self, message: RetrainStateRead) -> None:
        self.state = s = message.state
        usable = {b.id for b in s.batches if b.usable}
        if s.production != self._champion:  # a new champion: offer every new batch again
            self._champion = s.production
            self._seen = set()
        self.chosen = (self.chosen & usable) | (usable - self._seen)
        self._seen |= usable
        text, kind = empty_state(s)
        box = self.query_one("#retrain-state", Static)
        box.update(text)
        for name in ("-locked", "-current", "-attention"):
            box.set_class(name == kind, name)
        first = not self.query_one("#retrain-main").display
        self._show_content(not text)
        if not text:
            self._fill_holdout()
            self._fill_batches()
            self._show_comparison()
            if first:
                self.query_one("#retrain-batches").focus()
        self.refresh_bindings()

    def _show_content(self, shown: bool) -> None:
        self.query_one("#retrain-state").display = not shown
        self.query_one("#retrain-line").display = shown
        self.query_one("#retrain-main").display = shown

    def _status_text(self, status: str) -> Text:
        theme = self.app.theme_variables
        color = {"ok": theme["success"], "warn": theme["warning"], "alert": theme["error"]}
        return Text(STATUS_WORD.get(status, status), style=f"bold {color.get(status, '')}")

    def held_out(self) -> int | None:
        """The batch the comparison will use: the chosen one, else the latest selected."""
        value = self.query_one("#holdout", Select).value
        if isinstance(value, int) and value != LATEST:
            return value
        return max(self.chosen, default=None)

    def _fill_batches(self) -> None:
        s = self.state
        assert s is not None
        table = self.query_one("#retrain-batches", DataTable)
        row = table.cursor_row
        held = self.held_out()
        table.clear()
        for b in s.batches:
            if b.id == held:
                use = Text("held out", style="italic")
            elif b.in_champion:
                use = Text("trained", style="dim")
            elif not b.n_labelled:
                use = Text("—", style="dim")
            else:
                use = Text("[x]" if b.id in self.chosen else "[ ]", style="bold")
            table.add_row(
                use,
                str(b.id),
                Text(b.name, overflow="ellipsis"),
                Text(f"{b.n_rows:,}", justify="right"),
                Text(f"{b.n_labelled:,}" if b.n_labelled else "—", justify="right"),
                self._status_text(b.status),
                b.recommendation or "—",
                b.decision or "—",
                key=str(b.id),
            )
        if s.batches:
            table.move_cursor(row=min(max(row, 0), len(s.batches) - 1))
        self._show_line()

    def _fill_holdout(self) -> None:
        s = self.state
        assert s is not None
        select = self.query_one("#holdout", Select)
        value = select.value
        options = [("latest selected", LATEST)] + [
            (f"batch {b.id} {b.name}", b.id) for b in s.labelled
        ]
        ids = [v for _, v in options]
        with select.prevent(Select.Changed):
            select.set_options(options)
            select.value = value if value in ids else LATEST

    def _show_line(self) -> None:
        s = self.state
        if s is None:
            return
        labelled = len(s.labelled)
        self.query_one("#retrain-line", Static).update(
            f"champion: v{s.production} in production (run {s.production_run}, {s.candidate}) │ "
            f"{len(s.batches)} batch(es), {labelled} labelled, {len(self.chosen)} selected"
        )
        self._show_cli()

    def _show_cli(self) -> None:
        holdout = self.query_one("#holdout", Select).value
        self.query_one("#cli-line", Static).update(
            "CLI: "
            + cli_line(
                sorted(self.chosen),
                self.query_one("#window", Input).value,
                holdout if isinstance(holdout, int) and holdout != LATEST else None,
                self.query_one("#rerun", Checkbox).value,
                self.query_one("#margin", Input).value,
            )
        )

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _option_changed(self) -> None:
        if self.state is not None:
            self._show_cli()

    @on(Select.Changed, "#holdout")
    def _holdout_changed(self) -> None:
        if self.state is not None:
            self._fill_batches()

    def _show_comparison(self) -> None:
        s = self.state
        assert s is not None
        found = self.shadow_summary
        summary = found[1] if found is not None and found[0] == s.shadow else None
        self.query_one("#comparison", Static).update(
            comparison_text(s, self.app.theme_variables, summary)
        )

    # -- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        s = self.state
        ready = s is not None and s.production is not None and bool(s.batches)
        if action in ("toggle", "all"):
            return True if ready and not self.training else None
        if action == "train":
            return True if ready and s is not None and s.labelled and not self.training else None
        if action == "cancel":
            return self.training
        if action == "promote":
            return True if s is not None and s.comparison and not self.training else None
        if action == "rollback":
            return True if s is not None and s.rollback_to and not self.training else None
        if action in ("shadow", "stop_shadow"):  # one key: only one of the two shows
            shadowing = s is not None and s.shadow is not None
            if shadowing != (action == "stop_shadow"):
                return False
            ready = s is not None and (s.comparison or shadowing) and not self.training
            return True if ready else None
        return super().check_action(action, parameters)

    def action_toggle(self) -> None:
        """Add the highlighted batch to the challenger's data, or leave it out."""
        s = self.state
        table = self.query_one("#retrain-batches", DataTable)
        if s is None or not s.batches or self.training:
            return
        b = s.batches[min(table.cursor_row, len(s.batches) - 1)]
        if b.in_champion:
            self.notify(f"Batch {b.id} is already in the champion's training data.", markup=False)
            return
        if not b.n_labelled:
            self.notify(
                f"Batch {b.id} has no labels: add them on Monitor (7, l) first.", markup=False
            )
            return
        self.chosen ^= {b.id}
        self._fill_holdout()
        self._fill_batches()

    def action_all(self) -> None:
        """Select every labelled batch not yet trained on."""
        if self.state is not None:
            self.chosen = {b.id for b in self.state.batches if b.usable}
            self._fill_holdout()
            self._fill_batches()

    @on(DataTable.RowSelected, "#retrain-batches")
    @on(Input.Submitted)
    def _enter(self) -> None:
        if self.check_action("train", ()):
            self.action_train()

    def action_train(self) -> None:
        """Train a challenger on the selected data and compare it with the champion."""
        if self.training or self.state is None:
            return
        try:
            window = parse_window(self.query_one("#window", Input).value)
        except ValueError as error:
            self.notify(f"{error} (e.g. 90d, or empty)", severity="error", markup=False)
            self.query_one("#window").focus()
            return
        try:
            margin = parse_margin(self.query_one("#margin", Input).value)
        except ValueError as error:
            self.notify(f"{error} (e.g. 0 or 2.5)", severity="error", markup=False)
            self.query_one("#margin").focus()
            return
        if not self.chosen:
            self.notify(
                "Select at least one labelled batch (space) to train the challenger with.",
                severity="warning",
            )
            return
        holdout = self.query_one("#holdout", Select).value
        self.start_retrain(
            RetrainRequest(
                batches=sorted(self.chosen),
                window_days=window,
                compare_on=holdout if isinstance(holdout, int) and holdout != LATEST else None,
                rerun_leaderboard=self.query_one("#rerun", Checkbox).value,
                margin=margin,
            )
        )
