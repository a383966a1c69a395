"""Datasets: import options, previews, column roles and immutable dataset versions.

A dataset is a name (``adult``) with numbered versions. Version 1 comes from an import; later
versions come from applying a cleaning recipe to an earlier one. Each version is an immutable
DuckDB table (``data_<slug>_v<version>``) plus one metadata row; nothing here touches DuckDB.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.errors import MlwbError

Encoding = Literal["utf-8", "latin-1", "utf-16"]

_NAME = re.compile(r"^[^\W\d][\w.-]{0,63}$")
_REF = re.compile(r"^(?P<name>[^@]+?)(?:@v?(?P<version>\d+))?$")


class SourceKind(StrEnum):
    """The formats mlwb reads."""

    CSV = "csv"
    PARQUET = "parquet"
    JSON = "json"
    NDJSON = "ndjson"
    DUCKDB = "duckdb"
    SQLITE = "sqlite"


class ColumnRole(StrEnum):
    """What a column is for in modelling."""

    FEATURE = "feature"
    TARGET = "target"
    ID = "id"
    TIME = "time"
    IGNORE = "ignore"


class ImportOptions(BaseModel):
    """How to read a file. Every field left as None is detected (sniffed) from the file.

    CSV fields: ``delimiter`` (may be several characters, e.g. ``", "``), ``quote`` and
    ``escape`` ("" disables them), ``decimal`` (``","`` for decimal commas), ``encoding``,
    ``header``, ``skip_rows`` (lines before the header), ``null_markers`` (strings read as
    missing), ``sample_size`` (rows used to guess types; -1 scans the whole file),
    ``ignore_errors`` (skip malformed rows) and ``null_padding`` (fill short rows with nulls).
    ``table`` picks the table of a DuckDB or SQLite file.
    """

    model_config = ConfigDict(extra="forbid")

    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    decimal: Literal[".", ","] | None = None
    encoding: Encoding | None = None
    header: bool | None = None
    skip_rows: int | None = Field(default=None, ge=0)
    null_markers: list[str] = Field(default_factory=list)
    sample_size: int | None = Field(default=None, ge=-1)
    ignore_errors: bool = False
    null_padding: bool = False
    table: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _delimiter_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = {"\\t": "\t", "tab": "\t"}.get(value, value)
        if not value or len(value.encode()) > 4 or "\n" in value or "\r" in value:
            raise ValueError("the delimiter must be 1 to 4 characters and no line break")
        return value

    @field_validator("quote", "escape")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) > 1:
            raise ValueError("quote and escape are a single character, or '' for none")
        return value

    def given(self) -> dict[str, Any]:
        """Only the options the user set (for messages and the audit trail)."""
        return self.model_dump(exclude_defaults=True)


class ImportPreview(BaseModel):
    """What an import would produce, computed without touching the project."""

    path: str
    kind: SourceKind
    options: ImportOptions
    """The options as resolved: detected values filled in."""
    columns: list[tuple[str, str]]
    """(column name, DuckDB type) in file order."""
    rows: list[dict[str, Any]]
    """The first rows (at most ``PREVIEW_ROWS``)."""
    warnings: list[str] = Field(default_factory=list)
    blocking_error: str | None = None
    """Set when the import would fail with these options (the rows shown skip bad lines)."""
    tables: list[str] = Field(default_factory=list)
    """For DuckDB and SQLite files: the tables the file holds."""
    size_bytes: int = 0
    n_rows: int | None = None
    """Rows the import would create (None when the file was too big to count in a preview)."""


class DatasetVersion(BaseModel):
    """One immutable version of a dataset: the table plus where it came from.

    ``fingerprint`` identifies the content independent of row order: the SHA-256 of the row
    count, the column names and types, and the sum (mod 2**64) of DuckDB's ``hash()`` of every
    row. Equal tables give equal fingerprints on the same DuckDB version.
    """

    name: str
    version: int
    table_name: str
    parent_version: int | None = None
    kind: SourceKind | None = None
    source_path: str | None = None
    source_table: str | None = None
    file_hash: str | None = None
    """SHA-256 of the imported file (None for recipe-made versions)."""
    options: ImportOptions | None = None
    recipe: list[dict[str, Any]] = Field(default_factory=list)
    n_rows: int
    n_cols: int
    fingerprint: str
    warnings: list[str] = Field(default_factory=list)
    created_at: datetime | None = None

    @property
    def ref(self) -> str:
        """``name@version``, the CLI spelling."""
        return f"{self.name}@{self.version}"


class ColumnSummary(BaseModel):
    """One column at a glance, computed in SQL."""

    name: str
    type: str
    role: ColumnRole = ColumnRole.FEATURE
    missing: int
    missing_pct: float
    distinct: int
    distinct_approx: bool
    """True when ``distinct`` is DuckDB's approx_count_distinct estimate."""
    min: str | None = None
    max: str | None = None
    top_values: list[tuple[str | None, int]] = Field(default_factory=list)


def check_dataset_name(name: str) -> str:
    """A dataset name: starts with a letter, then letters, digits, ``_ . -`` (max 64)."""
    name = name.strip()
    if not _NAME.match(name):
        raise MlwbError(
            f"{name!r} is not a valid dataset name",
            hint="start with a letter; use letters, digits, '_', '.' or '-' (at most 64)",
        )
    return name


def name_from_stem(stem: str) -> str:
    """A valid dataset name derived from a file name (``Bike Sharing (hour)`` -> ``bike_sharing_hour``)."""
    cleaned = re.sub(r"[^\w.-]+", "_", stem.strip().lower(), flags=re.UNICODE).strip("_.-")
    if not cleaned or not _NAME.match(cleaned[:64]):
        cleaned = f"data_{cleaned}".strip("_")[:64] if cleaned else "data"
    return cleaned[:64]


def parse_ref(text: str) -> tuple[str, int | None]:
    """Split ``NAME[@VERSION]`` (``adult``, ``adult@2``, ``adult@v2``) into name and version."""
    match = _REF.match(text.strip())
    if not match:
        raise MlwbError(
            f"cannot read dataset reference {text!r}",
            hint="write NAME or NAME@VERSION, e.g. adult@2",
        )
    version = match["version"]
    return match["name"], int(version) if version else None


def unique_column_names(raw: list[str | None]) -> tuple[list[str], list[str]]:
    """Make header names non-empty and unique; returns (names, warnings).

    Empty names become ``column_<position>``; repeats get ``_2``, ``_3``... Comparison is
    case-insensitive because DuckDB column names are.
    """
    names: list[str] = []
    warnings: list[str] = []
    seen: set[str] = set()
    empty: list[int] = []
    renamed: list[str] = []
    for position, value in enumerate(raw, start=1):
        base = (value or "").strip()
        if not base:
            empty.append(position)
            base = f"column_{position}"
        candidate, n = base, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{base}_{n}"
        if candidate != base and (value or "").strip():
            renamed.append(f"{base!r} -> {candidate!r}")
        seen.add(candidate.lower())
        names.append(candidate)
    if empty:
        where = ", ".join(str(p) for p in empty[:8]) + (" ..." if len(empty) > 8 else "")
        warnings.append(f"{len(empty)} column(s) had no name (position {where}); named column_N")
    if renamed:
        more = " ..." if len(renamed) > 5 else ""
        warnings.append(f"duplicate column names made unique: {', '.join(renamed[:5])}{more}")
    return names, warnings
