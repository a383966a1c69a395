"""Stage 4: pick candidate models, cross-validate them in a worker, read the leaderboard.

Until there is data to train on (a charter with a target and a dataset that fits it) the
screen shows the stage overview: what Train is for and what to do first. Training runs in a
thread worker that reports every fold as a message; Cancel asks the service to stop after the
current fold, and every finished run stays in the project for ``resume``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, ProgressBar, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from app.domain.metrics import METRICS, TaskType
from app.domain.stages import Stage, StageState, StageStatus
from app.domain.training import CANDIDATES, Run, RunStatus, Session, TrainSettings
from screens.modals import ConfirmModal
from screens.overview import StageOverviewScreen
from screens.train_format import fmt, session_text, size_text
from screens.train_messages import (
    LeaderboardLoaded,
    RunChosen,
    SetupLoaded,
    SummaryLoaded,
    TrainingFinished,
    TrainingProgressed,
)
from screens.train_params import ParamEditor
from screens.train_progress import TrainProgress
from screens.train_results import RunDetail, board_legend, fill_leaderboard, wants_summary
from screens.train_setup import TrainSetup
from screens.widgets.progress_panel import ProgressPanel

if TYPE_CHECKING:
    from app.services.training import Leaderboard, TrainEvent

TABS = {
    "tab-setup": "#candidates",
    "tab-progress": "#train-progress",
    "tab-board": "#leaderboard",
    "tab-run": "#run-detail",
}
TRAIN_ACTIONS = {"start", "cancel_training", "preset", "edit_params", "resume", "choose", "tab"}


class TrainScreen(StageOverviewScreen):
    """Candidates, settings, live progress, the leaderboard and the detail of a run."""

    BINDINGS = [
        Binding("t", "start", "Start", tooltip="Train the checked models", id="train.start"),
        Binding("ctrl+t", "start", "Start", show=False, id="train.start_anywhere"),
        Binding(
            "escape",
            "cancel_training",
            "Cancel",
            tooltip="Stop after the current fold (finished runs are kept)",
            id="train.cancel",
        ),
        Binding(
            "q", "preset('quick')", "Quick", tooltip="Check the quick preset", id="train.quick"
        ),
        Binding(
            "a",
            "preset('thorough')",
            "Thorough",
            show=False,
            tooltip="Check every model",
            id="train.thorough",
        ),
        Binding("e", "edit_params", "Params", tooltip="Edit hyperparameters", id="train.params"),
        Binding("r", "resume", "Resume", tooltip="Continue the last session", id="train.resume"),
        Binding(
            "c", "choose", "Choose", tooltip="Refit and keep the highlighted run", id="train.choose"
        ),
        Binding("s", "tab('tab-setup')", "Setup", show=False, id="train.tab_setup"),
        Binding("p", "tab('tab-progress')", "Progress", show=False, id="train.tab_progress"),
        Binding("l", "tab('tab-board')", "Leaderboard", show=False, id="train.tab_board"),
        Binding("d", "tab('tab-run')", "Run detail", show=False, id="train.tab_run"),
    ]

    def __init__(self) -> None:
        super().__init__(Stage.TRAIN)
        self.ready: bool | None = None
        self.charter_task: TaskType | None = None
        self.primary = ""
        self.params: dict[str, dict[str, Any]] = {}
        self.running = False
        self.choosing = False
        self._stop = threading.Event()
        self.board: Leaderboard | None = None
        self.board_runs: list[Run] = []
        self.chosen: int | None = None
        self.session: Session | None = None
        self.detail_run: Run | None = None
        self.summaries: dict[int, str | None] = {}
        self._lock_note = ""
        self._pinned: int | None = None
        """The run the user moved the leaderboard cursor to (kept across refreshes)."""
        self._shown: object = None
        self._board_reads = 0
        """What the leaderboard table shows (to skip refilling it with the same)."""

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        with Vertical(id="train-body", classes="stage-body"):
            yield Static("Reading the project…", id="train-line", markup=False)
            yield Static("", id="train-note", markup=False)
            with TabbedContent(id="train-tabs"):
                with TabPane("Setup (s)", id="tab-setup"):
                    yield TrainSetup(id="train-setup")
                with TabPane("Progress (p)", id="tab-progress"):
                    yield TrainProgress(id="progress-box")
                with TabPane("Leaderboard (l)", id="tab-board"):
                    yield DataTable(id="leaderboard", cursor_type="row", zebra_stripes=True)
                    with VerticalScroll(id="board-legend-box"):
                        yield Static("", id="board-legend", markup=False)
                with TabPane("Run (d)", id="tab-run"):
                    yield RunDetail(id="run-detail")
            with Horizontal(id="choose-progress"):
                yield ProgressBar(total=None, show_eta=False, show_percentage=False)
                yield Static("", id="choose-text", markup=False)
            yield ProgressPanel(id="train-panel")

    def on_mount(self) -> None:
        self.query_one("#train-body").display = False
        self.query_one("#choose-progress").display = False
        super().on_mount()

    def on_unmount(self) -> None:
        self._stop.set()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.ready:
            self.load_setup()
            self.load_board()

    # -- overview or tools -------------------------------------------------------------------

    def show_statuses(self, statuses: list[StageStatus]) -> None:
        super().show_statuses(statuses)
        data = next(s for s in statuses if s.stage is Stage.DATA)
        ready = data.state is StageState.DONE
        mine = next(s for s in statuses if s.stage is Stage.TRAIN)
        self._lock_note = (
            f"⚠ {mine.summary.rstrip('.')} (advised; training works anyway)."
            if mine.state is StageState.LOCKED
            else ""
        )
        note = self.query_one("#train-note", Static)
        note.update(self._lock_note)
        note.display = bool(self._lock_note)
        if ready == self.ready:
            return
        self.ready = ready
        self.query_one("#overview").display = not ready
        self.query_one("#train-body").display = ready
        self.refresh_bindings()
        if ready:
            self.query_one("#candidates").focus()
            self.load_setup()
            self.load_board()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TRAIN_ACTIONS and not self.ready:
            return False
        if action == "cancel_training":
            return self.running
        if action in ("resume", "choose"):
            return not self.running
        return super().check_action(action, parameters)

    # -- loading -----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="train-setup")
    def load_setup(self) -> None:
        """Read the charter's task and the current dataset (cheap: no ML imports)."""
        from app.services import browse, problem

        store = self.mlwb.store
        found = problem.current_charter(store)
        current = browse.current_dataset(store)
        if found is None or current is None:
            return
        c = found.charter
        dataset = f"{current.ref} · {current.n_rows:,} rows"
        self.post_message(SetupLoaded(c.task, c.primary_metric, c.target or "", dataset))

    def on_setup_loaded(self, message: SetupLoaded) -> None:
        self.charter_task, self.primary = message.task, message.primary
        self.query_one(TrainSetup).set_task(message.task)
        label = METRICS[message.primary].label if message.primary in METRICS else message.primary
        line = f"{message.dataset} · {message.task.label} of {message.target!r} · by {label}"
        self.query_one("#train-line", Static).update(line)

    def load_board(self) -> None:
        """Read the leaderboard again (only the newest read is shown: an older read that
        finishes late is dropped)."""
        self._board_reads += 1
        self._read_board(self._board_reads)

    @work(thread=True, exclusive=True, exit_on_error=False, group="train-board")
    def _read_board(self, read: int) -> None:
        """The leaderboard, the chosen run and the latest session."""
        from app.services import models
        from app.services import training as tr
        from storage import training as store_runs

        store = self.mlwb.store
        board = tr.leaderboard(store)
        chosen = models.chosen_run(store)
        with store.connect() as con:
            session = store_runs.latest_session(con)
        self.post_message(LeaderboardLoaded(board, chosen.id if chosen else None, session, read))

    def on_leaderboard_loaded(self, message: LeaderboardLoaded) -> None:
        if message.read != self._board_reads:
            return
        self.board, self.chosen, self.session = message.board, message.chosen, message.session
        self.query_one(TrainSetup).show_session(session_text(message.session))
        self.query_one("#board-legend", Static).update(board_legend(message.board, message.chosen))
        tabs = self.query_one("#train-tabs", TabbedContent)
        count = len(message.board.rows)
        tabs.get_tab("tab-board").label = f"Leaderboard: {count} (l)"  # type: ignore[assignment]
        if tabs.active in ("tab-board", "tab-run") or not self.board_runs:
            self._fill_board()

    def _fill_board(self) -> None:
        """Put the leaderboard in its table (skipped when nothing it shows changed)."""
        if self.board is None:
            return
        wide = self.app.size.width >= 100
        signature = (
            [(r.rank, r.run.id, r.p_value) for r in self.board.rows],
            [r.id for r in self.board.failed],
            self.chosen,
            wide,
        )
        if signature == self._shown:
            return
        self._shown = signature
        table = self.query_one("#leaderboard", DataTable)
        self.board_runs = fill_leaderboard(table, self.board, self.chosen, wide, self._pinned)
        self._show_run(table.cursor_row if self.board_runs else -1)

    @on(TabbedContent.TabActivated, "#train-tabs")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id in ("tab-board", "tab-run"):
            self._fill_board()

    def on_resize(self) -> None:
        self._fill_board()

    # -- the run detail ----------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#leaderboard")
    def _board_moved(self, event: DataTable.RowHighlighted) -> None:
        self._show_run(event.cursor_row)
        if self.focused is event.data_table and self.detail_run is not None:
            self._pinned = self.detail_run.id

    @on(DataTable.RowSelected, "#leaderboard")
    def _board_chosen(self) -> None:
        self.action_tab("tab-run")

    def _show_run(self, index: int) -> None:
        run = self.board_runs[index] if 0 <= index < len(self.board_runs) else None
        if run is not None and self.detail_run is not None and run.id == self.detail_run.id:
            return  # stored runs do not change: keep the pane (and its scroll) as it is
        self.detail_run = run
        detail = self.query_one(RunDetail)
        detail.show(run)
        if run is not None and wants_summary(run):
            if run.id in self.summaries:
                detail.show_summary(self.summaries[run.id] or "(no coefficient table)")
            else:
                detail.show_summary("Coefficient table: fitting the model…")
                self.load_summary(run)

    @work(thread=True, exclusive=True, exit_on_error=False, group="train-summary")
    def load_summary(self, run: Run) -> None:
        """The statsmodels coefficient table of ``run`` (refits it; a few seconds)."""
        from app.services import models

        self.post_message(SummaryLoaded(run.id, models.interpretable_summary(self.mlwb.store, run)))

    def on_summary_loaded(self, message: SummaryLoaded) -> None:
        self.summaries[message.run_id] = message.text
        if self.detail_run is not None and self.detail_run.id == message.run_id:
            self.query_one(RunDetail).show_summary(message.text or "(no coefficient table)")

    # -- settings ----------------------------------------------------------------------------

    def action_preset(self, name: str) -> None:
        """Check the models of a preset."""
        self.query_one(TrainSetup).preset(name)
        self.action_tab("tab-setup")
        self.notify(f"{name.capitalize()} preset checked.", timeout=2)

    def action_edit_params(self) -> None:
        """Open the hyperparameter editor on the highlighted model."""
        setup = self.query_one(TrainSetup)
        keys = setup.keys()

        def done(result: dict[str, dict[str, Any]] | None) -> None:
            if result is None:
                return
            self.params = {k: v for k, v in self.params.items() if k not in keys} | result
            setup.set_overrides(self.params)
            edited = sum(len(v) for v in result.values())
            self.notify(f"Hyperparameters saved: {edited} value(s) differ from the defaults.")

        self.app.push_screen(ParamEditor(keys, setup.highlighted(), self.params), done)

    def _settings(self) -> TrainSettings | None:
        setup = self.query_one(TrainSetup)
        values, errors = setup.validate()
        if errors:
            self.action_tab("tab-setup")
            name, message = next(iter(errors.items()))
            self.notify(
                f"{name.replace('_', ' ')}: {message}",
                title="Not started",
                severity="error",
                markup=False,
            )
            return None
        models = setup.models()
        params = {k: v for k, v in self.params.items() if k in models and v}
        try:
            return TrainSettings(models=models, params=params, **values)
        except ValidationError as exc:
            text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            self.notify(text, title="Not started", severity="error", markup=False)
            return None

    # -- training ----------------------------------------------------------------------------

    def action_start(self) -> None:
        """Train the checked models with the settings (refused while a session runs)."""
        if self.running:
            self.notify(
                "A training session is already running: wait for it or cancel it (esc).",
                title="Not started",
                severity="warning",
            )
            return
        settings = self._settings()
        if settings is not None:
            self._begin(settings.models, settings.cv, kept={})
            self.run_training(settings, resume=False)

    def action_resume(self) -> None:
        """Continue the latest session's missing candidates and trials."""
        if self.running:
            self.notify(
                "A training session is already running.", title="Not resumed", severity="warning"
            )
            return
        last = self.session
        if last is None:
            self.notify("There is no session to resume: start one (t).", severity="warning")
            return
        if last.status == "done":
            self.notify(f"Session {last.id} finished: nothing to resume.", severity="warning")
            return
        earlier = [r.run for r in self.board.rows] + self.board.failed if self.board else []
        kept = {r.candidate: r for r in earlier if r.session == last.id}
        self._begin(last.settings.models, last.settings.cv, kept)
        self.run_training(None, resume=True)

    def action_cancel_training(self) -> None:
        """Stop after the current fold; finished runs stay."""
        if self.running and not self._stop.is_set():
            self._stop.set()
            self.notify("Stopping after the current fold; finished runs are kept (r resumes).")

    def _begin(self, models: list[str], cv: int, kept: dict[str, Run]) -> None:
        self.running = True
        self._stop.clear()
        wide = self.app.size.width >= 100
        self.query_one(TrainProgress).begin(models, cv, kept, self.primary, wide)
        self.query_one(ProgressPanel).start(f"Training {len(models)} model(s)")
        self.action_tab("tab-progress")
        self.refresh_bindings()

    def _report_event(self, event: TrainEvent) -> None:
        """Called by the service on the worker thread: forward as a message."""
        self.post_message(TrainingProgressed(event))

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="train-run", description="Training"
    )
    def run_training(self, settings: TrainSettings | None, resume: bool) -> None:
        """One session in the service; cancelling sets the stop flag (never kills a fold)."""
        from app.services import training as tr

        worker = get_current_worker()
        try:
            session = tr.train(
                self.mlwb.store,
                settings or TrainSettings(models=["dummy"]),
                on_event=self._report_event,
                should_stop=lambda: self._stop.is_set() or worker.is_cancelled,
                resume=resume,
            )
        except tr.TrainingCancelled as exc:
            self.post_message(TrainingFinished(None, True, exc.message))
            return
        self.post_message(TrainingFinished(session, False, f"Session {session} finished."))

    def on_training_progressed(self, message: TrainingProgressed) -> None:
        e = message.event
        panel = self.query_one(ProgressPanel)
        progress = self.query_one(TrainProgress)
        name = CANDIDATES[e.candidate].label if e.candidate in CANDIDATES else ""
        trial = f"{e.trial + 1}/{e.trials}" if e.trials > 1 else ""
        if e.kind in ("start", "done"):
            panel.report(e.fraction, e.message)
        elif e.kind == "candidate":
            progress.started(e.candidate, trial, e.folds)
            panel.report(e.fraction, " ".join(filter(None, [name, trial])))
        elif e.kind == "fold":
            progress.fold_done(e.candidate, e.fold, e.folds, e.elapsed)
            where = " ".join(filter(None, [name, trial, f"fold {e.fold}/{e.folds}"]))
            panel.report(e.fraction, where)
        elif e.kind == "run" and e.run is not None:
            progress.run_done(e.candidate, e.run)
            panel.report(e.fraction, f"{name}: {e.run.status.value}")
            self.load_board()

    def on_training_finished(self, message: TrainingFinished) -> None:
        if message.cancelled:
            text = f"{message.text.capitalize()}. Resume (r) trains the rest."
        else:
            text = f"{message.text} See the leaderboard (l)."
        self._end_training(text)
        self.notify(text, title="Training", markup=False)
        self.load_board()
        self.mlwb.refresh_status()

    def _end_training(self, text: str = "") -> None:
        if not self.running:
            return
        self.running = False
        self.query_one(TrainProgress).end(text)
        self.query_one(ProgressPanel).finish()
        self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "train-run":
            self._end_training("Training stopped with an error; finished runs are kept.")
            self.load_board()
        elif event.worker.group == "train-choose":
            self._end_choose()

    # -- choosing ----------------------------------------------------------------------------

    def action_choose(self) -> None:
        """Refit the highlighted run on all training rows and keep it as the chosen model."""
        run = self.detail_run
        if run is None:
            self.notify("Highlight a run on the leaderboard first (l).", severity="warning")
            return
        if run.status is not RunStatus.DONE:
            self.notify(
                f"Run {run.id} {run.status.value}: choose a finished run.", severity="warning"
            )
            return
        if self.running or self.choosing:
            self.notify("Wait for the running work to finish, then choose.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.choosing = True
                box = self.query_one("#choose-progress")
                box.display = True
                self.query_one("#choose-text", Static).update(
                    f"Refitting run {run.id} ({run.candidate}) on all training rows…"
                )
                self.choose_run(run.id)

        self.app.push_screen(
            ConfirmModal(
                f"Choose run {run.id}: {run.label}?",
                f"It is refitted on the whole training part (never the holdout) and saved in the "
                f"project with skops; Evaluate uses it. CV {self.primary} "
                f"{fmt(run.mean.get(self.primary))}; model about {size_text(run.model_bytes)}.",
                yes="Choose",
            ),
            answered,
        )

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="train-choose",
        description="Refitting",
    )
    def choose_run(self, run_id: int) -> None:
        """Refit and save the run (the service has no cancel: it finishes)."""
        from app.services import models

        chosen = models.choose(self.mlwb.store, run_id)
        self.post_message(
            RunChosen(
                f"Run {run_id} ({chosen.run.label}) refitted on {chosen.n_rows:,} rows in "
                f"{chosen.seconds:.1f} s and saved ({size_text(chosen.bytes)}): it is the chosen "
                "model for Evaluate."
            )
        )

    def on_run_chosen(self, message: RunChosen) -> None:
        self._end_choose()
        self.notify(message.text, title="Chosen", markup=False, timeout=8)
        self.load_board()
        self.mlwb.refresh_status()

    def _end_choose(self) -> None:
        self.choosing = False
        self.query_one("#choose-progress").display = False

    # -- tabs and palette --------------------------------------------------------------------

    def action_tab(self, pane: str) -> None:
        """Show one tab and focus its main widget."""
        self.query_one("#train-tabs", TabbedContent).active = pane
        self.query_one(TABS[pane]).focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        if not self.ready:
            return
        commands: list[tuple[str, str, Any]] = [
            ("Start training", "Cross-validate the checked models", self.action_start),
            ("Cancel training", "Stop after the current fold", self.action_cancel_training),
            ("Resume training", "Continue the last session", self.action_resume),
            (
                "Quick preset",
                "Baseline, logistic, forest, boosting",
                partial(self.action_preset, "quick"),
            ),
            (
                "Thorough preset",
                "Every model for the task",
                partial(self.action_preset, "thorough"),
            ),
            ("Edit hyperparameters", "Per model, with ranges and help", self.action_edit_params),
            (
                "Choose the highlighted run",
                "Refit on all training rows, keep it",
                self.action_choose,
            ),
        ]
        for pane, title in (
            ("tab-setup", "setup"),
            ("tab-progress", "progress"),
            ("tab-board", "leaderboard"),
            ("tab-run", "run detail"),
        ):
            commands.append(
                (f"Show the {title}", f"The {title} tab", partial(self.action_tab, pane))
            )
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
