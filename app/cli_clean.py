"""``mlwb data suggest | step | clean | undo | recipe | apply``: the recipe, headless."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from app.cli import debug_option, emit, json_option, project_option
from app.cli_data import data


def _resolve(project: Path, dataset: str | None) -> tuple[Any, str, int | None]:
    from app.domain.dataset import parse_ref
    from app.services import browse
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    if dataset:
        name, version = parse_ref(dataset)
        return store, name, version
    current = browse.resolve(store, None)
    return store, current.name, None


def _step_json(text: str) -> dict[str, Any]:
    from app.errors import MlwbError

    try:
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    except OSError as exc:
        raise MlwbError(f"cannot read {text[1:]}: {exc.strerror}", hint="check the path") from exc
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MlwbError(
            f"the step is not valid JSON: {exc.msg} at column {exc.colno}",
            hint='e.g. \'{"kind": "trim_whitespace"}\' or @step.json',
        ) from None
    if not isinstance(value, dict):
        raise MlwbError(
            "a step is a JSON object with a 'kind'", hint='e.g. {"kind": "drop_duplicates"}'
        )
    return value


def _version_text(v: Any) -> str:
    return f"{v.ref}: {v.n_rows:,} rows x {v.n_cols} columns, recipe of {len(v.recipe)} step(s)"


@data.command("suggest")
@click.option("--dataset", "-d", help="NAME[@VERSION] (default: the current dataset).")
@click.option(
    "--against",
    type=click.Path(path_type=Path),
    help="A new file: compare its label spellings with the dataset's.",
)
@click.option("--column", help="Label column for --against (default: the charter's target).")
@project_option
@json_option
@debug_option
def suggest_(
    project: Path, dataset: str | None, against: Path | None, column: str | None, as_json: bool
) -> None:
    """List detected data issues, each with the step that fixes it."""
    from app.services import cleaning

    store, name, version = _resolve(project, dataset)
    if against is not None:
        found = cleaning.compare_file_labels(store, name, against, column)
    else:
        found = cleaning.suggestions(store, name, version)

    def text() -> str:
        if not found:
            return "no suggestions: nothing obvious to fix"
        lines = []
        for number, s in enumerate(found, 1):
            lines.append(f"{number:>2}. [{s.severity}] {s.message}")
            if s.step is not None:
                lines.append(f"    fix: {s.step.describe()}")
                lines.append(f"    mlwb data step add '{s.step.model_dump_json()}'")
        return "\n".join(lines)

    emit([s.model_dump(mode="json") for s in found], as_json, text)


@data.group("step")
def step() -> None:
    """Add, remove or move one step of the current dataset's recipe."""


@step.command("add")
@click.argument("step_json")
@click.option("--dataset", "-d", help="Dataset NAME (default: the current dataset).")
@click.option("--preview", is_flag=True, help="Show what the step would do; change nothing.")
@project_option
@json_option
@debug_option
def step_add(
    project: Path, step_json: str, dataset: str | None, preview: bool, as_json: bool
) -> None:
    """Add a step given as JSON (or @FILE); it is previewed or applied as a new version."""
    from app.services import cleaning

    store, name, version = _resolve(project, dataset)
    spec = _step_json(step_json)
    if preview:
        p = cleaning.preview(store, name, version, spec)
        emit(
            {
                "rows_before": p.rows_before,
                "rows_after": p.rows_after,
                "cells_changed": p.cells_changed,
                "became_null": p.became_null,
                "columns_added": p.columns_added,
                "columns_removed": p.columns_removed,
            },
            as_json,
            lambda: f"{p.summary()} ({p.rows_before:,} rows before, {p.rows_after:,} after)",
        )
        return
    new = cleaning.add_step(store, name, spec)
    emit(new.model_dump(mode="json"), as_json, lambda: "applied → " + _version_text(new))


@step.command("remove")
@click.argument("number", type=click.IntRange(min=1))
@click.option("--dataset", "-d", help="Dataset NAME (default: the current dataset).")
@project_option
@json_option
@debug_option
def step_remove(project: Path, number: int, dataset: str | None, as_json: bool) -> None:
    """Remove step NUMBER (1-based) and re-run the recipe from the raw import."""
    from app.services import cleaning

    store, name, _ = _resolve(project, dataset)
    new = cleaning.remove_step(store, name, number - 1)
    emit(new.model_dump(mode="json"), as_json, lambda: "removed → " + _version_text(new))


@step.command("move")
@click.argument("number", type=click.IntRange(min=1))
@click.argument("to", type=click.IntRange(min=1))
@click.option("--dataset", "-d", help="Dataset NAME (default: the current dataset).")
@project_option
@json_option
@debug_option
def step_move(project: Path, number: int, to: int, dataset: str | None, as_json: bool) -> None:
    """Move step NUMBER to position TO and re-run the recipe from the raw import."""
    from app.services import cleaning

    store, name, _ = _resolve(project, dataset)
    new = cleaning.move_step(store, name, number - 1, to - number)
    emit(new.model_dump(mode="json"), as_json, lambda: "moved → " + _version_text(new))


@data.command("clean")
@click.option(
    "--recipe",
    "recipe_file",
    type=click.Path(path_type=Path),
    required=True,
    help="A recipe JSON file (from mlwb data recipe export --json).",
)
@click.option("--dataset", "-d", help="Dataset NAME (default: the current dataset).")
@project_option
@json_option
@debug_option
def clean(project: Path, recipe_file: Path, dataset: str | None, as_json: bool) -> None:
    """Run a whole recipe from the raw import as a new version."""
    from app.errors import MlwbError
    from app.services import cleaning
    from app.services.recipe_export import recipe_from_json

    store, name, _ = _resolve(project, dataset)
    try:
        text = recipe_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise MlwbError(
            f"cannot read {recipe_file}: {exc.strerror}", hint="check the path"
        ) from exc
    recipe = recipe_from_json(text)
    new = cleaning.apply_recipe_file(store, name, [s.model_dump() for s in recipe.steps])
    emit(new.model_dump(mode="json"), as_json, lambda: "cleaned → " + _version_text(new))


@data.command("undo")
@click.option("--dataset", "-d", help="Dataset NAME (default: the current dataset).")
@project_option
@json_option
@debug_option
def undo(project: Path, dataset: str | None, as_json: bool) -> None:
    """Make the parent version current again (nothing is deleted)."""
    from app.services import cleaning

    store, name, _ = _resolve(project, dataset)
    back = cleaning.undo(store, name)
    emit(back.model_dump(mode="json"), as_json, lambda: "current → " + _version_text(back))


@data.group("recipe")
def recipe() -> None:
    """Show or export the recipe of a dataset version."""


@recipe.command("show")
@click.option("--dataset", "-d", help="NAME[@VERSION] (default: the current dataset).")
@project_option
@json_option
@debug_option
def recipe_show(project: Path, dataset: str | None, as_json: bool) -> None:
    """Print the steps, marking those that run only on training data."""
    from app.services import cleaning

    store, name, version = _resolve(project, dataset)
    found = cleaning.recipe_of(store, name, version)
    emit(
        found.model_dump(mode="json"), as_json, lambda: "\n".join(found.describe()) or "(no steps)"
    )


@recipe.command("export")
@click.option(
    "--python", "python_out", type=click.Path(path_type=Path), help="Write a Polars script."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the recipe JSON.")
@click.option("--dataset", "-d", help="NAME[@VERSION] (default: the current dataset).")
@project_option
@debug_option
def recipe_export_(
    project: Path, python_out: Path | None, json_out: Path | None, dataset: str | None
) -> None:
    """Export the recipe as JSON and/or a standalone Python (Polars) script."""
    from app.errors import MlwbError
    from app.services import cleaning
    from app.services.recipe_export import recipe_to_json
    from storage.artifacts import write_bytes_atomic

    if not python_out and not json_out:
        raise MlwbError("nothing to export", hint="pass --python FILE.py and/or --json FILE.json")
    store, name, version = _resolve(project, dataset)
    if json_out:
        write_bytes_atomic(
            json_out, recipe_to_json(cleaning.recipe_of(store, name, version)).encode()
        )
        click.echo(f"wrote {json_out}")
    if python_out:
        cleaning.export_python(store, name, python_out, version)
        click.echo(f"wrote {python_out}  (run: python {python_out} RAW_FILE OUT.parquet)")


@data.command("apply")
@click.argument("recipe_file", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), required=True, help="OUT.csv or OUT.parquet"
)
@click.option("--rowwise-only", is_flag=True, help="Only the steps that replay at prediction time.")
@json_option
@debug_option
def apply_(recipe_file: Path, file: Path, output: Path, rowwise_only: bool, as_json: bool) -> None:
    """Replay a recipe JSON on another file (e.g. a new batch) and write the result."""
    from app.errors import MlwbError
    from app.services import cleaning
    from app.services.recipe_export import recipe_from_json

    try:
        recipe = recipe_from_json(recipe_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MlwbError(
            f"cannot read {recipe_file}: {exc.strerror}", hint="check the path"
        ) from exc
    rows_in, rows_out = cleaning.apply_to_file(recipe, file, output, rowwise_only=rowwise_only)
    emit(
        {"input": str(file), "output": str(output), "rows_in": rows_in, "rows_out": rows_out},
        as_json,
        f"wrote {output}: {rows_out:,} rows (from {rows_in:,})",
    )
