"""The Textual app: one mode per lifecycle stage, a stage stepper, help, palette, errors."""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from app.domain.guide import STAGE_GUIDE, STAGE_PURPOSE
from app.domain.lesson import Lesson, LessonProgress
from app.domain.project import ProjectInfo
from app.domain.stages import Stage, StageStatus
from app.errors import MlwbError, ValidationFailed
from app.services import lesson as lesson_service
from app.services.lifecycle import stage_statuses
from screens.base import StageScreen
from screens.data import DataScreen
from screens.deploy import DeployScreen
from screens.evaluate import EvaluateScreen
from screens.explore import ExploreScreen
from screens.lesson import LessonView
from screens.modals import ErrorModal, HelpModal
from screens.monitor import MonitorScreen
from screens.overview import StageOverviewScreen
from screens.problem import ProblemScreen
from screens.retrain import RetrainScreen
from screens.train import TrainScreen
from storage import repositories as repo
from storage.db import ProjectStore
from storage.presence import ProjectPresence


@dataclass
class StatusRefreshed(Message):
    """Fresh lifecycle states were computed from the store."""

    info: ProjectInfo
    statuses: list[StageStatus]
    lesson: LessonView | None = None


@dataclass
class LessonHintShown(Message):
    """The next hint of a lesson task was read (and recorded) in a worker."""

    task_id: str
    text: str


def _overview(stage: Stage):  # noqa: ANN202 - a screen factory for MODES
    return lambda: StageOverviewScreen(stage)


class MlwbApp(App[None]):
    """mlwb: the whole ML lifecycle, one stage per mode."""

    CSS_PATH = "app.tcss"
    TITLE = "mlwb"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    MODES = {
        Stage.PROBLEM.value: ProblemScreen,
        Stage.DATA.value: DataScreen,
        Stage.EXPLORE.value: ExploreScreen,
        Stage.TRAIN.value: TrainScreen,
        **{stage.value: _overview(stage) for stage in list(Stage)[4:]},
        Stage.EVALUATE.value: EvaluateScreen,
        Stage.DEPLOY.value: DeployScreen,
        Stage.MONITOR.value: MonitorScreen,
        Stage.RETRAIN.value: RetrainScreen,
    }
    DEFAULT_MODE = Stage.PROBLEM.value
    BINDINGS = [
        *[
            Binding(
                str(stage.number),
                f"stage('{stage.value}')",
                stage.title,
                show=False,
                tooltip=STAGE_PURPOSE[stage],
                id=f"stage.{stage.value}",
            )
            for stage in Stage
        ],
        Binding("f1", "help", "Help", tooltip="Help on this stage", id="app.help"),
        Binding("question_mark", "help", "Help", show=False, id="app.help_q"),
        Binding("ctrl+q", "quit", "Quit", tooltip="Leave mlwb", id="app.quit"),
        Binding(
            "ctrl+l",
            "toggle_lesson",
            "Lesson",
            show=False,
            tooltip="Show or hide the lesson panel",
            id="app.lesson",
        ),
        Binding("f6", "lesson_hint", "Hint", show=False, tooltip="Next lesson hint", id="app.hint"),
    ]

    def __init__(
        self, store: ProjectStore, start: Stage = Stage.PROBLEM, lesson: bool = False
    ) -> None:
        super().__init__()
        self.store = store
        self.start = start
        self.lesson_on = lesson
        self.lesson_view = LessonView()
        self._presence = ProjectPresence(store.root)
        self.statuses: list[StageStatus] = []
        self.project_name = store.name
        self._status_running = False
        self._status_again = False

    def on_mount(self) -> None:
        self._presence.hold()
        self.title = self.project_name
        self.switch_mode(self.start.value)
        self.refresh_status()

    def on_unmount(self) -> None:
        self._presence.release()

    # -- lifecycle state -------------------------------------------------------------------

    def refresh_status(self) -> None:
        """Recompute every stage's state off the UI thread (coalescing repeated requests)."""
        if self._status_running:
            self._status_again = True
            return
        self._status_running = True
        self._read_status()

    @work(thread=True, group="status", exit_on_error=False, description="Reading project state")
    def _read_status(self) -> None:
        statuses = stage_statuses(self.store)
        with self.store.connect() as con:
            info = repo.project_info(con)
        view = self._read_lesson(statuses) if self.lesson_on else None
        self.post_message(StatusRefreshed(info, statuses, view))

    def _read_lesson(self, statuses: list[StageStatus]) -> LessonView:
        """The lesson and its progress (called in the status worker)."""
        try:
            lesson, record = lesson_service.require_lesson(self.store)
        except MlwbError as exc:
            return LessonView(problem=exc.one_line())
        found: LessonProgress = lesson_service.progress(self.store, lesson, statuses)
        batches = lesson_service.fill("{batches}", record)
        return LessonView(lesson, found, fill={"batches": batches})

    def _status_done(self) -> None:
        self._status_running = False
        if self._status_again:
            self._status_again = False
            self.refresh_status()

    def on_status_refreshed(self, message: StatusRefreshed) -> None:
        self._status_done()
        self.statuses = message.statuses
        self.project_name = message.info.name
        self.title = message.info.name
        if message.lesson is not None:
            message.lesson.hints = self.lesson_view.hints
            self.lesson_view = message.lesson
        if isinstance(self.screen, StageScreen):
            self.screen.show_statuses(message.statuses)

    # -- actions ---------------------------------------------------------------------------

    def action_stage(self, name: str) -> None:
        """Switch to a stage (all stages open; locked ones say what to do first)."""
        self.switch_mode(name)

    def action_help(self) -> None:
        """Help on the current stage."""
        stage = self.current_mode if self.current_mode in Stage._value2member_map_ else "problem"
        self.push_screen(HelpModal(STAGE_GUIDE[Stage(stage)]))

    # -- lesson mode -------------------------------------------------------------------------

    def action_toggle_lesson(self) -> None:
        """Show or hide the lesson panel (its progress is read with the stage states)."""
        self.lesson_on = not self.lesson_on
        if isinstance(self.screen, StageScreen):
            self.screen.show_lesson()
        if self.lesson_on:
            self.refresh_status()

    def action_lesson_hint(self) -> None:
        """Reveal the next hint of the open stage's first task not done yet."""
        if not self.lesson_on:
            self.action_toggle_lesson()
        stage = Stage(self.current_mode) if self.current_mode in Stage._value2member_map_ else None
        task = self.lesson_view.focus_task(stage) if stage else None
        lesson = self.lesson_view.lesson
        if task is None or lesson is None:
            why = self.lesson_view.problem or "The lesson is still being read; try again."
            self.notify(why, timeout=5, markup=False)
            return
        self._read_hint(lesson, task.id)

    @work(thread=True, group="lesson", exit_on_error=False, description="Reading a hint")
    def _read_hint(self, lesson: Lesson, task_id: str) -> None:
        hint = lesson_service.next_hint(self.store, lesson, task_id)
        self.post_message(LessonHintShown(task_id, f"Hint {hint.number}/{hint.total}: {hint.text}"))

    def on_lesson_hint_shown(self, message: LessonHintShown) -> None:
        self.lesson_view.hints[message.task_id] = message.text
        if isinstance(self.screen, StageScreen):
            self.screen.show_lesson()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for stage in Stage:
            yield SystemCommand(
                f"Go to {stage.number} {stage.title}",
                STAGE_PURPOSE[stage],
                lambda s=stage.value: self.action_stage(s),
            )
        yield SystemCommand("Help", "What this stage is for and how to use it", self.action_help)
        yield SystemCommand(
            "Lesson mode: show or hide the lesson panel",
            "The workshop's tasks for this stage, checked against the project (ctrl+l)",
            self.action_toggle_lesson,
        )
        yield SystemCommand(
            "Lesson: next hint",
            "Reveal the next hint of this stage's first open task (f6)",
            self.action_lesson_hint,
        )
        yield SystemCommand(
            "Write the lifecycle report",
            "report.md and report.html of the whole project, in the project folder",
            self.action_write_report,
        )
        if isinstance(screen, StageScreen):
            yield from screen.palette_commands()
        yield from super().get_system_commands(screen)

    def action_write_report(self) -> None:
        """Write report.md and report.html into the project folder (in a worker)."""
        self.notify("Writing the lifecycle report…", timeout=3)
        self._write_report()

    @work(thread=True, group="report", exit_on_error=False, description="Writing the report")
    def _write_report(self) -> None:
        from app.services.report import write_report  # loads the ML services: not at start-up

        root = self.store.root
        write_report(self.store, root / "report.md", root / "report.html")
        self.call_from_thread(
            self.notify, f"Wrote {root / 'report.md'} and report.html", markup=False
        )

    # -- errors ----------------------------------------------------------------------------

    def report_worker_error(self, worker: Worker[object]) -> None:
        """Show a failed worker's error: a notification or, with detail, the error modal."""
        error = worker.error
        if isinstance(error, ValidationFailed):
            detail = "\n".join(f"{f}: {m}" for f, m in error.problems)
            self.push_screen(ErrorModal(error.message, f"{detail}\n\n{error.hint}".strip()))
        elif isinstance(error, MlwbError):
            self.notify(
                error.one_line(), title="Not done", severity="error", markup=False, timeout=8
            )
        elif error is not None:
            text = "".join(traceback.format_exception(error))
            self.push_screen(
                ErrorModal(f"Unexpected error in {worker.description or worker.name}", text)
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            if event.worker.group == "status":
                self._status_done()
            self.report_worker_error(event.worker)
