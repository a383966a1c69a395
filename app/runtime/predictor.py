"""Opening a verified bundle and predicting with it: the whole prediction-time runtime.

``open_bundle`` reads a bundle folder or ``.zip``, verifies the SHA-256 of every file against the
manifest, refuses a newer bundle format and loads the model only through the skops allow-list.

``Bundle.predict`` takes raw rows (pandas, Polars or a list of dicts), reads them with the raw
column types and null markers of the import, replays the row-wise recipe steps (through the
``prepare`` function the opener supplies), checks every row against the input contract and
scores the valid ones. Rows that break the contract come back as rejects with a reason, never
dropped silently; values outside the training range or unseen categories are scored and flagged.

``Bundle.predict_row`` is the lean path for one row (a served request): plain Python checks,
the pipeline's encoders compiled to lookups, and the model called on one float row. It gives
exactly what ``predict`` gives for that row (a test proves it) and falls back to ``predict``
whenever a row or pipeline is outside what it compiles.

This package imports nothing from the rest of mlwb, so an installable predictor can carry it.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from app.runtime.contract import (
    BUNDLE_FORMAT,
    MISSING_LEVEL,
    Baseline,
    BundleMetadata,
    ColumnContract,
    InputContract,
    Manifest,
    RawInput,
)
from app.runtime.errors import MlwbError
from app.runtime.safe_load import load_skops

MODEL = "model.skops"
CONTRACT = "contract.json"
SCHEMA = "contract.schema.json"
BASELINE = "baseline.json"
METADATA = "metadata.json"
CARD = "model_card.md"
RAW = "raw_input.json"
MANIFEST = "manifest.json"
FILES = (MODEL, CONTRACT, SCHEMA, BASELINE, METADATA, CARD, RAW)
"""Every file the manifest lists (the manifest itself is the last one)."""

Prepare = Callable[[Any, list[dict[str, Any]]], Any]
"""Replays row-wise recipe steps: ``prepare(polars_frame, steps) -> polars_frame``."""

BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# -- opening ------------------------------------------------------------------------------------


def read_files(path: Path) -> dict[str, bytes]:
    """The files of a bundle folder or ``.zip`` by name."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    if path.is_file() and zipfile.is_zipfile(path):
        out: dict[str, bytes] = {}
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    out[info.filename.rsplit("/", 1)[-1]] = archive.read(info)
        return out
    if not path.exists():
        raise MlwbError(f"there is no bundle at {path}", hint="give a bundle folder or .zip")
    raise MlwbError(f"{path} is neither a bundle folder nor a .zip", hint="mlwb deploy builds one")


def _parse(model: Any, name: str, data: bytes) -> Any:
    try:
        return model.model_validate_json(data)
    except ValueError as exc:
        raise MlwbError(f"the bundle's {name} cannot be read: {exc}") from exc


def _too_new(path: Path, found: int) -> MlwbError:
    return MlwbError(
        f"{path} has bundle format {found}, newer than this mlwb supports (format {BUNDLE_FORMAT})",
        hint="upgrade mlwb to load it",
    )


def verify(path: Path, files: dict[str, bytes]) -> Manifest:
    """The manifest of ``files``, once every listed file is present and unchanged."""
    if MANIFEST not in files:
        raise MlwbError(
            f"{path} is not a complete bundle: {MANIFEST} is missing",
            hint="build the bundle again (mlwb deploy)",
        )
    try:
        raw = json.loads(files[MANIFEST])
        found = int(raw.get("bundle_format", 0))
    except (ValueError, TypeError, AttributeError) as exc:
        raise MlwbError(f"the bundle's {MANIFEST} cannot be read: {exc}") from exc
    if found > BUNDLE_FORMAT:
        raise _too_new(path, found)
    manifest = _parse(Manifest, MANIFEST, files[MANIFEST])
    missing = [f for f in (*FILES, *manifest.files) if f not in files]
    if missing:
        raise MlwbError(
            f"{path} is missing file(s): " + ", ".join(sorted(set(missing))),
            hint="build the bundle again (mlwb deploy)",
        )
    unlisted = [f for f in FILES if f not in manifest.files]
    changed = [f for f, digest in manifest.files.items() if sha256(files[f]) != digest]
    if unlisted or changed:
        raise MlwbError(
            f"refusing {path}: file(s) changed since the bundle was built (SHA-256 mismatch): "
            + ", ".join(sorted(changed + unlisted)),
            hint="the bundle was tampered with or damaged; build it again (mlwb deploy)",
        )
    return manifest


def open_bundle(path: str | Path, prepare: Prepare | None = None) -> Bundle:
    """Open a bundle folder or ``.zip``: verify every file and load the model (allow-list).

    ``prepare`` replays the row-wise recipe steps; it is needed only when the bundle has any.
    """
    path = Path(path)
    files = read_files(path)
    manifest = verify(path, files)
    metadata = _parse(BundleMetadata, METADATA, files[METADATA])
    if metadata.bundle_format > BUNDLE_FORMAT:
        raise _too_new(path, metadata.bundle_format)
    contract = _parse(InputContract, CONTRACT, files[CONTRACT])
    baseline = _parse(Baseline, BASELINE, files[BASELINE])
    raw = _parse(RawInput, RAW, files[RAW])
    if raw.replays and prepare is None:
        raise MlwbError(
            f"{path} replays {len(raw.steps)} recipe step(s) before predicting, "
            "and no recipe runner was given",
            hint="open it with mlwb (mlwb predict / mlwb serve) or its generated predictor",
        )
    model = load_skops(files[MODEL], f"{path} ({MODEL})")
    return Bundle(
        path=path,
        metadata=metadata,
        contract=contract,
        baseline=baseline,
        manifest=manifest,
        model=model,
        raw=raw,
        card=files[CARD].decode(),
        prepare=prepare,
    )


# -- predicting ---------------------------------------------------------------------------------


class Prediction(NamedTuple):
    """What ``Bundle.predict`` returns."""

    predictions: pd.DataFrame
    """One row per scored input row: ``row`` (its position in the input), ``prediction``,
    probabilities (classification), ``threshold`` (binary) and ``flags``."""
    rejects: pd.DataFrame
    """One row per rejected input row: ``row`` and ``reason``."""
    ignored_columns: list[str]
    """Input columns neither the contract nor the raw input names (ignored)."""
    features: pd.DataFrame | None = None
    """The scored rows as the model read them (contract columns, after the recipe)."""


@dataclass(eq=False)
class Batch:
    """What ``Bundle.predict_batch`` returns: ``predict``'s result as arrays.

    ``prediction()`` builds the ``Prediction`` (pandas frames); a streaming writer can take
    the arrays as they are.
    """

    bundle: Bundle
    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Positions of the scored rows in the input."""
    decisions: dict[str, Any] | None = None
    """Column -> values of the scored rows (``prediction``, probabilities, ``threshold``: one
    value for all rows); None when no row was scored."""
    flags: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    """Flag text of each scored row (``""`` for none)."""
    reject_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    reasons: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    ignored: list[str] = field(default_factory=list)
    scored: Any = None
    """The scored rows as the model read them: a pandas frame, or a function building it."""
    numbers: Any = None
    """A function building the same as a Polars frame (numeric columns with NaN for missing,
    categorical columns as text), when the columnar way scored the rows."""

    def features(self) -> pd.DataFrame | None:
        """The scored rows as the model read them (contract columns, after the recipe)."""
        if callable(self.scored):
            self.scored = self.scored()
        return self.scored

    def polars_features(self) -> Any:
        """``features()`` as a Polars frame when the columnar way scored the rows, else the
        pandas frame (None when no row was scored)."""
        if self.decisions is not None and callable(self.numbers):
            return self.numbers()
        return self.features()

    def prediction(self) -> Prediction:
        """The ``Prediction`` of these rows."""
        rejects = _rejects([int(i) for i in self.reject_rows], list(self.reasons))
        if self.decisions is None or not len(self.rows):
            return Prediction(self.bundle._empty(), rejects, self.ignored)
        out = pd.DataFrame(self.decisions)
        out.insert(0, "row", self.rows)
        out["flags"] = self.flags
        return Prediction(out, rejects, self.ignored, self.features())


class _Notes:
    """Per-row messages gathered column by column, joined with ``; `` (vectorised).

    ``failed`` keeps, per column, the rows whose value could not be read, so a later check
    of the same column does not report the resulting null a second time.
    """

    def __init__(self, n: int) -> None:
        self.text = np.full(n, "", dtype=object)
        self.failed: dict[str, np.ndarray] = {}

    def fail(self, column: str, mask: np.ndarray, message: Any) -> None:
        earlier = self.failed.get(column)
        self.failed[column] = mask if earlier is None else mask | earlier
        self.add(mask, message)

    def not_failed(self, column: str, mask: np.ndarray) -> np.ndarray:
        failed = self.failed.get(column)
        return mask if failed is None else mask & ~failed

    def add(self, mask: np.ndarray, message: Any) -> None:
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        if callable(message):  # built for the marked rows only
            msg = np.asarray(message(rows), dtype=object)
        else:
            msg = np.full(len(rows), message, dtype=object)
        current = self.text[rows]
        self.text[rows] = np.where(current == "", msg, current + "; " + msg)

    @property
    def any(self) -> np.ndarray:
        return self.text != ""


def _as_pandas(frame: Any) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame.reset_index(drop=True)
    if isinstance(frame, list | tuple):
        if not all(isinstance(r, dict) for r in frame):
            raise MlwbError("input rows must be dicts of column -> value")
        return pd.DataFrame.from_records(list(frame))
    if hasattr(frame, "to_pandas") and hasattr(frame, "columns"):
        return frame.to_pandas()
    raise MlwbError(
        f"cannot predict on a {type(frame).__name__}",
        hint="give a pandas or polars DataFrame, or a list of dicts",
    )


def _missing_mask(s: pd.Series) -> np.ndarray:
    missing = s.isna().to_numpy(dtype=bool)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        try:
            stripped = s.str.strip()
        except AttributeError:  # an object column without a single string
            return missing
        missing = missing | stripped.eq("").fillna(False).to_numpy(dtype=bool)
    return missing


def _plain_numbers(s: pd.Series) -> bool:
    """A column of int or float type (not bool): its values need no parsing."""
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _about(values: Any, head: str, tail: str, fmt: str = "r") -> Callable[[np.ndarray], list[str]]:
    """Messages ``head + value + tail`` for the given rows of ``values`` (built lazily)."""
    array = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values

    def build(rows: np.ndarray) -> list[str]:
        return [
            f"{head}{array[i]!r}{tail}" if fmt == "r" else f"{head}{array[i]:g}{tail}" for i in rows
        ]

    return build


_NUMERIC_TYPES = {
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float32",
    "Float64",
    "Decimal",
}


@dataclass
class Bundle:
    """A loaded, verified bundle."""

    path: Path
    metadata: BundleMetadata
    contract: InputContract
    baseline: Baseline
    manifest: Manifest
    model: Any
    raw: RawInput = field(default_factory=RawInput)
    card: str = ""
    prepare: Prepare | None = None
    _lean: Any = field(default=None, repr=False)
    _compiled: Any = field(default=None, repr=False)

    @property
    def input_columns(self) -> list[str]:
        """The columns an input must have: the raw columns some feature needs (or, for a
        bundle without raw input, the contract's columns)."""
        if self.raw.columns:
            return list(self.raw.required)
        return [c.name for c in self.contract.columns]

    @property
    def known_columns(self) -> set[str]:
        """Every column the bundle reads (the others, the target among them, are ignored)."""
        raw = set(self.raw.columns) - {self.contract.target}
        return {c.name for c in self.contract.columns} | raw

    # -- batch -----------------------------------------------------------------------------

    def predict(self, frame: Any) -> Prediction:
        """Validate ``frame`` (pandas, polars or a list of dicts) and score the valid rows."""
        return self.predict_batch(frame).prediction()

    def predict_batch(self, frame: Any) -> Batch:
        """``predict`` as arrays, before any pandas frame is built: for streaming writers.

        A Polars frame (or an Arrow table or record batch) whose columns already have the raw
        types goes the columnar way when the pipeline compiles (passthrough numbers and
        ordinal codes): recipe replay and contract checks in Polars, the model's input matrix
        built once and the model's estimator called on it directly. Everything else goes the
        general way. Both give the same rows, reasons, flags and probabilities (tests prove
        it).
        """
        columnar = self._columnar(frame)
        if columnar is not None:
            return columnar
        return self._general(frame)

    def _plan(self) -> _Plan | None:
        """The pipeline compiled to the estimator's input matrix, or None."""
        if self._compiled is None:
            try:
                self._compiled = _compile_plan(self)
            except _NotLean:
                self._compiled = False
        return self._compiled or None

    def _columnar(self, frame: Any) -> Batch | None:
        """``predict_batch`` the columnar way, or None when ``frame`` or the bundle needs the
        general way (values to parse, types it does not read, a pipeline it does not
        compile)."""
        if not self.raw.columns or not _is_columnar(frame):
            return None
        plan = self._plan()
        if plan is None:
            return None
        import polars as pl

        if not isinstance(frame, pl.DataFrame):
            try:
                frame = pl.from_arrow(frame)
            except (TypeError, ValueError, pl.exceptions.PolarsError):
                return None
            if not isinstance(frame, pl.DataFrame):
                return None
        if frame.height == 0:
            return None
        absent = [c for c in self.raw.required if c not in frame.columns]
        if absent:
            raise MlwbError(
                "the input is missing column(s): " + ", ".join(absent),
                hint="these raw columns feed the model (raw_input.json lists them)",
            )
        if not any(c in frame.columns for c in self.raw.columns):
            return None
        raw = _typed_raw(frame, self.raw.columns, self.raw.null_markers)
        if raw is None:
            return None
        data = raw if not self.raw.replays else self.prepare(raw, self.raw.steps)  # type: ignore[misc]
        contract = self.contract.columns
        if any(c.name not in data.columns for c in contract):
            return None
        checked = _checked(data, contract)
        if checked is None:
            return None
        n = data.height
        notes, flags = _Notes(n), _Notes(n)
        values: dict[str, np.ndarray] = {}
        for c in contract:
            if c.kind == "numeric":
                numbers = checked[c.name].to_numpy()
                values[c.name] = _numbers(c, numbers, ~np.isfinite(numbers), notes, flags)
            else:
                unseen = checked[f"{c.name}\0unseen"]
                if unseen.any():
                    text = checked[c.name]
                    flags.add(
                        unseen.to_numpy(),
                        lambda rows, t=text, h=f"{c.name}=": [
                            f"{h}{v!r} not seen in training" for v in t.gather(rows).to_list()
                        ],
                    )
        bad = notes.any
        rows = np.flatnonzero(~bad)
        ignored = [str(c) for c in frame.columns if c not in self.known_columns]
        batch = Batch(
            self,
            rows=rows,
            flags=flags.text[rows],
            reject_rows=np.flatnonzero(bad),
            reasons=notes.text[bad],
            ignored=ignored,
        )
        if not len(rows):
            return batch
        every = len(rows) == n
        X = np.empty((len(rows), plan.width), dtype=np.float64)
        for slot in plan.slots:
            name = slot.column.name
            if slot.codes is None:
                column = values[name]
            else:
                column = (
                    checked[name]
                    .replace_strict(
                        list(slot.codes),
                        list(slot.codes.values()),
                        default=slot.unknown,
                        return_dtype=pl.Float64,
                    )
                    .to_numpy()
                )
            X[:, slot.position] = column if every else column[rows]
        batch.decisions = _decisions(self, _raw_scores(plan.estimator, X))
        names = [c.name for c in contract]

        def features(polars: bool) -> Any:
            kept = checked.select([c.name for c in contract if c.kind != "numeric"])
            kept = kept if every else kept[rows]
            numbers = {
                c.name: values[c.name] if every else values[c.name][rows]
                for c in contract
                if c.kind == "numeric"
            }
            if polars:
                return kept.with_columns(pl.Series(k, v) for k, v in numbers.items()).select(names)
            return pd.DataFrame(
                {
                    c.name: numbers[c.name]
                    if c.kind == "numeric"
                    else kept[c.name].to_numpy().astype(object)
                    for c in contract
                },
                columns=names,
            )

        batch.scored = lambda: features(False)
        batch.numbers = lambda: features(True)
        return batch

    def _general(self, frame: Any) -> Batch:
        data = _as_pandas(frame)
        names = [c.name for c in self.contract.columns]
        known = self.known_columns
        ignored = [str(c) for c in data.columns if c not in known]
        if len(data) == 0 and len(data.columns) == 0:
            return Batch(self, ignored=ignored)
        notes = _Notes(len(data))
        if self.raw.columns:
            data = self._replay(data, notes)
        absent = [n for n in names if n not in data.columns]
        if absent:
            raise MlwbError(
                "the input is missing column(s): " + ", ".join(absent),
                hint="the contract names every column a row needs (contract.schema.json)",
            )
        flags = _Notes(len(data))
        clean = {c.name: self._column(c, data[c.name], notes, flags) for c in self.contract.columns}
        X = pd.DataFrame(clean, columns=names)
        bad = notes.any
        rows = np.flatnonzero(~bad)
        batch = Batch(
            self,
            rows=rows,
            flags=flags.text[rows],
            reject_rows=np.flatnonzero(bad),
            reasons=notes.text[bad],
            ignored=ignored,
        )
        if len(rows):
            scored = X.iloc[rows].reset_index(drop=True)
            batch.decisions = _decisions(self, _raw_scores(self.model, scored))
            batch.scored = scored
        return batch

    def _replay(self, data: pd.DataFrame, notes: _Notes) -> pd.DataFrame:
        """Raw rows read with the import's types and null markers, then the row-wise steps."""
        import polars as pl

        absent = [c for c in self.raw.required if c not in data.columns]
        if absent:
            raise MlwbError(
                "the input is missing column(s): " + ", ".join(absent),
                hint="these raw columns feed the model (raw_input.json lists them)",
            )
        markers = set(self.raw.null_markers)
        n = len(data)
        columns: dict[str, Any] = {}
        for name, dtype in self.raw.columns.items():
            if name not in data.columns:
                columns[name] = pl.Series(name, [None] * n, dtype=_polars_type(dtype))
                continue
            s = data[name]
            if markers and (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
                s = s.mask(s.isin(markers))
            columns[name] = self._raw_column(name, dtype, s, notes)
        extra = {str(c): data[c] for c in data.columns if c not in self.raw.columns}
        frame = pl.DataFrame(columns)
        if self.raw.replays:
            assert self.prepare is not None
            frame = self.prepare(frame, self.raw.steps)
        # Categories are text as the training query read them (DuckDB's CAST to VARCHAR).
        text = [
            pl.col(c.name).cast(pl.String)
            for c in self.contract.columns
            if c.kind == "categorical" and c.name in frame.columns
        ]
        out = frame.with_columns(text).to_pandas() if text else frame.to_pandas()
        for name, values in extra.items():
            if name not in out.columns:
                out[name] = values.to_numpy()
        return out

    def _raw_column(self, name: str, dtype: str, s: pd.Series, notes: _Notes) -> Any:
        import polars as pl

        missing = _missing_mask(s)
        target = _polars_type(dtype)
        if dtype in _NUMERIC_TYPES:
            if _plain_numbers(s):  # already numbers: nothing to parse
                floats = s.to_numpy(dtype=np.float64, na_value=np.nan)
                bad = np.zeros(len(s), dtype=bool)
            else:
                values = pd.to_numeric(s.where(~missing), errors="coerce")
                bad = values.isna().to_numpy(dtype=bool) & ~missing
                notes.fail(name, bad, _about(s, f"{name}: ", " is not a number"))
                floats = values.to_numpy(dtype=np.float64)
            series = pl.Series(name, floats, nan_to_null=True)
            if target != pl.Float64 and target.is_integer():
                whole = np.isnan(floats) | (np.floor(floats) == floats)
                notes.fail(name, ~whole & ~bad, _about(s, f"{name}: ", " is not a whole number"))
                series = series.cast(target, strict=False)
            return series
        if dtype in {"Date", "Datetime"}:
            stamps = pd.to_datetime(s.where(~missing), errors="coerce", format="mixed")
            bad = stamps.isna().to_numpy(dtype=bool) & ~missing
            notes.fail(name, bad, _about(s, f"{name}: ", " is not a date/time"))
            series = pl.Series(name, stamps.to_numpy(dtype="datetime64[us]"))
            return series.cast(target) if dtype == "Date" else series
        if dtype == "Boolean":
            text = s.where(~missing).astype(str).str.strip().str.lower()
            mapped = text.map({"true": True, "false": False, "1": True, "0": False})
            bad = mapped.isna().to_numpy(dtype=bool) & ~missing
            notes.fail(name, bad, _about(s, f"{name}: ", " is not true/false"))
            numbers = pd.to_numeric(mapped.where(~missing & ~bad), errors="coerce")
            ones = pl.Series(name, numbers.to_numpy(dtype=np.float64), nan_to_null=True)
            return ones.cast(pl.Boolean)
        try:
            series = pl.Series(name, s)
            if series.dtype == pl.String:
                return series
            if series.dtype.is_numeric() or series.dtype == pl.Boolean or series.dtype == pl.Null:
                return series.cast(pl.String)
            raise TypeError(series.dtype)
        except (TypeError, ValueError, pl.exceptions.PolarsError):  # mixed values: as they print
            text = [None if _is_missing(v) else v if isinstance(v, str) else str(v) for v in s]
            return pl.Series(name, text, dtype=pl.String)

    def _column(self, c: ColumnContract, s: pd.Series, notes: _Notes, flags: _Notes) -> Any:
        missing = _missing_mask(s)
        if c.kind == "numeric":
            if _plain_numbers(s):  # already numbers: nothing to parse
                values = s.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                values = pd.to_numeric(s.where(~missing), errors="coerce").to_numpy(
                    dtype=np.float64
                )
            bad = np.isnan(values) & ~missing
            notes.add(bad, _about(s, f"{c.name}: ", " is not a number"))
            return _numbers(c, values, (missing | ~np.isfinite(values)) & ~bad, notes, flags)
        if c.kind == "categorical":
            text = np.where(missing, MISSING_LEVEL, s.astype(str).to_numpy(dtype=object))
            if not c.more_categories:
                unseen = ~pd.Series(text).isin(c.categories).to_numpy(dtype=bool)
                if unseen.any():
                    flags.add(unseen, _about(text, f"{c.name}=", " not seen in training"))
            return text.astype(object)
        stamps = pd.to_datetime(s.where(~missing), errors="coerce", format="mixed")
        bad = np.asarray(stamps.isna(), dtype=bool) & ~missing
        notes.add(bad, _about(s, f"{c.name}: ", " is not a date/time"))
        if not c.nullable:
            notes.add(
                notes.not_failed(c.name, missing),
                f"{c.name}: missing but training had no missing values",
            )
        return stamps

    def _empty(self) -> pd.DataFrame:
        columns = ["row", "prediction"]
        if self.metadata.task == BINARY:
            columns += ["probability", "threshold"]
        elif self.metadata.task == MULTICLASS:
            classes = np.asarray(self.model.classes_).astype(str)
            columns += ["probability"] + [f"probability_{k}" for k in classes]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*columns, "flags"]})

    # -- one row ---------------------------------------------------------------------------

    def predict_row(self, record: dict[str, Any]) -> dict[str, Any]:
        """One row in, one result out: ``prediction`` (+ ``probability``/``threshold``/class
        probabilities) and ``flags``, or ``errors`` when the row breaks the contract.

        Equal to ``predict([record])`` for the same row; faster for typed JSON values.
        """
        if self._lean is None:
            self._lean = _Lean.compile(self)
        lean = self._lean
        if lean.ok:
            result = lean.predict(record)
            if result is not None:
                return result
        return self._row_by_batch(record)

    def _row_by_batch(self, record: dict[str, Any]) -> dict[str, Any]:
        got = self.predict([record])
        if len(got.rejects):
            return {"errors": str(got.rejects["reason"].iloc[0]).split("; ")}
        row = got.predictions.iloc[0].to_dict()
        row.pop("row", None)
        flags = row.pop("flags", "")
        out = {k: _plain(v) for k, v in row.items()}
        out["flags"] = flags.split("; ") if flags else []
        return out


def _numbers(
    c: ColumnContract, values: np.ndarray, empty: np.ndarray, notes: _Notes, flags: _Notes
) -> np.ndarray:
    """The numeric column ``c`` as the model reads it (NaN for every missing value): rows
    ``empty`` (null, NaN or inf) are rejected when training had no missing values, values
    outside the training range are flagged."""
    if not c.nullable:
        notes.add(
            notes.not_failed(c.name, empty),
            f"{c.name}: missing (null, NaN or inf) but training had no missing values",
        )
    values = np.where(np.isfinite(values), values, np.nan)
    if c.min is not None and c.max is not None:
        with np.errstate(invalid="ignore"):
            low, high = values < c.min, values > c.max
        if low.any():
            flags.add(low, _about(values, f"{c.name}=", f" below training min {c.min:g}", "g"))
        if high.any():
            flags.add(high, _about(values, f"{c.name}=", f" above training max {c.max:g}", "g"))
    return values


def _is_columnar(frame: Any) -> bool:
    """A Polars frame, or an Arrow table or record batch."""
    module = type(frame).__module__
    return module.startswith(("polars", "pyarrow")) and hasattr(frame, "columns")


def _typed_raw(frame: Any, columns: dict[str, str], markers: list[str]) -> Any:
    """The raw columns of ``frame`` read as the general way reads them, when every present
    one already has its raw type (numbers for a numeric type, text for ``String``, booleans for
    ``Boolean``); None when some value would need parsing. Absent columns are missing."""
    import polars as pl

    schema = frame.schema
    out = []
    for name, dtype in columns.items():
        target = _polars_type(dtype)
        if name not in schema:
            out.append(pl.lit(None, dtype=target).alias(name))
            continue
        got = schema[name]
        column = pl.col(name)
        if dtype in _NUMERIC_TYPES and dtype != "Decimal":
            if not (got.is_integer() or got.is_float()):
                return None
            column = column.cast(pl.Float64).fill_nan(None)
            if target != pl.Float64 and target.is_integer():
                if (
                    got.is_float()
                    and frame.select(
                        (pl.col(name).is_finite() & (pl.col(name).floor() != pl.col(name))).any()
                    ).item()
                ):
                    return None  # a fraction in an integer column: the general way rejects it
                column = column.cast(target, strict=False)
        elif dtype == "String":
            if got != pl.String:
                return None
            if markers:
                column = pl.when(column.is_in(markers)).then(None).otherwise(column)
        elif dtype == "Boolean":
            if got != pl.Boolean:
                return None
        else:
            return None
        out.append(column.alias(name))
    return frame.select(out)


def _checked(data: Any, contract: list[ColumnContract]) -> Any:
    """Per contract column of the replayed ``data``: numbers as Float64 (null as NaN), or the
    text the model reads (a missing or blank value as ``MISSING_LEVEL``) with a column
    ``<name>\\0unseen`` marking levels training did not see; None when a numeric column is
    not numbers (the general way parses it)."""
    import polars as pl

    schema = data.schema
    exprs = []
    for c in contract:
        got = schema[c.name]
        column = pl.col(c.name)
        if c.kind == "numeric":
            if not (got.is_integer() or got.is_float() or got == pl.Boolean):
                return None
            exprs.append(column.cast(pl.Float64).fill_null(np.nan))
        elif c.kind == "categorical":
            text = column.cast(pl.String)
            blank = text.is_null() | (text.str.strip_chars(_whitespace()) == "")
            text = pl.when(blank).then(pl.lit(MISSING_LEVEL)).otherwise(text).alias(c.name)
            exprs.append(text)
            unseen = (pl.lit(False) if c.more_categories else ~text.is_in(c.categories)).alias(
                f"{c.name}\0unseen"
            )
            exprs.append(unseen)
        else:
            return None
    try:
        return data.select(exprs)
    except pl.exceptions.PolarsError:
        return None


_WHITESPACE: str | None = None


def _whitespace() -> str:
    """Every character Python's ``str.strip`` removes (the general way's blank test)."""
    global _WHITESPACE
    if _WHITESPACE is None:
        _WHITESPACE = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    return _WHITESPACE


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


SMALL_BATCH = 1_000
"""Below this many rows the model runs on one thread: waking a thread pool costs more than
the rows (histogram boosting on one row: ~5 ms on one thread, ~80 ms on two of a busy
machine)."""


def _raw_scores(model: Any, X: Any) -> np.ndarray:
    """``predict_proba`` (or ``decision_function``/``predict``) of ``model`` on ``X``."""
    if len(X) < SMALL_BATCH:
        with _one_thread():
            return _model_scores(model, X)
    return _model_scores(model, X)


_THREADS: Any = None


def _one_thread() -> Any:
    global _THREADS
    if _THREADS is None:
        from threadpoolctl import ThreadpoolController

        _THREADS = ThreadpoolController()
    return _THREADS.limit(limits=1, user_api="openmp")


def _model_scores(model: Any, X: Any) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=float)
    if hasattr(model, "decision_function"):
        raw = np.asarray(model.decision_function(X), dtype=float)
        return raw[:, None] if raw.ndim == 1 else raw
    return np.asarray(model.predict(X), dtype=float)[:, None]


def _decisions(bundle: Bundle, scores: np.ndarray) -> dict[str, Any]:
    """Predictions (and probabilities, threshold) from the model's raw scores: column name ->
    values (or one value for every row)."""
    task = bundle.metadata.task
    model = bundle.model
    if task == REGRESSION:
        return {"prediction": scores[:, 0]}
    classes = np.asarray(model.classes_).astype(str)
    if task == BINARY:
        positive = str(bundle.metadata.positive_class)
        column = int(np.flatnonzero(classes == positive)[0])
        cut = bundle.metadata.threshold
        if hasattr(model, "predict_proba"):
            score = scores[:, column]
            cut = 0.5 if cut is None else cut
        else:
            score = scores[:, 0] if column == 1 else -scores[:, 0]
            cut = 0.0 if cut is None else cut
        labels = np.where(score >= cut, positive, classes[1 - column])
        return {"prediction": labels, "probability": score, "threshold": cut}
    out: dict[str, Any] = {
        "prediction": classes[np.argmax(scores, axis=1)],
        "probability": scores.max(axis=1),
    }
    for k, name in enumerate(classes):
        out[f"probability_{name}"] = scores[:, k]
    return out


def _rejects(rows: list[int], reasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"row": pd.Series(rows, dtype="int64"), "reason": pd.Series(reasons, dtype=object)}
    )


def _polars_type(name: str) -> Any:
    import polars as pl

    if name == "Datetime":
        return pl.Datetime("us")
    dtype = getattr(pl, name, None)
    return dtype if name in _NUMERIC_TYPES | {"String", "Boolean", "Date"} else pl.String


# -- the lean single-row path -------------------------------------------------------------------


class _Slot(NamedTuple):
    """One column of the estimator's input matrix."""

    column: ColumnContract
    position: int
    codes: dict[str, float] | None
    """Category -> ordinal code (None: a passthrough number)."""
    unknown: float = math.nan
    """The code of a category the encoder did not see."""


class _Plan(NamedTuple):
    """A pipeline of passthrough numbers and ordinal codes as the estimator's input matrix."""

    estimator: Any
    slots: list[_Slot]
    width: int


def _compile_plan(bundle: Bundle) -> _Plan:
    """The plan of ``bundle``'s pipeline (``_outer_plan``), the estimator's own encoder folded
    in when it has one; ``_NotLean`` for any other pipeline."""
    plan = _outer_plan(bundle)
    if getattr(plan.estimator, "_preprocessor", None) is None:
        return plan
    estimator, slots = _fold_inner_encoder(plan.estimator, plan.slots)
    return _Plan(estimator, slots, plan.width)


def _outer_plan(bundle: Bundle) -> _Plan:
    """The plan of ``bundle``'s pipeline, or ``_NotLean`` for any other pipeline.

    The codes are the fitted encoder's own (its ``transform`` of every category it knows), so
    the estimator reads exactly the matrix the pipeline's ``transform`` would give it.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    model = bundle.model
    if not isinstance(model, Pipeline) or len(model.steps) != 2:
        raise _NotLean
    prep, estimator = model.steps[0][1], model.steps[1][1]
    if (
        not isinstance(prep, ColumnTransformer)
        or getattr(estimator, "feature_names_in_", None) is not None
        or getattr(prep, "sparse_output_", False)
    ):
        raise _NotLean
    kinds = {c.name: c for c in bundle.contract.columns}
    slots: list[_Slot] = []
    for name, transformer, columns in prep.transformers_:
        if name == "remainder":
            if transformer != "drop" and len(columns):
                raise _NotLean
            continue
        if _passthrough(transformer):
            for column in columns:
                c = kinds.get(column)
                if c is None or c.kind != "numeric":
                    raise _NotLean
                slots.append(_Slot(c, len(slots), None))
        elif isinstance(transformer, OrdinalEncoder):
            if transformer.handle_unknown != "use_encoded_value" or not all(
                isinstance(v, str) for cats in transformer.categories_ for v in cats
            ):
                raise _NotLean
            unknown = float(transformer.unknown_value)
            codes = _ordinal_lookup(transformer, list(columns))
            for column, lookup in zip(columns, codes, strict=True):
                c = kinds.get(column)
                if c is None or c.kind != "categorical":
                    raise _NotLean
                slots.append(_Slot(c, len(slots), lookup, unknown))
        else:
            raise _NotLean
    if len(slots) != getattr(estimator, "n_features_in_", -1):
        raise _NotLean
    return _Plan(estimator, slots, len(slots))


def _fold_inner_encoder(estimator: Any, slots: list[_Slot]) -> tuple[Any, list[_Slot]]:
    """Histogram boosting with categorical features encodes its input again: its own
    ``OrdinalEncoder`` maps each categorical column's codes to bin codes and puts those columns
    first. That second lookup (about two thirds of a one-row prediction) is folded into the
    slots' codes and positions, and the estimator is a shallow copy without it, reading that
    matrix directly. A check on rows of every known category, unseen and missing values must
    give exactly the scores of the original estimator, else the pipeline is not compiled."""
    import copy

    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.preprocessing import OrdinalEncoder

    if not isinstance(estimator, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        raise _NotLean
    inner = estimator._preprocessor
    encoder = inner.named_transformers_.get("encoder")
    categorical = np.asarray(getattr(estimator, "is_categorical_", None), dtype=bool)
    if not isinstance(encoder, OrdinalEncoder) or categorical.shape != (len(slots),):
        raise _NotLean
    order = [*np.flatnonzero(categorical), *np.flatnonzero(~categorical)]
    moved = {int(old): new for new, old in enumerate(order)}
    inner_codes = {
        int(old): {float(v): float(k) for k, v in enumerate(cats) if not math.isnan(float(v))}
        for old, cats in zip(np.flatnonzero(categorical), encoder.categories_, strict=True)
    }
    folded: list[_Slot] = []
    for slot in slots:
        position = moved[slot.position]
        if slot.position not in inner_codes:  # read as a number (a code or a passthrough)
            folded.append(slot._replace(position=position))
            continue
        if slot.codes is None:  # a passthrough number the estimator treats as a category
            raise _NotLean
        lookup = inner_codes[slot.position]
        folded.append(
            _Slot(
                slot.column,
                position,
                {text: lookup.get(code, math.nan) for text, code in slot.codes.items()},
                lookup.get(slot.unknown, math.nan),
            )
        )
    lean = copy.copy(estimator)
    lean._preprocessor = None
    _check_folded(estimator, slots, lean, folded)
    return lean, folded


def _check_folded(
    estimator: Any, slots: list[_Slot], folded_estimator: Any, folded: list[_Slot]
) -> None:
    """``_NotLean`` unless the folded estimator scores rows of every known category (cycled),
    an unseen category and missing values exactly as the original one."""
    longest = max((len(s.codes) for s in slots if s.codes is not None), default=1)
    n = longest + 2
    outer = np.zeros((n, len(slots)))
    inner = np.zeros((n, len(slots)))
    for slot, fold in zip(slots, folded, strict=True):
        if slot.codes is None:
            low = slot.column.min if slot.column.min is not None else 0.0
            high = slot.column.max if slot.column.max is not None else 1.0
            values = np.linspace(low, high, n)
            values[-1] = math.nan
            outer[:, slot.position] = values
            inner[:, fold.position] = values
            continue
        assert fold.codes is not None
        texts = list(slot.codes)
        for i in range(n - 1):
            text = texts[i % len(texts)] if texts else None
            outer[i, slot.position] = slot.codes[text] if text is not None else slot.unknown
            inner[i, fold.position] = fold.codes[text] if text is not None else fold.unknown
        outer[n - 1, slot.position] = slot.unknown
        inner[n - 1, fold.position] = fold.unknown
    if not np.array_equal(
        _model_scores(estimator, outer), _model_scores(folded_estimator, inner), equal_nan=True
    ):
        raise _NotLean


class _Lean:
    """A pipeline of passthrough numbers and ordinal codes, compiled to lookups for one row.

    ``ok`` is False (and ``predict_row`` uses the batch path) for any other pipeline.
    """

    def __init__(self) -> None:
        self.ok = False
        self.bundle: Bundle | None = None
        self.estimator: Any = None
        self.slots: list[_Slot] = []
        self.width = 0
        self.markers: frozenset[str] = frozenset()
        self.raw_kind: dict[str, str] = {}
        """Raw type of each numeric column: a bool counts only for a Boolean column, a
        fraction is refused by an integer column (both as the batch path reads them)."""

    @classmethod
    def compile(cls, bundle: Bundle) -> _Lean:
        lean = cls()
        lean.bundle = bundle
        try:
            lean._compile(bundle)
        except _NotLean:
            lean.ok = False
        return lean

    def _compile(self, bundle: Bundle) -> None:
        if bundle.raw.replays:
            raise _NotLean
        plan = bundle._plan()
        if plan is None:
            raise _NotLean
        raw_types = bundle.raw.columns
        self.markers = frozenset(bundle.raw.null_markers)
        for slot in plan.slots:
            name = slot.column.name
            if slot.codes is None:
                self.raw_kind[name] = raw_types.get(name, "Float64")
            elif raw_types and raw_types.get(name) != "String":
                raise _NotLean
        self.slots = plan.slots
        self.estimator = plan.estimator
        self.width = plan.width
        self.ok = True

    def predict(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The result for ``record``, or None when it needs the batch path."""
        assert self.bundle is not None
        row = np.empty((1, self.width), dtype=np.float64)
        errors: list[str] = []
        flags: list[str] = []
        for c, position, lookup, unknown in self.slots:
            if c.name not in record:
                return None
            value = record[c.name]
            if lookup is None:
                kind = self.raw_kind[c.name]
                if value is None:
                    number = math.nan
                elif isinstance(value, bool):
                    if kind != "Boolean":
                        return None
                    number = float(value)
                elif not isinstance(value, int | float) or kind == "Boolean":
                    return None
                else:
                    number = float(value)
                    if kind[0] in "IU" and math.isfinite(number) and not number.is_integer():
                        return None
                if not math.isfinite(number):
                    if not c.nullable:
                        errors.append(
                            f"{c.name}: missing (null, NaN or inf) but training had no "
                            "missing values"
                        )
                    number = math.nan
                elif c.min is not None and c.max is not None:
                    if number < c.min:
                        flags.append(f"{c.name}={number:g} below training min {c.min:g}")
                    elif number > c.max:
                        flags.append(f"{c.name}={number:g} above training max {c.max:g}")
                row[0, position] = number
            else:
                if value is None:
                    text = MISSING_LEVEL
                elif isinstance(value, str):
                    blank = not value.strip() or value in self.markers
                    text = MISSING_LEVEL if blank else value
                else:
                    return None
                if not c.more_categories and text not in c.categories:
                    flags.append(f"{c.name}={text!r} not seen in training")
                row[0, position] = lookup.get(text, unknown)
        if errors:
            return {"errors": errors}
        scores = _raw_scores(self.estimator, row)
        decided = _decisions(self.bundle, scores)
        out = {k: _plain(v[0] if isinstance(v, np.ndarray) else v) for k, v in decided.items()}
        out["flags"] = flags
        return out


def _passthrough(transformer: Any) -> bool:
    """True for ``"passthrough"`` (a fitted ColumnTransformer holds an identity
    FunctionTransformer in its place)."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    from sklearn.preprocessing import FunctionTransformer

    return (
        isinstance(transformer, FunctionTransformer)
        and transformer.func is None
        and not transformer.validate
    )


class _NotLean(Exception):
    """The pipeline has a step the lean path does not compile."""


def _ordinal_lookup(encoder: Any, columns: list[str]) -> list[dict[str, float]]:
    """For each column, the code the fitted encoder gives each known category."""
    categories = [list(map(str, c)) for c in encoder.categories_]
    longest = max((len(c) for c in categories), default=0)
    if longest == 0:
        return [{} for _ in columns]
    frame = pd.DataFrame(
        {
            column: [cats[i] if i < len(cats) else cats[0] for i in range(longest)]
            for column, cats in zip(columns, categories, strict=True)
        }
    )
    codes = np.asarray(encoder.transform(frame), dtype=np.float64)
    return [
        {cat: float(codes[i, j]) for i, cat in enumerate(cats)} for j, cats in enumerate(categories)
    ]
