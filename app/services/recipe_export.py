"""Export a recipe as JSON, or as a standalone Python script that needs only Polars.

The script reads the raw file with the given read options, applies the same Polars code the
app runs (it is recorded while the recipe is traced, see ``polars_code``), and writes the
cleaned table to the CSV or Parquet path given on its command line::

    python clean_adult.py adult.csv adult_clean.parquet
"""

from __future__ import annotations

import inspect
import os
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from app.domain.recipe import Recipe, Step
from app.errors import MlwbError, ValidationFailed
from app.services.polars_code import cast_failures, render
from app.services.recipe import trace_recipe

FORMATS = ("csv", "parquet", "json", "ndjson")
CSV_OPTIONS = (
    "separator",
    "has_header",
    "quote_char",
    "null_values",
    "skip_rows",
    "comment_prefix",
    "decimal_comma",
    "infer_schema_length",
    "try_parse_dates",
    "truncate_ragged_lines",
    "ignore_errors",
    "missing_utf8_is_empty_string",
    "new_columns",
)
"""Read options passed through to ``pl.scan_csv`` / ``pl.read_csv``."""
OTHER_OPTIONS = ("path", "format", "encoding", "schema_overrides")
BLANK_LINES = ".filter(~pl.all_horizontal(pl.all().is_null()))"


def recipe_to_json(recipe: Recipe) -> str:
    """The recipe as indented JSON (its ``model_dump``)."""
    return recipe.model_dump_json(indent=2)


def recipe_from_json(text: str) -> Recipe:
    """Read a recipe written by ``recipe_to_json``; every problem is reported by field."""
    try:
        return Recipe.model_validate_json(text)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in e["loc"]), str(e["msg"]).removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise ValidationFailed(
            "the recipe file is not valid", problems, hint="export it again from mlwb"
        ) from None


def _dtype(value: Any, column: str) -> pl.DataType:
    if isinstance(value, pl.DataType) or (
        isinstance(value, type) and issubclass(value, pl.DataType)
    ):
        return value if isinstance(value, pl.DataType) else value()
    found = getattr(pl, str(value), None)
    if isinstance(found, type) and issubclass(found, pl.DataType):
        return found()
    raise MlwbError(
        f"unknown type {value!r} for column {column!r} in schema_overrides",
        hint="use a Polars type name such as Int64, Float64, String, Date",
    )


def _read_plan(options: Mapping[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """(format, keyword arguments for the Polars reader, encoding to re-encode from or None)."""
    unknown = sorted(set(options) - set(CSV_OPTIONS) - set(OTHER_OPTIONS))
    if unknown:
        raise MlwbError(
            f"unknown read option(s): {', '.join(unknown)}",
            hint=f"use {', '.join(OTHER_OPTIONS + CSV_OPTIONS)}",
        )
    given = str(options.get("format", "csv")).lower()
    fmt = {"tsv": "csv", "txt": "csv", "jsonl": "ndjson"}.get(given, given)
    if fmt not in FORMATS:
        raise MlwbError(
            f"cannot export a reader for {fmt!r} files", hint=f"use {', '.join(FORMATS)}"
        )
    kwargs: dict[str, Any] = {}
    if fmt == "csv":
        kwargs = {k: options[k] for k in CSV_OPTIONS if k in options}
        if given == "tsv":
            kwargs.setdefault("separator", "\t")
    overrides = {c: _dtype(t, c) for c, t in dict(options.get("schema_overrides") or {}).items()}
    if overrides and fmt in ("csv", "ndjson"):
        kwargs["schema_overrides"] = overrides
    encoding = str(options.get("encoding", "utf8"))
    utf8 = encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8lossy", "utf8sig")
    if fmt == "csv" and utf8:
        kwargs["encoding"] = "utf8-lossy" if "lossy" in encoding.lower() else "utf8"
    return fmt, kwargs, None if utf8 or fmt != "csv" else encoding


def _reader_source(options: Mapping[str, Any]) -> tuple[str, str]:
    """The body of ``read_raw`` and the default input path, from the read options."""
    fmt, kwargs, encoding = _read_plan(options)
    args = "".join(f", {k}={render(v)}" for k, v in kwargs.items())
    if encoding is not None:
        body = (
            f"with open(path, encoding={encoding!r}, newline='') as handle:\n"
            f"    data = handle.read().encode('utf-8')\n"
            f"return pl.read_csv(io.BytesIO(data){args}).lazy()"
        )
    else:
        reader = {"csv": "scan_csv", "parquet": "scan_parquet", "ndjson": "scan_ndjson"}
        body = (
            f"return pl.{reader[fmt]}(path{args})"
            if fmt in reader
            else "return pl.read_json(path).lazy()"
        )
    if fmt == "csv":
        # Blank lines (e.g. at the end of the file) are skipped, as the import skips them.
        body += BLANK_LINES
    return body, str(options.get("path", ""))


def _raw_schema(options: Mapping[str, Any], path: str) -> dict[str, pl.DataType]:
    """The raw file's schema as the exported reader will see it."""
    if not path:
        raise MlwbError(
            "exporting a script needs the raw schema or the raw file's path",
            hint="pass schema= or read_options['path']",
        )
    fmt, kwargs, encoding = _read_plan(options)
    if encoding is not None:
        with open(path, encoding=encoding, newline="") as handle:
            data = handle.read().encode("utf-8")
        return dict(pl.read_csv(data, **kwargs).schema)
    if fmt == "json":
        return dict(pl.read_json(path).schema)
    scan = {"csv": pl.scan_csv, "parquet": pl.scan_parquet, "ndjson": pl.scan_ndjson}[fmt]
    return dict(scan(path, **kwargs).collect_schema())


_TEMPLATE = '''\
#!/usr/bin/env python3
"""Rebuild a cleaned dataset from its raw file. Written by mlwb; needs only Polars.

Recipe:
{recipe_lines}

Usage:  python {script_name} [RAW_FILE] OUTPUT.parquet|OUTPUT.csv
"""

from __future__ import annotations

import datetime  # noqa: F401 - date values in the steps
import io  # noqa: F401 - re-encoding input that is not UTF-8
import sys

import polars as pl

DEFAULT_INPUT = {default_input!r}


def read_raw(path: str) -> pl.LazyFrame:
    """Read the raw file with the options it was imported with."""
{reader}


{cast_failures}

def check_cast(lf: pl.LazyFrame, column: str, target: str, failed: pl.Expr) -> None:
    """Stop when a cast that rejects bad values meets some."""
    count, examples = cast_failures(lf, column, failed)
    if count:
        shown = ", ".join(repr(v) for v in examples)
        raise SystemExit(f"cannot cast {{count}} value(s) of {{column!r}} to {{target}}: {{shown}}")


def clean(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Apply the recipe's steps in order."""
{steps}
    return lf


def main(argv: list[str]) -> int:
    if len(argv) == 2:
        source, target = argv
    elif len(argv) == 1 and DEFAULT_INPUT:
        source, target = DEFAULT_INPUT, argv[0]
    else:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    lf = clean(read_raw(source))
    if target.lower().endswith(".parquet"):
        lf.sink_parquet(target)
    elif target.lower().endswith(".csv"):
        lf.sink_csv(target)
    else:
        print("the output must end in .parquet or .csv", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def export_script(
    recipe: Recipe | Sequence[Step],
    read_options: Mapping[str, Any],
    schema: Mapping[str, pl.DataType] | None = None,
    script_name: str = "clean.py",
) -> str:
    """The source of a standalone Polars script that reproduces the cleaned dataset.

    ``schema`` is the raw table's schema as the reader produces it (columns and types decide
    e.g. which columns "all text columns" means); without it the file at
    ``read_options['path']`` is scanned for it.
    """
    reader, default_input = _reader_source(read_options)
    if schema is None:
        schema = _raw_schema(read_options, default_input)
    steps = list(recipe.steps) if isinstance(recipe, Recipe) else list(recipe)
    # The script reads a file: a rejecting cast computes the frame once and checks the result
    # rather than reading the file again for its check.
    traced = trace_recipe(steps, pl.LazyFrame(schema=dict(schema)), in_memory=False)
    body: list[str] = []
    bounds = [*traced.step_starts, len(traced.lines)]
    for index, step in enumerate(steps, 1):
        body.append(f"# {index}. {step.describe()}")
        body.extend(traced.lines[bounds[index - 1] : bounds[index]])
    recipe_lines = "\n".join(
        f"  {i}. {s.describe()}{'' if s.rowwise else '  [training data only]'}"
        for i, s in enumerate(steps, 1)
    )
    return _TEMPLATE.format(
        recipe_lines=recipe_lines or "  (no steps)",
        script_name=script_name,
        default_input=default_input,
        reader=textwrap.indent(reader, "    "),
        cast_failures=inspect.getsource(cast_failures),
        steps=textwrap.indent("\n".join(body), "    ") if body else "    pass",
    )


def write_script(
    recipe: Recipe | Sequence[Step],
    read_options: Mapping[str, Any],
    path: str | Path,
    schema: Mapping[str, pl.DataType] | None = None,
) -> Path:
    """Write the exported script to ``path`` atomically (temporary file, then rename)."""
    target = Path(path)
    source = export_script(recipe, read_options, schema, script_name=target.name)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(source)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
