"""The cleaning side of the Data stage: recipe changes that make new dataset versions.

Every change reads the current version from DuckDB into Polars, runs the step(s) there and
writes the result back as a new immutable table, in one transaction with its metadata row and
an audit event. Undo moves the current-version pointer back to the parent; nothing is deleted.
Editing, removing or moving a step re-runs the whole recipe from the raw import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from app.domain.dataset import DatasetVersion
from app.domain.recipe import Recipe, Step, StepBase, parse_step
from app.errors import MlwbError
from app.services import recipe as engine
from storage import datasets as ds
from storage import repositories as repo
from storage.db import ProjectStore

Progress = Callable[[float, str], None]
Stop = Callable[[], bool]


class Cancelled(MlwbError):
    """The user cancelled; nothing was changed."""


def _nothing(fraction: float, text: str) -> None:
    """A progress callback that ignores reports."""


def _never() -> bool:
    return False


def read_table(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    """A whole dataset table as a Polars frame (columnar, through Arrow)."""
    return con.sql(f"SELECT * FROM {ds.quote_ident(table)}").pl()


def _version(
    con: duckdb.DuckDBPyConnection, name: str, version: int | None = None
) -> DatasetVersion:
    found = ds.get_version(con, name, version) if version else ds.current_version(con, name)
    if found is None:
        what = f"{name}@{version}" if version else name
        raise MlwbError(f"there is no dataset {what}", hint="list them with: mlwb data list")
    return found


def root_version(con: duckdb.DuckDBPyConnection, v: DatasetVersion) -> DatasetVersion:
    """The raw import this version descends from."""
    while v.parent_version is not None:
        v = _version(con, v.name, v.parent_version)
    return v


def _target(con: duckdb.DuckDBPyConnection) -> str | None:
    charter = repo.latest_charter(con)
    return charter.charter.target if charter else None


def _write_version(
    store: ProjectStore,
    base: DatasetVersion,
    parent: DatasetVersion,
    frame: pl.DataFrame,
    recipe: Sequence[Step],
    action: str,
    summary: str,
    stop: Stop,
) -> DatasetVersion:
    """Store ``frame`` as the next version of ``base.name`` (one transaction)."""
    if frame.width == 0:
        raise MlwbError("the recipe leaves no columns", hint="keep at least one column")
    if stop():
        raise Cancelled("cancelled; the dataset was not changed")
    with store.transaction() as con:
        number = ds.next_version(con, base.name)
        table = ds.new_table_name(con, base.name, number)
        arrow = frame.to_arrow()
        con.register("_mlwb_new_version", arrow)
        try:
            con.execute(f"CREATE TABLE {ds.quote_ident(table)} AS SELECT * FROM _mlwb_new_version")
        finally:
            con.unregister("_mlwb_new_version")
        n_rows, fingerprint = ds.fingerprint_table(con, table)
        new = DatasetVersion(
            name=base.name,
            version=number,
            table_name=table,
            parent_version=parent.version,
            kind=base.kind,
            source_path=base.source_path,
            source_table=base.source_table,
            options=base.options,
            recipe=[s.model_dump(mode="json") for s in recipe],
            n_rows=n_rows,
            n_cols=frame.width,
            fingerprint=fingerprint,
        )
        ds.insert_version(con, new)
        ds.set_current_version(con, base.name, number)
        repo.record_event(
            con,
            "data",
            action,
            f"{new.ref}: {summary}",
            {
                "dataset": base.name,
                "version": number,
                "parent": parent.version,
                "steps": len(recipe),
            },
        )
        if stop():
            raise Cancelled("cancelled; the dataset was not changed")
        saved = ds.get_version(con, base.name, number)
    assert saved is not None
    return saved


def add_step(
    store: ProjectStore,
    name: str,
    step: StepBase | Mapping[str, Any],
    on_progress: Progress = _nothing,
    should_stop: Stop = _never,
) -> DatasetVersion:
    """Freeze ``step`` on the current version, apply it, and store the result as a new version."""
    on_progress(0.05, "reading the current version")
    with store.connect() as con:
        current = _version(con, name)
        frame = read_table(con, current.table_name)
    on_progress(0.3, "computing the step")
    frozen = engine.freeze_step(parse_step(step), frame)
    engine.check_step(frozen, dict(frame.schema))
    result = engine.apply_step(frame.lazy(), frozen).collect()
    on_progress(0.7, "writing the new version")
    recipe = [*Recipe.model_validate({"steps": current.recipe}).steps, frozen]
    return _write_version(
        store, current, current, result, recipe, "step_applied", frozen.describe(), should_stop
    )


def rerun(
    store: ProjectStore,
    name: str,
    steps: Sequence[StepBase | Mapping[str, Any]],
    action: str,
    summary: str,
    on_progress: Progress = _nothing,
    should_stop: Stop = _never,
) -> DatasetVersion:
    """Run ``steps`` from the raw import; steps not yet frozen are frozen where they stand."""
    with store.connect() as con:
        current = _version(con, name)
        root = root_version(con, current)
        frame = read_table(con, root.table_name)
    done: list[Step] = []
    lazy = frame.lazy()
    for number, raw in enumerate(steps, start=1):
        if should_stop():
            raise Cancelled("cancelled; the dataset was not changed")
        on_progress(0.1 + 0.7 * number / max(1, len(steps)), f"step {number} of {len(steps)}")
        step = parse_step(raw)
        if not step.is_frozen():
            step = engine.freeze_step(step, lazy.collect())
        engine.check_step(step, dict(lazy.collect_schema()))
        lazy = engine.apply_step(lazy, step)
        done.append(step)
    result = lazy.collect()
    # The parent is the version the change was made from, so undo returns to it.
    return _write_version(store, current, current, result, done, action, summary, should_stop)


def apply_recipe_file(
    store: ProjectStore,
    name: str,
    steps: Sequence[Mapping[str, Any]],
    on_progress: Progress = _nothing,
    should_stop: Stop = _never,
) -> DatasetVersion:
    """Replace the recipe of ``name`` by ``steps`` (e.g. from a JSON file) and run it."""
    return rerun(
        store,
        name,
        steps,
        "recipe_applied",
        f"recipe of {len(steps)} step(s)",
        on_progress,
        should_stop,
    )


def _steps_of(store: ProjectStore, name: str) -> list[Step]:
    with store.connect() as con:
        return list(Recipe.model_validate({"steps": _version(con, name).recipe}).steps)


def _check_index(steps: Sequence[Step], index: int) -> None:
    if not 0 <= index < len(steps):
        raise MlwbError(
            f"the recipe has no step {index + 1}",
            hint=f"choose a step between 1 and {len(steps)}" if steps else "the recipe is empty",
        )


def replace_step(
    store: ProjectStore,
    name: str,
    index: int,
    step: StepBase | Mapping[str, Any],
    on_progress: Progress = _nothing,
    should_stop: Stop = _never,
) -> DatasetVersion:
    """Change step ``index`` (0-based) and re-run the recipe from the raw import."""
    steps = _steps_of(store, name)
    _check_index(steps, index)
    steps[index] = parse_step(step)
    return rerun(
        store, name, steps, "step_edited", f"step {index + 1} edited", on_progress, should_stop
    )


def remove_step(
    store: ProjectStore,
    name: str,
    index: int,
    on_progress: Progress = _nothing,
    should_stop: Stop = _never,
) -> DatasetVersion:
    """Remove step ``index`` (0-based) and re-run the recipe from the raw import."""
    steps = _steps_of(store, name)
    _check_index(steps, index)
    removed = steps.pop(index)
    return rerun(
        store,
        name,
        steps,
        "step_removed",
        f"removed: {removed.describe()}",
        on_progress,
        should_stop,
    )


def move_step(
    store: ProjectStore,
    name: str,
    index: int,
    delta: int,
    on_progress: Progress = _nothing,
    should_stop: Stop = _never,
) -> DatasetVersion:
    """Move step ``index`` by ``delta`` places and re-run the recipe from the raw import."""
    steps = _steps_of(store, name)
    _check_index(steps, index)
    _check_index(steps, index + delta)
    steps.insert(index + delta, steps.pop(index))
    return rerun(
        store,
        name,
        steps,
        "step_moved",
        f"step {index + 1} moved to {index + delta + 1}",
        on_progress,
        should_stop,
    )


def undo(store: ProjectStore, name: str) -> DatasetVersion:
    """Make the parent of the current version current again (no table is deleted)."""
    with store.transaction() as con:
        current = _version(con, name)
        if current.parent_version is None:
            raise MlwbError(
                f"{current.ref} is the raw import; there is nothing to undo",
                hint="import the file again to start over, or edit the recipe",
            )
        parent = _version(con, name, current.parent_version)
        ds.set_current_version(con, name, parent.version)
        repo.record_event(
            con,
            "data",
            "undone",
            f"{name}: back from v{current.version} to v{parent.version}",
            {"dataset": name, "from": current.version, "to": parent.version},
        )
    return parent


def preview(
    store: ProjectStore, name: str, version: int | None, step: StepBase | Mapping[str, Any]
) -> engine.StepPreview:
    """What ``step`` would do to the given version (frozen on it first), changing nothing."""
    with store.connect() as con:
        current = _version(con, name, version)
        frame = read_table(con, current.table_name)
    frozen = engine.freeze_step(parse_step(step), frame)
    return engine.preview_step(frame, frozen)


def suggestions(store: ProjectStore, name: str, version: int | None = None) -> list[Any]:
    """Detected data issues of a version, each with a ready (frozen) step where one fits."""
    from app.services import suggest

    with store.connect() as con:
        current = _version(con, name, version)
        frame = read_table(con, current.table_name)
        target = _target(con)
    return suggest.suggest(frame, target=target if target in frame.columns else None)


def recipe_of(store: ProjectStore, name: str, version: int | None = None) -> Recipe:
    """The recipe that produced a version (empty for a raw import)."""
    with store.connect() as con:
        return Recipe.model_validate({"steps": _version(con, name, version).recipe})


def export_python(store: ProjectStore, name: str, target: Path, version: int | None = None) -> Path:
    """Write a standalone Polars script reproducing ``name``'s version from its raw file."""
    from app.services import recipe_export

    with store.connect() as con:
        current = _version(con, name, version)
        root = root_version(con, current)
        schema = dict(
            con.sql(f"SELECT * FROM {ds.quote_ident(root.table_name)} LIMIT 0").pl().schema
        )
    if root.kind is None or root.source_path is None:
        raise MlwbError(f"{root.ref} has no source file to read", hint="import it from a file")
    options = root.options
    read: dict[str, Any] = {"path": root.source_path, "format": root.kind.value}
    if root.kind.value == "csv" and options is not None:
        if options.delimiter and len(options.delimiter) > 1:
            raise MlwbError(
                f"the script reader cannot split on the multi-character delimiter {options.delimiter!r}",
                hint="import the file with a one-character delimiter and a trim step",
            )
        read.update(
            {
                "separator": options.delimiter or ",",
                "has_header": options.header is not False,
                "null_values": options.null_markers or None,
                "skip_rows": options.skip_rows or 0,
                "decimal_comma": options.decimal == ",",
                "encoding": options.encoding or "utf8",
                "schema_overrides": schema,
                "new_columns": None if options.header is not False else list(schema),
            }
        )
        if options.quote is not None:
            read["quote_char"] = options.quote or None
        read = {k: v for k, v in read.items() if v is not None}
    steps = recipe_of(store, name, version)
    return recipe_export.write_script(steps, read, target, schema=schema)


def apply_to_file(
    recipe: Recipe,
    source: Path,
    output: Path,
    options: Any = None,
    rowwise_only: bool = False,
) -> tuple[int, int]:
    """Replay ``recipe`` on a new file and write CSV or Parquet; returns (rows in, rows out)."""
    from app.services import ingest
    from storage.artifacts import atomic_path

    suffix = output.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise MlwbError(f"cannot write {output.name}", hint="name the output .csv or .parquet")
    frame = ingest.read_file(source, options)
    steps = recipe.rowwise_part() if rowwise_only else recipe
    result = engine.apply_recipe(frame.lazy(), steps).collect()
    with atomic_path(output) as temp:
        if suffix == ".csv":
            result.write_csv(temp)
        else:
            result.write_parquet(temp)
    return frame.height, result.height


def compare_file_labels(
    store: ProjectStore, name: str, source: Path, column: str | None = None
) -> list[Any]:
    """Label spellings in a new file that differ from the dataset's (``>50K.`` vs ``>50K``).

    The new file is read as an import would read it and the current recipe's row-wise steps
    are replayed on it first, so only differences the recipe does not already fix remain.
    """
    from app.services import ingest
    from app.services.spelling import compare_labels

    with store.connect() as con:
        current = _version(con, name)
        column = column or _target(con)
        if not column:
            raise MlwbError(
                "no label column to compare", hint="pass --column or set the charter's target"
            )
        known = read_table(con, current.table_name)
    if column not in known.columns:
        raise MlwbError(f"{column!r} is not a column of {current.ref}", hint="pass --column")
    fresh = ingest.read_file(source, current.options)
    recipe = Recipe.model_validate({"steps": current.recipe})
    with contextlib.suppress(MlwbError):  # compare raw spellings if the recipe does not fit
        fresh = engine.replay_rowwise(fresh, recipe)
    if column not in fresh.columns:
        raise MlwbError(f"{source.name} has no column {column!r}", hint="pass --column")
    return compare_labels(known[column], fresh[column], column=column)
