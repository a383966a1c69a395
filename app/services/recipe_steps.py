"""How each recipe step becomes Polars: one translation for running and for the exported script.

``apply_traced`` adds one step to a ``TracedFrame``; every step is a vectorised lazy
operation (``with_columns``, ``filter``, ``rename``, ``drop``, ``select``), never a Python loop
over rows. Dataset-level steps are all ``filter(keep_mask(step))``, which also lets the preview
show exactly which rows a step removes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

from app.domain.recipe import (
    Cast,
    CastRejected,
    ChangeCase,
    ClipOutliers,
    DateParts,
    DeriveColumn,
    DropColumns,
    DropDuplicates,
    DropMissing,
    DropOutliers,
    FillMissing,
    FilterRows,
    MapValues,
    MergeSpellings,
    NullMarkers,
    OutlierBounds,
    Rename,
    SelectColumns,
    Step,
    StepInvalid,
    TrimWhitespace,
)
from app.services.expressions import compile_expression, filter_expression
from app.services.polars_code import PL, Code, TracedFrame, cast_failures, render

Schema = Mapping[str, pl.DataType]

TARGET_TYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
    "string": pl.String(),
}
TRUE_WORDS = ["true", "t", "yes", "y", "1"]
FALSE_WORDS = ["false", "f", "no", "n", "0"]


def is_text(dtype: pl.DataType) -> bool:
    """True for String columns."""
    return dtype == pl.String


def is_number(dtype: pl.DataType) -> bool:
    """True for integer, float and decimal columns."""
    return dtype.is_numeric()


def number_or_none(text: str) -> float | None:
    """``text`` as a finite float, or None when it is not a plain number."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def text_columns(schema: Schema) -> list[str]:
    """The String columns, in order."""
    return [c for c, t in schema.items() if is_text(t)]


def marker_columns(step: NullMarkers, schema: Schema) -> list[str]:
    """The columns a marker step touches: as given, or every text/numeric column that fits."""
    if step.columns is not None:
        return list(step.columns)
    numeric = any(number_or_none(m) is not None for m in step.markers)
    return [c for c, t in schema.items() if is_text(t) or (numeric and is_number(t))]


def _markers_expr(
    step: NullMarkers, column: str, dtype: pl.DataType, trimmed: bool = False
) -> Code | None:
    col = PL.col(column)
    if is_text(dtype):
        probe = col.str.strip_chars() if step.ignore_whitespace and not trimmed else col
        hit = probe.is_in(list(step.markers))
    else:
        numbers = [v for m in step.markers if (v := number_or_none(m)) is not None]
        if dtype.is_integer():
            numbers = [v for v in numbers if v.is_integer()]
        if not numbers:
            return None
        hit = col.cast(pl.Float64).is_in(numbers)
    return PL.when(hit).then(None).otherwise(col).alias(column)


def cast_parts(step: Cast, dtype: pl.DataType, trimmed: bool = False) -> tuple[Code, Code | None]:
    """The converted column and the mask of values that failed (None when nothing can fail).

    ``trimmed``: the (text) column is known to be trimmed already, so it is not stripped again.
    """
    col = PL.col(step.column)
    to = step.to
    target = TARGET_TYPES[to]
    if to == "string":
        return (col if is_text(dtype) else col.cast(pl.String)), None
    if dtype == pl.Null:
        return col.cast(target), None
    if is_text(dtype) or isinstance(dtype, pl.Categorical | pl.Enum):
        raw = col if is_text(dtype) else col.cast(pl.String)
        stripped = raw if trimmed and is_text(dtype) else raw.str.strip_chars()
        text = stripped
        if to in ("int", "float"):
            if step.thousands_sep:
                text = text.str.replace_all(step.thousands_sep, "", literal=True)
            if step.decimal_comma:
                text = text.str.replace(",", ".", literal=True)
        if to == "float":
            parsed = text.cast(pl.Float64, strict=False)
        elif to == "int":
            as_float = text.cast(pl.Float64, strict=False)
            whole = PL.when(as_float.round(0) == as_float).then(
                as_float.cast(pl.Int64, strict=False)
            )
            parsed = PL.coalesce([text.cast(pl.Int64, strict=False), whole])
        elif to == "bool":
            parsed = text.str.to_lowercase().replace_strict(
                TRUE_WORDS + FALSE_WORDS,
                [True] * len(TRUE_WORDS) + [False] * len(FALSE_WORDS),
                default=None,
                return_dtype=pl.Boolean,
            )
        elif to == "date":
            parsed = text.str.to_date(step.format, strict=False)
        else:
            parsed = text.str.to_datetime(step.format, time_unit="us", strict=False)
        return parsed, raw.is_not_null() & (stripped != "") & parsed.is_null()
    if is_number(dtype) or dtype == pl.Boolean:
        present = col.is_not_null()
        if dtype.is_float():
            present = col.fill_nan(None).is_not_null()
        if to == "float":
            return col.cast(pl.Float64), None
        if to == "int":
            if dtype.is_float() or dtype.is_decimal():
                parsed = PL.when(col.round(0) == col).then(col.cast(pl.Int64, strict=False))
                return parsed, present & parsed.is_null()
            parsed = col.cast(pl.Int64, strict=False)
            return parsed, present & parsed.is_null()
        if to == "bool":
            if dtype == pl.Boolean:
                return col, None
            parsed = PL.when(col == 1).then(True).when(col == 0).then(False)
            return parsed, present & parsed.is_null()
    if dtype.is_temporal():
        if to == "date":
            return col.cast(pl.Date), None
        if to == "datetime":
            return col.cast(target), None
    raise StepInvalid(
        f"cannot change {step.column!r} from {dtype} to {to}",
        hint="text converts to any type; numbers to int/float/bool/string; dates to date/datetime/string",
    )


def _fill_value(step: FillMissing, dtype: pl.DataType) -> Code:
    value = step.value
    if isinstance(value, str) and dtype == pl.Date:
        return PL.lit(value).str.to_date()
    if isinstance(value, str) and isinstance(dtype, pl.Datetime):
        return PL.lit(value).str.to_datetime(time_unit=dtype.time_unit).cast(dtype)
    if is_text(dtype) and not isinstance(value, str):
        return PL.lit(str(value))
    return PL.lit(value)


def _map_expr(step: MapValues, dtype: pl.DataType) -> Code:
    col = PL.col(step.column)
    keys = list(step.mapping)
    values = list(step.mapping.values())
    if step.unmapped == "null":
        typed_keys = keys if is_text(dtype) else [_number_key(k, dtype, step.column) for k in keys]
        return col.replace_strict(typed_keys, values, default=None)
    if is_text(dtype):
        texts = [v if v is None or isinstance(v, str) else str(v) for v in values]
        return col.replace(keys, texts)
    typed = [_number_key(k, dtype, step.column) for k in keys]
    if any(isinstance(v, str) for v in values):
        texts = [v if v is None or isinstance(v, str) else str(v) for v in values]
        return col.replace_strict(typed, texts, default=col.cast(pl.String), return_dtype=pl.String)
    return col.replace_strict(typed, values, default=col)


def _number_key(key: str, dtype: pl.DataType, column: str) -> int | float:
    value = number_or_none(key)
    if value is None or (dtype.is_integer() and not value.is_integer()):
        kind = "whole numbers" if dtype.is_integer() else "numbers"
        raise StepInvalid(
            f"{key!r} is not a value of {column!r}, which holds {kind}",
            hint="write the old values as they appear in the column",
        )
    return int(value) if dtype.is_integer() else value


def _bounds(
    step: OutlierBounds, dtype: pl.DataType
) -> tuple[float | int | None, float | int | None]:
    lower, upper = step.lower, step.upper
    if dtype.is_integer():
        lower = None if lower is None else math.ceil(lower)
        upper = None if upper is None else math.floor(upper)
    return lower, upper


def keep_mask(step: Step, schema: Schema) -> Code:
    """For a dataset-level step: the boolean expression of the rows it keeps."""
    if isinstance(step, DropDuplicates):
        columns = list(step.subset) if step.subset else list(schema)
        return PL.struct(columns).is_first_distinct()
    if isinstance(step, DropMissing):
        columns = list(step.columns) if step.columns else list(schema)
        nulls = [PL.col(c).is_null() for c in columns]
        if step.how == "all":
            return ~PL.all_horizontal(nulls)
        return ~PL.any_horizontal(nulls)
    if isinstance(step, DropOutliers):
        col = PL.col(step.column)
        lower, upper = _bounds(step, schema[step.column])
        inside: Code = col.is_null()
        if schema[step.column].is_float():
            inside = inside | col.is_nan()
        if lower is not None and upper is not None:
            return inside | col.is_between(lower, upper)
        return inside | (col >= lower if lower is not None else col <= upper)
    if isinstance(step, FilterRows):
        return filter_expression(step.expression, schema).fill_null(False)
    raise TypeError(f"{step.kind} is row-wise and keeps every row")


def apply_traced(tf: TracedFrame, step: Step) -> None:
    """Add ``step`` to ``tf`` (the step must already be checked against ``tf.schema``)."""
    schema = tf.schema
    trimmed = tf.stripped
    if isinstance(step, DropDuplicates):
        _drop_duplicates(tf, step, schema)
        return
    if not step.rowwise:
        tf.apply("filter", keep_mask(step, schema))
        return
    exprs: list[Code] = []
    if isinstance(step, FillMissing):
        exprs.append(PL.col(step.column).fill_null(_fill_value(step, schema[step.column])))
    elif isinstance(step, NullMarkers):
        for column in marker_columns(step, schema):
            expr = _markers_expr(step, column, schema[column], column in trimmed)
            if expr is not None:
                exprs.append(expr)
    elif isinstance(step, TrimWhitespace):
        columns = step.columns if step.columns is not None else text_columns(schema)
        already = [c for c in columns if c in trimmed]
        if already:
            tf.note(f"already trimmed, left as they are: {', '.join(already)}")
        exprs.extend(PL.col(c).str.strip_chars() for c in columns if c not in trimmed)
    elif isinstance(step, ChangeCase):
        columns = step.columns if step.columns is not None else text_columns(schema)
        method = {"lower": "to_lowercase", "upper": "to_uppercase", "title": "to_titlecase"}
        exprs.extend(getattr(PL.col(c).str, method[step.case])() for c in columns)
    elif isinstance(step, Cast):
        parsed, failed = cast_parts(step, schema[step.column], step.column in trimmed)
        if failed is not None and step.on_error == "reject":
            _reject_check(tf, step, failed)
        exprs.append(parsed.alias(step.column))
    elif isinstance(step, MapValues):
        exprs.append(_map_expr(step, schema[step.column]).alias(step.column))
    elif isinstance(step, MergeSpellings):
        variants = step.variant_map()
        exprs.append(PL.col(step.column).replace(list(variants), list(variants.values())))
    elif isinstance(step, ClipOutliers):
        lower, upper = _bounds(step, schema[step.column])
        exprs.append(PL.col(step.column).clip(lower, upper))
    elif isinstance(step, DeriveColumn):
        code, _ = compile_expression(step.expression, schema)
        exprs.append(code.alias(step.name))
    elif isinstance(step, DateParts):
        exprs.extend(_date_part(step.column, part) for part in step.parts)
    elif isinstance(step, Rename):
        tf.apply("rename", dict(step.mapping))
    elif isinstance(step, DropColumns):
        tf.apply("drop", list(step.columns))
    elif isinstance(step, SelectColumns):
        tf.apply("select", list(step.columns))
    else:  # pragma: no cover - every kind is handled above
        raise TypeError(f"unknown step kind {step.kind}")
    if exprs:
        tf.apply("with_columns", *exprs)
    tf.stripped = _still_trimmed(step, schema, trimmed)


def _still_trimmed(step: Step, schema: Schema, trimmed: set[str]) -> set[str]:
    """The columns known to be trimmed after the row-wise ``step`` (see ``TracedFrame.stripped``).

    Trimming adds its columns; nulling markers keeps them (a value stays or becomes null);
    renaming, dropping and selecting follow the names; any other step that writes a column
    forgets it.
    """
    if isinstance(step, TrimWhitespace):
        return trimmed | set(step.columns if step.columns is not None else text_columns(schema))
    if isinstance(step, NullMarkers):
        return set(trimmed)
    if isinstance(step, Rename):
        return {step.mapping.get(c, c) for c in trimmed}
    if isinstance(step, DropColumns):
        return trimmed - set(step.columns)
    if isinstance(step, SelectColumns):
        return trimmed & set(step.columns)
    written: set[str] = set()
    if isinstance(step, FillMissing | Cast | MapValues | MergeSpellings | ClipOutliers):
        written = {step.column}
    elif isinstance(step, ChangeCase):
        written = set(step.columns if step.columns is not None else text_columns(schema))
    elif isinstance(step, DeriveColumn):
        written = {step.name}
    elif isinstance(step, DateParts):
        written = set(step.new_columns())
    return trimmed - written


def commutes_with_next(step: Step, following: Step) -> bool:
    """True when ``step`` then ``following`` is better run as ``following`` then ``step``.

    Null markers that ignore surrounding spaces, then trim: trimming first gives the very same
    values (a value that strips to a marker becomes null either way; every other value ends up
    stripped), and the markers then match the trimmed text as it is instead of stripping it a
    second time. Neither step changes the schema, so both see the same columns either way.
    """
    return (
        isinstance(step, NullMarkers)
        and step.ignore_whitespace
        and isinstance(following, TrimWhitespace)
    )


HASHABLE = (pl.String, pl.Boolean, pl.Binary, pl.Null, pl.Categorical, pl.Enum)


def _hash_exact(dtype: pl.DataType) -> bool:
    """True for types whose equal values (as ``unique`` compares them) always hash equally.

    Checked for these flat types (floats: -0.0 and 0.0, and every NaN, hash and compare equal);
    nested and object columns take the plain ``unique``.
    """
    return dtype.is_numeric() or dtype.is_temporal() or isinstance(dtype, HASHABLE)


def _free_name(schema: Schema, base: str) -> str:
    name = base
    while name in schema:
        name += "_"
    return name


def row_hash(columns: list[str]) -> Code:
    """A UInt64 hash of each row's values in ``columns``.

    The per-column hashes (one seed per position, so swapped values differ) added up with
    wrap-around: one flat sum however many columns there are, so the script's source stays flat.
    """
    return PL.sum_horizontal([PL.col(c).hash(i) for i, c in enumerate(columns)])


def _drop_duplicates(tf: TracedFrame, step: DropDuplicates, schema: Schema) -> None:
    """Keep the first of each group of equal rows, in order.

    The result is exactly ``unique(subset, keep="first", maintain_order=True)``'s, faster.

    Comparing whole rows is the costly part, and most rows have no copy. So each row gets a
    hash of its values; a row whose hash no other row has cannot have a copy and is kept as
    is. Only the rows whose hash repeats (the copies, plus any hash collisions) are compared
    exactly, by value, with ``is_first_distinct`` over the same columns. Equal rows always hash
    equally (see ``_hash_exact``), so the rows kept, and their order, are exactly ``unique``'s.
    """
    columns = list(dict.fromkeys(step.subset)) if step.subset else list(schema)
    if not all(_hash_exact(schema[c]) for c in columns):
        subset = list(step.subset) if step.subset else None
        tf.apply("unique", subset=subset, keep="first", maintain_order=True)
        return
    hashed = _free_name(schema, "__row_hash")
    repeats = _free_name({**schema, hashed: pl.UInt64()}, "__hash_repeats")
    tf.apply("with_columns", row_hash(columns).alias(hashed))
    # the hashes that occur more than once: equal neighbours once sorted (sorted once, as a list)
    item = PL.element()
    twice = PL.col(hashed).sort().implode().list.eval(item.filter(item == item.shift(1)))
    tf.apply("with_columns", PL.col(hashed).is_in(twice).alias(repeats))
    again = PL.col(repeats)
    # among those rows only: is this the first of its values? (plus a spare entry, so that the
    # position below is always in range)
    first = PL.struct([PL.col(c).filter(again) for c in columns]).is_first_distinct()
    first = first.append(PL.lit(True))
    # a row's position among those rows: how many of them come before it
    position = again.cast(pl.Int64).cum_sum() - again.cast(pl.Int64)
    tf.apply("filter", ~again | first.gather(position))
    tf.apply("drop", [hashed, repeats])


def _date_part(column: str, part: str) -> Code:
    dt = PL.col(column).dt
    name = f"{column}_{part}"
    if part == "is_weekend":
        return (dt.weekday() >= 6).alias(name)
    method = {"dayofyear": "ordinal_day"}.get(part, part)
    return getattr(dt, method)().cast(pl.Int32).alias(name)


def _reject_check(tf: TracedFrame, step: Cast, failed: Code) -> None:
    def run(lf: pl.LazyFrame) -> None:
        count, examples = cast_failures(lf, step.column, failed.value)
        if count:
            raise CastRejected(step.column, count, examples, step.to)

    call = f"check_cast(lf, {step.column!r}, {step.to!r}, {render(failed)})"
    if not tf.cheap_to_rescan:
        # compute the frame once: the check and the steps after it start from the result
        tf.materialize()
    # otherwise the check computes only the column it reads (an in-memory frame and row-wise
    # steps since), and the whole recipe stays one plan
    tf.check(run, call)
