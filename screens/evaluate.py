"""Stage 5: judge a run on the locked holdout, read the gate, try decision thresholds live.

The latest stored evaluation shows at once (read without the ML libraries). Workers then
list the runs for the picker, score the holdout once with the stored model (so the threshold
control recomputes the label metrics instantly, without refitting) and write the model card.
Evaluating (``e``), tuning (``t``) and storing a tried threshold (``s``) run the Evaluate
service in a worker with progress; esc asks it to stop, and a stopped evaluation stores
nothing.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from typing import Any

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Markdown, Select, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from app.domain.evaluation import Evaluation
from app.domain.stages import Stage, StageState, StageStatus
from screens.evaluate_banner import GateBanner
from screens.evaluate_data import (
    StoredState,
    holdout_scores,
    read_stored,
    run_choices,
    threshold_grid,
)
from screens.evaluate_format import (
    PLOT_KINDS,
    gate_detail,
)
from screens.evaluate_messages import (
    CardWritten,
    EvaluationFinished,
    HoldoutScored,
    RunsListed,
    StoredEvaluationRead,
)
from screens.evaluate_metrics import MetricsPane
from screens.evaluate_panes import ImportancePane, PlotsPane, SegmentsPane
from screens.evaluate_runner import EvaluationRunner
from screens.evaluate_threshold import HoldoutScores, nudge, parse_threshold
from screens.widgets.progress_panel import ProgressPanel

TABS = {
    "tab-gate": "#gate-box",
    "tab-metrics": "#metric-table",
    "tab-plots": "#eval-plot",
    "tab-segments": "#segment-table",
    "tab-importance": "#importance-plot",
    "tab-card": "#card-box",
}
READY_ACTIONS = {
    "evaluate",
    "tune",
    "store_threshold",
    "threshold",
    "reset_threshold",
    "next_plot",
    "pick_run",
    "tab",
}
THRESHOLD_ACTIONS = {"tune", "store_threshold", "threshold", "reset_threshold"}


class EvaluateScreen(EvaluationRunner):
    """Run picker, gate banner, metrics with intervals, plots, segments, importance, card."""

    BINDINGS = [
        Binding("e", "evaluate", "Evaluate", tooltip="Judge the run on the holdout", id="ev.run"),
        Binding(
            "s",
            "store_threshold",
            "Store T",
            tooltip="Evaluate again at the tried threshold and keep it with the model",
            id="ev.store",
        ),
        Binding(
            "plus",
            "threshold(1)",
            "T+",
            key_display="+",
            tooltip="Raise the decision threshold by 0.01 (live)",
            id="ev.up",
        ),
        Binding(
            "minus",
            "threshold(-1)",
            "T−",
            key_display="-",
            tooltip="Lower the decision threshold by 0.01 (live)",
            id="ev.down",
        ),
        Binding(
            "equals_sign",
            "reset_threshold",
            "Stored T",
            show=False,
            tooltip="Back to the stored threshold",
            id="ev.reset",
        ),
        Binding(
            "t",
            "tune",
            "Tune T",
            show=False,
            tooltip="Tune the threshold on out-of-fold predictions, then evaluate",
            id="ev.tune",
        ),
        Binding("p", "next_plot", "Plot", tooltip="Next plot", id="ev.plot"),
        Binding("r", "pick_run", "Run", tooltip="Pick the run to judge", id="ev.pick"),
        Binding("escape", "cancel_work", "Cancel", tooltip="Stop the evaluation", id="ev.cancel"),
        Binding("g", "tab('tab-gate')", "Gate", show=False, id="ev.tab_gate"),
        Binding("m", "tab('tab-metrics')", "Metrics", show=False, id="ev.tab_metrics"),
        Binding("v", "tab('tab-plots')", "Plots", show=False, id="ev.tab_plots"),
        Binding("f", "tab('tab-segments')", "Segments", show=False, id="ev.tab_segments"),
        Binding("i", "tab('tab-importance')", "Importance", show=False, id="ev.tab_importance"),
        Binding("c", "tab('tab-card')", "Card", show=False, id="ev.tab_card"),
    ]

    def __init__(self) -> None:
        super().__init__(Stage.EVALUATE)
        self.ready: bool | None = None
        self.state: StoredState | None = None
        self.evaluation: Evaluation | None = None
        self.run_id: int | None = None
        self.scores: HoldoutScores | None = None
        self.threshold: float | None = None
        self.segments: list[str] | None = None
        self.plot_kind = 0
        self.evaluating = False
        self._stop: threading.Event | None = None
        self._card_run: int | None = None
        self._storable: bool | None = None
        self.scores_problem = ""
        """Why the live threshold is unavailable (the holdout could not be scored)."""

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        with Vertical(id="evaluate-body", classes="stage-body"):
            with Horizontal(id="eval-top"):
                yield Select([], id="run-picker", prompt="Pick a run", compact=True)
                yield Static("Reading the project…", id="eval-line", markup=False)
            yield GateBanner(id="gate-banner", classes="-none")
            with TabbedContent(id="eval-tabs"):
                with TabPane("Gate (g)", id="tab-gate"):
                    with VerticalScroll(id="gate-box"):
                        yield Static("", id="gate-detail", markup=False)
                with TabPane("Metrics (m)", id="tab-metrics"):
                    yield MetricsPane(id="metrics-pane")
                with TabPane("Plots (v)", id="tab-plots"):
                    yield PlotsPane(id="plots-pane")
                with TabPane("Segments (f)", id="tab-segments"):
                    yield SegmentsPane(id="segments-pane")
                with TabPane("Importance (i)", id="tab-importance"):
                    yield ImportancePane(id="importance-pane")
                with TabPane("Card (c)", id="tab-card"):
                    with VerticalScroll(id="card-box"):
                        yield Markdown("", id="card")
            yield ProgressPanel(id="evaluate-progress")

    def on_mount(self) -> None:
        self.query_one("#evaluate-body").display = False
        super().on_mount()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.ready:
            # Showing the chosen run: follow it if another run was chosen meanwhile.
            following = self.state is None or self.run_id == self.state.chosen
            self.load_stored(None if following else self.run_id)

    # -- overview or tools -------------------------------------------------------------------

    def show_statuses(self, statuses: list[StageStatus]) -> None:
        super().show_statuses(statuses)
        mine = next(s for s in statuses if s.stage is Stage.EVALUATE)
        ready = mine.state is not StageState.LOCKED
        if ready == self.ready:
            return
        self.ready = ready
        self.query_one("#overview").display = not ready
        self.query_one("#evaluate-body").display = ready
        self.refresh_bindings()
        if ready:
            self.query_one("#gate-box").focus()
            self.load_stored(self.run_id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in READY_ACTIONS and not self.ready:
            return False
        if action == "cancel_work":
            return self.evaluating
        if action in THRESHOLD_ACTIONS:
            task = self.evaluation.task if self.evaluation else None
            if task is None and self.state is not None:
                task = self.state.task
            if task != "binary":
                return False
            if action != "tune" and (self.evaluation is None or self.threshold is None):
                return False
        if action in ("evaluate", "tune", "store_threshold") and self.evaluating:
            return None
        if action == "store_threshold":
            assert self.evaluation is not None
            return None if self.threshold == self.evaluation.threshold else True
        if action == "next_plot":
            return bool(self.evaluation and PLOT_KINDS.get(self.evaluation.task))
        return super().check_action(action, parameters)

    # -- reading -----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate-read")
    def load_stored(self, run_id: int | None) -> None:
        """Read the run's latest stored evaluation (the chosen run's by default)."""
        with self.read_lock:
            self.post_message(StoredEvaluationRead(read_stored(self.mlwb.store, run_id)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate-runs")
    def list_runs(self, chosen: int | None) -> None:
        """The finished runs for the picker (the leaderboard)."""
        self.post_message(RunsListed(run_choices(self.mlwb.store, chosen)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate-scores")
    def load_scores(self, e: Evaluation) -> None:
        """Score the holdout once with the stored model, for the live threshold."""
        truth, score = holdout_scores(self.mlwb.store, e)
        if get_current_worker().is_cancelled:
            return
        curve = threshold_grid(truth, score, e.primary)
        self.post_message(HoldoutScored(HoldoutScores(e.run_id, e.id, truth, score, curve)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="evaluate-card")
    def load_card(self, run_id: int) -> None:
        """The model card of the run's latest evaluation."""
        from app.services.model_card import model_card

        self.post_message(CardWritten(run_id, model_card(self.mlwb.store, run_id)))

    def on_stored_evaluation_read(self, message: StoredEvaluationRead) -> None:
        state = message.state
        self.state = state
        self.run_id = state.run_id
        self.show(state.evaluation)
        self.list_runs(state.chosen)

    def on_runs_listed(self, message: RunsListed) -> None:
        picker = self.query_one("#run-picker", Select)
        options = [(c.text, c.run_id) for c in message.choices]
        if self.run_id is not None and self.run_id not in {c.run_id for c in message.choices}:
            options.insert(0, (f"run {self.run_id}", self.run_id))
        with self.prevent(Select.Changed):
            picker.set_options(options)
            if self.run_id is not None:
                picker.value = self.run_id

    @on(Select.Changed, "#run-picker")
    def _run_picked(self, event: Select.Changed) -> None:
        if event.value is Select.NULL or event.value == self.run_id:
            return
        self.run_id = int(event.value)  # type: ignore[arg-type]
        self.load_stored(self.run_id)

    # -- showing -----------------------------------------------------------------------------

    def show(self, e: Evaluation | None) -> None:
        """Show evaluation ``e`` (None: the run has not been evaluated yet)."""
        changed = e is None or self.evaluation is None or e.id != self.evaluation.id
        self.evaluation = e
        if changed:
            self.scores = None
            self.scores_problem = ""
            self.threshold = e.threshold if e is not None else None
            if e is not None and e.task == "binary" and e.threshold is not None:
                self.load_scores(e)
        self._show_banner()
        self._show_line()
        self._show_gate_detail()
        self.query_one(MetricsPane).show(e)
        self.query_one(SegmentsPane).show(e, typed=self.segments is not None)
        self.query_one(ImportancePane).show(e)
        self.show_threshold()
        if e is not None and (changed or self._card_run != e.run_id):
            self.load_card(e.run_id)
        elif e is None:
            self._card_run = None
            self.query_one("#card", Markdown).update(self._not_evaluated())
        self.refresh_bindings()

    def _show_gate_detail(self) -> None:
        e = self.evaluation
        width = self.query_one("#gate-box").size.width - 2
        self.query_one("#gate-detail", Static).update(
            gate_detail(e, width if width > 20 else self.app.size.width - 4)
            if e is not None
            else self._not_evaluated()
        )

    def _not_evaluated(self) -> str:
        if self.run_id is None:
            return "No run is chosen: choose one in Train (4), or pick a run above (r)."
        if self.state is not None and not self.state.has_model:
            return (
                f"Run {self.run_id} has not been evaluated: e refits it on the training part, "
                "makes it the chosen run and judges it on the holdout."
            )
        return f"Run {self.run_id} has not been evaluated yet: press e to judge it on the holdout."

    def _show_banner(self) -> None:
        self.query_one(GateBanner).show(
            self.evaluation,
            self._not_evaluated(),
            self.state.charter_version if self.state else None,
            3 if self.app.size.width >= 100 else 2,
        )

    def _show_line(self) -> None:
        e = self.evaluation
        line = self.query_one("#eval-line", Static)
        if e is None:
            line.update("not evaluated")
            return
        when = e.created_at.strftime("%Y-%m-%d") if e.created_at else ""
        line.update(f"charter v{e.charter_version} · {e.n_holdout:,} holdout rows · {when}")

    # -- the live threshold -----------------------------------------------------------------

    def on_holdout_scored(self, message: HoldoutScored) -> None:
        e = self.evaluation
        if e is None or (message.scores.run_id, message.scores.evaluation_id) != (e.run_id, e.id):
            return
        self.scores = message.scores
        self.show_threshold()
        # The evaluation, the holdout scores and the ML libraries stay loaded: keep them out
        # of the collector's full passes so a threshold step never waits for one.
        gc.collect()
        gc.freeze()

    def show_threshold(self) -> None:
        """Put the tried threshold everywhere it shows: the metrics tab and the plots."""
        self.query_one(MetricsPane).show_threshold(
            self.evaluation,
            self.threshold,
            self.scores,
            self.state.charter if self.state else None,
            self.scores_problem,
        )
        self._draw_plot()
        # Only the "store T" binding depends on the threshold; re-laying out the footer on
        # every step would cost more than the whole metrics update.
        storable = (
            self.evaluation is not None
            and self.threshold is not None
            and self.threshold != self.evaluation.threshold
        )
        if storable != self._storable:
            self._storable = storable
            self.refresh_bindings()

    def action_threshold(self, steps: int) -> None:
        """Move the tried threshold by ``steps`` × 0.01 (label metrics follow live)."""
        if self.threshold is None:
            return
        self.threshold = nudge(self.threshold, steps)
        self.show_threshold()

    def action_reset_threshold(self) -> None:
        """Back to the stored threshold."""
        if self.evaluation is not None and self.evaluation.threshold is not None:
            self.threshold = self.evaluation.threshold
            self.show_threshold()

    @on(Input.Submitted, "#threshold-input")
    def _threshold_typed(self, event: Input.Submitted) -> None:
        value = parse_threshold(event.value)
        if value is None:
            self.notify("A threshold is a number between 0 and 1, e.g. 0.4.", severity="warning")
            return
        self.threshold = value
        self.query_one("#metric-table", DataTable).focus()
        self.show_threshold()

    # -- plots -------------------------------------------------------------------------------

    def _draw_plot(self) -> None:
        scores = self.scores if self.threshold is not None else None
        self.query_one(PlotsPane).show(self.evaluation, self.plot_kind, self.threshold, scores)

    def action_next_plot(self) -> None:
        """Cycle the plots of this task."""
        self.plot_kind += 1
        self.query_one("#eval-tabs", TabbedContent).active = "tab-plots"
        self._draw_plot()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "evaluate-scores" and event.state is WorkerState.ERROR:
            error = event.worker.error
            self.scores_problem = f"no live threshold: {getattr(error, 'message', error)}"
            self.show_threshold()

    # -- results ---------------------------------------------------------------------------

    def on_evaluation_finished(self, message: EvaluationFinished) -> None:
        self._finished()
        e = message.evaluation
        self.notify(f"Gate {e.gate.outcome.label}: {e.gate.summary}", markup=False, timeout=6)
        self.run_id = e.run_id
        self.show(e)
        self.load_stored(e.run_id)  # the picker marks and the charter version
        self.mlwb.refresh_status()

    # -- the card ----------------------------------------------------------------------------

    async def on_card_written(self, message: CardWritten) -> None:
        if self.evaluation is None or message.run_id != self.evaluation.run_id:
            return
        self._card_run = message.run_id
        await self.query_one("#card", Markdown).update(message.markdown)

    # -- navigation --------------------------------------------------------------------------

    def action_pick_run(self) -> None:
        """Open the run picker."""
        picker = self.query_one("#run-picker", Select)
        picker.focus()
        picker.expanded = True

    def action_tab(self, pane: str) -> None:
        """Show one tab."""
        self.query_one("#eval-tabs", TabbedContent).active = pane
        self.query_one(TABS[pane]).focus()

    @on(TabbedContent.TabActivated, "#eval-tabs")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        self.call_after_refresh(self._refit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._refit)

    def _refit(self) -> None:
        """Lay the text out again for the new size (wrapping, bars that fit, the banner)."""
        if self.evaluation is None:
            return
        self._show_banner()
        self._show_gate_detail()
        self.query_one(ImportancePane).show(self.evaluation)
        self.show_threshold()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand("Evaluate", "Judge the picked run on the holdout", self.action_evaluate)
        yield SystemCommand(
            "Tune the threshold",
            "Tune it on out-of-fold predictions of the training part, then evaluate",
            self.action_tune,
        )
        yield SystemCommand(
            "Store the tried threshold",
            "Evaluate again at the threshold being tried and keep it with the model",
            self.action_store_threshold,
        )
        yield SystemCommand("Pick a run", "Choose which run to judge", self.action_pick_run)
        for pane, title in (
            ("tab-gate", "gate checks"),
            ("tab-metrics", "metrics"),
            ("tab-plots", "plots"),
            ("tab-segments", "segments"),
            ("tab-importance", "importance"),
            ("tab-card", "model card"),
        ):
            yield SystemCommand(
                f"Show the {title}", f"The {title} of the evaluation", self._tab_opener(pane)
            )

    def _tab_opener(self, pane: str) -> Any:
        return lambda: self.action_tab(pane)
