"""The Data stage's import: preview a file, then stream it into the project as version 1.

The rows never pass through Python (except SQLite's, as Arrow batches): DuckDB runs
``CREATE TABLE ... AS SELECT * FROM read_csv(...)`` inside the project. The table, its
``datasets`` row, its suggested column roles, the current-dataset pointer and the audit event
are one transaction, so a failed or cancelled import leaves no trace. ``on_progress`` and
``should_stop`` may be called from a helper thread that watches the running query.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import polars as pl

from app.domain.dataset import (
    DatasetVersion,
    ImportOptions,
    ImportPreview,
    SourceKind,
    check_dataset_name,
    name_from_stem,
)
from app.errors import MlwbError
from app.services.import_warnings import TextScan, column_counts_sql, data_warnings, head_text_scan
from app.services.ingest_csv import CsvDataError
from app.services.ingest_sources import (
    SourcePlan,
    check_path,
    detect_kind,
    duckdb_file_tables,
    plan_source,
    source_failure,
    sqlite_tables,
)
from app.services.roles import suggest_roles
from storage import datasets as ds
from storage import repositories as repo
from storage.db import ProjectStore

__all__ = ["ImportCancelled", "detect_kind", "import_file", "preview_import", "source_tables"]

Progress = Callable[[float, str], None]
Stop = Callable[[], bool]

PREVIEW_ROWS = 20
WARNING_SAMPLE = 10_000
COUNT_LIMIT_BYTES = 256 << 20
"""A preview counts (and fully validates) files up to this size."""
HASH_CHUNK = 1 << 20
POLL_SECONDS = 0.1


IMPORT_MEMORY_LIMIT = "600MB"
"""DuckDB's memory cap while a file is copied into the project (5M rows peak below 1 GB)."""


class ImportCancelled(MlwbError):
    """The user stopped the import; nothing was saved."""


def _nothing(*_: Any) -> None:
    return None


def _never() -> bool:
    return False


def source_tables(path: Path) -> list[str]:
    """The tables of a DuckDB or SQLite file (empty for other kinds)."""
    path = check_path(path)
    kind = detect_kind(path)
    if kind is SourceKind.SQLITE:
        return sqlite_tables(path)
    if kind is SourceKind.DUCKDB:
        return duckdb_file_tables(path)
    return []


def _plan(con: duckdb.DuckDBPyConnection, path: Path, options: ImportOptions) -> SourcePlan:
    return plan_source(con, path, detect_kind(path), options)


# -- preview --------------------------------------------------------------------------------


def preview_import(
    path: Path | str, options: ImportOptions | None = None, table: str | None = None
) -> ImportPreview:
    """What importing ``path`` with ``options`` would give, without touching any project.

    Problems that make any import impossible (no file, binary, empty) raise MlwbError. Problems
    the options can fix (ragged rows, wrong encoding) come back in ``blocking_error`` with the
    rows read while skipping bad lines, so the user can see the data and change the options.
    """
    path = check_path(Path(path))
    options = options or ImportOptions()
    if table is not None:
        options = options.model_copy(update={"table": table})
    kind = detect_kind(path)
    if kind in (SourceKind.DUCKDB, SourceKind.SQLITE) and options.table is None:
        tables = source_tables(path)
        if len(tables) != 1:
            return ImportPreview(
                path=str(path),
                kind=kind,
                options=options,
                columns=[],
                rows=[],
                blocking_error=f"{path.name} holds {len(tables)} tables: choose one",
                tables=tables,
                size_bytes=path.stat().st_size,
            )
    blocking: str | None = None
    with duckdb.connect() as con:
        try:
            plan = _plan(con, path, options)
            _sample(con, path, plan)
        except CsvDataError as exc:
            blocking = exc.one_line()
            con.execute("DROP TABLE IF EXISTS preview_sample")
            plan = _plan(con, path, options.model_copy(update={"ignore_errors": True}))
            _sample(con, path, plan)
        columns = ds.table_columns(con, "preview_sample", schema="temp")
        cursor = con.execute(f"SELECT * FROM preview_sample LIMIT {PREVIEW_ROWS}")
        names = [d[0] for d in cursor.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        found = data_warnings(con, "preview_sample", columns)
        if _count(con, "preview_sample") >= WARNING_SAMPLE:
            found = [f"{w} (in the first {WARNING_SAMPLE:,} rows)" for w in found]
        warnings = plan.warnings + found
        n_rows, error = _full_count(con, path, plan)
    if error and not blocking:
        blocking = error
    if n_rows == 0 and not blocking:
        blocking = f"{path.name} has no data rows{_why_empty(plan)}"
    return ImportPreview(
        path=str(path),
        kind=plan.kind,
        options=plan.options.model_copy(update={"ignore_errors": options.ignore_errors}),
        columns=columns,
        rows=rows,
        warnings=warnings,
        blocking_error=blocking,
        tables=plan.tables,
        size_bytes=path.stat().st_size,
        n_rows=n_rows,
    )


def _sample(con: duckdb.DuckDBPyConnection, path: Path, plan: SourcePlan) -> None:
    """Copy the first ``WARNING_SAMPLE`` rows into the temp table ``preview_sample``."""
    try:
        plan.prepare(con, limit=WARNING_SAMPLE)
        con.execute(
            "CREATE TEMP TABLE preview_sample AS "
            f"SELECT * FROM {plan.relation} LIMIT {WARNING_SAMPLE}"
        )
    except duckdb.Error as exc:
        raise source_failure(exc, path, plan) from exc
    finally:
        plan.release(con)


_EMPTY_HINT = "import a file with at least one row; pass --no-header if the only line is data"


def _why_empty(plan: SourcePlan) -> str:
    if plan.kind is not SourceKind.CSV:
        return ""
    if plan.options.ignore_errors:
        return " left after skipping malformed rows"
    return " (only a header line)"


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    row = ds.first_row(con.execute(f"SELECT count(*) FROM {relation}"))
    return int(row[0]) if row else 0


def _full_count(
    con: duckdb.DuckDBPyConnection, path: Path, plan: SourcePlan
) -> tuple[int | None, str | None]:
    """Rows in the whole source (validating every line), unless the file is very large."""
    if plan.kind is SourceKind.SQLITE:
        return plan.sqlite_rows, None
    if path.stat().st_size > COUNT_LIMIT_BYTES:
        return None, None
    try:
        plan.prepare(con)
        row = ds.first_row(con.execute(f"SELECT count(*), count(COLUMNS(*)) FROM {plan.relation}"))
        return (int(row[0]) if row else 0), None
    except duckdb.Error as exc:
        return None, source_failure(exc, path, plan).one_line()
    finally:
        plan.release(con)


# -- import ---------------------------------------------------------------------------------


class _QueryWatcher:
    """Reports a running query's progress and interrupts it when ``should_stop`` says so."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        report: Callable[[float], None],
        should_stop: Stop,
    ) -> None:
        self.con, self.report, self.should_stop = con, report, should_stop
        self.stopped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlwb-import-watch", daemon=True)

    def _run(self) -> None:
        while True:
            if self.should_stop():
                self.stopped = True
                self.con.interrupt()
                return
            progress = self.con.query_progress()
            if progress >= 0:
                self.report(min(progress, 100.0) / 100.0)
            if self._done.wait(POLL_SECONDS):
                return

    def __enter__(self) -> _QueryWatcher:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()


def file_sha256(path: Path, on_progress: Progress = _nothing, should_stop: Stop = _never) -> str:
    """SHA-256 of the file, reporting progress and checking for cancellation per chunk."""
    digest = hashlib.sha256()
    size = max(path.stat().st_size, 1)
    done = 0
    buffer = bytearray(HASH_CHUNK)  # one buffer, refilled: no copy or allocation per chunk
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            if should_stop():
                raise ImportCancelled(f"import of {path.name} cancelled; nothing was saved")
            digest.update(view[:n])
            done += n
            on_progress(done / size, f"checking {path.name}")
    return digest.hexdigest()


def _choose_name(
    con: duckdb.DuckDBPyConnection, path: Path, name: str | None, warnings: list[str]
) -> str:
    taken = set(ds.dataset_names(con))
    if name is not None:
        name = check_dataset_name(name)
        if name in taken:
            raise MlwbError(
                f"a dataset named {name!r} already exists",
                hint="choose another --name; clean it with a recipe to make a new version",
            )
        return name
    base = name_from_stem(Path(path.name.removesuffix(".gz")).stem)
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    if candidate != base:
        warnings.append(f"a dataset named {base!r} exists; this one is {candidate!r}")
    return candidate


def _file_state(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return stat.st_size, stat.st_mtime_ns


def import_file(
    store: ProjectStore,
    path: Path | str,
    name: str | None = None,
    options: ImportOptions | None = None,
    table: str | None = None,
    on_progress: Progress | None = None,
    should_stop: Stop | None = None,
    force: bool = False,
) -> DatasetVersion:
    """Import ``path`` as version 1 of a new dataset; all or nothing.

    The same file bytes imported with the same resolved options are refused (naming the
    earlier dataset) unless ``force``, which imports them again under a new name.
    """
    report = on_progress or _nothing
    stop = should_stop or _never
    path = check_path(Path(path))
    options = options or ImportOptions()
    if table is not None:
        options = options.model_copy(update={"table": table})
    report(0.0, f"checking {path.name}")
    before = _file_state(path)
    with ThreadPoolExecutor(max_workers=2) as pool, duckdb.connect() as scratch:
        # Helpers, so that only the copy itself and the checks of the stored table keep the
        # caller waiting: the file is hashed while DuckDB reads it (the duplicate check waits
        # for the hash); the layout is sniffed while the project opens, then the warning
        # scan's text checks read the first rows of the source while the project copies it.
        hashing = pool.submit(file_sha256, path, _nothing, _never)
        planned: Future[SourcePlan] = Future()
        head: Future[TextScan | None]
        if detect_kind(path) in _HEAD_KINDS:
            head = pool.submit(_plan_and_scan_head, scratch, path, options, planned)
        else:  # a database file is attached to be read: not while the project opens
            planned.set_result(_plan(scratch, path, options))
            head = Future()
            head.set_result(None)
        try:
            return _import(store, path, name, planned, report, stop, force, before, hashing, head)
        finally:
            if not head.cancel():
                if not head.done():
                    scratch.interrupt()
                wait([head])


_HEAD_KINDS = (SourceKind.CSV, SourceKind.PARQUET, SourceKind.JSON, SourceKind.NDJSON)
"""Sources a second connection can read while the import copies them (no ATTACH, no stream)."""


def _plan_and_scan_head(
    con: duckdb.DuckDBPyConnection, path: Path, options: ImportOptions, planned: Future[SourcePlan]
) -> TextScan | None:
    """Sniff the source into ``planned``, then run ``_scan_head`` (on a helper thread)."""
    try:
        plan = _plan(con, path, options)
    except BaseException as exc:
        planned.set_exception(exc)
        return None
    planned.set_result(plan)
    return _scan_head(con, plan) if plan.kind in _HEAD_KINDS else None


def _scan_head(con: duckdb.DuckDBPyConnection, plan: SourcePlan) -> TextScan | None:
    """``head_text_scan`` of the planned source; None if it cannot be read (the copy says why)."""
    try:
        con.execute("SET threads = 1")
        return head_text_scan(con, plan.relation)
    except duckdb.Error:
        return None


def _head_result(head: Future[TextScan | None]) -> TextScan | None:
    try:
        return head.result()
    except Exception:  # never fatal: the warning scan then reads the table itself
        return None


def _fingerprint_and_counts(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]]
) -> tuple[int, str, list[int]]:
    """``ds.fingerprint_table`` plus every column's non-null count, in one scan of ``table``.

    The fingerprint is computed exactly as ``fingerprint_table`` does (a test checks it).
    """
    row_hash = "hash(" + ", ".join(ds.quote_ident(c) for c, _ in columns) + ")"
    total_sql = f"coalesce(sum({row_hash}::HUGEINT) % 18446744073709551616, 0)::VARCHAR"
    counts = column_counts_sql(columns)
    row = ds.first_row(
        con.execute(f"SELECT {', '.join([*counts, total_sql])} FROM {ds.quote_ident(table)}")
    )
    assert row is not None
    n_rows, total = int(row[0]), row[-1]
    schema = json.dumps(columns, ensure_ascii=False)
    digest = hashlib.sha256(f"{n_rows}\n{schema}\n{total}".encode()).hexdigest()
    return n_rows, digest, [int(n) for n in row[1:-1]]


def _import(
    store: ProjectStore,
    path: Path,
    name: str | None,
    planned: Future[SourcePlan],
    report: Progress,
    stop: Stop,
    force: bool,
    before: tuple[int, int],
    hashing: Future[str],
    head: Future[TextScan | None],
) -> DatasetVersion:
    def cancelled() -> ImportCancelled:
        return ImportCancelled(f"import of {path.name} cancelled; nothing was saved")

    report(0.05, f"detecting the layout of {path.name}")
    with store.transaction() as con:
        plan = planned.result()
        if stop():
            raise cancelled()
        warnings = list(plan.warnings)
        dataset = _choose_name(con, path, name, warnings)
        table_name = ds.new_table_name(con, dataset, 1)
        # Streaming a file into a table needs little memory; a cap keeps big imports bounded
        # (DuckDB otherwise caches up to 80 % of RAM). Reset right after the copy.
        con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'")
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = false")
        report(0.1, f"reading rows of {path.name}")

        def scaled(fraction: float, message: str = "") -> None:
            report(0.1 + 0.75 * fraction, message or f"reading rows of {path.name}")

        watcher = _QueryWatcher(con, scaled, stop)
        try:
            with watcher:
                plan.prepare(con, on_progress=scaled, should_stop=stop)
                con.execute(
                    f"CREATE TABLE {ds.quote_ident(table_name)} AS SELECT * FROM {plan.relation}"
                )
        except duckdb.Error as exc:
            if watcher.stopped or stop() or isinstance(exc, duckdb.InterruptException):
                raise cancelled() from exc
            raise source_failure(exc, path, plan) from exc
        finally:
            plan.release(con)
            with contextlib.suppress(duckdb.Error):
                con.execute("RESET memory_limit")
        if watcher.stopped or stop():
            raise cancelled()
        file_hash = hashing.result()
        earlier = ds.find_import(con, file_hash, plan.options)
        if earlier is not None and not force:
            raise MlwbError(
                f"{path.name} was already imported with these options as dataset "
                f"{earlier.name!r} (version {earlier.version})",
                hint="use that dataset, or pass --force to import it again under a new name",
            )
        report(0.88, f"checking the rows of {path.name}")
        columns = ds.table_columns(con, table_name)
        n_rows, fingerprint, counts = _fingerprint_and_counts(con, table_name, columns)
        if n_rows == 0:
            raise MlwbError(f"{path.name} has no data rows{_why_empty(plan)}", hint=_EMPTY_HINT)
        warnings += data_warnings(
            con,
            ds.quote_ident(table_name),
            columns,
            counts=(n_rows, counts),
            scan=_head_result(head),
        )
        if _file_state(path) != before:
            raise MlwbError(
                f"{path.name} changed while it was being imported; nothing was saved",
                hint="wait until the file is completely written, then import it again",
            )
        version = DatasetVersion(
            name=dataset,
            version=1,
            table_name=table_name,
            kind=plan.kind,
            source_path=str(path),
            source_table=plan.source_table,
            file_hash=file_hash,
            options=plan.options,
            n_rows=n_rows,
            n_cols=len(columns),
            fingerprint=fingerprint,
            warnings=warnings,
        )
        ds.insert_version(con, version)
        charter = repo.latest_charter(con)
        roles = suggest_roles(con, table_name, charter.charter if charter else None)
        ds.put_roles(con, dataset, roles)
        ds.set_state(con, ds.CURRENT_DATASET, dataset)
        repo.record_event(
            con,
            "data",
            "dataset_imported",
            f"imported {path.name} as {dataset}: {n_rows:,} rows x {len(columns)} columns",
            {
                "dataset": dataset,
                "version": 1,
                "table": table_name,
                "source": str(path),
                "kind": plan.kind.value,
                "sha256": file_hash,
                "options": plan.options.given(),
                "rows": n_rows,
                "columns": len(columns),
                "fingerprint": fingerprint,
                "roles": {c: r.value for c, r in roles.items()},
                "warnings": warnings,
            },
        )
        if stop():
            raise cancelled()
        report(0.95, f"saving {dataset}")
        saved = ds.get_version(con, dataset, 1)
    assert saved is not None
    report(1.0, f"imported {dataset}: {n_rows:,} rows x {len(columns)} columns")
    return saved


def use_dataset(store: ProjectStore, name: str) -> DatasetVersion:
    """Make ``name`` the project's current dataset; returns its current version."""
    with store.transaction() as con:
        version = ds.current_version(con, name)
        if version is None:
            raise MlwbError(f"there is no dataset {name!r}", hint="list them with: mlwb data list")
        if ds.get_state(con, ds.CURRENT_DATASET) != name:
            ds.set_state(con, ds.CURRENT_DATASET, name)
            repo.record_event(con, "data", "dataset_selected", f"current dataset is {name}")
    return version


def read_file(path: Path | str, options: ImportOptions | None = None) -> pl.DataFrame:
    """Read a whole file the way an import would (same dialect handling), into Polars.

    For new batches (recipe replay, monitoring) that do not become project datasets.
    """
    path = check_path(Path(path))
    options = options or ImportOptions()
    con = duckdb.connect()
    try:
        plan = _plan(con, path, options)
        plan.prepare(con)
        try:
            return con.sql(f"SELECT * FROM {plan.relation}").pl()
        except duckdb.Error as exc:
            raise source_failure(exc, path, plan) from exc
        finally:
            plan.release(con)
    finally:
        con.close()
