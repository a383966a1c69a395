"""``mlwb lesson``: the demo as a guided workshop (tasks, progress, hints, checkpoints).

``mlwb lesson [adult|bikes]`` creates or opens the lesson project and launches the TUI with
the lesson panel on; ``status``, ``hint``, ``reset`` and ``prepare`` work headless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.cli import debug_option, emit, json_option, project_option
from app.domain.stages import Stage

LESSON_NAMES = ("adult", "bikes")


class LessonGroup(click.Group):
    """A group where ``mlwb lesson [NAME] [--path P]`` means ``mlwb lesson start ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group("lesson", cls=LessonGroup)
def lesson() -> None:
    """Lesson mode: the demo as a guided workshop with tasks per stage.

    `mlwb lesson adult` (or bikes) opens the lesson project with the lesson panel on
    (ctrl+l toggles it, f6 shows a hint). `mlwb lesson status` checks progress,
    `mlwb lesson hint TASK` shows the next hint, and `mlwb lesson reset --to STAGE` puts a
    learner's project at the start of a stage (the old one is kept as a backup).
    """


def _printer(as_json: bool) -> Any:
    def report(text: str) -> None:
        if not as_json:
            click.echo(f"  {text}…", err=True)

    return report


@lesson.command("start")
@click.argument("name", type=click.Choice(LESSON_NAMES), default="adult", required=False)
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    default=None,
    help="The lesson project folder (default: $MLWB_HOME or ~/.local/share/mlwb/lesson-NAME).",
)
@click.option("--open/--no-open", "open_after", default=True, help="Open the TUI (default).")
@json_option
@debug_option
def start(name: str, path: Path | None, open_after: bool, as_json: bool) -> None:
    """Create (once) and open the lesson project NAME (adult or bikes)."""
    from app.services.lesson_reset import create_project

    store = create_project(name, path, on_progress=_printer(as_json or open_after))
    if open_after:
        from app.tui import MlwbApp

        MlwbApp(store, lesson=True).run()
        return
    emit(
        {"project": str(store.root), "lesson": name},
        as_json,
        f"lesson project {name!r}: {store.root}\n"
        f"next: mlwb lesson {name} --path {store.root}   (or: mlwb lesson status -p {store.root})",
    )


def _status_data(store: Any) -> dict[str, Any]:
    from app.services import lesson as svc

    found, record = svc.require_lesson(store)
    progress = svc.progress(store, found)
    stages = []
    for stage in Stage:
        tasks = [
            {
                "id": task.id,
                "title": task.title,
                "done": state.done,
                "evidence": state.evidence,
                "todo": svc.fill(task.todo, record),
                "why": svc.fill(task.why, record),
            }
            for task in found.stage_tasks(stage)
            if (state := progress.of(task.id)) is not None
        ]
        if tasks:
            stages.append({"stage": stage.value, "number": stage.number, "tasks": tasks})
    return {
        "project": str(store.root),
        "lesson": found.name,
        "title": found.title,
        "done": progress.n_done,
        "total": len(progress.tasks),
        "current_stage": svc.current_stage(found, progress).value,
        "stages": stages,
    }


def _status_text(data: dict[str, Any], explain: bool) -> str:
    lines = [
        f"Lesson {data['lesson']!r}: {data['title']}  ({data['project']})",
        f"{data['done']} of {data['total']} tasks done; next stage: {data['current_stage']}",
    ]
    for stage in data["stages"]:
        lines.append(f"\n  {stage['number']} {stage['stage'].capitalize()}")
        for task in stage["tasks"]:
            mark = "✓" if task["done"] else "○"
            lines.append(f"    {mark} {task['id']:<11} {task['title']}")
            lines.append(f"{'':18}{task['evidence']}")
            if explain:
                lines += [f"{'':18}{line}" for line in _wrap(f"To do: {task['todo']}")]
                lines += [f"{'':18}{line}" for line in _wrap(f"Why: {task['why']}")]
    return "\n".join(lines)


def _wrap(text: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, 62)


@lesson.command("status")
@click.option("--explain", "-e", is_flag=True, help="Also say what to do and why, for every task.")
@project_option
@json_option
@debug_option
def status(explain: bool, project: Path, as_json: bool) -> None:
    """Every task of the project's lesson, per stage, with ✓/○ and its evidence."""
    from storage.db import ProjectStore

    data = _status_data(ProjectStore.open(project))
    emit(data, as_json, lambda: _status_text(data, explain))


@lesson.command("hint")
@click.argument("task_id", metavar="TASK")
@project_option
@json_option
@debug_option
def hint(task_id: str, project: Path, as_json: bool) -> None:
    """Show the next hint of TASK (see the ids in `mlwb lesson status`)."""
    from app.services import lesson as svc
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    found, _ = svc.require_lesson(store)
    shown = svc.next_hint(store, found, task_id)
    emit(
        {"task": task_id, "hint": shown.text, "number": shown.number, "total": shown.total},
        as_json,
        f"{shown.task.title} — hint {shown.number}/{shown.total}:\n  {shown.text}",
    )


@lesson.command("reset")
@click.option(
    "--to",
    "stage",
    required=True,
    type=click.Choice([s.value for s in Stage]),
    help="The stage whose start the project is put at.",
)
@project_option
@json_option
@debug_option
def reset(stage: str, project: Path, as_json: bool) -> None:
    """Put a learner's lesson project at the start of a stage (built by the reference
    solution of every earlier stage); the current project is moved to a timestamped backup
    beside it."""
    from app.services.lesson_reset import reset as do_reset

    result = do_reset(project, Stage(stage), on_progress=_printer(as_json))
    emit(
        {
            "project": str(result.project),
            "backup": str(result.backup),
            "lesson": result.lesson,
            "stage": result.stage.value,
            "seconds": round(result.seconds, 2),
        },
        as_json,
        f"{result.project} is at the start of {result.stage.title} "
        f"(lesson {result.lesson!r}).\n"
        f"The previous project was kept as {result.backup}",
    )


@lesson.command("prepare")
@click.argument("name", type=click.Choice(LESSON_NAMES), default="adult", required=False)
@json_option
@debug_option
def prepare(name: str, as_json: bool) -> None:
    """Build and cache every checkpoint of lesson NAME now (before a class), so resets are
    only a copy."""
    from app.services.lesson import get_lesson
    from app.services.lesson_reset import checkpoint

    found = get_lesson(name)
    folders = {s.value: str(checkpoint(found, s, on_progress=_printer(as_json))) for s in Stage}
    emit(
        {"lesson": name, "checkpoints": folders},
        as_json,
        f"{len(folders)} checkpoints of lesson {name!r} ready under "
        f"{Path(folders[Stage.PROBLEM.value]).parent}",
    )
