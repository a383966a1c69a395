"""Lesson mode: which lesson a project follows, its progress, and hints on request.

The lesson a project follows is an event of stage ``lesson`` (``started`` or ``reset``) whose
details name it and the folder of its data files; a demo project made by ``mlwb demo`` is
recognised by its name. Hints shown are events too, so the next request shows the next hint
and an instructor can see who needed which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.lesson import Lesson, LessonProgress, Task
from app.domain.stages import Stage, StageStatus
from app.errors import MlwbError
from app.services.demo import DEMO_CHARTERS
from app.services.lesson_catalog import LESSONS
from app.services.lesson_checks import CHECKS, read_facts
from storage import repositories as repo
from storage.db import ProjectStore

STAGE = "lesson"


@dataclass(frozen=True)
class LessonRecord:
    """The lesson a project follows and where its data files are."""

    name: str
    data: Path | None


def get_lesson(name: str) -> Lesson:
    """The lesson called ``name`` (a clear error for an unknown one)."""
    found = LESSONS.get(name)
    if found is None:
        raise MlwbError(f"there is no lesson {name!r}", hint=f"choose one of {', '.join(LESSONS)}")
    return found


def lesson_record(store: ProjectStore) -> LessonRecord | None:
    """The lesson recorded in the project, or the demo it was made from, or None."""
    with store.connect() as con:
        row = con.execute(
            "SELECT details FROM events WHERE stage = ? AND action IN ('started', 'reset') "
            "ORDER BY id DESC LIMIT 1",
            [STAGE],
        ).fetchone()
    if row is not None:
        details = json.loads(row[0]) if row[0] else {}
        name = details.get("lesson")
        if name in LESSONS:
            data = details.get("data")
            return LessonRecord(name, Path(data) if data else None)
    for name, charter in DEMO_CHARTERS.items():
        if store.name == charter["name"] and name in LESSONS:
            return LessonRecord(name, None)
    return None


def require_lesson(store: ProjectStore) -> tuple[Lesson, LessonRecord]:
    """The project's lesson, or a clear error when it is not a lesson or demo project."""
    record = lesson_record(store)
    if record is None:
        raise MlwbError(
            f"{store.root} is not a lesson or demo project",
            hint="start one with: mlwb lesson adult (or bikes) --path FOLDER",
        )
    return get_lesson(record.name), record


def record_lesson(
    store: ProjectStore, lesson: Lesson, data: Path, action: str = "started", **extra: Any
) -> None:
    """Write the lesson event (``started`` or ``reset``) into the project."""
    with store.transaction() as con:
        repo.record_event(
            con,
            STAGE,
            action,
            f"lesson {lesson.name!r} {action}"
            + (f" at the start of {extra['to']}" if "to" in extra else ""),
            {"lesson": lesson.name, "data": str(data), **extra},
        )


def progress(
    store: ProjectStore, lesson: Lesson, statuses: list[StageStatus] | None = None
) -> LessonProgress:
    """Check every task of ``lesson`` against the project store."""
    if statuses is None:
        from app.services.lifecycle import stage_statuses

        statuses = stage_statuses(store)
    facts = read_facts(store, lesson.dataset, statuses)
    return LessonProgress(lesson=lesson.name, tasks=[CHECKS[t.id](facts) for t in lesson.tasks])


def current_stage(lesson: Lesson, found: LessonProgress) -> Stage:
    """The first stage with a task not done (the last stage when everything is done)."""
    for task in lesson.tasks:
        state = found.of(task.id)
        if state is not None and not state.done:
            return task.stage
    return lesson.tasks[-1].stage


def fill(text: str, record: LessonRecord | None) -> str:
    """``text`` with ``{batches}`` replaced by the lesson's batch folder."""
    from app.services.lesson_reference import batch_folder

    folder = "the lesson data folder"
    if record is not None:
        folder = str(batch_folder(record.name, record.data))
    return text.replace("{batches}", folder)


@dataclass(frozen=True)
class Hint:
    """One hint of a task: its text and its position."""

    task: Task
    text: str
    number: int
    total: int


def _require_task(lesson: Lesson, task_id: str) -> Task:
    task = lesson.task(task_id)
    if task is None:
        raise MlwbError(
            f"lesson {lesson.name!r} has no task {task_id!r}",
            hint="task ids: " + ", ".join(t.id for t in lesson.tasks),
        )
    return task


def next_hint(store: ProjectStore, lesson: Lesson, task_id: str) -> Hint:
    """The next hint of ``task_id`` (the last one again once all were shown); recorded."""
    task = _require_task(lesson, task_id)
    if not task.hints:
        raise MlwbError(f"task {task_id!r} has no hints", hint="read its explanation instead")
    with store.transaction() as con:
        row = con.execute(
            "SELECT count(*) FROM events WHERE stage = ? AND action = 'hint' "
            "AND json_extract_string(details, '$.task') = ?",
            [STAGE, task_id],
        ).fetchone()
        shown = int(row[0]) if row else 0
        index = min(shown, len(task.hints) - 1)
        repo.record_event(
            con,
            STAGE,
            "hint",
            f"hint {index + 1}/{len(task.hints)} of task {task_id!r}",
            {"lesson": lesson.name, "task": task_id, "hint": index + 1},
        )
    record = lesson_record(store)
    return Hint(task, fill(task.hints[index], record), index + 1, len(task.hints))
