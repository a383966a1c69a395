"""Scoring with a bundle: a file of any size in chunks, or a frame in memory.

Batch: ``predict_file`` reads CSV, Parquet or NDJSON (chosen by the file extension) with DuckDB
in chunks of ``chunk_rows`` rows, so memory stays bounded, scores each chunk with
``Bundle.predict`` (the same contract checks as everywhere else) and streams the predictions to
CSV, Parquet or NDJSON (by the output extension). Rows that break the contract go to a rejects
CSV (``<output stem>.rejects.csv`` by default) with their input row number and the reason. Both
files are written under temporary names and renamed at the end, so a failed or cancelled run
leaves no partial output.

Row numbers (``row``) count data rows of the input from 1 (a CSV header is not a row).

Python::

    from app.services import predict

    bundle = predict.load("artifacts/bundles/adult-run3-v1")
    result = predict.predict(bundle, [{"age": 39, "workclass": "State-gov", ...}])
    result.predictions  # row, prediction, probability, threshold, flags (pandas)
    result.rejects      # row, reason for rows that break the contract
    # Also accepted: a bundle path instead of a loaded bundle, and a pandas or polars DataFrame.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from app.domain.metrics import TaskType
from app.errors import MlwbError
from app.services.bundle import Bundle, Prediction, load_bundle
from app.services.prediction_log import PredictionLog
from app.services.prediction_summary import BatchSummary
from storage.artifacts import TEMP_PREFIX

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
}
"""File extensions read and written, and their format."""


CHUNK_ROWS = 250_000
"""Rows read and scored at a time by default: memory stays bounded (a few hundred MB at
most for 20 columns), and the model's threads meet at fewer barriers than with small chunks
(each chunk runs every tree's parallel loop once; on a busy 2-core machine 100,000-row chunks
scored 1M rows at 0.6x the bare pipeline's speed, 250,000-row chunks at 0.8x)."""


class PredictCancelled(MlwbError):
    """``should_stop`` asked to stop; nothing was written."""


class PredictSummary(NamedTuple):
    """What ``predict_file`` did."""

    rows_in: int
    rows_scored: int
    rows_rejected: int
    flagged: int
    """Scored rows with at least one flag (out of range, unseen category)."""
    seconds: float
    output: Path
    rejects: Path
    id_column: str | None = None
    ignored_columns: tuple[str, ...] = ()

    @property
    def rows_per_second(self) -> float:
        """Input rows per second of wall time."""
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0


# -- the Python API -----------------------------------------------------------------------------


def load(bundle_path: str | Path) -> Bundle:
    """Open and verify the bundle folder or ``.zip`` at ``bundle_path``."""
    return load_bundle(Path(bundle_path))


def predict(bundle: Bundle | str | Path, data: Any) -> Prediction:
    """Score ``data`` (pandas or polars DataFrame, or a list of dicts) with ``bundle`` (loaded,
    or a path): predictions, rejects with reasons, and the ignored columns."""
    if not isinstance(bundle, Bundle):
        bundle = load(bundle)
    return bundle.predict(data)


# -- batch --------------------------------------------------------------------------------------


def file_format(path: Path, what: str) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MlwbError(
            f"cannot tell the format of the {what} file {path.name}",
            hint="use a .csv, .parquet or .ndjson (.jsonl) file",
        )
    return fmt


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def source_sql(path: Path, fmt: str, all_varchar: bool) -> str:
    if fmt == "csv":
        extra = ", all_varchar = true" if all_varchar else ""
        return f"read_csv({_literal(path)}{extra})"
    if fmt == "parquet":
        return f"read_parquet({_literal(path)})"
    return f"read_json_auto({_literal(path)}, format = 'newline_delimited')"


def id_column(bundle: Bundle, columns: list[str]) -> str | None:
    """The input column to carry into the output as the row's ID: one the bundle names as the
    ID if it does, else ``id`` (any case), else the first column named ``*_id``."""
    known = getattr(bundle.metadata, "id_column", None)
    if known and known in columns:
        return str(known)
    for c in columns:
        if c.lower() == "id":
            return c
    for c in columns:
        if c.lower().endswith("_id"):
            return c
    return None


def _temp(target: Path) -> Path:
    return target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{target.name}")


def _check_writable(target: Path, what: str) -> None:
    if target.is_dir():
        raise MlwbError(f"the {what} path {target} is a folder", hint="give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise MlwbError(
            f"cannot write the {what} to {target}: the folder {parent} does not exist",
            hint="create the folder or choose another path",
        )
    probe = _temp(target)
    try:
        with open(probe, "xb"):
            pass
        probe.unlink()
    except FileExistsError:
        pass  # another run of this process's name; the writer will replace it
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
        raise MlwbError(
            f"cannot write the {what} to {target}: {reason}",
            hint="choose a path you can write to",
        ) from exc
    if target.exists() and not os.access(target, os.W_OK):
        raise MlwbError(
            f"cannot write the {what} to {target}: permission denied (the file is read-only)",
            hint="choose a path you can write to",
        )


class _Writer:
    """A streaming CSV, Parquet or NDJSON writer with a fixed schema."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self.fmt = fmt
        self.schema = schema
        self.handle: Any = None
        try:
            if fmt == "csv":
                import pyarrow.csv as pacsv

                self.handle = pacsv.CSVWriter(str(path), schema)
            elif fmt == "parquet":
                import pyarrow.parquet as pq

                self.handle = pq.ParquetWriter(str(path), schema)
            else:
                self.handle = open(path, "wb")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise MlwbError(
                f"cannot write {path.name.removeprefix(TEMP_PREFIX)}: {exc}",
                hint="choose a path you can write to",
            ) from exc

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self.fmt == "ndjson":
            import polars as pl

            frame_pl = pl.from_arrow(table)
            assert isinstance(frame_pl, pl.DataFrame)
            self.handle.write(frame_pl.write_ndjson().encode())
        else:
            self.handle.write_table(table)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _prediction_schema(bundle: Bundle, id_name: str | None, id_type: pa.DataType) -> pa.Schema:
    fields = [pa.field("row", pa.int64())]
    if id_name is not None:
        fields.append(pa.field(id_name, id_type))
    for name in bundle._empty().columns:
        if name == "row":
            continue
        if name == "prediction":
            kind = (
                pa.float64() if bundle.metadata.task == TaskType.REGRESSION.value else pa.string()
            )
        elif name == "flags":
            kind = pa.string()
        else:
            kind = pa.float64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _table(
    schema: pa.Schema,
    rows: np.ndarray,
    offset: int,
    ids: pa.Array | None,
    columns: dict[str, Any],
    whole: bool,
) -> pa.Table:
    """An output table straight from arrays: ``row`` (input row number), the ID of each row
    (``ids`` of the whole chunk, ``whole`` when every row of it is here) and ``columns`` (an
    array, or one value for every row)."""
    n = len(rows)
    arrays: list[Any] = [pa.array(rows + offset, pa.int64())]
    if ids is not None:
        arrays.append(ids if whole else ids.take(pa.array(rows)))
    for f in list(schema)[len(arrays) :]:
        value = columns[f.name]
        if np.ndim(value) == 0:
            arrays.append(pa.array(np.full(n, value), f.type))
        else:
            arrays.append(pa.array(value, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _reject_schema(id_name: str | None, id_type: pa.DataType) -> pa.Schema:
    fields = [pa.field("row", pa.int64())]
    if id_name is not None:
        fields.append(pa.field(id_name, id_type))
    fields.append(pa.field("reason", pa.string()))
    return pa.schema(fields)


class _Retry(Exception):
    """A CSV value did not fit the type DuckDB sniffed: read every column as text."""


def _sniffed_wrong(exc: duckdb.Error, fmt: str, all_varchar: bool) -> bool:
    return (
        fmt == "csv"
        and not all_varchar
        and isinstance(exc, duckdb.ConversionException | duckdb.InvalidInputException)
    )


def predict_file(
    bundle_path: Bundle | str | Path,
    input_path: str | Path,
    output_path: str | Path,
    rejects_path: str | Path | None = None,
    chunk_rows: int = CHUNK_ROWS,
    on_progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    log_dir: str | Path | None = None,
) -> PredictSummary:
    """Score ``input_path`` with the bundle in chunks; write predictions to ``output_path`` and
    rejected rows (row number, ID, reason) to ``rejects_path``. With ``log_dir``, the batch
    (counts, latency, input and prediction summaries) is added to the prediction log there."""
    started = time.perf_counter()
    input_path = Path(input_path)
    output_path = Path(output_path)
    rejects = (
        Path(rejects_path)
        if rejects_path is not None
        else output_path.with_name(f"{output_path.stem}.rejects.csv")
    )
    if chunk_rows < 1:
        raise MlwbError("chunk_rows must be at least 1")
    in_fmt = file_format(input_path, "input")
    out_fmt = file_format(output_path, "output")
    if rejects.suffix.lower() != ".csv":
        raise MlwbError(f"the rejects file {rejects.name} must be a .csv file")
    if not input_path.is_file():
        raise MlwbError(f"there is no input file {input_path}", hint="check the path")
    resolved = {input_path.resolve(), output_path.resolve(), rejects.resolve()}
    if len(resolved) < 3:
        raise MlwbError("the input, output and rejects files must be three different files")
    _check_writable(output_path, "output")
    _check_writable(rejects, "rejects")
    bundle = bundle_path if isinstance(bundle_path, Bundle) else load(bundle_path)

    temps = (_temp(output_path), _temp(rejects))
    summary = BatchSummary(bundle) if log_dir is not None else None
    try:
        try:
            counts = _run(
                bundle,
                input_path,
                in_fmt,
                temps,
                out_fmt,
                chunk_rows,
                on_progress,
                should_stop,
                all_varchar=False,
                summary=summary,
            )
        except _Retry:
            counts = _run(
                bundle,
                input_path,
                in_fmt,
                temps,
                out_fmt,
                chunk_rows,
                on_progress,
                should_stop,
                all_varchar=True,
                summary=BatchSummary(bundle) if log_dir is not None else None,
            )
        os.replace(temps[0], output_path)
        os.replace(temps[1], rejects)
    except OSError as exc:
        raise MlwbError(f"cannot write the predictions: {exc}") from exc
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
    rows_in, scored, rejected, flagged, id_name, ignored, summary = counts
    seconds = time.perf_counter() - started
    if log_dir is not None:
        _log(Path(log_dir), bundle, rows_in, scored, rejected, seconds, summary)
    return PredictSummary(
        rows_in=rows_in,
        rows_scored=scored,
        rows_rejected=rejected,
        flagged=flagged,
        seconds=seconds,
        output=output_path,
        rejects=rejects,
        id_column=id_name,
        ignored_columns=tuple(ignored),
    )


def _log(
    directory: Path,
    bundle: Bundle,
    rows: int,
    scored: int,
    rejected: int,
    seconds: float,
    summary: BatchSummary | None,
) -> None:
    """Add the batch to the prediction log; a log that cannot be written is reported, and the
    predictions already written stay."""
    try:
        with PredictionLog(directory, bundle, flush_seconds=0) as log:
            log.record_batch(rows, scored, rejected, seconds * 1000, summary)
    except (OSError, MlwbError) as exc:
        import warnings

        warnings.warn(f"the prediction log in {directory} was not written: {exc}", stacklevel=2)


def _run(
    bundle: Bundle,
    input_path: Path,
    in_fmt: str,
    temps: tuple[Path, Path],
    out_fmt: str,
    chunk_rows: int,
    on_progress: Callable[[float, str], None] | None,
    should_stop: Callable[[], bool] | None,
    all_varchar: bool,
    summary: BatchSummary | None = None,
) -> tuple[int, int, int, int, str | None, list[str], BatchSummary | None]:
    # One reader thread: the model's own threads do the heavy work, and reader threads
    # competing with them for the cores slow the model down more than they speed reading up.
    con = duckdb.connect(config={"threads": 1})
    source = source_sql(input_path, in_fmt, all_varchar)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        total = int(con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0])
    except duckdb.Error as exc:
        con.close()
        if _sniffed_wrong(exc, in_fmt, all_varchar):
            raise _Retry from exc
        raise MlwbError(
            f"cannot read {input_path.name} as {in_fmt.upper()}: {str(exc).splitlines()[0]}",
            hint="check the file is complete and in the format its extension says",
        ) from exc
    columns = [str(d[0]) for d in described] if input_path.stat().st_size else []
    absent = [c for c in bundle.input_columns if c not in columns]
    if columns and absent:
        con.close()
        raise MlwbError(
            f"{input_path.name} is missing column(s): " + ", ".join(absent),
            hint="the contract names every column a row needs (contract.schema.json)",
        )
    types = {str(d[0]): str(d[1]) for d in described}
    id_name = id_column(bundle, columns)
    # Text columns as text, so 13 stays "13" even in a chunk with missing values.
    text = (
        [name for name, kind in bundle.raw.columns.items() if kind == "String"]
        if bundle.raw.columns
        else [c.name for c in bundle.contract.columns if c.kind == "categorical"]
    )
    casts = [
        f'CAST("{name}" AS VARCHAR) AS "{name}"'
        for name in text
        if name in types and types[name] != "VARCHAR"
    ]
    replace = f" REPLACE ({', '.join(casts)})" if casts else ""
    query = f"SELECT *{replace} FROM {source}"
    id_type = pa.string()
    writers: list[_Writer] = []
    rows_in = scored = rejected = flagged = 0
    ignored: list[str] = [c for c in columns if c not in bundle.known_columns]
    try:
        reader = con.sql(query).to_arrow_reader(chunk_rows)
        if id_name is not None:
            id_type = reader.schema.field(id_name).type
        writers.append(_Writer(temps[0], out_fmt, _prediction_schema(bundle, id_name, id_type)))
        writers.append(_Writer(temps[1], "csv", _reject_schema(id_name, id_type)))
        if on_progress is not None:
            on_progress(0.0, f"scoring {total:,} rows")
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (OSError, pa.ArrowException) as exc:  # DuckDB errors arrive wrapped
                if in_fmt == "csv" and not all_varchar and "Conversion Error" in str(exc):
                    raise _Retry from exc
                raise MlwbError(
                    f"cannot read {input_path.name}: {str(exc).splitlines()[0]}",
                    hint="check the file is complete and well formed",
                ) from exc
            if should_stop is not None and should_stop():
                raise PredictCancelled("prediction cancelled; no output was written")
            result = bundle.predict_batch(batch)
            if summary is not None:
                summary.add_batch(result)
            offset = rows_in + 1
            ids = batch.column(id_name) if id_name is not None else None
            n_scored = len(result.rows) if result.decisions is not None else 0
            if n_scored:
                columns = {**result.decisions, "flags": result.flags}
                whole = n_scored == batch.num_rows
                table = _table(writers[0].schema, result.rows, offset, ids, columns, whole)
                writers[0].write(table)
                flagged += int(np.count_nonzero(result.flags != ""))
            n_rejected = len(result.reject_rows)
            if n_rejected:
                columns = {"reason": result.reasons}
                whole = n_rejected == batch.num_rows
                table = _table(writers[1].schema, result.reject_rows, offset, ids, columns, whole)
                writers[1].write(table)
            rows_in += batch.num_rows
            scored += n_scored
            rejected += n_rejected
            if on_progress is not None:
                on_progress(
                    rows_in / total if total else 1.0, f"{rows_in:,} of {total:,} rows scored"
                )
        if on_progress is not None and rows_in == 0:
            on_progress(1.0, "no rows to score")
    except duckdb.Error as exc:
        if _sniffed_wrong(exc, in_fmt, all_varchar):
            raise _Retry from exc
        raise MlwbError(
            f"cannot read {input_path.name}: {str(exc).splitlines()[0]}",
            hint="check the file is complete and well formed",
        ) from exc
    finally:
        for w in writers:
            w.close()
        con.close()
    return rows_in, scored, rejected, flagged, id_name, ignored, summary
