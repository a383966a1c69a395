"""Helpers for import tests: what must stay unchanged, writing fixture files, reading a table."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from storage import datasets as ds
from storage import repositories as repo
from storage.db import ProjectStore


def snapshot(store: ProjectStore) -> tuple[str, list[str], int, int, int]:
    """Database bytes, tables, dataset rows, role rows and events: all must stay the same."""
    digest = hashlib.sha256(store.db_path.read_bytes()).hexdigest()
    with store.connect() as con:
        tables = sorted(
            r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        )
        counts = [repo.count_rows(con, t) or 0 for t in ("datasets", "column_roles", "events")]
    return digest, tables, *counts


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def table_rows(store: ProjectStore, table: str) -> list[tuple[Any, ...]]:
    with store.connect() as con:
        return con.execute(f"SELECT * FROM {ds.quote_ident(table)}").fetchall()
