"""The lesson panel: the open stage's tasks with done marks, why they matter, and hints.

The panel only draws what the app already holds (``MlwbApp.lesson_view``); progress is
computed with the stage states in the app's status worker, and hints come from a worker too.
It docks on the right of wide terminals and at the bottom of narrow ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from app.domain.lesson import Lesson, LessonProgress, Task
from app.domain.stages import Stage


@dataclass
class LessonView:
    """What the panel shows: the lesson, its progress, and the hints revealed so far."""

    lesson: Lesson | None = None
    progress: LessonProgress | None = None
    problem: str = ""
    """Why there is no lesson to show (e.g. the project follows none)."""
    hints: dict[str, str] = field(default_factory=dict)
    fill: dict[str, str] = field(default_factory=dict)
    """Placeholders in task texts, e.g. ``{batches}``."""

    def focus_task(self, stage: Stage) -> Task | None:
        """The task the panel explains in ``stage``: the first one not done, else the last."""
        if self.lesson is None:
            return None
        tasks = self.lesson.stage_tasks(stage)
        for task in tasks:
            state = self.progress.of(task.id) if self.progress else None
            if state is None or not state.done:
                return task
        return tasks[-1] if tasks else None

    def text(self, raw: str) -> str:
        """``raw`` with its placeholders filled."""
        for key, value in self.fill.items():
            raw = raw.replace("{" + key + "}", value)
        return raw


class LessonPanel(VerticalScroll):
    """The lesson's tasks for one stage, docked beside (or below) the stage's own widgets."""

    def __init__(self, stage: Stage) -> None:
        super().__init__(id="lesson-panel")
        self.stage = stage

    def compose(self) -> ComposeResult:
        yield Static("Lesson", id="lesson-head")
        yield Static("", id="lesson-tasks")
        yield Static("", id="lesson-explain")
        yield Static("", id="lesson-hint")
        yield Static("ctrl+l hide · f6 hint", id="lesson-keys")

    def on_mount(self) -> None:
        view = getattr(self.app, "lesson_view", None)
        self.display = bool(getattr(self.app, "lesson_on", False))
        if view is not None:
            self.show(view)

    def show(self, view: LessonView) -> None:
        """Draw ``view`` for this panel's stage."""
        head = self.query_one("#lesson-head", Static)
        tasks = self.query_one("#lesson-tasks", Static)
        explain = self.query_one("#lesson-explain", Static)
        hint = self.query_one("#lesson-hint", Static)
        if view.lesson is None:
            head.update("[b]Lesson[/b]")
            tasks.update(escape(view.problem or "Reading the lesson…"))
            explain.update("")
            hint.update("")
            return
        done = f" · {view.progress.n_done}/{len(view.progress.tasks)} done" if view.progress else ""
        head.update(
            f"[b]Lesson {escape(view.lesson.name)} · {self.stage.number} {self.stage.title}[/b]"
            f"{done}"
        )
        tasks.update(self._tasks(view))
        focus = view.focus_task(self.stage)
        if focus is None:
            explain.update("No task in this stage.")
            hint.update("")
            return
        explain.update(
            f"[b]{escape(focus.title)}[/b]\n{escape(view.text(focus.todo))}\n\n"
            f"[i]Why:[/i] {escape(view.text(focus.why))}"
        )
        shown = view.hints.get(focus.id)
        hint.update(escape(shown) if shown else f"f6: a hint for “{escape(focus.title)}”")
        hint.set_class(bool(shown), "-shown")

    def _tasks(self, view: LessonView) -> str:
        assert view.lesson is not None
        lines = []
        for task in view.lesson.stage_tasks(self.stage):
            state = view.progress.of(task.id) if view.progress else None
            mark = state.mark if state else "·"
            style = "$success" if state and state.done else "$warning"
            lines.append(f"[{style}]{mark}[/] {escape(task.title)}")
            if state is not None:
                lines.append(f"  [$text-muted]{escape(state.evidence)}[/]")
        return "\n".join(lines)
