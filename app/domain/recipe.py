"""Cleaning recipes: an ordered list of typed, declarative steps.

Each step is a pydantic model told apart by ``kind`` (a discriminated union), so a recipe
round-trips through JSON and the project store unchanged. Steps whose parameters come from the
data (fill values, outlier bounds) are *frozen*: the value is computed once, when the step is
added, and stored in the step, so replaying the recipe on new data never recomputes it.

A step is either *row-wise* (``rowwise = True``: it maps each row on its own, so it can be
replayed on one new row at prediction time) or *dataset-level* (it removes rows by looking at
the whole training set: duplicates, filters, outlier rows). ``Recipe.rowwise_part`` keeps the
row-wise steps, which is what a predictor bundle carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from app.errors import MlwbError, ValidationFailed

Scalar = bool | int | float | str
"""A single cell value a step can store (dates are stored as ISO text)."""

CastTarget = Literal["int", "float", "bool", "date", "datetime", "string"]
DatePart = Literal[
    "year",
    "quarter",
    "month",
    "day",
    "weekday",
    "dayofyear",
    "week",
    "hour",
    "minute",
    "is_weekend",
]
DATE_PARTS: tuple[str, ...] = DatePart.__args__  # type: ignore[attr-defined]


class StepInvalid(MlwbError):
    """A step does not fit the data it is applied to (unknown column, wrong type, ...)."""


class CastRejected(MlwbError):
    """A cast with ``on_error='reject'`` met values it cannot convert."""

    def __init__(self, column: str, count: int, examples: list[Any], target: str) -> None:
        shown = ", ".join(repr(v) for v in examples)
        super().__init__(
            f"cannot cast {count} value{'s' if count != 1 else ''} of {column!r} to {target}: {shown}",
            hint="clean those values first (e.g. a marker step), or cast with on_error='null'",
        )
        self.column = column
        self.count = count
        self.examples = examples


def _names(columns: list[str] | None, everything: str = "all text columns") -> str:
    if not columns:
        return everything
    shown = ", ".join(columns[:4])
    return shown + (f" (+{len(columns) - 4} more)" if len(columns) > 4 else "")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


class StepBase(BaseModel):
    """What every step shares: immutable, strict fields, a title and a one-line description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rowwise: ClassVar[bool] = True
    """True when the step maps each row on its own and can be replayed on one new row."""
    title: ClassVar[str] = ""
    """A short human name of the kind of step, for menus."""

    def describe(self) -> str:
        """One line saying what the step does."""
        return self.title

    def is_frozen(self) -> bool:
        """False while a data-derived parameter still has to be computed (``freeze_step``)."""
        return True


class DropDuplicates(StepBase):
    """Keep the first of each group of identical rows (over all columns or a subset)."""

    kind: Literal["drop_duplicates"] = "drop_duplicates"
    subset: list[str] | None = None
    rowwise: ClassVar[bool] = False
    title: ClassVar[str] = "Drop duplicate rows"

    def describe(self) -> str:
        return f"Drop duplicate rows (same {_names(self.subset, 'values in every column')})"


class DropMissing(StepBase):
    """Drop rows with a null in any (or all) of the chosen columns (all columns when None)."""

    kind: Literal["drop_missing"] = "drop_missing"
    columns: list[str] | None = None
    how: Literal["any", "all"] = "any"
    rowwise: ClassVar[bool] = False
    title: ClassVar[str] = "Drop rows with missing values"

    def describe(self) -> str:
        where = _names(self.columns, "every column" if self.how == "all" else "any column")
        if self.how == "all":
            return f"Drop rows that are empty in {where}"
        return f"Drop rows with a missing value in {where}"


class FillMissing(StepBase):
    """Replace nulls in one column by a constant or a statistic frozen when the step is added."""

    kind: Literal["fill_missing"] = "fill_missing"
    column: str
    method: Literal["constant", "mean", "median", "mode"] = "constant"
    value: Scalar | None = None
    title: ClassVar[str] = "Fill missing values"

    @model_validator(mode="after")
    def _constant_needs_value(self) -> FillMissing:
        if self.method == "constant" and self.value is None:
            raise ValueError("a constant fill needs a value")
        return self

    def is_frozen(self) -> bool:
        return self.value is not None

    def describe(self) -> str:
        how = "" if self.method == "constant" else f" {self.method}"
        value = "(not computed yet)" if self.value is None else _value(self.value)
        return f"Fill missing {self.column} with{how} {value}"


class NullMarkers(StepBase):
    """Turn marker values (``?``, ``NA``, ``-200``...) into null.

    ``columns=None`` means every column a marker can apply to: text columns for every marker,
    numeric columns for the markers that are numbers. With ``ignore_whitespace`` a text value
    matches a marker after stripping surrounding spaces (so ``' ?'`` matches ``'?'``).
    """

    kind: Literal["null_markers"] = "null_markers"
    markers: list[str] = Field(min_length=1)
    columns: list[str] | None = None
    ignore_whitespace: bool = True
    title: ClassVar[str] = "Marker values to null"

    @field_validator("markers", mode="before")
    @classmethod
    def _markers_as_text(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [v if isinstance(v, str) else _number_text(v) for v in value]
        return value

    def describe(self) -> str:
        shown = ", ".join(repr(m) for m in self.markers[:5])
        return f"Turn {shown} into null in {_names(self.columns, 'all columns')}"


def _number_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int | float) else value


class TrimWhitespace(StepBase):
    """Strip leading and trailing whitespace from text columns (all text columns when None)."""

    kind: Literal["trim_whitespace"] = "trim_whitespace"
    columns: list[str] | None = None
    title: ClassVar[str] = "Trim spaces"

    def describe(self) -> str:
        return f"Trim spaces in {_names(self.columns)}"


class ChangeCase(StepBase):
    """Lower-, upper- or title-case text columns (all text columns when None)."""

    kind: Literal["change_case"] = "change_case"
    case: Literal["lower", "upper", "title"] = "lower"
    columns: list[str] | None = None
    title: ClassVar[str] = "Change case"

    def describe(self) -> str:
        return f"Make {_names(self.columns)} {self.case} case"


class Cast(StepBase):
    """Change a column's type. Text is stripped first; numbers may use separators.

    ``on_error='reject'`` refuses the step (naming the column, count and first bad values) when
    a non-empty value cannot be converted; ``'null'`` turns such values into null.
    """

    kind: Literal["cast"] = "cast"
    column: str
    to: CastTarget
    on_error: Literal["null", "reject"] = "reject"
    format: str | None = None
    thousands_sep: Literal[",", ".", " ", "'", "_"] | None = None
    decimal_comma: bool = False
    title: ClassVar[str] = "Change type"

    @model_validator(mode="after")
    def _separators_differ(self) -> Cast:
        if self.decimal_comma and self.thousands_sep == ",":
            raise ValueError("with a decimal comma the thousands separator cannot be ','")
        return self

    def describe(self) -> str:
        extra = " (bad values become null)" if self.on_error == "null" else ""
        fmt = f" using {self.format!r}" if self.format else ""
        return f"Change {self.column} to {self.to}{fmt}{extra}"


class MapValues(StepBase):
    """Replace chosen values of one column (keys are the old values as text)."""

    kind: Literal["map_values"] = "map_values"
    column: str
    mapping: dict[str, Scalar | None] = Field(min_length=1)
    unmapped: Literal["keep", "null"] = "keep"
    """``keep`` leaves other values as they are (the column stays text if it was text);
    ``null`` turns them into null, so mapping text to numbers gives a numeric column."""
    title: ClassVar[str] = "Replace values"

    def describe(self) -> str:
        pairs = ", ".join(f"{k!r} → {_value(v)}" for k, v in list(self.mapping.items())[:3])
        more = f" (+{len(self.mapping) - 3} more)" if len(self.mapping) > 3 else ""
        others = "; other values become null" if self.unmapped == "null" else ""
        return f"In {self.column} replace {pairs}{more}{others}"


class MergeSpellings(StepBase):
    """Merge variant spellings of a category into one canonical spelling each."""

    kind: Literal["merge_spellings"] = "merge_spellings"
    column: str
    groups: dict[str, list[str]] = Field(min_length=1)
    """canonical spelling -> its variants"""
    title: ClassVar[str] = "Merge spellings"

    @model_validator(mode="after")
    def _variants_unique(self) -> MergeSpellings:
        seen: set[str] = set()
        for canonical, variants in self.groups.items():
            for variant in variants:
                if variant in seen or variant in self.groups and variant != canonical:
                    raise ValueError(f"{variant!r} is listed in more than one group")
                seen.add(variant)
        return self

    def variant_map(self) -> dict[str, str]:
        """variant -> canonical, without the identity pairs."""
        return {v: c for c, vs in self.groups.items() for v in vs if v != c}

    def describe(self) -> str:
        n = len(self.variant_map())
        names = ", ".join(repr(c) for c in list(self.groups)[:3])
        return f"Merge {n} spelling{'s' if n != 1 else ''} into {names} in {self.column}"


class OutlierBounds(StepBase):
    """Outlier bounds computed once (IQR factor, z-score or quantiles) or given by hand."""

    column: str
    method: Literal["iqr", "zscore", "quantile", "manual"] = "iqr"
    factor: float | None = Field(default=None, gt=0)
    lower_quantile: float = Field(default=0.01, ge=0, le=1)
    upper_quantile: float = Field(default=0.99, ge=0, le=1)
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _bounds_make_sense(self) -> OutlierBounds:
        if self.method == "manual" and self.lower is None and self.upper is None:
            raise ValueError("manual bounds need a lower or an upper bound")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower bound {self.lower:g} is above upper bound {self.upper:g}")
        if self.lower_quantile >= self.upper_quantile:
            raise ValueError("lower_quantile must be below upper_quantile")
        return self

    def effective_factor(self) -> float:
        """The IQR factor (default 1.5) or z-score limit (default 3)."""
        if self.factor is not None:
            return self.factor
        return 3.0 if self.method == "zscore" else 1.5

    def is_frozen(self) -> bool:
        return self.lower is not None or self.upper is not None

    def rule(self) -> str:
        """How the bounds were chosen, e.g. ``IQR x1.5``."""
        return {
            "iqr": f"IQR x{self.effective_factor():g}",
            "zscore": f"|z| <= {self.effective_factor():g}",
            "quantile": f"quantiles {self.lower_quantile:g}-{self.upper_quantile:g}",
            "manual": "by hand",
        }[self.method]

    def bounds_text(self) -> str:
        """The frozen interval, e.g. ``[0, 7688]``."""
        if not self.is_frozen():
            return "(bounds not computed yet)"
        lo = "-inf" if self.lower is None else f"{self.lower:.6g}"
        hi = "inf" if self.upper is None else f"{self.upper:.6g}"
        return f"[{lo}, {hi}]"


class ClipOutliers(OutlierBounds):
    """Clip values of a numeric column into frozen bounds (row-wise)."""

    kind: Literal["clip_outliers"] = "clip_outliers"
    title: ClassVar[str] = "Clip outliers"

    def describe(self) -> str:
        return f"Clip {self.column} to {self.bounds_text()} ({self.rule()})"


class DropOutliers(OutlierBounds):
    """Drop rows whose value lies outside frozen bounds (nulls are kept)."""

    kind: Literal["drop_outliers"] = "drop_outliers"
    rowwise: ClassVar[bool] = False
    title: ClassVar[str] = "Drop outlier rows"

    def describe(self) -> str:
        return f"Drop rows with {self.column} outside {self.bounds_text()} ({self.rule()})"


class FilterRows(StepBase):
    """Keep the rows where an expression is true (rows where it is null are dropped)."""

    kind: Literal["filter_rows"] = "filter_rows"
    expression: str = Field(min_length=1, max_length=1000)
    rowwise: ClassVar[bool] = False
    title: ClassVar[str] = "Filter rows"

    def describe(self) -> str:
        return f"Keep rows where {self.expression}"


class DeriveColumn(StepBase):
    """Add (or, with ``replace``, overwrite) a column computed from an expression."""

    kind: Literal["derive_column"] = "derive_column"
    name: str = Field(min_length=1)
    expression: str = Field(min_length=1, max_length=1000)
    replace: bool = False
    title: ClassVar[str] = "Derived column"

    def describe(self) -> str:
        return f"{'Set' if self.replace else 'Add'} column {self.name} = {self.expression}"


class DateParts(StepBase):
    """Add columns ``<column>_<part>`` (year, month, weekday, hour...) from a date column."""

    kind: Literal["date_parts"] = "date_parts"
    column: str
    parts: list[DatePart] = Field(min_length=1)
    title: ClassVar[str] = "Date parts"

    def new_columns(self) -> list[str]:
        """The names of the columns this step adds."""
        return [f"{self.column}_{part}" for part in self.parts]

    def describe(self) -> str:
        return f"Add {', '.join(self.parts)} of {self.column}"


class Rename(StepBase):
    """Rename columns (old name -> new name)."""

    kind: Literal["rename"] = "rename"
    mapping: dict[str, str] = Field(min_length=1)
    title: ClassVar[str] = "Rename columns"

    def describe(self) -> str:
        pairs = ", ".join(f"{k} → {v}" for k, v in list(self.mapping.items())[:3])
        more = f" (+{len(self.mapping) - 3} more)" if len(self.mapping) > 3 else ""
        return f"Rename {pairs}{more}"


class DropColumns(StepBase):
    """Remove columns."""

    kind: Literal["drop_columns"] = "drop_columns"
    columns: list[str] = Field(min_length=1)
    title: ClassVar[str] = "Drop columns"

    def describe(self) -> str:
        return f"Drop column{'s' if len(self.columns) != 1 else ''} {_names(self.columns)}"


class SelectColumns(StepBase):
    """Keep only the chosen columns, in the given order (feature selection)."""

    kind: Literal["select_columns"] = "select_columns"
    columns: list[str] = Field(min_length=1)
    title: ClassVar[str] = "Keep columns"

    def describe(self) -> str:
        return f"Keep only {_names(self.columns)}"


Step = Annotated[
    DropDuplicates
    | DropMissing
    | FillMissing
    | NullMarkers
    | TrimWhitespace
    | ChangeCase
    | Cast
    | MapValues
    | MergeSpellings
    | ClipOutliers
    | DropOutliers
    | FilterRows
    | DeriveColumn
    | DateParts
    | Rename
    | DropColumns
    | SelectColumns,
    Field(discriminator="kind"),
]
"""Any recipe step; ``kind`` says which."""

STEP_TYPES: dict[str, type[StepBase]] = {
    cls.model_fields["kind"].default: cls for cls in get_args(get_args(Step)[0])
}
"""kind -> step class, in menu order."""

_STEP_ADAPTER: TypeAdapter[Step] = TypeAdapter(Step)


def parse_step(data: Mapping[str, Any] | StepBase) -> Step:
    """Validate raw step data; raise ``ValidationFailed`` listing every problem by field."""
    if isinstance(data, StepBase):
        return data  # type: ignore[return-value]
    try:
        return _STEP_ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"][1:] or error["loc"])
            msg = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "union_tag_invalid":
                msg = f"unknown step kind; use one of {', '.join(STEP_TYPES)}"
            problems.append((loc, msg))
        raise ValidationFailed(
            "the step is not valid", problems, hint="fix the fields named and try again"
        ) from None


class Recipe(BaseModel):
    """An ordered list of steps. Methods return new recipes; a recipe is never edited in place."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step] = Field(default_factory=list)

    def rowwise_part(self) -> Recipe:
        """Only the row-wise steps, in order: what replays on new rows at prediction time."""
        return Recipe(steps=[s for s in self.steps if s.rowwise])

    def is_rowwise(self) -> bool:
        """True when every step is row-wise."""
        return all(s.rowwise for s in self.steps)

    def with_step(self, step: Step | Mapping[str, Any], index: int | None = None) -> Recipe:
        """A new recipe with ``step`` appended (or inserted at ``index``)."""
        steps = list(self.steps)
        steps.insert(len(steps) if index is None else index, parse_step(step))
        return Recipe(steps=steps)

    def without_step(self, index: int = -1) -> Recipe:
        """A new recipe without the step at ``index`` (the last by default): undo."""
        if not self.steps:
            raise MlwbError("the recipe has no steps to remove")
        steps = list(self.steps)
        try:
            del steps[index]
        except IndexError:
            raise MlwbError(
                f"the recipe has no step {index + 1 if index >= 0 else index}",
                hint=f"choose a step between 1 and {len(steps)}",
            ) from None
        return Recipe(steps=steps)

    def describe(self) -> list[str]:
        """One numbered line per step."""
        return [
            f"{i}. {s.describe()}{'' if s.rowwise else '  [training data only]'}"
            for i, s in enumerate(self.steps, 1)
        ]
