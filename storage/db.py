"""The project store: one folder holding ``project.duckdb`` and ``artifacts/``.

Connections are short-lived: every read or write opens the database, does its work and closes
it, so the TUI and a CLI command in another terminal can take turns on one project. A process
that cannot get the database waits a short, stated time and then gives up with a clear
message naming the other process. Writes that belong together run in one transaction.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb

from app.errors import (
    MlwbError,
    ProjectCorrupt,
    ProjectInUse,
    ProjectNotFound,
    ProjectReadOnly,
    SchemaTooNew,
)
from storage.artifacts import remove_stale_temporaries
from storage.schema import (
    apply_migrations,
    create_version_table,
    first_row,
    latest_schema,
    schema_version,
)

PROJECT_DB = "project.duckdb"
ARTIFACTS = "artifacts"
DEFAULT_LOCK_WAIT = 5.0
"""Seconds a process waits for another one to release the project before giving up."""

_PID = re.compile(r"PID (\d+)")


def mlwb_version() -> str:
    """The installed mlwb version (``0+unknown`` when run from an uninstalled tree)."""
    try:
        return version("mlwb")
    except PackageNotFoundError:
        return "0+unknown"


def lock_wait_seconds() -> float:
    """How long to wait for a busy project; ``MLWB_LOCK_WAIT`` overrides the default."""
    raw = os.environ.get("MLWB_LOCK_WAIT", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_LOCK_WAIT
    except ValueError:
        return DEFAULT_LOCK_WAIT


def is_project(path: Path) -> bool:
    """Whether ``path`` is a folder holding a project database."""
    return path.is_dir() and (path / PROJECT_DB).is_file()


class ProjectStore:
    """Access to one project folder. Construct with ``create`` or ``open``."""

    def __init__(self, root: Path, lock_wait: float | None = None) -> None:
        self.root = root.resolve()
        self.db_path = self.root / PROJECT_DB
        self.artifacts = self.root / ARTIFACTS
        self.lock_wait = lock_wait_seconds() if lock_wait is None else lock_wait
        self.name = self.root.name
        """The project's name, read when the project is created or opened."""

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, name: str, lock_wait: float | None = None) -> ProjectStore:
        """Make a new project folder; the database appears only once it is complete."""
        root = Path(root).expanduser()
        if root.exists() and not root.is_dir():
            raise ProjectNotFound(
                f"{root} is a file, not a folder", hint="give a folder path for the new project"
            )
        if (root / PROJECT_DB).exists():
            raise MlwbError(
                f"{root} is already an mlwb project", hint=f"open it with: mlwb open {root}"
            )
        if not name.strip():
            raise MlwbError("the project name is empty", hint="pass --name with a name")
        made_root = not root.exists()
        try:
            root.mkdir(parents=True, exist_ok=True)
            (root / ARTIFACTS).mkdir(exist_ok=True)
        except OSError as exc:
            raise ProjectReadOnly(
                f"cannot create {root}: {exc.strerror or exc}",
                hint="choose a folder you can write to",
            ) from exc
        store = cls(root, lock_wait)
        store.name = name.strip()
        building = store.root / f".{PROJECT_DB}.creating-{os.getpid()}"
        leftovers = (building, building.with_name(building.name + ".wal"))
        try:
            for leftover in leftovers:
                leftover.unlink(missing_ok=True)
            _build_new_database(building, name.strip())
        except BaseException as exc:
            for leftover in leftovers:
                leftover.unlink(missing_ok=True)
            if made_root:
                shutil.rmtree(root, ignore_errors=True)
            if isinstance(exc, duckdb.IOException):
                raise ProjectReadOnly(
                    f"cannot create a database in {root}: {exc}",
                    hint="choose a folder you can write to",
                ) from exc
            raise
        os.replace(building, store.db_path)
        return store

    @classmethod
    def open(cls, root: Path, lock_wait: float | None = None) -> ProjectStore:
        """Open an existing project, migrating an older schema and refusing a newer one."""
        root = Path(root).expanduser()
        if not root.exists():
            raise ProjectNotFound(
                f"no such folder: {root}", hint=f"create a project there with: mlwb new {root}"
            )
        if not root.is_dir():
            raise ProjectNotFound(
                f"{root} is a file, not a project folder",
                hint="a project is a folder holding project.duckdb; pass the folder",
            )
        if not (root / PROJECT_DB).is_file():
            raise ProjectNotFound(
                f"{root} is not an mlwb project (it has no {PROJECT_DB})",
                hint=f"create one with: mlwb new {root}",
            )
        store = cls(root, lock_wait)
        with store.transaction() as con:
            current = schema_version(con)
            if current is None:
                raise ProjectCorrupt(
                    f"{store.db_path} is a DuckDB file but not an mlwb project",
                    hint="open the folder of an mlwb project, or create one with mlwb new",
                )
            latest = latest_schema()
            if current > latest:
                raise SchemaTooNew(
                    f"this project has schema version {current}, written by a newer mlwb; "
                    f"this mlwb ({mlwb_version()}) reads up to version {latest}",
                    hint="upgrade mlwb to open it; the project was not changed",
                )
            if current < latest:
                done = apply_migrations(con, current, mlwb_version())
                con.execute(
                    "INSERT INTO events (stage, action, summary, details) VALUES (?, ?, ?, ?)",
                    [
                        "project",
                        "migrated",
                        f"schema migrated from version {current} to {latest}",
                        f'{{"applied": {done}}}',
                    ],
                )
            row = first_row(con.execute("SELECT name FROM project_info LIMIT 1"))
            store.name = row[0] if row else store.name
        remove_stale_temporaries(store.artifacts)
        return store

    # -- connections -----------------------------------------------------------------------

    def _connect_once(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.db_path))
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise
            if "not a valid DuckDB database" in text or "Corrupt" in text:
                raise ProjectCorrupt(
                    f"{self.db_path} cannot be read: {text}",
                    hint="restore the project folder from a copy; mlwb did not change it",
                ) from exc
            if "Permission denied" in text or "Read-only" in text:
                return self._connect_read_only(exc)
            raise ProjectCorrupt(
                f"{self.db_path} cannot be opened: {text}",
                hint="check the file; restore the folder from a copy if it is damaged",
            ) from exc
        except duckdb.Error as exc:
            raise ProjectCorrupt(
                f"{self.db_path} cannot be opened: {exc}",
                hint="restore the project folder from a copy; mlwb did not change it",
            ) from exc

    def _connect_read_only(self, cause: Exception) -> duckdb.DuckDBPyConnection:
        """Fall back to reading a project whose files cannot be written."""
        try:
            return duckdb.connect(str(self.db_path), read_only=True)
        except duckdb.Error as exc:
            raise ProjectReadOnly(
                f"{self.db_path} cannot be opened: {cause}",
                hint="make the project folder readable and writable, or copy it elsewhere",
            ) from exc

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for the duration of the block, waiting briefly if the file is busy."""
        deadline = time.monotonic() + self.lock_wait
        delay = 0.02
        while True:
            try:
                con = self._connect_once()
                break
            except duckdb.IOException as exc:
                if time.monotonic() >= deadline:
                    match = _PID.search(str(exc))
                    who = f" (pid {match[1]})" if match else ""
                    raise ProjectInUse(
                        f"this project is in use by another mlwb process{who}",
                        hint=f"gave up after {self.lock_wait:g} s; "
                        "try again when that process has finished or close it",
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.connect() as con, self.transaction_on(con):
            yield con

    @contextlib.contextmanager
    def transaction_on(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """One transaction on an open connection (saves reopening the file after a long read)."""
        con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, duckdb.Error) and "read-only" in str(exc).lower():
                raise ProjectReadOnly(
                    "this project is read-only here: the change was not saved",
                    hint="make the project folder writable, or copy it somewhere writable",
                ) from exc
            raise
        try:
            con.execute("COMMIT")
        except duckdb.Error as exc:
            raise ProjectReadOnly(
                f"the change could not be saved: {exc}",
                hint="check that the project folder is writable and the disk not full",
            ) from exc


def _build_new_database(path: Path, name: str) -> None:
    """Write a complete, empty project database at ``path`` (renamed into place later)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("BEGIN TRANSACTION")
        create_version_table(con)
        apply_migrations(con, 0, mlwb_version())
        con.execute(
            "INSERT INTO project_info VALUES (?, current_timestamp, ?)", [name, mlwb_version()]
        )
        con.execute(
            "INSERT INTO events (stage, action, summary, details) VALUES (?, ?, ?, ?)",
            ["project", "created", f"project {name!r} created", "{}"],
        )
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()
