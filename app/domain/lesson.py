"""Lesson mode: a guided workshop over a demo project, as tasks per lifecycle stage.

A task says what to do, why the default that solves it exists (and what goes wrong without
it), and carries hints revealed one at a time. Progress is never a flag the learner sets:
each task is checked against the project store, and the check gives its evidence.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.domain.stages import Stage


class Task(BaseModel, frozen=True):
    """One thing a learner does in one stage."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    stage: Stage
    title: str
    todo: str
    """What to do, in a sentence or two."""
    why: str
    """What the default or the step means, and what goes wrong without it."""
    hints: list[str] = Field(default_factory=list)


class Lesson(BaseModel, frozen=True):
    """A workshop over one demo dataset: its tasks in lifecycle order."""

    name: str
    dataset: str
    title: str
    tasks: list[Task]

    def task(self, task_id: str) -> Task | None:
        """The task with this id, or None."""
        return next((t for t in self.tasks if t.id == task_id), None)

    def stage_tasks(self, stage: Stage) -> list[Task]:
        """The tasks of one stage, in order."""
        return [t for t in self.tasks if t.stage is stage]


class TaskProgress(BaseModel):
    """Whether a task is done, and the evidence found in the project store."""

    task_id: str
    done: bool
    evidence: str

    @property
    def mark(self) -> str:
        """✓ when done, ○ when not."""
        return "✓" if self.done else "○"


class LessonProgress(BaseModel):
    """Every task's progress in one lesson project."""

    lesson: str
    tasks: list[TaskProgress]

    def of(self, task_id: str) -> TaskProgress | None:
        """The progress of one task, or None."""
        return next((t for t in self.tasks if t.task_id == task_id), None)

    @property
    def n_done(self) -> int:
        """How many tasks are done."""
        return sum(t.done for t in self.tasks)
