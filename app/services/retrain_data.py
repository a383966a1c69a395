"""The Retrain stage's new training data: the champion's raw rows plus labelled batches.

Rows are gathered without writing anything (``choose_data``), so bad input changes nothing;
``store_data`` then writes them to ``artifacts/retrain/`` as a Parquet file, stores them as a
new raw version of the champion's dataset and replays the champion's recipe on it. Batches
are re-read from their source files; labels come from the file's target column or, when they
arrived later, from the batch's stored rows (joined by its key column, else by row position).
Rows without a label are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from app.domain.dataset import DatasetVersion, SourceKind
from app.domain.recipe import Recipe
from app.domain.training import Run
from app.errors import MlwbError
from storage import datasets as ds
from storage import repositories as repo
from storage import retrain as store_retrain
from storage import training as store_runs
from storage.db import ProjectStore

STAGE = store_retrain.STAGE
MIN_TRAIN_ROWS = 50
"""Fewer new training rows than this is refused before anything is written."""
MIN_COMPARE_ROWS = 2


@dataclass
class NewData:
    """The challenger's training rows and the comparison rows, not yet stored."""

    dataset: str
    root: DatasetVersion
    recipe: list[dict[str, Any]]
    target: str
    frame: pl.DataFrame
    compare: pl.DataFrame
    compare_batch: int
    batches: list[int]
    window: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)


# -- the champion -------------------------------------------------------------------------------


def champion(store: ProjectStore) -> tuple[int, Any, Run]:
    """The production version, its loaded bundle and its run (a clear error without one)."""
    from app.services import registry
    from app.services.bundle import load_bundle

    versions = registry.list_versions(store)
    current = next((v for v in versions if "production" in v.aliases), None)
    path = registry.production_bundle(store)
    if current is None or path is None:
        raise MlwbError(
            "there is no production bundle, so there is no champion to challenge",
            hint="deploy a model and promote it first (mlwb deploy, mlwb registry promote N)",
        )
    bundle = load_bundle(path)
    with store.connect() as con:
        run = store_runs.get_run(con, bundle.metadata.run_id)
    if run is None:
        raise MlwbError(f"the champion's run {bundle.metadata.run_id} is not in this project")
    return current.version, bundle, run


# -- choosing the new training data ----------------------------------------------------------


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with exactly the raw import's columns and types (absent ones null)."""
    out = []
    for name, dtype in schema.items():
        if name in frame.columns:
            out.append(frame[name].cast(dtype, strict=False).alias(name))
        else:
            out.append(pl.Series(name, [None] * frame.height, dtype=dtype))
    return pl.DataFrame(out)


def _batch_rows(
    store: ProjectStore, batch_id: int, root: DatasetVersion, schema: dict[str, Any], target: str
) -> tuple[pl.DataFrame, int]:
    """A batch's labelled raw rows and how many unlabelled rows were skipped."""
    from app.services import ingest, monitor

    batch = monitor.get_batch(store, batch_id)
    path = Path(batch.source)
    if not path.is_file():
        raise MlwbError(
            f"the rows of batch {batch_id} are not in a file mlwb can read again ({batch.source})",
            hint="retrain with batches added from files that still exist",
        )
    same_kind = root.kind is not None and path.suffix.lower().lstrip(".") == root.kind.value
    raw = ingest.read_file(path, root.options if same_kind else None)
    if target in raw.columns:
        raw = raw.with_columns(pl.col(target).cast(schema[target], strict=False))
    with store.connect() as con:
        stored = store_retrain.monitored_labels(con, batch_id)
    if stored.height:
        key = batch.key_column
        if key and key in raw.columns:
            keys = raw[key].cast(pl.String).str.strip_chars()
            joined = pl.DataFrame({"key": keys}).join(
                stored.select("key", "label").unique("key", keep="last"), on="key", how="left"
            )
            later = joined["label"]
        else:
            positions = pl.DataFrame({"row": np.arange(1, raw.height + 1, dtype=np.int64)})
            later = positions.join(stored.select("row", "label"), on="row", how="left")["label"]
        later = later.cast(schema[target], strict=False).alias(target)
        raw = raw.with_columns(
            pl.coalesce(pl.col(target), later) if target in raw.columns else later
        )
    if target not in raw.columns or raw[target].null_count() == raw.height:
        raise MlwbError(
            f"batch {batch_id} ({batch.name}) has no labels",
            hint=f"add its labels first (mlwb monitor labels {batch_id} FILE --key ID), "
            "or leave it out",
        )
    frame = _conform(raw, schema)
    labelled = frame.filter(pl.col(target).is_not_null())
    return labelled, frame.height - labelled.height


def _stamp(frame: pl.DataFrame, column: str) -> pl.Series:
    values = frame[column]
    if values.dtype == pl.String:
        return values.str.to_datetime(strict=False)
    return values.cast(pl.Datetime("us"), strict=False)


def _already_trained_on(store: ProjectStore, run: Run) -> set[int]:
    """Batches already in the champion's training data (from earlier retrains' lineage)."""
    with store.connect() as con:
        built = store_retrain.all_details(con, "data_built")
    for details in built:
        if details.get("dataset") == run.dataset and run.version in (
            details.get("version"),
            details.get("raw_version"),
        ):
            return set(details.get("lineage_batches", []))
    return set()


def choose_data(
    store: ProjectStore,
    batches: list[int] | None = None,
    window_days: int | None = None,
    compare_on: int | None = None,
) -> NewData:
    """Gather the challenger's training rows and the comparison rows; writes nothing."""
    from app.services import monitor, training

    if window_days is not None and window_days <= 0:
        raise MlwbError("the window must be at least one day", hint="e.g. --window 90d")
    _, _, run = champion(store)
    charter = training.current_charter(store).charter
    with store.connect() as con:
        version = ds.get_version(con, run.dataset, run.version)
        if version is None:
            raise MlwbError(f"the champion's data {run.dataset}@{run.version} is gone")
        from app.services.cleaning import read_table, root_version

        root = root_version(con, version)
        original = read_table(con, root.table_name)
    schema = dict(original.schema)
    target = next((c for c in schema if c.lower() == charter.target.lower()), None)
    if target is None:
        raise MlwbError(
            f"the charter's target {charter.target!r} is not a raw column of {root.ref}",
            hint="retraining needs the target among the raw import's columns",
        )
    known = {b.id: b for b in monitor.list_batches(store)}
    done = _already_trained_on(store, run)
    notes: list[str] = []
    explicit = batches is not None
    chosen = list(dict.fromkeys(batches)) if batches is not None else sorted(known)
    for b in chosen:
        if b not in known:
            raise MlwbError(f"there is no batch {b}", hint="list batches: mlwb monitor list")
        if b in done and explicit:
            raise MlwbError(
                f"batch {b} is already in the champion's training data",
                hint="choose batches added after the champion was trained",
            )
    chosen = [b for b in chosen if b not in done]
    if compare_on is not None and compare_on not in known:
        raise MlwbError(f"there is no batch {compare_on}", hint="list batches: mlwb monitor list")
    rows: dict[int, pl.DataFrame] = {}
    for b in dict.fromkeys([*chosen, *([compare_on] if compare_on is not None else [])]):
        try:
            rows[b], skipped = _batch_rows(store, b, root, schema, target)
        except MlwbError:
            if explicit or b == compare_on:
                raise
            notes.append(f"batch {b} left out: it has no labels or no readable file")
            continue
        if skipped:
            notes.append(f"batch {b}: {skipped:,} unlabelled row(s) skipped")
    usable = [b for b in chosen if b in rows]
    if compare_on is None:
        if not usable:
            raise MlwbError(
                "there is no labelled batch to retrain with",
                hint="add labelled batches (mlwb monitor add FILE --label-column C) or labels "
                "(mlwb monitor labels BATCH FILE --key ID)",
            )
        compare_on = max(usable)
    train_batches = [b for b in usable if b != compare_on]
    parts = [original, *(rows[b] for b in train_batches)]
    frame = pl.concat(parts, how="vertical")
    window = None
    if window_days is not None:
        time_col = next(
            (c for c in schema if charter.time_column and c.lower() == charter.time_column.lower()),
            None,
        )
        if time_col is None:
            raise MlwbError(
                "a time window needs the charter's time column among the raw columns",
                hint="set it in the charter (mlwb problem set --time-column C) or use --batches",
            )
        newest = pl.concat([_stamp(frame, time_col), _stamp(rows[compare_on], time_col)]).max()
        if newest is None:
            raise MlwbError(f"{time_col!r} has no readable dates", hint="use --batches instead")
        start = newest - timedelta(days=window_days)  # type: ignore[operator]
        frame = frame.filter(_stamp(frame, time_col) > start)
        window = {"days": window_days, "column": time_col, "start": start, "end": newest}
        recent = [b for b in train_batches if (_stamp(rows[b], time_col) > start).any()]
        notes += [f"batch {b} has no rows in the window" for b in train_batches if b not in recent]
        train_batches = recent
        if frame.height == 0:
            raise MlwbError(
                f"the {window_days}-day window up to {newest} holds no training rows "
                f"besides the comparison batch {compare_on}",
                hint="widen the window (e.g. --window 180d) or retrain with --batches",
            )
    elif not train_batches:
        raise MlwbError(
            f"nothing new to train on: batch {compare_on} is held out for the comparison",
            hint="select at least two labelled batches (the latest is held out), or name "
            "the comparison batch with --compare-on",
        )
    if frame.height < MIN_TRAIN_ROWS:
        raise MlwbError(
            f"only {frame.height} training row(s); at least {MIN_TRAIN_ROWS} are needed",
            hint="widen the window or add more labelled batches",
        )
    new_rows = [rows[b] for b in train_batches]
    if new_rows:
        notes += _recipe_keeps(pl.concat(new_rows, how="vertical"), list(version.recipe))
    compare = rows[compare_on]
    if compare.height < MIN_COMPARE_ROWS:
        raise MlwbError(f"batch {compare_on} has too few labelled rows to compare on")
    return NewData(
        run.dataset, root, list(version.recipe), target, frame, compare, compare_on,
        train_batches, window, notes,
    )  # fmt: skip


def _recipe_keeps(new: pl.DataFrame, recipe: list[dict[str, Any]]) -> list[str]:
    """Notes on how many of the new rows the champion's recipe keeps; refused when it keeps
    none (a filter written for the original data, such as ``yr == 0``, would otherwise train a
    copy of the champion)."""
    from app.services.recipe import apply_recipe

    steps = Recipe.model_validate({"steps": recipe}).steps
    if not steps or new.height == 0:
        return []
    frame = new.lazy()
    for number, step in enumerate(steps, start=1):
        frame = apply_recipe(frame, [step])
        try:
            left = frame.select(pl.len()).collect().item()
        except pl.exceptions.PolarsError:
            return []  # replaying the recipe on the new data reports its own error later
        if left == 0:
            raise MlwbError(
                f"the recipe's step {number} ({step.describe()}) removes all {new.height:,} "
                "rows of the selected batches, so the challenger would learn nothing new",
                hint="edit that step on the Data stage so it keeps new rows, then retrain",
            )
    if left < new.height:
        return [f"the recipe keeps {left:,} of the {new.height:,} new rows"]
    return []


# -- writing it as a dataset version ----------------------------------------------------------


def store_data(store: ProjectStore, data: NewData, charter_version: int) -> DatasetVersion:
    """Write the rows to ``artifacts/retrain`` and store them as a new raw version of the
    dataset (then replay the recipe on it); returns the version to train on."""
    from app.services import cleaning
    from storage.artifacts import atomic_path

    folder = store.artifacts / "retrain"
    folder.mkdir(parents=True, exist_ok=True)
    with store.connect() as con:
        number = ds.next_version(con, data.dataset)
    path = folder / f"{data.dataset}-v{number}.parquet"
    with atomic_path(path) as temp:
        data.frame.write_parquet(temp)
    lineage = {
        "dataset": data.dataset,
        "batches": data.batches,
        "compare_batch": data.compare_batch,
        "window": data.window,
        "recipe_steps": len(data.recipe),
        "from_raw": data.root.ref,
        "charter_version": charter_version,
        "file": str(path.relative_to(store.root)),
        "rows": data.frame.height,
        "notes": data.notes,
    }
    with store.transaction() as con:
        number = ds.next_version(con, data.dataset)
        table = ds.new_table_name(con, data.dataset, number)
        con.register("_mlwb_retrain_rows", data.frame.to_arrow())
        try:
            con.execute(f"CREATE TABLE {ds.quote_ident(table)} AS SELECT * FROM _mlwb_retrain_rows")
        finally:
            con.unregister("_mlwb_retrain_rows")
        n_rows, fingerprint = ds.fingerprint_table(con, table)
        raw = DatasetVersion(
            name=data.dataset,
            version=number,
            table_name=table,
            kind=SourceKind.PARQUET,
            source_path=str(path),
            options=data.root.options,
            n_rows=n_rows,
            n_cols=data.frame.width,
            fingerprint=fingerprint,
        )
        ds.insert_version(con, raw)
        ds.set_current_version(con, data.dataset, number)
        ds.set_state(con, ds.CURRENT_DATASET, data.dataset)
    trained = raw
    if data.recipe:
        trained = cleaning.rerun(
            store, data.dataset, data.recipe, "recipe_replayed", "retrain: champion's recipe"
        )
    prior = sorted({*data.batches, *_lineage_batches(store, data)})
    with store.transaction() as con:
        repo.record_event(
            con,
            STAGE,
            "data_built",
            f"{trained.ref}: {n_rows:,} raw rows ({describe(data)}), "
            f"recipe of {len(data.recipe)} step(s) replayed",
            {
                **lineage,
                "raw_version": number,
                "version": trained.version,
                "lineage_batches": prior,
            },
        )
    return trained


def _lineage_batches(store: ProjectStore, data: NewData) -> list[int]:
    """Batches the raw rows already held (from the raw version's own lineage)."""
    with store.connect() as con:
        built = store_retrain.all_details(con, "data_built")
    for details in built:
        if details.get("dataset") == data.dataset and details.get("raw_version") == (
            data.root.version
        ):
            return list(details.get("lineage_batches", []))
    return []


def describe(data: NewData) -> str:
    parts = [f"raw rows of {data.root.ref}"]
    if data.batches:
        parts.append("batches " + ", ".join(map(str, data.batches)))
    if data.window:
        parts.append(f"rows of the last {data.window['days']} days")
    return " + ".join(parts)
