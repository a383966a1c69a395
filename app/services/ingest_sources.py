"""Where imported rows come from: file kind detection and one plan per source kind.

A ``SourcePlan`` names a relation DuckDB can ``SELECT * FROM``: ``read_csv(...)``,
``read_parquet(...)``, ``read_json(...)``, a table of an ATTACHed DuckDB file, or (for SQLite,
whose DuckDB extension would need a download) an Arrow stream fed from Python's ``sqlite3``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import duckdb
import pyarrow as pa

from app.domain.dataset import ImportOptions, SourceKind, unique_column_names
from app.errors import MlwbError
from app.services.ingest_csv import csv_failure, plan_csv, read_head
from storage.datasets import duckdb_message, quote_ident, quote_literal

ATTACH_ALIAS = "mlwb_import_source"
SQLITE_VIEW = "mlwb_sqlite_rows"
SQLITE_BATCH = 50_000

_EXTENSIONS = {
    ".parquet": SourceKind.PARQUET,
    ".pq": SourceKind.PARQUET,
    ".json": SourceKind.JSON,
    ".ndjson": SourceKind.NDJSON,
    ".jsonl": SourceKind.NDJSON,
    ".duckdb": SourceKind.DUCKDB,
    ".ddb": SourceKind.DUCKDB,
    ".sqlite": SourceKind.SQLITE,
    ".sqlite3": SourceKind.SQLITE,
}

Progress = Callable[[float, str], None]
Stop = Callable[[], bool]


@dataclass
class SourcePlan:
    """How to read one source, with the options as resolved."""

    kind: SourceKind
    options: ImportOptions
    relation: str
    """SQL naming the rows (after ``prepare`` ran on the connection)."""
    warnings: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    source_table: str | None = None
    path: Path | None = None
    sqlite_columns: list[tuple[str, str, pa.DataType]] = field(default_factory=list)
    """For SQLite: (source name, imported name, Arrow type)."""
    sqlite_rows: int = 0

    def prepare(
        self,
        con: duckdb.DuckDBPyConnection,
        on_progress: Progress | None = None,
        should_stop: Stop | None = None,
        limit: int | None = None,
    ) -> None:
        """Make ``relation`` resolvable on ``con`` (ATTACH, or register the SQLite stream)."""
        assert self.path is not None
        if self.kind is SourceKind.DUCKDB:
            attach_duckdb(con, self.path)
        elif self.kind is SourceKind.SQLITE:
            reader = sqlite_reader(self, on_progress, should_stop, limit)
            con.register(SQLITE_VIEW, reader)

    def release(self, con: duckdb.DuckDBPyConnection) -> None:
        """Undo ``prepare`` (errors ignored: the connection may be in a failed transaction)."""
        try:
            if self.kind is SourceKind.DUCKDB:
                con.execute(f"DETACH DATABASE IF EXISTS {ATTACH_ALIAS}")
            elif self.kind is SourceKind.SQLITE:
                con.unregister(SQLITE_VIEW)
        except duckdb.Error:
            pass


def check_path(path: Path) -> Path:
    """The file as an absolute path, or a clear error if it cannot be imported."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MlwbError(f"no such file: {path}", hint="check the path and the current folder")
    if path.is_dir():
        raise MlwbError(f"{path} is a folder, not a file", hint="name one data file to import")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise MlwbError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the file's permissions"
        ) from exc
    if size == 0:
        raise MlwbError(f"{path.name} is empty (0 bytes)", hint="check that it was fully written")
    return path.resolve()


def detect_kind(path: Path) -> SourceKind:
    """The file's format from its first bytes, falling back to its extension (then CSV)."""
    head = read_head(Path(path), 16)
    if head.startswith(b"SQLite format 3\x00"):
        return SourceKind.SQLITE
    if head[8:12] == b"DUCK":
        return SourceKind.DUCKDB
    if head.startswith(b"PAR1"):
        return SourceKind.PARQUET
    suffix = Path(path).suffix.lower()
    if suffix in _EXTENSIONS and _EXTENSIONS[suffix] not in (SourceKind.DUCKDB, SourceKind.SQLITE):
        return _EXTENSIONS[suffix]
    return SourceKind.CSV


def plan_source(
    con: duckdb.DuckDBPyConnection, path: Path, kind: SourceKind, options: ImportOptions
) -> SourcePlan:
    """Resolve how to read ``path`` (sniffing CSV, listing tables of databases)."""
    if kind is SourceKind.CSV:  # plan_csv has sniffed the file: no second look needed
        csv = plan_csv(con, path, options)
        return SourcePlan(kind, csv.options, csv.relation, csv.warnings, path=path)
    resolved = ImportOptions(table=options.table)
    warnings = []
    ignored = set(options.given()) - {"table"}
    if ignored:
        warnings.append(
            f"CSV options ignored for a {kind.value} file: {', '.join(sorted(ignored))}"
        )
    path_sql = quote_literal(str(path))
    if kind is SourceKind.PARQUET:
        plan = SourcePlan(kind, resolved, f"read_parquet({path_sql})", warnings, path=path)
    elif kind in (SourceKind.JSON, SourceKind.NDJSON):
        fmt = "newline_delimited" if kind is SourceKind.NDJSON else "auto"
        relation = f"read_json({path_sql}, format='{fmt}')"
        plan = SourcePlan(kind, resolved, relation, warnings, path=path)
    elif kind is SourceKind.DUCKDB:
        attach_duckdb(con, path)
        try:
            tables = _duckdb_tables(con)
        finally:
            con.execute(f"DETACH DATABASE IF EXISTS {ATTACH_ALIAS}")
        table = _choose_table(path, tables, options.table)
        schema, _, name = table.rpartition(".")
        relation = f"{ATTACH_ALIAS}.{quote_ident(schema or 'main')}.{quote_ident(name)}"
        plan = SourcePlan(kind, resolved.model_copy(update={"table": table}), relation, warnings)
        plan.tables, plan.source_table, plan.path = tables, table, path
    else:
        plan = _plan_sqlite(path, resolved, warnings)
    try:
        plan.prepare(con, limit=0)
        con.execute(f"DESCRIBE SELECT * FROM {plan.relation}").fetchall()
    except duckdb.Error as exc:
        raise source_failure(exc, path, plan) from exc
    finally:
        plan.release(con)
    return plan


def source_failure(exc: BaseException, path: Path, plan: SourcePlan) -> MlwbError:
    """One clear MlwbError for a DuckDB error raised while reading a planned source."""
    if plan.kind is SourceKind.CSV:
        return csv_failure(exc, path, plan.options)
    text = str(exc)
    first = duckdb_message(exc)
    if "No files found" in text or "No such file" in text:
        return MlwbError(
            f"{path} disappeared while it was being read",
            hint="check that the file is still there and import it again",
        )
    hint = {
        SourceKind.PARQUET: "check that the file is a complete Parquet file",
        SourceKind.JSON: "check the JSON syntax near that position; one object per row is best",
        SourceKind.NDJSON: "each line must be one JSON object",
        SourceKind.DUCKDB: "check that the file is a DuckDB database written by this DuckDB "
        "version or older",
        SourceKind.SQLITE: "check that the file is a readable SQLite database",
    }[plan.kind]
    return MlwbError(f"cannot read {path.name} as {plan.kind.value}: {first}", hint=hint)


# -- DuckDB files --------------------------------------------------------------------------


def attach_duckdb(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """ATTACH ``path`` read-only under ``ATTACH_ALIAS``."""
    try:
        con.execute(f"ATTACH {quote_literal(str(path))} AS {ATTACH_ALIAS} (READ_ONLY)")
    except duckdb.Error as exc:
        raise MlwbError(
            f"cannot open {path.name} as a DuckDB database: {duckdb_message(exc)}",
            hint="close other programs using it; it must be written by this DuckDB version or older",
        ) from exc


def duckdb_file_tables(path: Path) -> list[str]:
    """Tables and views of a DuckDB file (opened read-only)."""
    with duckdb.connect() as con:
        attach_duckdb(con, path)
        return _duckdb_tables(con)


def _duckdb_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
        "UNION ALL SELECT schema_name, view_name FROM duckdb_views() "
        "WHERE database_name = ? AND NOT internal ORDER BY 1, 2",
        [ATTACH_ALIAS, ATTACH_ALIAS],
    ).fetchall()
    return [name if schema == "main" else f"{schema}.{name}" for schema, name in rows]


def _choose_table(path: Path, tables: list[str], wanted: str | None) -> str:
    if not tables:
        raise MlwbError(f"{path.name} holds no tables", hint="import a database that has data")
    if wanted is None:
        if len(tables) == 1:
            return tables[0]
        shown = ", ".join(tables[:10]) + (" ..." if len(tables) > 10 else "")
        raise MlwbError(
            f"{path.name} holds {len(tables)} tables ({shown})",
            hint="choose one with --table NAME",
        )
    if wanted in tables:
        return wanted
    lowered = {t.lower(): t for t in tables}
    if wanted.lower() in lowered:
        return lowered[wanted.lower()]
    raise MlwbError(
        f"{path.name} has no table {wanted!r}", hint=f"its tables are: {', '.join(tables[:10])}"
    )


# -- SQLite files (Python sqlite3 -> Arrow -> DuckDB; no extension download) ---------------


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    try:
        con = sqlite3.connect(
            f"file:{pathname2url(str(path))}?mode=ro", uri=True, check_same_thread=False
        )
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise MlwbError(
            f"cannot open {path.name} as a SQLite database: {exc}",
            hint="check that the file is a complete SQLite database",
        ) from exc
    return con


def sqlite_tables(path: Path) -> list[str]:
    """Tables and views of a SQLite file."""
    con = _sqlite_connect(path)
    try:
        rows = con.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def _sqlite_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plan_sqlite(path: Path, options: ImportOptions, warnings: list[str]) -> SourcePlan:
    """Choose Arrow types from the storage classes actually present in each column."""
    tables = sqlite_tables(path)
    table = _choose_table(path, tables, options.table)
    con = _sqlite_connect(path)
    try:
        info = con.execute(f"PRAGMA table_info({_sqlite_ident(table)})").fetchall()
        names = [r[1] for r in info]
        declared = [str(r[2] or "").upper() for r in info]
        parts = ["count(*)"]
        for n in names:
            q = _sqlite_ident(n)
            parts += [f"sum(typeof({q}) = '{t}')" for t in ("integer", "real", "text", "blob")]
        counts = con.execute(f"SELECT {', '.join(parts)} FROM {_sqlite_ident(table)}").fetchone()
    except sqlite3.Error as exc:
        raise MlwbError(f"cannot read table {table!r} of {path.name}: {exc}") from exc
    finally:
        con.close()
    assert counts is not None
    imported, name_warnings = unique_column_names(names)
    columns = []
    for i, name in enumerate(names):
        ints, reals, texts, blobs = (int(x or 0) for x in counts[1 + 4 * i : 5 + 4 * i])
        columns.append((name, imported[i], _arrow_type(ints, reals, texts, blobs, declared[i])))
    plan = SourcePlan(
        SourceKind.SQLITE,
        options.model_copy(update={"table": table}),
        SQLITE_VIEW,
        warnings + name_warnings,
        tables=tables,
        source_table=table,
        path=path,
    )
    plan.sqlite_columns, plan.sqlite_rows = columns, int(counts[0])
    return plan


def _arrow_type(ints: int, reals: int, texts: int, blobs: int, declared: str) -> pa.DataType:
    if texts or (blobs and (ints or reals)):
        return pa.string()
    if blobs:
        return pa.binary()
    if reals:
        return pa.float64()
    if ints:
        return pa.int64()
    if "INT" in declared:
        return pa.int64()
    if any(k in declared for k in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return pa.string()


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def sqlite_reader(
    plan: SourcePlan,
    on_progress: Progress | None = None,
    should_stop: Stop | None = None,
    limit: int | None = None,
) -> pa.RecordBatchReader:
    """An Arrow stream over the chosen SQLite table, read in batches of ``SQLITE_BATCH`` rows."""
    assert plan.path is not None and plan.source_table is not None
    schema = pa.schema([(imported, kind) for _, imported, kind in plan.sqlite_columns])
    select = ", ".join(_sqlite_ident(source) for source, _, _ in plan.sqlite_columns)
    sql = f"SELECT {select} FROM {_sqlite_ident(plan.source_table)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    total = max(plan.sqlite_rows, 1)
    path = plan.path

    def batches() -> Iterator[pa.RecordBatch]:
        con = _sqlite_connect(path)
        try:
            cursor = con.execute(sql)
            done = 0
            while rows := cursor.fetchmany(SQLITE_BATCH):
                if should_stop is not None and should_stop():
                    raise InterruptedError("import cancelled")
                arrays = []
                for i, (_, _, kind) in enumerate(plan.sqlite_columns):
                    values = [r[i] for r in rows]
                    if kind == pa.string():
                        values = [_as_text(v) for v in values]
                    elif kind == pa.float64():
                        values = [None if v is None else float(v) for v in values]
                    arrays.append(pa.array(values, type=kind))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
                done += len(rows)
                if on_progress is not None:
                    on_progress(done / total, f"read {done:,} of {plan.sqlite_rows:,} rows")
        finally:
            con.close()

    return pa.RecordBatchReader.from_batches(schema, batches())
