"""Reading CSV/TSV files with DuckDB: sniff the dialect, name the columns, explain failures.

``plan_csv`` turns a file and the user's options into one ``read_csv(...)`` call with every
dialect setting spelled out, so the preview and the import read the file the same way.
``csv_failure`` turns DuckDB's multi-line CSV errors into one line saying what, where (file
and line) and how to fix it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from app.domain.dataset import ImportOptions, unique_column_names
from app.errors import MlwbError
from storage.datasets import duckdb_message, first_row, quote_literal

HEAD_BYTES = 1 << 20
"""How much of the file start is read in Python (encoding, binary and header checks)."""

_DELIMITER_CANDIDATES = (",", ";", "\t", "|")
_PY_ENCODING = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}


class CsvDataError(MlwbError):
    """The file's content does not fit the options (ragged rows, bad quotes, encoding...)."""


@dataclass
class CsvPlan:
    """A resolved way to read one CSV file."""

    options: ImportOptions
    relation: str
    """``read_csv(...)`` with every option explicit."""
    warnings: list[str] = field(default_factory=list)


def _show(text: str) -> str:
    return {"\t": "\\t", "": "none"}.get(text, text)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of ``path``."""
    with path.open("rb") as handle:
        return handle.read(size)


def is_gzip(path: Path) -> bool:
    """Whether the file is gzip-compressed (DuckDB reads ``.csv.gz`` directly)."""
    return read_head(path, 2) == b"\x1f\x8b"


def _text_head(path: Path) -> bytes:
    """The first bytes of the text, decompressing gzip files."""
    if not is_gzip(path):
        return read_head(path)
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(HEAD_BYTES)
    except (OSError, EOFError) as exc:
        raise MlwbError(
            f"{path.name} is a damaged gzip file: {exc}", hint="check that it was fully written"
        ) from exc


def check_text(path: Path, head: bytes, options: ImportOptions) -> ImportOptions:
    """Refuse binary or blank files; detect UTF-16 from its byte-order mark."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and options.encoding is None:
        options = options.model_copy(update={"encoding": "utf-16"})
    if options.encoding != "utf-16" and b"\x00" in head:
        offset = head.index(b"\x00")
        raise MlwbError(
            f"{path.name} is not a text file: it holds binary data (a NUL byte at offset {offset})",
            hint="import a CSV, Parquet, JSON, DuckDB or SQLite file; "
            "if it is UTF-16 text, pass --encoding utf-16",
        )
    if len(head) < HEAD_BYTES and not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise MlwbError(
            f"{path.name} holds only blank lines", hint="check that this is the file you meant"
        )
    return options


def _decode(head: bytes, encoding: str | None) -> str:
    return head.decode(_PY_ENCODING.get(encoding or "utf-8", "utf-8"), errors="replace")


def _sniff_args(options: ImportOptions) -> list[str]:
    """read_csv/sniff_csv arguments for the options the user set."""
    args: list[str] = []
    if options.delimiter is not None:
        args.append(f"delim={quote_literal(options.delimiter)}")
    if options.quote is not None:
        args.append(f"quote={quote_literal(options.quote)}")
    if options.escape is not None:
        args.append(f"escape={quote_literal(options.escape)}")
    if options.header is not None:
        args.append(f"header={str(options.header).lower()}")
    if options.skip_rows is not None:
        args.append(f"skip={options.skip_rows}")
    if options.encoding is not None:
        args.append(f"encoding={quote_literal(options.encoding)}")
    if options.decimal is not None:
        args.append(f"decimal_separator={quote_literal(options.decimal)}")
    if options.null_markers:
        args.append("nullstr=[" + ", ".join(quote_literal(m) for m in options.null_markers) + "]")
    if options.sample_size is not None:
        args.append(f"sample_size={options.sample_size}")
    if options.ignore_errors:
        args.append("ignore_errors=true")
    if options.null_padding:
        args.append("null_padding=true")
    return args


def _call(function: str, path: Path, args: list[str]) -> str:
    return f"{function}({', '.join([quote_literal(str(path)), *args])})"


def _header_fields(text: str, options: ImportOptions) -> list[str] | None:
    """The raw header line split by the resolved dialect, or None if it cannot be read."""
    lines = io.StringIO(text)
    for _ in range(options.skip_rows or 0):
        lines.readline()
    delimiter = options.delimiter or ","
    if len(delimiter) > 1:
        line = lines.readline().rstrip("\r\n")
        return line.split(delimiter) if line else None
    quote = options.quote or None
    escape = options.escape or None
    reader = csv.reader(
        lines,
        delimiter=delimiter,
        quotechar=quote,
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        escapechar=escape if escape and escape != quote else None,
        doublequote=bool(quote) and (escape in (None, quote)),
    )
    try:
        return next(reader, None)
    except csv.Error:
        return None


def _suspect_delimiter(text: str, options: ImportOptions, sniffed: str) -> str | None:
    """A delimiter the first line clearly uses when the sniffer settled for one column."""
    lines = io.StringIO(text)
    for _ in range(options.skip_rows or 0):
        lines.readline()
    first = lines.readline()
    counts = {d: first.count(d) for d in _DELIMITER_CANDIDATES if d != sniffed}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def _probe_strict(
    con: duckdb.DuckDBPyConnection, path: Path, text: str, options: ImportOptions, delim: str
) -> None:
    """Read the whole file as text with ``delim`` to find the first malformed line."""
    probe = options.model_copy(update={"delimiter": delim, "quote": options.quote or '"'})
    fields = _header_fields(text, probe) or ["x"]
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(fields))) + "}"
    args = [
        *_sniff_args(probe.model_copy(update={"sample_size": None})),
        "auto_detect=false",
        f"columns={columns}",
    ]
    if probe.header is None:
        args.append("header=true")
    con.execute(f"SELECT count(*) FROM {_call('read_csv', path, args)}").fetchall()


def _explain(
    con: duckdb.DuckDBPyConnection, path: Path, text: str, options: ImportOptions, delim: str
) -> None:
    """Raise the specific error (which line, what is wrong) a strict read with ``delim`` hits."""
    try:
        _probe_strict(con, path, text, options, delim)
    except duckdb.Error as exc:
        raise csv_failure(exc, path, options.model_copy(update={"delimiter": delim})) from exc


def plan_csv(con: duckdb.DuckDBPyConnection, path: Path, options: ImportOptions) -> CsvPlan:
    """Sniff ``path`` with the user's ``options`` and return an explicit ``read_csv`` call."""
    head = _text_head(path)
    options = check_text(path, head, options)
    text = _decode(head, options.encoding)
    try:
        row = first_row(
            con.execute(
                "SELECT Delimiter, Quote, Escape, HasHeader, SkipRows, Columns, Comment, "
                f"DateFormat, TimestampFormat FROM {_call('sniff_csv', path, _sniff_args(options))}"
            )
        )
    except duckdb.Error as exc:
        failure = csv_failure(exc, path, options)
        if "cannot work out the CSV layout" in failure.message and not options.ignore_errors:
            # The sniffer only says "no dialect fits"; a strict read names the bad line.
            delim = options.delimiter or _suspect_delimiter(text, options, "")
            if delim is not None:
                _explain(con, path, text, options, delim)
        raise failure from exc
    assert row is not None
    delimiter, quote, escape, header, skip, sniffed, comment, date_format, ts_format = row
    n_columns = len(sniffed)
    if n_columns == 1 and options.delimiter is None:
        suspect = _suspect_delimiter(text, options, delimiter)
        if suspect is not None:
            _explain(con, path, text, options, suspect)
            return plan_csv(con, path, options.model_copy(update={"delimiter": suspect}))
    resolved = options.model_copy(
        update={
            "delimiter": delimiter,
            "quote": "" if quote == "(empty)" else quote,
            "escape": "" if escape == "(empty)" else escape,
            "header": bool(header),
            "skip_rows": int(skip),
            "encoding": options.encoding or "utf-8",
        }
    )
    warnings: list[str] = []
    if skip and options.skip_rows is None:
        first = text.splitlines()[0] if text else ""
        warnings.append(
            f"the first {skip} line(s) do not fit the table and are skipped "
            f"(line 1: {first[:40]!r}); pass --skip 0 to keep them"
        )
    # Every setting the sniffer found is spelled out (column types and date formats too), so
    # reading the file does not sniff it a second time.
    args = [*_sniff_args(resolved), "auto_detect=false"]
    names = [c["name"] for c in sniffed]
    if resolved.header:
        raw = _header_fields(text, resolved)
        if raw is not None and len(raw) == n_columns:
            names, renamed = unique_column_names(raw)
            warnings += renamed
    types = ", ".join(
        f"{quote_literal(n)}: {quote_literal(c['type'])}"
        for n, c in zip(names, sniffed, strict=True)
    )
    args.append("columns={" + types + "}")
    if comment not in (None, "", "(empty)"):
        args.append(f"comment={quote_literal(comment)}")
    if date_format:
        args.append(f"dateformat={quote_literal(date_format)}")
    if ts_format:
        args.append(f"timestampformat={quote_literal(ts_format)}")
    if not is_gzip(path):
        warnings.extend(_tail_warnings(path))
    return CsvPlan(options=resolved, relation=_call("read_csv", path, args), warnings=warnings)


def _tail_warnings(path: Path) -> list[str]:
    """Blank lines at the end of the file (DuckDB skips them; the user should know)."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 256))
        tail = handle.read()
    stripped = tail.rstrip(b"\r\n\t ")
    blank = tail[len(stripped) :].count(b"\n") - 1
    if blank > 0 and stripped:
        return [f"the file ends with {blank} blank line(s); they are not rows"]
    return []


_LINE = re.compile(r"CSV Error on Line: (\d+)")
_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_CONVERT = re.compile(
    r'converting column "(?P<col>.*?)"\. Could not convert string "(?P<value>.*?)" to \'(?P<type>[\w ]+)\''
)


def csv_failure(exc: BaseException, path: Path, options: ImportOptions) -> MlwbError:
    """One clear MlwbError for a DuckDB error raised while reading ``path``."""
    text = str(exc)
    line = _LINE.search(text)
    where = f"{path.name}, line {line[1]}" if line else path.name
    if isinstance(exc, duckdb.IOException) and "No files found" in text:
        return MlwbError(
            f"{path} disappeared while it was being read",
            hint="check that the file is still there and import it again",
        )
    if fields := _FIELDS.search(text):
        expected, found = fields.groups()
        if int(found) < int(expected):
            hint = (
                "fix that line, or import with --pad-missing (fill short rows with nulls) "
                "or --ignore-errors (skip malformed rows)"
            )
        else:
            hint = (
                "quote values that contain the delimiter, or import with --ignore-errors "
                "(skip malformed rows)"
            )
        return CsvDataError(
            f"{where}: has {found} fields but the header has {expected} "
            f"(delimiter {_show(options.delimiter or ',')!r})",
            hint=hint,
        )
    if "unterminated quote" in text.lower():
        return CsvDataError(
            f"{where}: a value has an unterminated quote",
            hint="close the quote in the file, or import with --quote '' (treat quotes as "
            "text) or --ignore-errors (skip malformed rows)",
        )
    if "Invalid unicode" in text or "not utf-8 encoded" in text:
        used = options.encoding or "utf-8"
        other = "latin-1" if used != "latin-1" else "utf-16"
        return CsvDataError(
            f"{where}: bytes that are not valid {used} text",
            hint=f"the file is probably in another encoding: import with --encoding {other}",
        )
    if convert := _CONVERT.search(text):
        sample = options.sample_size or 20480
        return CsvDataError(
            f"{where}: column {convert['col']!r} holds {convert['value']!r}, which is not "
            f"{convert['type']} (the type was guessed from the first {sample} rows)",
            hint=f"import with --null {convert['value']!r} if it marks a missing value, or "
            "--sample-size -1 to guess types from the whole file",
        )
    if "not possible to automatically detect the CSV" in text:
        return CsvDataError(
            f"{path.name}: cannot work out the CSV layout (rows have different numbers of "
            "fields, or quotes do not pair up)",
            hint="pass --delimiter and --quote explicitly; add --ignore-errors to skip bad rows",
        )
    if "Maximum line size" in text:
        return CsvDataError(
            f"{where}: the line is longer than DuckDB's 2 MB limit",
            hint="check the delimiter and quote settings; a missing line break joins lines",
        )
    return CsvDataError(
        f"{where}: {duckdb_message(exc)}",
        hint="check the file and the import options (--delimiter, --quote, --encoding, --skip)",
    )
