"""User-written filter and derive expressions, parsed safely and translated to Polars.

Expressions look like Python (or a little SQL)::

    age >= 18 and hours_per_week < 60
    "capital-gain" - "capital-loss"          # double quotes name a column
    col("hours-per-week") * 52               # so does col("...")
    income == '>50K'                         # single quotes are text
    year(dteday) >= 2012 or workclass in ('Private', 'State-gov')
    if_else(is_null(age), 0, age)

They are read with ``ast`` and only a whitelist of node types, operators and functions is
translated; nothing is ever evaluated by Python. Every referenced column is checked against the
schema, and the result is type-checked by Polars on an empty frame, so a bad expression is
refused before it touches any data.
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from app.errors import MlwbError
from app.services.polars_code import PL, Code

MAX_LENGTH = 1000
MAX_NODES = 400
MAX_IN_VALUES = 200

_QUOTED = "__mlwb_quoted_{}__"
_SQL_WORDS = {
    "AND": "and",
    "OR": "or",
    "NOT": "not",
    "IS": "is",
    "IN": "in",
    "NULL": "None",
    "null": "None",
    "TRUE": "True",
    "true": "True",
    "FALSE": "False",
    "false": "False",
}
_HINT = (
    'columns are names or "double quoted" ("capital-gain"), text is \'single quoted\', '
    "e.g. age >= 18 and income == '>50K'"
)

Term = Code | bool | int | float | str | None


class ExpressionInvalid(MlwbError):
    """An expression cannot be read, uses something not allowed, or does not fit the data."""

    def __init__(self, message: str, hint: str = _HINT) -> None:
        super().__init__(message, hint)


def _rewrite(text: str) -> tuple[str, dict[str, str]]:
    """Turn double-quoted names into placeholders and SQL spellings into Python ones."""
    text = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    quoted: dict[str, str] = {}
    out: list[str] = []
    last = 0
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise ExpressionInvalid(f"cannot read the expression: {exc.args[0]}") from None
    previous: tokenize.TokenInfo | None = None
    for tok in tokens:
        start, end = tok.start[1], tok.end[1]
        replacement: str | None = None
        if tok.type == tokenize.STRING:
            if tok.string[0] not in "'\"":
                raise ExpressionInvalid(f"string prefixes are not allowed: {tok.string}")
            if tok.string.startswith(("'''", '"""')):
                raise ExpressionInvalid("triple-quoted strings are not allowed")
            if tok.string[0] == '"':
                name = _QUOTED.format(len(quoted))
                quoted[name] = ast.literal_eval(tok.string)
                replacement = name
        elif tok.type == tokenize.NAME and tok.string in _SQL_WORDS:
            replacement = _SQL_WORDS[tok.string]
        elif tok.type == tokenize.OP and tok.string == "=":
            replacement = "=="
        elif (
            tok.type == tokenize.OP
            and tok.string == ">"
            and previous is not None
            and previous.string == "<"
            and previous.end == tok.start
        ):
            start = previous.start[1]
            replacement = "!="
        elif tok.type == tokenize.ERRORTOKEN and tok.string.strip():
            raise ExpressionInvalid(f"unexpected character {tok.string!r}")
        if replacement is not None:
            out.append(text[last:start])
            out.append(replacement)
            last = end
        previous = tok
    out.append(text[last:])
    return "".join(out), quoted


class _Translator:
    """Walks a whitelisted AST and builds a traced Polars expression."""

    def __init__(self, schema: Mapping[str, pl.DataType], quoted: dict[str, str]) -> None:
        self.schema = schema
        self.quoted = quoted
        self.columns: list[str] = []

    def column(self, name: str) -> Code:
        if name not in self.schema:
            raise ExpressionInvalid(
                f"unknown column {name!r}", hint=_did_you_mean(name, self.schema)
            )
        if name not in self.columns:
            self.columns.append(name)
        return PL.col(name)

    def visit(self, node: ast.AST) -> Term:
        method: Callable[[Any], Term] | None = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise ExpressionInvalid(f"{_describe_node(node)} is not allowed in an expression")
        return method(node)

    def visit_Expression(self, node: ast.Expression) -> Term:
        return self.visit(node.body)

    def visit_Constant(self, node: ast.Constant) -> Term:
        if node.value is None or isinstance(node.value, bool | int | float | str):
            return node.value
        raise ExpressionInvalid(f"the value {node.value!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> Term:
        if node.id in self.quoted:
            return self.column(self.quoted[node.id])
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        if node.id in _FUNCTIONS:
            raise ExpressionInvalid(f"{node.id} is a function; call it like {node.id}(column)")
        return self.column(node.id)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Term:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            if isinstance(operand, int | float) and not isinstance(operand, bool):
                return -operand
            return -_expr(operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return ~_expr(operand)
        raise ExpressionInvalid("the operator ~ is not allowed; use not")

    def visit_BinOp(self, node: ast.BinOp) -> Term:
        if isinstance(node.op, ast.Sub):
            self._dash_hint(node)
        op = _BIN_OPS.get(type(node.op))
        if op is None:
            raise ExpressionInvalid(f"the operator {_describe_node(node.op)} is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if not isinstance(left, Code) and not isinstance(right, Code):
            left = _expr(left)
        return op(left, right)

    def _dash_hint(self, node: ast.BinOp) -> None:
        """``capital-gain`` parses as capital minus gain; say how to write it."""
        names: list[str | None] = []
        side: ast.expr = node
        while isinstance(side, ast.BinOp) and isinstance(side.op, ast.Sub):
            names.insert(0, side.right.id if isinstance(side.right, ast.Name) else None)
            side = side.left
        names.insert(0, side.id if isinstance(side, ast.Name) else None)
        for i in range(len(names)):
            for j in range(len(names), i + 1, -1):
                run = names[i:j]
                if None in run or run[0] in self.schema:
                    continue
                name = "-".join(run)  # type: ignore[arg-type]
                if name in self.schema:
                    raise ExpressionInvalid(
                        f"unknown column {run[0]!r}",
                        hint=f'to use the column {name!r} write it in double quotes: "{name}"',
                    )

    def visit_BoolOp(self, node: ast.BoolOp) -> Term:
        values = [_expr(self.visit(v)) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = result & value if isinstance(node.op, ast.And) else result | value
        return result

    def visit_Compare(self, node: ast.Compare) -> Term:
        parts: list[Code] = []
        left_node = node.left
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            parts.append(self._compare(left_node, op, right_node))
            left_node = right_node
        result = parts[0]
        for part in parts[1:]:
            result = result & part
        return result

    def _compare(self, left_node: ast.expr, op: ast.cmpop, right_node: ast.expr) -> Code:
        left = self.visit(left_node)
        if isinstance(op, ast.In | ast.NotIn):
            values = self._literal_list(right_node)
            if not values:
                raise ExpressionInvalid("the list after 'in' is empty")
            hit = PL.any_horizontal([_expr(left) == v for v in values])
            return ~hit if isinstance(op, ast.NotIn) else hit
        right = self.visit(right_node)
        if isinstance(op, ast.Is | ast.IsNot | ast.Eq | ast.NotEq) and (
            right is None or left is None
        ):
            other = _expr(left if right is None else right)
            return other.is_null() if isinstance(op, ast.Is | ast.Eq) else other.is_not_null()
        if isinstance(op, ast.Is | ast.IsNot):
            raise ExpressionInvalid(
                "'is' only works with null: write 'x is null' or 'x is not null'"
            )
        func = _COMPARE_OPS[type(op)]
        if not isinstance(left, Code) and not isinstance(right, Code):
            left = _expr(left)
        return func(left, right)

    def _literal_list(self, node: ast.expr) -> list[Any]:
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise ExpressionInvalid("'in' needs a list of values, e.g. x in ('a', 'b')")
        if len(node.elts) > MAX_IN_VALUES:
            raise ExpressionInvalid(f"'in' accepts at most {MAX_IN_VALUES} values")
        values = []
        for elt in node.elts:
            value = self.visit(elt)
            if isinstance(value, Code) or value is None:
                raise ExpressionInvalid(
                    "the list after 'in' may only hold values (text or numbers)"
                )
            values.append(value)
        return values

    def visit_IfExp(self, node: ast.IfExp) -> Term:
        cond = _expr(self.visit(node.test))
        return (
            PL.when(cond)
            .then(_expr(self.visit(node.body)))
            .otherwise(_expr(self.visit(node.orelse)))
        )

    def visit_Call(self, node: ast.Call) -> Term:
        if not isinstance(node.func, ast.Name):
            raise ExpressionInvalid(f"{_describe_node(node.func)} cannot be called")
        name = node.func.id
        if node.keywords:
            raise ExpressionInvalid(f"{name}() takes no keyword arguments")
        if name == "col":
            return self._col_call(node)
        spec = _FUNCTIONS.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(_FUNCTIONS) + ["col"], n=1)
            hint = f"did you mean {close[0]}()? " if close else ""
            raise ExpressionInvalid(
                f"unknown function {name!r}",
                hint=f"{hint}available: col, {', '.join(sorted(_FUNCTIONS))}",
            )
        low, high, build = spec
        if not low <= len(node.args) <= high:
            count = str(low) if low == high else f"{low} to {high}"
            raise ExpressionInvalid(f"{name}() takes {count} argument(s), got {len(node.args)}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionInvalid("*arguments are not allowed")
        return build([self.visit(a) for a in node.args])

    def _col_call(self, node: ast.Call) -> Code:
        if len(node.args) != 1:
            raise ExpressionInvalid('col() takes one column name, e.g. col("hours-per-week")')
        arg = node.args[0]
        if isinstance(arg, ast.Name) and arg.id in self.quoted:
            return self.column(self.quoted[arg.id])
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return self.column(arg.value)
        raise ExpressionInvalid('col() takes a quoted column name, e.g. col("hours-per-week")')


def _expr(term: Term) -> Code:
    """A term as a Polars expression (literals become ``pl.lit``)."""
    return term if isinstance(term, Code) else PL.lit(term)


def _literal(term: Term, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(term, Code) or not isinstance(term, kind) or isinstance(term, bool):
        raise ExpressionInvalid(f"{what} must be a literal value")
    return term


def _round(args: list[Term]) -> Code:
    digits = _literal(args[1], int, "the number of digits in round()") if len(args) > 1 else 0
    if not 0 <= digits <= 15:
        raise ExpressionInvalid("round() keeps 0 to 15 digits")
    return _expr(args[0]).round(digits)


def _text_test(method: str) -> Callable[[list[Term]], Code]:
    def build(args: list[Term]) -> Code:
        pattern = _literal(args[1], str, f"the text to look for in {method}()")
        target = _expr(args[0]).str
        if method == "contains":
            return target.contains(pattern, literal=True)
        return getattr(target, method)(pattern)

    return build


def _method(*chain: str, wide: bool = False) -> Callable[[list[Term]], Code]:
    """``x.<chain>()``; ``wide`` makes small or unsigned integer results (month is Int8, a
    length UInt32) Int64, so arithmetic on them cannot overflow or wrap around."""

    def build(args: list[Term]) -> Code:
        result: Any = _expr(args[0])
        for name in chain:
            result = getattr(result, name)
        result = result()
        return result.cast(pl.Int64) if wide else result

    return build


_FUNCTIONS: dict[str, tuple[int, int, Callable[[list[Term]], Code]]] = {
    "abs": (1, 1, _method("abs")),
    "round": (1, 2, _round),
    "floor": (1, 1, _method("floor")),
    "ceil": (1, 1, _method("ceil")),
    "sqrt": (1, 1, _method("sqrt")),
    "log": (1, 1, _method("log")),
    "log10": (1, 1, _method("log10")),
    "log1p": (1, 1, _method("log1p")),
    "exp": (1, 1, _method("exp")),
    "year": (1, 1, _method("dt", "year")),
    "quarter": (1, 1, _method("dt", "quarter", wide=True)),
    "month": (1, 1, _method("dt", "month", wide=True)),
    "day": (1, 1, _method("dt", "day", wide=True)),
    "weekday": (1, 1, _method("dt", "weekday", wide=True)),
    "dayofyear": (1, 1, _method("dt", "ordinal_day", wide=True)),
    "hour": (1, 1, _method("dt", "hour", wide=True)),
    "minute": (1, 1, _method("dt", "minute", wide=True)),
    "lower": (1, 1, _method("str", "to_lowercase")),
    "upper": (1, 1, _method("str", "to_uppercase")),
    "strip": (1, 1, _method("str", "strip_chars")),
    "trim": (1, 1, _method("str", "strip_chars")),
    "len": (1, 1, _method("str", "len_chars", wide=True)),
    "length": (1, 1, _method("str", "len_chars", wide=True)),
    "contains": (2, 2, _text_test("contains")),
    "startswith": (2, 2, _text_test("starts_with")),
    "endswith": (2, 2, _text_test("ends_with")),
    "is_null": (1, 1, lambda a: _expr(a[0]).is_null()),
    "is_not_null": (1, 1, lambda a: _expr(a[0]).is_not_null()),
    "coalesce": (2, 20, lambda a: PL.coalesce([_expr(t) for t in a])),
    "if_else": (3, 3, lambda a: PL.when(_expr(a[0])).then(_expr(a[1])).otherwise(_expr(a[2]))),
    "least": (2, 20, lambda a: PL.min_horizontal([_expr(t) for t in a])),
    "greatest": (2, 20, lambda a: PL.max_horizontal([_expr(t) for t in a])),
    "int": (1, 1, lambda a: _expr(a[0]).cast(pl.Int64, strict=False)),
    "float": (1, 1, lambda a: _expr(a[0]).cast(pl.Float64, strict=False)),
    "str": (1, 1, lambda a: _expr(a[0]).cast(pl.String)),
}

_BIN_OPS: dict[type, Callable[[Any, Any], Code]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
_COMPARE_OPS: dict[type, Callable[[Any, Any], Code]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
}

_NODE_NAMES = {
    "Attribute": "attribute access (a.b)",
    "Subscript": "indexing (a[...])",
    "Lambda": "lambda",
    "ListComp": "a list comprehension",
    "SetComp": "a set comprehension",
    "DictComp": "a dict comprehension",
    "GeneratorExp": "a generator expression",
    "JoinedStr": "an f-string",
    "NamedExpr": "assignment (:=)",
    "Starred": "*arguments",
    "Dict": "a dict",
    "List": "a list outside 'in (...)'",
    "Tuple": "a tuple outside 'in (...)'",
    "Set": "a set outside 'in (...)'",
    "Await": "await",
    "Yield": "yield",
    "BitAnd": "&",
    "BitOr": "|",
    "BitXor": "^",
    "LShift": "<<",
    "RShift": ">>",
    "MatMult": "@",
}


def _describe_node(node: ast.AST) -> str:
    return _NODE_NAMES.get(type(node).__name__, type(node).__name__)


def _did_you_mean(name: str, schema: Mapping[str, Any]) -> str:
    names = list(schema)
    by_case = [n for n in names if n.lower() == name.lower()]
    close = by_case or difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        quoted = close[0] if close[0].isidentifier() else f'"{close[0]}"'
        return f"did you mean {quoted}?"
    return 'columns with spaces or dashes are written in double quotes, e.g. "capital-gain"'


def compile_expression(text: str, schema: Mapping[str, pl.DataType]) -> tuple[Code, list[str]]:
    """Translate ``text`` to a traced Polars expression and the columns it reads.

    Raises ``ExpressionInvalid`` for anything outside the whitelist or any unknown column.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionInvalid("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionInvalid(f"the expression is longer than {MAX_LENGTH} characters")
    if "\x00" in text:
        raise ExpressionInvalid("the expression contains a NUL character")
    rewritten, quoted = _rewrite(text.strip())
    try:
        tree = ast.parse(rewritten, mode="eval")
    except SyntaxError as exc:
        where = f" near position {exc.offset}" if exc.offset else ""
        raise ExpressionInvalid(f"cannot read the expression{where}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionInvalid("the expression is too deeply nested") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExpressionInvalid(f"the expression has more than {MAX_NODES} parts")
    translator = _Translator(schema, quoted)
    try:
        result = _expr(translator.visit(tree))
    except RecursionError:
        raise ExpressionInvalid("the expression is too deeply nested") from None
    return result, translator.columns


def parse_expression(text: str, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """Translate ``text`` to a Polars expression, checked against ``schema``."""
    code, _ = compile_expression(text, schema)
    expression_dtype(code, schema, text)
    return code.value


def expression_dtype(code: Code, schema: Mapping[str, pl.DataType], text: str = "") -> pl.DataType:
    """The type the expression produces; Polars type errors become ``ExpressionInvalid``."""
    empty = pl.DataFrame(schema=dict(schema)).lazy()
    try:
        out = empty.select(code.value.alias("result")).collect()
    except pl.exceptions.PolarsError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown = f" {text!r}" if text else ""
        raise ExpressionInvalid(
            f"the expression{shown} does not fit the column types: {detail}",
            hint="check the types of the columns used (cast text to numbers or dates first)",
        ) from None
    return out.schema["result"]


def filter_expression(text: str, schema: Mapping[str, pl.DataType]) -> Code:
    """A checked boolean expression for keeping rows."""
    code, _ = compile_expression(text, schema)
    dtype = expression_dtype(code, schema, text)
    if dtype != pl.Boolean and dtype != pl.Null:
        raise ExpressionInvalid(
            f"a filter must be true or false for each row; {text!r} gives {dtype}",
            hint="compare values, e.g. age >= 18 or income == '>50K'",
        )
    return code
