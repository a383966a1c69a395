"""Lesson checkpoints, creating a lesson project, and resetting one to a stage.

The checkpoint of a stage is the project as it stands when that stage begins: the lesson's
base project with the reference solution of every earlier stage applied. Checkpoints are
built once, each from the one before, and cached under the demo root
(``lesson-checkpoints/LESSON/NN-STAGE``) with a marker naming the mlwb version, so a second
reset only copies a folder.

A reset never loses work: the checkpoint is copied beside the learner's project first, then
the project is renamed to a timestamped backup and the copy renamed into its place. If
anything fails before the swap, the project is untouched. A project open in an mlwb TUI (see
``storage.presence``) or held by another mlwb process is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.domain.lesson import Lesson
from app.domain.stages import Stage
from app.errors import MlwbError
from app.services.demo import default_demo_root
from app.services.lesson import get_lesson, record_lesson, require_lesson
from app.services.lesson_reference import (
    create_base,
    lesson_files,
    solution_fingerprint,
    solve,
)
from storage.db import ProjectStore, is_project, mlwb_version
from storage.presence import exclusive

MARKER = "lesson-checkpoint.json"
Progress = Callable[[str], None]


def _quiet(text: str) -> None:
    """A progress callback that ignores reports."""


# -- checkpoints ----------------------------------------------------------------------------


def checkpoint_root(root: Path | None = None) -> Path:
    """Where built checkpoints are cached."""
    return (root or default_demo_root()) / "lesson-checkpoints"


def _checkpoint_dir(lesson: Lesson, stage: Stage, root: Path) -> Path:
    return checkpoint_root(root) / lesson.name / f"{stage.number:02d}-{stage.value}"


def _valid(folder: Path, lesson: Lesson, stage: Stage) -> bool:
    marker = folder / MARKER
    if not (is_project(folder) and marker.is_file()):
        return False
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return data == _marker(lesson, stage)


def _marker(lesson: Lesson, stage: Stage) -> dict[str, str]:
    """What a checkpoint was built from: a change to any of it rebuilds the checkpoint."""
    return {
        "lesson": lesson.name,
        "stage": stage.value,
        "mlwb": mlwb_version(),
        "solution": solution_fingerprint(lesson.dataset),
    }


def _copy(source: Path, target: Path) -> None:
    """Copy a project folder, leaving the checkpoint marker behind."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(MARKER, "*.tmp", "*.wal"))


def checkpoint(
    lesson: Lesson, stage: Stage, root: Path | None = None, on_progress: Progress = _quiet
) -> Path:
    """The cached checkpoint folder at the start of ``stage`` (built now if missing)."""
    root = root or default_demo_root()
    folder = _checkpoint_dir(lesson, stage, root)
    if _valid(folder, lesson, stage):
        return folder
    stages = list(Stage)
    position = stages.index(stage)
    building = folder.with_name(f".{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    try:
        if position == 0:
            on_progress(f"building the {lesson.name} lesson project")
            store = create_base(building, lesson.dataset, root)
            record_lesson(store, lesson, lesson_files(lesson.dataset, root).folder)
        else:
            earlier = stages[position - 1]
            previous = checkpoint(lesson, earlier, root, on_progress)
            on_progress(f"running the reference solution of {earlier.title}")
            _copy(previous, building)
            solve(ProjectStore.open(building), lesson.dataset, earlier, root)
        (building / MARKER).write_text(json.dumps(_marker(lesson, stage)))
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(building, folder)
        except OSError:
            if not _valid(folder, lesson, stage):  # another process built it meanwhile
                raise
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return folder


# -- creating and resetting learners' projects ---------------------------------------------


def default_lesson_path(name: str, root: Path | None = None) -> Path:
    """Where ``mlwb lesson NAME`` puts the project by default."""
    return (root or default_demo_root()) / f"lesson-{name}"


def create_project(
    name: str, path: Path | None = None, root: Path | None = None, on_progress: Progress = _quiet
) -> ProjectStore:
    """Open the lesson project at ``path``, or create it from the first checkpoint."""
    lesson = get_lesson(name)
    target = Path(path) if path else default_lesson_path(name, root)
    if is_project(target):
        store = ProjectStore.open(target)
        found, _ = require_lesson(store)
        if found.name != lesson.name:
            raise MlwbError(
                f"{target} follows the {found.name!r} lesson, not {lesson.name!r}",
                hint=f"run mlwb lesson {found.name}, or pass --path to another folder",
            )
        return store
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MlwbError(
            f"{target} exists and is not an mlwb project", hint="pass --path to an empty folder"
        )
    source = checkpoint(lesson, Stage.PROBLEM, root, on_progress)
    if target.exists():
        target.rmdir()
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy(source, target)
    return ProjectStore.open(target)


@dataclass(frozen=True)
class ResetResult:
    """What a reset did."""

    project: Path
    backup: Path
    lesson: str
    stage: Stage
    seconds: float


def _backup_path(project: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = project.with_name(f"{project.name}.backup-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = project.with_name(f"{project.name}.backup-{stamp}-{n}")
    return candidate


def reset(
    project: Path, stage: Stage, root: Path | None = None, on_progress: Progress = _quiet
) -> ResetResult:
    """Put the lesson project at ``project`` in the state at the start of ``stage``; the
    previous project is kept as a timestamped backup beside it."""
    started = time.monotonic()
    project = Path(project).expanduser()
    if not is_project(project):
        raise MlwbError(
            f"{project} is not an mlwb project",
            hint="pass --project with the learner's lesson project folder",
        )
    project = project.resolve()
    lesson, _ = require_lesson(ProjectStore.open(project))
    with exclusive(project):
        source = checkpoint(lesson, stage, root, on_progress)
        staged = project.with_name(f".{project.name}.reset-{os.getpid()}")
        shutil.rmtree(staged, ignore_errors=True)
        try:
            _copy(source, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        backup = _backup_path(project)
        on_progress(f"moving the current project to {backup}")
        os.replace(project, backup)
        try:
            os.replace(staged, project)
        except BaseException:
            os.replace(backup, project)
            shutil.rmtree(staged, ignore_errors=True)
            raise
    store = ProjectStore.open(project)
    root = root or default_demo_root()
    record_lesson(
        store,
        lesson,
        lesson_files(lesson.dataset, root).folder,
        "reset",
        to=stage.value,
        backup=str(backup),
    )
    return ResetResult(project, backup, lesson.name, stage, time.monotonic() - started)
