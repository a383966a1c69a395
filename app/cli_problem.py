"""``mlwb problem``: show, set and list versions of the charter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.cli import debug_option, emit, json_option, project_option
from app.domain.metrics import TaskType
from app.services.problem import describe_charter


@click.group("problem")
def problem() -> None:
    """Stage 1: the charter (objective, task, target, metric, threshold, constraints)."""


@problem.command("show")
@project_option
@click.option("--version", "number", type=int, help="Show this version instead of the newest.")
@json_option
@debug_option
def show(project: Path, number: int | None, as_json: bool) -> None:
    """Show the current charter (or an older version)."""
    from app.errors import MlwbError
    from app.services import problem as svc
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    found = svc.charter_version(store, number) if number else svc.current_charter(store)
    if found is None:
        raise MlwbError("this project has no charter yet", hint="set one with: mlwb problem set")
    emit(found.model_dump(mode="json"), as_json, lambda: describe_charter(found))


@problem.command("history")
@project_option
@json_option
@debug_option
def history(project: Path, as_json: bool) -> None:
    """List every saved charter version, newest first."""
    from app.services import problem as svc
    from storage.db import ProjectStore

    versions = svc.charter_history(ProjectStore.open(project))
    emit(
        [v.model_dump(mode="json") for v in versions],
        as_json,
        lambda: (
            "\n".join(
                f"v{v.version:<4} {v.saved_at:%Y-%m-%d %H:%M:%S}  {v.charter.primary_text():<24} "
                f"{v.note}"
                for v in versions
            )
            or "no charter saved yet"
        ),
    )


@problem.command("set")
@project_option
@click.option(
    "--from", "from_file", type=click.Path(path_type=Path), help="A .toml or .json charter file."
)
@click.option("--name", help="Project name shown on the charter.")
@click.option("--objective", help="The business objective in words.")
@click.option("--decision", help="The decision the model supports.")
@click.option("--stakeholder", "stakeholders", multiple=True, help="A stakeholder (repeatable).")
@click.option("--task", type=click.Choice([t.value for t in TaskType]), help="Task type.")
@click.option("--target", help="Target column.")
@click.option("--positive-class", help="The positive class (binary only).")
@click.option("--time-column", help="Time column, for time-ordered splits ('' to clear).")
@click.option("--metric", help="Primary metric, e.g. f1, recall, roc_auc, mae, rmse, r2.")
@click.option("--threshold", type=float, help="Success threshold for the primary metric.")
@click.option(
    "--constraint",
    "constraints",
    multiple=True,
    help="e.g. 'recall >= 0.6' (repeatable; replaces the list).",
)
@click.option("--clear-constraints", is_flag=True, help="Remove all secondary constraints.")
@click.option(
    "--explainable/--not-explainable", default=None, help="Must the model be explainable?"
)
@click.option("--budget-hours", type=float, help="Time budget in hours.")
@click.option("--budget-cost", type=float, help="Cost budget.")
@click.option("--currency", help="Currency of the cost budget.")
@click.option("--notes", help="Free-text notes.")
@click.option("--note", "save_note", default="", help="A note recorded with this version.")
@json_option
@debug_option
def set_(
    project: Path, from_file: Path | None, as_json: bool, save_note: str, **flags: Any
) -> None:
    """Save a new charter version from a file and/or field flags (merged over the current one)."""
    from app.services import problem as svc
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    current = svc.current_charter(store)
    base = current.charter if current else None
    fields: dict[str, Any] = svc.read_charter_file(from_file) if from_file else {}
    if from_file:
        base = None
    updates: dict[str, Any] = {
        "name": flags["name"],
        "objective": flags["objective"],
        "decision": flags["decision"],
        "stakeholders": list(flags["stakeholders"]) or None,
        "task": flags["task"],
        "target": flags["target"],
        "positive_class": flags["positive_class"],
        "time_column": flags["time_column"],
        "primary_metric": flags["metric"],
        "threshold": flags["threshold"],
        "explainable": flags["explainable"],
        "notes": flags["notes"],
    }
    if flags["constraints"]:
        updates["constraints"] = list(flags["constraints"])
    elif flags["clear_constraints"]:
        updates["constraints"] = []
    merged = svc.merge_fields(base, fields)
    merged.update({k: v for k, v in updates.items() if v is not None})
    if flags["task"] in ("regression", "multiclass") and flags["positive_class"] is None:
        merged.pop("positive_class", None)
    if any(flags[k] is not None for k in ("budget_hours", "budget_cost", "currency")):
        budget = dict(merged.get("budget") or {})
        for key, flag in (
            ("time_hours", "budget_hours"),
            ("cost", "budget_cost"),
            ("currency", "currency"),
        ):
            if flags[flag] is not None:
                budget[key] = flags[flag]
        merged["budget"] = budget
    if "name" not in merged:
        merged["name"] = svc.project_name(store)
    saved = svc.save_charter(store, merged, note=save_note)
    for field, message in svc.check_against_data(store, saved.charter):
        click.echo(f"warning: against the current data, {field}: {message}", err=True)
    emit(saved.model_dump(mode="json"), as_json, lambda: "saved " + describe_charter(saved))
