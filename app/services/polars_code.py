"""Polars objects that remember the Python source that built them.

Recipe steps are translated to Polars once, through ``Code`` values: every attribute access,
call and operator is applied to the real Polars object *and* recorded as source text. The
same translation therefore runs the recipe (``Code.value``) and writes the standalone script
(``Code.source``), so the exported script cannot drift from what the app does.
"""

from __future__ import annotations

import datetime as _dt
import math
import operator
from collections.abc import Callable
from typing import Any

import polars as pl


class Code:
    """A Polars value (expression, namespace, module...) with the source text that made it."""

    __slots__ = ("source", "value")

    def __init__(self, value: Any, source: str) -> None:
        self.value = value
        self.source = source

    def __getattr__(self, name: str) -> Code:
        if name.startswith("_"):
            raise AttributeError(name)
        return Code(getattr(self.value, name), f"{self.source}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Code:
        result = self.value(*unwrap(args), **unwrap(kwargs))
        return Code(result, f"{self.source}({render_args(args, kwargs)})")

    def __bool__(self) -> bool:
        raise TypeError("a Code expression has no truth value; use & | ~")

    def __repr__(self) -> str:
        return f"Code({self.source})"

    __hash__ = None  # type: ignore[assignment]


def _binary(symbol: str, func: Callable[[Any, Any], Any]) -> Callable[[Code, Any], Code]:
    def method(self: Code, other: Any) -> Code:
        return Code(func(self.value, unwrap(other)), f"({self.source} {symbol} {render(other)})")

    return method


def _reflected(symbol: str, func: Callable[[Any, Any], Any]) -> Callable[[Code, Any], Code]:
    def method(self: Code, other: Any) -> Code:
        return Code(func(unwrap(other), self.value), f"({render(other)} {symbol} {self.source})")

    return method


def _unary(symbol: str, func: Callable[[Any], Any]) -> Callable[[Code], Code]:
    def method(self: Code) -> Code:
        return Code(func(self.value), f"({symbol}{self.source})")

    return method


_OPERATORS = {
    "add": ("+", operator.add),
    "sub": ("-", operator.sub),
    "mul": ("*", operator.mul),
    "truediv": ("/", operator.truediv),
    "floordiv": ("//", operator.floordiv),
    "mod": ("%", operator.mod),
    "pow": ("**", operator.pow),
    "and": ("&", operator.and_),
    "or": ("|", operator.or_),
}
for _name, (_symbol, _func) in _OPERATORS.items():
    setattr(Code, f"__{_name}__", _binary(_symbol, _func))
    setattr(Code, f"__r{_name}__", _reflected(_symbol, _func))
for _name, _symbol, _func in (
    ("eq", "==", operator.eq),
    ("ne", "!=", operator.ne),
    ("lt", "<", operator.lt),
    ("le", "<=", operator.le),
    ("gt", ">", operator.gt),
    ("ge", ">=", operator.ge),
):
    setattr(Code, f"__{_name}__", _binary(_symbol, _func))
Code.__neg__ = _unary("-", operator.neg)  # type: ignore[method-assign]
Code.__pos__ = _unary("+", operator.pos)  # type: ignore[method-assign]
Code.__invert__ = _unary("~", operator.invert)  # type: ignore[method-assign]

PL = Code(pl, "pl")
"""The polars module, traced: ``PL.col("a").abs()`` is a Code with source ``pl.col('a').abs()``."""


def unwrap(value: Any) -> Any:
    """The real Polars value inside ``value`` (recursively through lists, tuples and dicts)."""
    if isinstance(value, Code):
        return value.value
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


def render(value: Any) -> str:
    """Python source for a value: Code, literals, containers, dates and Polars data types."""
    if isinstance(value, Code):
        return value.source
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, _dt.date | _dt.datetime | _dt.time | _dt.timedelta):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(render(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(k)}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, pl.DataType) or (
        isinstance(value, type) and issubclass(value, pl.DataType)
    ):
        return f"pl.{value!r}"
    raise TypeError(f"cannot write {type(value).__name__} as source")


def render_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Source for call arguments."""
    parts = [render(a) for a in args] + [f"{k}={render(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def cast_failures(
    lf: pl.LazyFrame, column: str, failed: pl.Expr, limit: int = 5
) -> tuple[int, list]:
    """How many rows of ``lf`` have ``failed`` true, and the first few distinct bad values."""
    flag = f"{column}_failed"  # any name but ``column``: the mask is computed once, then used twice
    out = (
        lf.select(pl.col(column), failed.fill_null(False).alias(flag))
        .select(
            pl.col(flag).sum().alias("count"),
            pl.col(column)
            .filter(pl.col(flag))
            .unique(maintain_order=True)
            .head(limit)
            .implode()
            .alias("examples"),
        )
        .collect()
    )
    return int(out["count"][0]), list(out["examples"][0])


def is_in_memory(lf: pl.LazyFrame) -> bool:
    """True when ``lf`` is just an in-memory frame (``DataFrame.lazy()``), with no steps on it."""
    plan = lf.explain(optimized=False)
    return plan.startswith("DF [") and "\n" not in plan


COLUMNWISE = frozenset({"with_columns", "rename", "drop", "select"})
"""LazyFrame methods that keep every row: computing one column needs only that column's lineage."""


class TracedFrame:
    """A LazyFrame under construction plus the script lines that rebuild it.

    ``apply("with_columns", ...)`` calls the LazyFrame method and records ``lf = lf.with_columns(...)``;
    ``check(...)`` runs a check now and records the same check for the script.
    """

    def __init__(self, lf: pl.LazyFrame, *, in_memory: bool | None = None) -> None:
        self.lf = lf
        self.lines: list[str] = []
        self.step_starts: list[int] = []
        """Index into ``lines`` where each step's lines begin (kept by ``trace_recipe``)."""
        self.stripped: set[str] = set()
        """Text columns known to have no surrounding whitespace (trimmed, not rewritten since).

        Stripping them again changes nothing, so later steps skip it. It is derived from the
        steps alone, so the app and the exported script take the same decisions."""
        self.cheap_to_rescan = is_in_memory(lf) if in_memory is None else in_memory
        """True while the plan is an in-memory frame plus column-wise steps only: a check then
        scans just the columns it needs instead of computing the whole frame first."""

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """The current column names and types (resolved lazily, no data is read)."""
        return dict(self.lf.collect_schema())

    def apply(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Call a LazyFrame method and record it."""
        self.lf = getattr(self.lf, method)(*unwrap(args), **unwrap(kwargs))
        if method not in COLUMNWISE:
            self.cheap_to_rescan = False
        if len(args) > 1 or any(isinstance(a, Code) for a in args):
            body = "".join(f"\n    {render(a)}," for a in args)
            body += "".join(f"\n    {k}={render(v)}," for k, v in kwargs.items())
            self.lines.append(f"lf = lf.{method}({body}\n)")
        else:
            self.lines.append(f"lf = lf.{method}({render_args(args, kwargs)})")

    def note(self, text: str) -> None:
        """Record a comment for the script (what a step skipped, and why)."""
        self.lines.append(f"# {text}")

    def materialize(self) -> None:
        """Compute the frame so far once, so a check and the steps after it do not redo it."""
        self.lf = self.lf.collect().lazy()
        self.lines.append("lf = lf.collect().lazy()")
        self.cheap_to_rescan = True

    def check(self, run: Callable[[pl.LazyFrame], None], call: str) -> None:
        """Run ``run(lf)`` (it raises on failure) and record ``call`` for the script."""
        run(self.lf)
        self.lines.append(call)
