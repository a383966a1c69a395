"""The project charter: a business question turned into a measurable ML goal.

The charter is the spine of a project: its primary metric sorts the leaderboard, its threshold
is the gate a model must pass, and its constraints bound the rest. ``parse_charter`` validates
raw input and reports every problem with the field it belongs to, so the CLI can print them
and the Problem screen can show them next to the right input.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.domain.metrics import LATENCY_METRIC, METRICS, TaskType, metrics_for
from app.errors import ValidationFailed

Problem = tuple[str, str]
"""A validation problem: (field name, message)."""

_CONSTRAINT_TEXT = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(>=|<=)\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*$")


class Constraint(BaseModel):
    """A secondary requirement: ``metric bound value``, e.g. ``recall >= 0.6``."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    bound: Literal[">=", "<="]
    value: float

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        """Accept ``"recall >= 0.6"`` as well as a mapping."""
        if isinstance(data, str):
            match = _CONSTRAINT_TEXT.match(data)
            if not match:
                raise ValueError(
                    f"cannot read constraint {data!r}; write it as 'metric >= value' "
                    "or 'metric <= value', e.g. 'recall >= 0.6'"
                )
            return {"metric": match[1], "bound": match[2], "value": float(match[3])}
        return data

    def text(self) -> str:
        """The constraint as ``metric >= value``."""
        return f"{self.metric} {self.bound} {self.value:g}"


class DataSource(BaseModel):
    """A source of data the project may use, and what limits it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1)
    description: str = ""
    limits: str = ""


class Budget(BaseModel):
    """How much time and money the project may spend."""

    model_config = ConfigDict(extra="forbid")

    time_hours: float | None = Field(default=None, ge=0)
    cost: float | None = Field(default=None, ge=0)
    currency: str = ""


class _CharterProblems(ValueError):
    """Carries cross-field problems out of pydantic with their field names."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


class Charter(BaseModel):
    """The charter. Construct it with ``parse_charter`` to get per-field messages."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    objective: str = ""
    stakeholders: list[str] = Field(default_factory=list)
    decision: str = ""
    task: TaskType
    target: str = ""
    positive_class: str | None = None
    time_column: str | None = None
    primary_metric: str
    threshold: float
    constraints: list[Constraint] = Field(default_factory=list)
    explainable: bool = False
    data_sources: list[DataSource] = Field(default_factory=list)
    budget: Budget = Field(default_factory=Budget)
    notes: str = ""

    @field_validator("positive_class", "time_column", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("stakeholders", mode="before")
    @classmethod
    def _split_stakeholders(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> Charter:
        problems = cross_field_problems(self)
        if problems:
            raise _CharterProblems(problems)
        return self

    def primary_text(self) -> str:
        """The success criterion, e.g. ``f1 >= 0.65``."""
        spec = METRICS.get(self.primary_metric)
        bound = spec.default_bound if spec else ">="
        return f"{self.primary_metric} {bound} {self.threshold:g}"


def cross_field_problems(charter: Charter) -> list[Problem]:
    """Rules that involve more than one field: metric fits task, threshold in range, etc."""
    problems: list[Problem] = []
    task = charter.task
    problems.extend(_field_problems(charter.model_dump()))
    if task is TaskType.BINARY and not charter.positive_class:
        problems.append(
            (
                "positive_class",
                "binary classification needs the positive class (the label that means 'yes')",
            )
        )
    if task is not TaskType.BINARY and charter.positive_class:
        problems.append(
            (
                "positive_class",
                f"a positive class only applies to binary classification, not {task.label}",
            )
        )
    if charter.time_column and charter.time_column == charter.target:
        problems.append(("time_column", "the time column cannot also be the target"))
    seen: set[tuple[str, str]] = set()
    for i, constraint in enumerate(charter.constraints):
        where = f"constraints[{i}]"
        cspec = METRICS.get(constraint.metric)
        if cspec is None:
            allowed = ", ".join(m.name for m in metrics_for(task, include_latency=True))
            problems.append((where, f"unknown metric {constraint.metric!r}; use one of {allowed}"))
            continue
        if task not in cspec.tasks:
            problems.append((where, f"{cspec.label} does not fit {task.label}"))
            continue
        if not cspec.in_range(constraint.value):
            problems.append(
                (
                    where,
                    f"{constraint.value:g} is outside the range of {cspec.label} {cspec.range_text()}",
                )
            )
        key = (constraint.metric, constraint.bound)
        if key in seen:
            problems.append((where, f"{constraint.metric} {constraint.bound} is given twice"))
        seen.add(key)
    return problems


def _friendly(error: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not a charter field (check the spelling)"
    return str(error["msg"]).removeprefix("Value error, ")


def _field_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Checks that need only the raw fields, so they run even when other fields fail typing:
    blank objective or target, an unknown or unfitting metric, a threshold out of range."""
    problems: list[Problem] = []
    if not str(data.get("objective") or "").strip():
        problems.append(("objective", "describe the business objective in one or two sentences"))
    if not str(data.get("target") or "").strip():
        problems.append(("target", "name the target column the model will predict"))
    raw_task = data.get("task")
    task = TaskType(raw_task) if raw_task in TaskType._value2member_map_ else None
    metric = data.get("primary_metric")
    if metric is None:
        return problems
    spec = METRICS.get(str(metric))
    fitting = ", ".join(m.name for m in metrics_for(task)) if task else ""
    if spec is None or metric == LATENCY_METRIC:
        allowed = f"for {task.label} use one of {fitting}" if task else "see the metric list"
        problems.append(("primary_metric", f"unknown metric {metric!r}; {allowed}"))
        return problems
    if task is not None and task not in spec.tasks:
        problems.append(
            ("primary_metric", f"{spec.label} does not fit {task.label}; use one of {fitting}")
        )
        return problems
    threshold = data.get("threshold")
    if isinstance(threshold, int | float) and not spec.in_range(float(threshold)):
        problems.append(
            ("threshold", f"{threshold:g} is outside the range of {spec.label} {spec.range_text()}")
        )
    return problems


def parse_charter(data: Mapping[str, Any]) -> Charter:
    """Validate raw charter data; raise ``ValidationFailed`` listing every problem by field."""
    try:
        return Charter.model_validate(dict(data))
    except ValidationError as exc:
        problems: list[Problem] = []
        for error in exc.errors():
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, _CharterProblems):
                problems.extend(cause.problems)
                continue
            loc = ".".join(str(p) for p in error["loc"])
            problems.append((loc, _friendly(error)))
        named = {field for field, _ in problems}
        for field, message in _field_problems(data):
            if field not in named:
                problems.append((field, message))
        raise ValidationFailed(
            "the charter is not valid", problems, hint="fix the fields named and save again"
        ) from None


@dataclass(frozen=True)
class DataFacts:
    """What the project knows about its data, for checking a charter against it.

    ``columns`` maps column name to a DuckDB type name; ``target_values`` holds the distinct
    values of the target column (None when unknown or too many).
    """

    columns: Mapping[str, str]
    target_values: Sequence[str] | None = None
    source: str = "the current dataset"
    numeric_types: frozenset[str] = field(
        default=frozenset(
            {
                "TINYINT",
                "SMALLINT",
                "INTEGER",
                "BIGINT",
                "HUGEINT",
                "UTINYINT",
                "USMALLINT",
                "UINTEGER",
                "UBIGINT",
                "FLOAT",
                "DOUBLE",
                "DECIMAL",
                "REAL",
            }
        )
    )


def problems_against_data(charter: Charter, facts: DataFacts) -> list[Problem]:
    """Check the target, time column and positive class against real columns and values."""
    problems: list[Problem] = []
    names = list(facts.columns)

    def missing(column: str, fld: str) -> None:
        close = difflib.get_close_matches(column, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append((fld, f"{column!r} is not a column of {facts.source}{hint}"))

    if charter.target and charter.target not in facts.columns:
        missing(charter.target, "target")
    elif charter.target:
        base = facts.columns[charter.target].split("(")[0].upper()
        if charter.task is TaskType.REGRESSION and base not in facts.numeric_types:
            problems.append(
                ("target", f"regression needs a numeric target; {charter.target!r} is {base}")
            )
        values = facts.target_values
        if values is not None and charter.task is TaskType.BINARY:
            if charter.positive_class and charter.positive_class not in values:
                shown = ", ".join(repr(v) for v in list(values)[:6])
                problems.append(
                    (
                        "positive_class",
                        f"{charter.positive_class!r} is not a value of {charter.target!r} ({shown})",
                    )
                )
            if len(values) != 2:
                problems.append(
                    (
                        "task",
                        f"binary classification needs 2 classes; {charter.target!r} has {len(values)}",
                    )
                )
    if charter.time_column and charter.time_column not in facts.columns:
        missing(charter.time_column, "time_column")
    return problems
