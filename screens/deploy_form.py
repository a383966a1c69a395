"""The "try it" form's fields, built from a bundle's contract and baseline, and its wording.

The form asks for what the bundle takes: the raw columns the model is computed from when the
bundle replays cleaning steps, otherwise the contract's columns. Each field is prefilled with
a typical training value (the median, the most frequent level), so one press predicts a
typical row. Text that is not a number is passed on as typed: the bundle's own validation
names the problem, exactly as the server and batch scoring would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from app.runtime.contract import MISSING_LEVEL, ColumnContract, FeatureBaseline

FieldKind = Literal["numeric", "categorical", "datetime", "boolean", "text"]

SELECT_LIMIT = 40
"""Categorical columns with more levels than this get a text field with suggestions."""

_INTEGER_TYPES = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"}
_NUMERIC_TYPES = _INTEGER_TYPES | {"Float32", "Float64", "Decimal"}


@dataclass
class FormField:
    """One input of the form."""

    name: str
    kind: FieldKind
    default: str = ""
    """The typical value the field starts with ("" = missing)."""
    placeholder: str = ""
    choices: list[str] = field(default_factory=list)
    """Levels seen in training, most frequent first (categorical and boolean fields)."""
    nullable: bool = True
    integer: bool = False
    """The raw column holds whole numbers (a typical value is rounded to one)."""
    many: bool = False
    """Training had more levels than the contract lists (always a text field)."""

    @property
    def hint(self) -> str:
        """A short note beside the field: the training range, the number of levels."""
        if self.kind == "numeric":
            return self.placeholder.removesuffix(" in training").replace(" in training,", ",")
        if self.kind == "categorical":
            n = f"{len(self.choices):,}{'+' if self.many else ''} levels"
            return n if self.uses_select else f"{n} · completes"
        if self.kind == "datetime":
            return "a date/time"
        return ""

    @property
    def uses_select(self) -> bool:
        """A drop-down (few levels) rather than a text field with suggestions."""
        return self.kind == "boolean" or (
            self.kind == "categorical" and not self.many and 0 < len(self.choices) <= SELECT_LIMIT
        )


def _number(value: float, integer: bool) -> str:
    if integer:
        return str(int(round(value)))
    return f"{value:.6g}"


def _numeric_field(
    name: str, c: ColumnContract | None, b: FeatureBaseline | None, integer: bool
) -> FormField:
    default = ""
    median = b.quantiles.get("q50") if b is not None else None
    if median is not None and math.isfinite(median):
        default = _number(median, integer)
    placeholder = "a number"
    if c is not None and c.min is not None and c.max is not None:
        placeholder = f"{_number(c.min, integer)} to {_number(c.max, integer)} in training"
    nullable = c.nullable if c is not None else True
    if nullable:
        placeholder += ", or empty"
    return FormField(name, "numeric", default, placeholder, nullable=nullable, integer=integer)


def _categorical_field(name: str, c: ColumnContract | None, b: FeatureBaseline | None) -> FormField:
    choices = [x for x in (c.categories if c is not None else []) if x != MISSING_LEVEL]
    nullable = c.nullable if c is not None else True
    frequent = (
        [k for k, _ in sorted(b.frequencies.items(), key=lambda kv: -kv[1]) if k != MISSING_LEVEL]
        if b is not None
        else []
    )
    default = frequent[0] if frequent else (choices[0] if choices else "")
    more = c is not None and c.more_categories
    if more or len(choices) > SELECT_LIMIT:
        shown = f"{len(choices):,}{'+' if more else ''} levels"
        placeholder = f"e.g. {default} ({shown}; others are flagged)" if default else shown
    else:
        placeholder = "a level seen in training"
    return FormField(name, "categorical", default, placeholder, choices, nullable, many=more)


def _datetime_field(name: str, c: ColumnContract | None, b: FeatureBaseline | None) -> FormField:
    default = ""
    median = b.quantiles.get("q50") if b is not None else None
    if median is not None and math.isfinite(median):
        default = datetime.fromtimestamp(median, UTC).strftime("%Y-%m-%d %H:%M")
    nullable = c.nullable if c is not None else True
    return FormField(name, "datetime", default, "YYYY-MM-DD [HH:MM]", nullable=nullable)


def form_fields(bundle: Any) -> list[FormField]:
    """The fields one row of ``bundle`` needs, prefilled with typical training values."""
    contract = {c.name: c for c in bundle.contract.columns}
    baseline = {f.name: f for f in bundle.baseline.features}
    raw: dict[str, str] = dict(bundle.raw.columns)
    if raw:
        names = list(bundle.raw.required) or [n for n in raw if n in contract]
    else:
        names = list(contract)
    fields: list[FormField] = []
    for name in names:
        c, b, dtype = contract.get(name), baseline.get(name), raw.get(name, "")
        kind = c.kind if c is not None else None
        if kind == "numeric" or (kind is None and dtype in _NUMERIC_TYPES):
            fields.append(_numeric_field(name, c, b, dtype in _INTEGER_TYPES))
        elif kind == "categorical":
            fields.append(_categorical_field(name, c, b))
        elif kind == "datetime" or dtype in {"Date", "Datetime"}:
            fields.append(_datetime_field(name, c, b))
        elif dtype == "Boolean":
            fields.append(FormField(name, "boolean", "true", choices=["true", "false"]))
        else:
            fields.append(FormField(name, "text", placeholder="text"))
    return fields


def typed_value(f: FormField, text: str | None) -> Any:
    """The JSON value a field's text becomes: a number when it reads as one, None when
    empty, otherwise the text itself (so the bundle reports what is wrong with it)."""
    if text is None:
        return None
    text = text.strip()
    if text == "" or (f.kind == "categorical" and text == MISSING_LEVEL):
        return None
    if f.kind == "numeric":
        try:
            number = float(text)
        except ValueError:
            return text
        if math.isfinite(number) and number.is_integer() and f.integer:
            return int(number)
        return number
    if f.kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def result_text(result: dict[str, Any]) -> tuple[str, bool]:
    """What a ``predict_row`` result says, and whether the row was refused."""
    errors = result.get("errors")
    if errors:
        lines = ["Not scored: the row breaks the contract."]
        lines += [f"  • {e}" for e in errors]
        return "\n".join(lines), True
    head = f"prediction: {_format(result.get('prediction'))}"
    if result.get("probability") is not None:
        head += f"   probability {_format(result['probability'])}"
    if result.get("threshold") is not None:
        head += f"   (threshold {_format(result['threshold'])})"
    lines = [head]
    per_class = {
        k.removeprefix("probability_"): v
        for k, v in result.items()
        if k.startswith("probability_") and isinstance(v, int | float)
    }
    if per_class:
        top = sorted(per_class.items(), key=lambda kv: -kv[1])[:5]
        lines.append("classes: " + ", ".join(f"{k} {v:.3f}" for k, v in top))
    flags = result.get("flags") or []
    if flags:
        lines.append("flags (scored anyway):")
        lines += [f"  • {f}" for f in flags]
    else:
        lines.append("no flags: every value is within what training saw")
    return "\n".join(lines), False
