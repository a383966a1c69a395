"""Running cleaning recipes on Polars frames: freeze, check, apply, replay and preview steps.

Nothing here touches the project store: every function takes a Polars ``LazyFrame`` or
``DataFrame`` (from DuckDB via ``con.sql(q).pl(lazy=True)`` or Arrow) and returns one, so the
same code cleans a training table, a new batch, or a single row at prediction time.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from app.domain.recipe import (
    Cast,
    ChangeCase,
    DateParts,
    DeriveColumn,
    DropColumns,
    DropDuplicates,
    DropMissing,
    FillMissing,
    FilterRows,
    MapValues,
    MergeSpellings,
    NullMarkers,
    OutlierBounds,
    Recipe,
    Rename,
    SelectColumns,
    Step,
    StepInvalid,
    TrimWhitespace,
    parse_step,
)
from app.errors import MlwbError
from app.services.expressions import compile_expression, expression_dtype, filter_expression
from app.services.polars_code import TracedFrame
from app.services.recipe_steps import (
    _number_key,
    apply_traced,
    cast_parts,
    commutes_with_next,
    is_number,
    is_text,
    keep_mask,
)

Schema = Mapping[str, pl.DataType]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def _lazy(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _steps(recipe: Recipe | Sequence[Step]) -> list[Step]:
    return list(recipe.steps) if isinstance(recipe, Recipe) else [parse_step(s) for s in recipe]


# --- checking ----------------------------------------------------------------------------


def _unknown(step: Step, name: str, schema: Schema) -> StepInvalid:
    names = list(schema)
    close = [n for n in names if n.lower() == name.lower()] or difflib.get_close_matches(
        name, names, n=1, cutoff=0.6
    )
    hint = f"did you mean {close[0]!r}?" if close else f"the columns are {', '.join(names[:12])}"
    return StepInvalid(f"{step.title}: there is no column {name!r}", hint=hint)


def _need(step: Step, columns: Sequence[str] | None, schema: Schema) -> None:
    for name in columns or []:
        if name not in schema:
            raise _unknown(step, name, schema)


def _need_type(
    step: Step, column: str, schema: Schema, ok: Callable[[pl.DataType], bool], what: str
) -> None:
    if not ok(schema[column]):
        raise StepInvalid(
            f"{step.title}: {column!r} is {schema[column]}, not {what}",
            hint="change its type first (a cast step), or pick another column",
        )


def _fill_value_fits(step: FillMissing, dtype: pl.DataType) -> None:
    value = step.value
    problem = ""
    if is_number(dtype) and (isinstance(value, bool) or not isinstance(value, int | float)):
        problem = "a number"
    elif dtype == pl.Boolean and not isinstance(value, bool):
        problem = "true or false"
    elif dtype.is_temporal():
        try:
            parse = dt.date.fromisoformat if dtype == pl.Date else dt.datetime.fromisoformat
            parse(str(value))
        except ValueError:
            problem = "a date in ISO form (2024-01-31)"
    if problem:
        raise StepInvalid(
            f"{step.title}: {value!r} does not fit {step.column!r} ({dtype}); it needs {problem}",
            hint="give a value of the column's type",
        )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return "numbers" if isinstance(value, int | float) else "text"


def check_step(step: Step, schema: Schema, *, require_frozen: bool = True) -> None:
    """Refuse a step that does not fit ``schema``, with a message naming what and how to fix.

    Checks unknown columns (with a did-you-mean), types (text steps on text columns, casts
    that cannot work), new column names that already exist, expressions, and that
    data-derived parameters were frozen.
    """
    step = parse_step(step)
    if require_frozen and not step.is_frozen():
        raise StepInvalid(
            f"{step.title}: its values were not computed yet",
            hint="add the step through freeze_step so it learns its values from the data",
        )
    if isinstance(step, DropDuplicates):
        _need(step, step.subset, schema)
    elif isinstance(step, DropMissing):
        _need(step, step.columns, schema)
    elif isinstance(step, FillMissing):
        _need(step, [step.column], schema)
        if step.value is not None:
            _fill_value_fits(step, schema[step.column])
    elif isinstance(step, NullMarkers):
        _need(step, step.columns, schema)
        for column in step.columns or []:
            _need_type(
                step, column, schema, lambda t: is_text(t) or is_number(t), "text or numbers"
            )
    elif isinstance(step, TrimWhitespace | ChangeCase):
        _need(step, step.columns, schema)
        for column in step.columns or []:
            _need_type(step, column, schema, is_text, "text")
    elif isinstance(step, Cast):
        _need(step, [step.column], schema)
        cast_parts(step, schema[step.column])
    elif isinstance(step, MapValues):
        _need(step, [step.column], schema)
        _need_type(
            step, step.column, schema, lambda t: is_text(t) or is_number(t), "text or numbers"
        )
        if is_number(schema[step.column]):
            for key in step.mapping:
                _number_key(key, schema[step.column], step.column)
        kinds = {_kind(v) for v in step.mapping.values() if v is not None}
        if step.unmapped == "null" and len(kinds) > 1:
            raise StepInvalid(
                f"{step.title}: the new values of {step.column!r} mix {' and '.join(sorted(kinds))}",
                hint="give new values of one type (all text, all numbers or all true/false)",
            )
    elif isinstance(step, MergeSpellings):
        _need(step, [step.column], schema)
        _need_type(step, step.column, schema, is_text, "text")
    elif isinstance(step, OutlierBounds):
        _need(step, [step.column], schema)
        _need_type(step, step.column, schema, is_number, "numeric")
    elif isinstance(step, FilterRows):
        filter_expression(step.expression, schema)
    elif isinstance(step, DeriveColumn):
        if step.name in schema and not step.replace:
            raise StepInvalid(
                f"{step.title}: a column named {step.name!r} already exists",
                hint="choose another name, or set replace to overwrite it",
            )
        code, _ = compile_expression(step.expression, schema)
        expression_dtype(code, schema, step.expression)
    elif isinstance(step, DateParts):
        _check_date_parts(step, schema)
    elif isinstance(step, Rename):
        _check_rename(step, schema)
    elif isinstance(step, DropColumns | SelectColumns):
        _need(step, step.columns, schema)
        if len(set(step.columns)) != len(step.columns):
            raise StepInvalid(f"{step.title}: a column is listed twice")
        if isinstance(step, DropColumns) and set(step.columns) >= set(schema):
            raise StepInvalid(
                f"{step.title}: this would drop every column", hint="keep at least one"
            )


def _check_date_parts(step: DateParts, schema: Schema) -> None:
    _need(step, [step.column], schema)
    _need_type(step, step.column, schema, lambda t: t.is_temporal(), "a date or datetime")
    if schema[step.column] == pl.Date and {"hour", "minute"} & set(step.parts):
        raise StepInvalid(
            f"{step.title}: {step.column!r} holds dates without a time of day",
            hint="drop hour and minute, or cast the column to datetime",
        )
    clash = [name for name in step.new_columns() if name in schema]
    if clash:
        raise StepInvalid(
            f"{step.title}: column {clash[0]!r} already exists",
            hint="drop or rename it first, or choose other parts",
        )


def _check_rename(step: Rename, schema: Schema) -> None:
    _need(step, list(step.mapping), schema)
    targets = list(step.mapping.values())
    if any(not t.strip() for t in targets):
        raise StepInvalid(f"{step.title}: a new name is empty")
    if len(set(targets)) != len(targets):
        raise StepInvalid(f"{step.title}: two columns would get the same name")
    remaining = set(schema) - set(step.mapping)
    clash = [t for t in targets if t in remaining]
    if clash:
        raise StepInvalid(
            f"{step.title}: a column named {clash[0]!r} already exists",
            hint="choose another name, or rename or drop that column first",
        )


# --- freezing ----------------------------------------------------------------------------


def _scalar(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    return value


def freeze_step(step_spec: Step | Mapping[str, Any], frame: pl.DataFrame | pl.LazyFrame) -> Step:
    """Compute a step's data-derived parameters on ``frame`` and store them in the step.

    Fill values (mean, median, mode) and outlier bounds (IQR, z-score, quantiles) are computed
    once here; a step that is already frozen is returned unchanged, so new data never moves it.
    """
    step = parse_step(step_spec)
    if step.is_frozen():
        return step
    lf = _lazy(frame)
    schema = dict(lf.collect_schema())
    check_step(step, schema, require_frozen=False)
    if isinstance(step, FillMissing):
        return _freeze_fill(step, lf, schema[step.column])
    if isinstance(step, OutlierBounds):
        return _freeze_bounds(step, lf, schema[step.column])
    return step  # pragma: no cover - only the two kinds above can be unfrozen


def _freeze_fill(step: FillMissing, lf: pl.LazyFrame, dtype: pl.DataType) -> Step:
    col = pl.col(step.column)
    if step.method in ("mean", "median"):
        if not is_number(dtype):
            raise StepInvalid(
                f"{step.title}: the {step.method} of {step.column!r} ({dtype}) is not defined",
                hint="use mode or a constant for text, dates and booleans",
            )
        if dtype.is_float():
            col = col.fill_nan(None)
        value = lf.select(getattr(col, step.method)()).collect().item()
        if value is not None and dtype.is_integer() and float(value).is_integer():
            value = int(value)
    else:
        counts = (
            lf.select(col)
            .drop_nulls()
            .group_by(step.column)
            .len()
            .sort(["len", step.column], descending=[True, False], nulls_last=True)
            .head(1)
            .collect()
        )
        value = counts[step.column][0] if counts.height else None
    if value is None:
        raise StepInvalid(
            f"{step.title}: {step.column!r} has no values to compute the {step.method} from",
            hint="fill it with a constant, or drop the column",
        )
    return FillMissing.model_validate({**step.model_dump(), "value": _scalar(value)})


def _freeze_bounds(step: OutlierBounds, lf: pl.LazyFrame, dtype: pl.DataType) -> Step:
    col = pl.col(step.column).cast(pl.Float64).fill_nan(None)
    factor = step.effective_factor()
    if step.method == "iqr":
        row = lf.select(
            col.quantile(0.25, "linear").alias("a"), col.quantile(0.75, "linear").alias("b")
        ).collect()
        q1, q3 = row["a"][0], row["b"][0]
        bounds = (None, None) if q1 is None else (q1 - factor * (q3 - q1), q3 + factor * (q3 - q1))
    elif step.method == "zscore":
        row = lf.select(col.mean().alias("a"), col.std().alias("b")).collect()
        mean, std = row["a"][0], row["b"][0]
        bounds = (
            (None, None)
            if mean is None
            else (mean - factor * (std or 0), mean + factor * (std or 0))
        )
    else:
        row = lf.select(
            col.quantile(step.lower_quantile, "linear").alias("a"),
            col.quantile(step.upper_quantile, "linear").alias("b"),
        ).collect()
        bounds = (row["a"][0], row["b"][0])
    if bounds[0] is None:
        raise StepInvalid(
            f"{step.title}: {step.column!r} has no values to compute bounds from",
            hint="choose another column, or give the bounds by hand",
        )
    data = {**step.model_dump(), "lower": float(bounds[0]), "upper": float(bounds[1])}
    return type(step).model_validate(data)


# --- applying ----------------------------------------------------------------------------


def _numbered(error: MlwbError, index: int, step: Step) -> MlwbError:
    error.message = f"step {index} ({step.describe()}): {error.message}"
    error.args = (error.message,)
    return error


class CleaningCancelled(MlwbError):
    """``should_stop`` asked to stop between two steps."""


def trace_recipe(
    recipe: Recipe | Sequence[Step],
    lf: pl.LazyFrame | pl.DataFrame,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    in_memory: bool | None = None,
) -> TracedFrame:
    """Check and apply every step to ``lf``, recording the Polars source as it goes.

    ``in_memory``: whether ``lf`` is cheap to scan again (an in-memory frame; found out from
    its plan when None). Only then may a rejecting cast check its column without computing
    the whole frame first; the result is the same either way.

    Two neighbouring steps that give the same result in either order may run in the faster
    order (see ``commutes_with_next``); each step is still checked, numbered and reported.
    """
    items = _steps(recipe)
    tf = TracedFrame(_lazy(lf), in_memory=in_memory)
    total = len(items)

    def progress(index: int) -> None:
        if on_progress is not None:
            on_progress(index, total)

    index = 1
    while index <= total:
        step = items[index - 1]
        following = items[index] if index < total else None
        _stop_if_asked(should_stop)
        tf.step_starts.append(len(tf.lines))
        _checked(tf, index, step)
        if following is None or not commutes_with_next(step, following):
            _applied(tf, index, step)
            progress(index)
            index += 1
            continue
        # Swapped: neither step changes the schema, so the second one is checked against the
        # same columns, and the callbacks see the usual sequence.
        progress(index)
        _stop_if_asked(should_stop)
        _checked(tf, index + 1, following)
        tf.note(f"step {index + 1} first (same result): the markers then match trimmed text")
        _applied(tf, index + 1, following)
        _applied(tf, index, step)
        tf.step_starts.append(len(tf.lines))
        tf.note(f"done above, before step {index}")
        progress(index + 1)
        index += 2
    return tf


def _stop_if_asked(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise CleaningCancelled("cleaning was cancelled", hint="nothing was changed")


def _checked(tf: TracedFrame, index: int, step: Step) -> None:
    try:
        check_step(step, tf.schema)
    except MlwbError as exc:
        raise _numbered(exc, index, step) from None


def _applied(tf: TracedFrame, index: int, step: Step) -> None:
    try:
        apply_traced(tf, step)
    except MlwbError as exc:
        raise _numbered(exc, index, step) from None


def apply_step(lf: pl.LazyFrame | pl.DataFrame, step: Step) -> pl.LazyFrame:
    """``lf`` with one checked, frozen step applied (lazily)."""
    tf = TracedFrame(_lazy(lf))
    check_step(step, tf.schema)
    apply_traced(tf, parse_step(step))
    return tf.lf


def apply_recipe(
    lf: pl.LazyFrame | pl.DataFrame,
    steps: Recipe | Sequence[Step],
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> pl.LazyFrame:
    """``lf`` with every step applied in order; errors name the step's number.

    Casts with ``on_error='reject'`` scan the frame up to them, so a bad value is reported
    here, not later: on an in-memory frame with only row-wise steps before, just the cast
    column is computed for the check; otherwise the frame is computed once and the steps after
    continue from it. Everything else stays lazy until the caller collects.
    ``on_progress(done, total)`` is called after each step; ``should_stop()`` is asked before
    each step and raises ``CleaningCancelled``.
    """
    return trace_recipe(steps, lf, on_progress, should_stop).lf


def replay_rowwise(frame: Frame, recipe: Recipe | Sequence[Step]) -> Frame:
    """Apply only the row-wise steps to new rows (a batch, or one row at prediction time)."""
    rowwise = [s for s in _steps(recipe) if s.rowwise]
    out = apply_recipe(_lazy(frame), rowwise)
    return out.collect() if isinstance(frame, pl.DataFrame) else out


def schema_after(recipe: Recipe | Sequence[Step], schema: Schema) -> dict[str, pl.DataType]:
    """The columns and types after the recipe, without reading any data (checks every step)."""
    return trace_recipe(recipe, pl.LazyFrame(schema=dict(schema))).schema


def add_step(
    recipe: Recipe, step_spec: Step | Mapping[str, Any], raw: pl.DataFrame | pl.LazyFrame
) -> Recipe:
    """Freeze ``step_spec`` on the data as the recipe leaves it, check it, and append it."""
    cleaned = apply_recipe(_lazy(raw), recipe)
    step = freeze_step(step_spec, cleaned)
    check_step(step, dict(cleaned.collect_schema()))
    return recipe.with_step(step)


# --- preview -----------------------------------------------------------------------------


@dataclass
class StepPreview:
    """What one step does to a frame: counts, per-column changes and a before/after sample.

    ``before``/``after`` hold the changed rows (row-wise steps) with a ``row`` number column,
    or ``removed`` the dropped rows (dataset-level steps).
    """

    rows_before: int
    rows_after: int
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    cells_changed: dict[str, int] = field(default_factory=dict)
    became_null: dict[str, int] = field(default_factory=dict)
    before: pl.DataFrame = field(default_factory=pl.DataFrame)
    after: pl.DataFrame = field(default_factory=pl.DataFrame)
    removed: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def rows_removed(self) -> int:
        """How many rows the step drops."""
        return self.rows_before - self.rows_after

    def summary(self) -> str:
        """One line: rows removed, cells changed, columns added/removed."""
        parts = []
        if self.rows_removed:
            parts.append(f"removes {self.rows_removed:,} of {self.rows_before:,} rows")
        changed = sum(self.cells_changed.values())
        if changed:
            parts.append(f"changes {changed:,} cells in {len(self.cells_changed)} column(s)")
        nulls = sum(self.became_null.values())
        if nulls:
            parts.append(f"{nulls:,} become null")
        if self.columns_added:
            parts.append(f"adds {', '.join(self.columns_added)}")
        if self.columns_removed:
            parts.append(f"removes column(s) {', '.join(self.columns_removed)}")
        return "; ".join(parts) if parts else "changes nothing"


def preview_step(frame: pl.DataFrame, step: Step, sample: int = 10) -> StepPreview:
    """Run ``step`` on ``frame`` and report what changed, without keeping the result."""
    step = parse_step(step)
    schema = dict(frame.schema)
    check_step(step, schema)
    if not step.rowwise:
        keep = frame.select(keep_mask(step, schema).value.alias("keep"))["keep"]
        removed = frame.with_row_index(_row_name(frame.columns)).filter(~keep)
        return StepPreview(
            rows_before=frame.height,
            rows_after=frame.height - removed.height,
            removed=removed.head(sample),
        )
    after = apply_step(frame.lazy(), step).collect()
    renamed = dict(step.mapping) if isinstance(step, Rename) else {}
    shared = [c for c in frame.columns if renamed.get(c, c) in after.columns]
    preview = StepPreview(
        rows_before=frame.height,
        rows_after=after.height,
        columns_added=[
            c for c in after.columns if c not in frame.columns and c not in renamed.values()
        ],
        columns_removed=[c for c in frame.columns if c not in shared],
    )
    if not shared or after.height != frame.height:
        return preview
    exprs, nulls = [], []
    for c in shared:
        old, new = frame[c], after[renamed.get(c, c)]
        if old.dtype != new.dtype:
            old, new = old.cast(pl.String), new.cast(pl.String)
        exprs.append((~old.eq_missing(new)).alias(c))
        nulls.append((old.is_not_null() & new.is_null()).sum())
    changed = pl.DataFrame(exprs)
    counts = changed.sum().row(0, named=True)
    preview.cells_changed = {c: int(n) for c, n in counts.items() if n}
    preview.became_null = {c: int(n) for c, n in zip(shared, nulls, strict=True) if n}
    columns = list(preview.cells_changed)
    if columns or preview.columns_added:
        mask = changed.select(pl.any_horizontal(pl.all()).alias("x"))["x"] if columns else None
        row = _row_name(after.columns)
        new_columns = [renamed.get(c, c) for c in columns] + preview.columns_added
        preview.before = _sample(frame, mask, row, columns, sample)
        preview.after = _sample(after, mask, row, new_columns, sample)
    return preview


def _row_name(columns: Sequence[str]) -> str:
    name = "row"
    while name in columns:
        name += "_"
    return name


def _sample(
    frame: pl.DataFrame, mask: pl.Series | None, row: str, columns: list[str], n: int
) -> pl.DataFrame:
    rows = frame.select(columns).with_row_index(row)
    return (rows if mask is None else rows.filter(mask)).head(n)
