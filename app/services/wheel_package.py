"""The Python sources of an installable predictor package, as ``str.format`` templates
(``{package}``, ``{script}``, ``{version}``... filled by ``wheel.package_files``; literal braces
doubled).

* ``INIT``: ``__init__.py``, the documented API (``predict``, ``predict_row``,
  ``predict_file``, ``load``, ``metadata``).
* ``MAIN``: ``__main__.py``, the console script ``<name>-predict INPUT OUTPUT``.
* ``BATCH``: ``_batch.py``, files in chunks (CSV, Parquet, NDJSON) like ``mlwb predict``,
  each chunk written to a part file as it is scored.
"""

INIT = '''\
"""{dist} {version}: the mlwb bundle of project {project!r}, run {run_id} ({candidate}).

An installable predictor written by ``mlwb deploy --wheel``; it needs no mlwb::

    import {package}

    result = {package}.predict(rows)  # a pandas or Polars DataFrame, or a list of dicts
    result.predictions  # row, prediction, probability/threshold (classification), flags
    result.rejects      # row, reason: rows that break the input contract (never dropped)
    {package}.predict_row({{...}})  # one row: prediction (+ probabilities) and flags, or errors
    {package}.predict_file("new.csv", "scored.parquet")  # CSV/Parquet/NDJSON, in chunks

Command line: ``{script} INPUT OUTPUT`` (``python -m {package}``). Task: {task}, target
{target!r}. The bundle (``bundle/``) is verified against its manifest (SHA-256 of every file)
when it is first loaded; a changed file is refused.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from ._runtime.errors import MlwbError
from ._runtime.predictor import Bundle, Prediction

__all__ = [
    "BUNDLE",
    "Bundle",
    "MlwbError",
    "Prediction",
    "__version__",
    "load",
    "metadata",
    "predict",
    "predict_file",
    "predict_row",
]

__version__ = {version!r}
BUNDLE = Path(__file__).resolve().parent / "bundle"
"""The bundle folder inside the installed package."""
metadata: dict[str, Any] = json.loads({metadata_json!r})
"""The bundle's metadata (run, charter version, metrics, threshold, library versions...)."""

_lock = threading.Lock()
_loaded: list[Bundle] = []


def load() -> Bundle:
    """The bundle, verified and loaded once (SHA-256 of every file, allow-listed model)."""
    with _lock:
        if not _loaded:
            from ._runtime.predictor import open_bundle

            prepare = None
            if {replays!r}:
                from ._recipe import prepare
            _loaded.append(open_bundle(BUNDLE, prepare=prepare))
        return _loaded[0]


def predict(data: Any) -> Prediction:
    """Validate ``data`` (pandas/Polars frame or list of dicts) and score the valid rows.

    Returns ``Prediction(predictions, rejects, ignored_columns)`` (pandas frames); raises
    ``MlwbError`` when a column the model needs is missing.
    """
    return load().predict(data)


def predict_row(record: dict[str, Any]) -> dict[str, Any]:
    """One row: ``prediction`` (+ ``probability``...) and ``flags``, or ``errors``."""
    return load().predict_row(record)


def predict_file(
    input: str | Path,
    output: str | Path,
    rejects: str | Path | None = None,
    chunk_rows: int = 50_000,
) -> Any:
    """Score a CSV, Parquet or NDJSON file into ``output`` (format by extension); rejected
    rows go to ``rejects`` (default ``<output stem>.rejects.csv``). Returns a summary."""
    from ._batch import predict_file as run

    return run(load(), Path(input), Path(output), rejects, chunk_rows)
'''

MAIN = '''\
"""``{script} INPUT OUTPUT``: score a CSV, Parquet or NDJSON file with the bundle."""

from __future__ import annotations

import argparse
import sys

from . import __version__, predict_file
from ._runtime.errors import MlwbError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog={script!r},
        description="Score INPUT (CSV, Parquet or NDJSON) into OUTPUT (format by extension); "
        "rows that break the input contract go to a rejects CSV with the reason.",
    )
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--rejects", help="rejects CSV (default: <output stem>.rejects.csv)")
    parser.add_argument("--chunk-rows", type=int, default=50_000, help="rows per chunk")
    parser.add_argument("--version", action="version", version=f"%(prog)s {{__version__}}")
    args = parser.parse_args(argv)
    try:
        s = predict_file(args.input, args.output, args.rejects, args.chunk_rows)
    except MlwbError as exc:
        print(f"error: {{exc.one_line()}}", file=sys.stderr)
        return 1
    print(
        f"scored {{s.rows_scored:,}} of {{s.rows_in:,}} rows -> {{s.output}}; "
        f"{{s.rows_rejected:,}} rejected -> {{s.rejects}}; {{s.rows_flagged:,}} flagged"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

BATCH = '''\
"""Scoring a file in chunks, as ``mlwb predict`` does (read and written with Polars).

Row numbers (``row``) count data rows of the input from 1. An ``id`` column (any case), or
else the first ``*_id`` column, is carried into both outputs. Outputs are written under
temporary names and renamed at the end, so a failed run leaves no partial file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from ._runtime.errors import MlwbError

FORMATS = {{
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
}}


class Summary(NamedTuple):
    rows_in: int
    rows_scored: int
    rows_rejected: int
    rows_flagged: int
    output: Path
    rejects: Path
    id_column: str | None


def _format(path: Path, what: str) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MlwbError(
            f"cannot tell the format of the {{what}} file {{path.name}}",
            hint="use a .csv, .parquet or .ndjson (.jsonl) file",
        )
    return fmt


def _scan(path: Path, fmt: str, text: list[str], all_text: bool) -> Any:
    import polars as pl

    if fmt == "parquet":
        return pl.scan_parquet(path)
    if fmt == "ndjson":
        return pl.scan_ndjson(path, infer_schema_length=None)
    if all_text:
        return pl.scan_csv(path, infer_schema=False)
    names = pl.scan_csv(path, n_rows=0, infer_schema=False).collect_schema().names()
    overrides = {{c: pl.String for c in text if c in names}}
    return pl.scan_csv(path, schema_overrides=overrides, infer_schema_length=10_000)


def _id_column(columns: list[str]) -> str | None:
    for c in columns:
        if c.lower() == "id":
            return c
    for c in columns:
        if c.lower().endswith("_id"):
            return c
    return None


def _sink(parts: list[Path], empty: Any, path: Path, fmt: str) -> None:
    """Stream the chunk files ``parts`` (in order) into ``path``; ``empty`` when none."""
    import polars as pl

    lf = pl.scan_parquet(parts) if parts else empty.lazy()
    if fmt == "csv":
        lf.sink_csv(path)
    elif fmt == "parquet":
        lf.sink_parquet(path)
    else:
        lf.sink_ndjson(path)


def _scored(result: Any, offset: int, id_name: str | None, ids: Any) -> Any:
    """The scored rows of one chunk as the output's columns: row, the ID column, the
    decisions (a value for every row: repeated) and flags."""
    import numpy as np
    import polars as pl

    n = len(result.rows)
    columns = [pl.Series("row", result.rows + offset, dtype=pl.Int64)]
    if id_name is not None:
        columns.append(ids.gather(result.rows).alias(id_name))
    for name, values in result.decisions.items():
        columns.append(pl.Series(name, np.repeat(values, n) if np.ndim(values) == 0 else values))
    columns.append(pl.Series("flags", result.flags, dtype=pl.String))
    return pl.DataFrame(columns)


def _rejected(result: Any, offset: int, id_name: str | None, ids: Any) -> Any:
    import polars as pl

    columns = [pl.Series("row", result.reject_rows + offset, dtype=pl.Int64)]
    if id_name is not None:
        columns.append(ids.gather(result.reject_rows).alias(id_name))
    columns.append(pl.Series("reason", result.reasons, dtype=pl.String))
    return pl.DataFrame(columns)


def predict_file(
    bundle: Any, input: Path, output: Path, rejects: Any = None, chunk_rows: int = 50_000
) -> Summary:
    import polars as pl

    in_fmt, out_fmt = _format(input, "input"), _format(output, "output")
    rejects = Path(rejects) if rejects else output.with_name(f"{{output.stem}}.rejects.csv")
    if rejects.suffix.lower() != ".csv":
        raise MlwbError(f"the rejects file {{rejects.name}} must be a .csv file")
    if not input.is_file():
        raise MlwbError(f"there is no input file {{input}}")
    if len({{input.resolve(), output.resolve(), rejects.resolve()}}) < 3:
        raise MlwbError("the input, output and rejects files must be three different files")
    text = (
        [n for n, kind in bundle.raw.columns.items() if kind == "String"]
        if bundle.raw.columns
        else [c.name for c in bundle.contract.columns if c.kind == "categorical"]
    )
    for all_text in (False, True):
        try:
            return _run(bundle, input, in_fmt, output, out_fmt, rejects, text, all_text, chunk_rows)
        except pl.exceptions.PolarsError as exc:
            if all_text or in_fmt != "csv":
                raise MlwbError(
                    f"cannot read {{input.name}} as {{in_fmt.upper()}}: {{str(exc).splitlines()[0]}}",
                    hint="check the file is complete and in the format its extension says",
                ) from exc
    raise AssertionError("unreachable")


def _run(
    bundle: Any,
    input: Path,
    in_fmt: str,
    output: Path,
    out_fmt: str,
    rejects: Path,
    text: list[str],
    all_text: bool,
    chunk_rows: int,
) -> Summary:
    import shutil

    import polars as pl

    lf = _scan(input, in_fmt, text, all_text)
    columns = lf.collect_schema().names()
    absent = [c for c in bundle.input_columns if c not in columns]
    if absent:
        raise MlwbError(
            f"{{input.name}} is missing column(s): " + ", ".join(absent),
            hint="the contract names every column a row needs (bundle/contract.schema.json)",
        )
    id_name = _id_column(columns)
    # Each chunk's rows go to a part file: memory holds one chunk, whatever the input's size.
    parts = output.with_name(f".tmp-{{os.getpid()}}-{{output.name}}.parts")
    parts.mkdir(exist_ok=True)
    scored: list[Path] = []
    bad: list[Path] = []
    rows_in = flagged = n_scored = n_bad = 0
    chunks = lf.collect_batches(chunk_size=chunk_rows) if hasattr(lf, "collect_batches") else (
        lf.collect().iter_slices(chunk_rows)
    )
    temps = [p.with_name(f".tmp-{{os.getpid()}}-{{p.name}}") for p in (output, rejects)]
    try:
        for k, chunk in enumerate(chunks):
            result = bundle.predict_batch(chunk)
            ids = chunk[id_name] if id_name is not None else None
            offset = rows_in + 1
            if result.decisions is not None and len(result.rows):
                scored.append(parts / f"scored-{{k:09d}}.parquet")
                _scored(result, offset, id_name, ids).write_parquet(scored[-1])
                n_scored += len(result.rows)
                flagged += int((result.flags != "").sum())
            if len(result.reject_rows):
                bad.append(parts / f"rejects-{{k:09d}}.parquet")
                _rejected(result, offset, id_name, ids).write_parquet(bad[-1])
                n_bad += len(result.reject_rows)
            rows_in += chunk.height
        no_rejects = pl.DataFrame(schema={{"row": pl.Int64, "reason": pl.String}})
        _sink(scored, pl.from_pandas(bundle._empty()), temps[0], out_fmt)
        _sink(bad, no_rejects, temps[1], "csv")
        os.replace(temps[0], output)
        os.replace(temps[1], rejects)
    except OSError as exc:
        raise MlwbError(f"cannot write {{exc.filename}}: {{exc.strerror}}") from exc
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
        shutil.rmtree(parts, ignore_errors=True)
    return Summary(rows_in, n_scored, n_bad, flagged, output, rejects, id_name)
'''
