"""``mlwb data``: import files, list datasets, show rows and column summaries, set roles."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from app.cli import debug_option, emit, json_option, project_option

WIDTH = 80
CELL = 16


@click.group("data")
def data() -> None:
    """Stage 2: import data, look at it, and set column roles."""


def _store(project: Path) -> Any:
    from storage.db import ProjectStore

    return ProjectStore.open(project)


def _cell(value: Any, width: int = CELL) -> str:
    text = "∅" if value is None else str(value)
    text = text.replace("\n", "⏎").replace("\r", "").replace("\t", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table_text(headers: list[str], rows: list[list[Any]], width: int = WIDTH) -> str:
    """A plain table that fits ``width`` columns; columns that do not fit are named below.

    Cells are cut at ``CELL`` characters, except in the last column shown, which may use the
    rest of the line.
    """
    raw = [[_cell(v, width) for v in row] for row in rows]
    heads = [_cell(h, width) for h in headers]
    full = [max([len(h), *(len(r[i]) for r in raw)]) for i, h in enumerate(heads)]
    widths = [min(w, CELL) for w in full]
    shown, used = 0, 0
    for w in widths:
        if shown and used + w + 2 > width:
            break
        used += w + 2
        shown += 1
    if shown:
        before = used - widths[shown - 1] - 2
        widths[shown - 1] = max(widths[shown - 1], min(full[shown - 1], width - before))

    def line(values: list[str]) -> str:
        cut = [_cell(v, widths[i]).ljust(widths[i]) for i, v in enumerate(values[:shown])]
        return "  ".join(cut).rstrip()

    out = [line(heads), line(["-" * w for w in widths]), *(line(r) for r in raw)]
    if shown < len(headers):
        hidden = ", ".join(headers[shown:])
        out.append(f"({len(headers) - shown} more columns: {_cell(hidden, width - 22)})")
    return "\n".join(out)


def wrap(text: str, width: int = WIDTH) -> str:
    """``text`` folded to ``width`` columns, continuation lines indented."""
    return textwrap.fill(text, width, subsequent_indent="    ", break_on_hyphens=False)


def _options(flags: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from app.domain.dataset import ImportOptions
    from app.errors import MlwbError

    try:
        return ImportOptions(
            delimiter=flags["delimiter"],
            quote=flags["quote"],
            escape=flags["escape"],
            decimal=flags["decimal"],
            encoding=flags["encoding"],
            header=flags["header"],
            skip_rows=flags["skip"],
            null_markers=list(flags["null"]),
            sample_size=flags["sample_size"],
            ignore_errors=flags["ignore_errors"],
            null_padding=flags["pad_missing"],
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MlwbError(
            f"bad import option {first['loc'][0]}: {first['msg']}",
            hint="see mlwb data import --help",
        ) from None


def _progress_printer() -> Any:
    """Progress on stderr when it is a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(fraction: float, message: str) -> None:
        sys.stderr.write(f"\r{fraction:4.0%}  {message[:60]:<60}")
        if fraction >= 1:
            sys.stderr.write("\r" + " " * 70 + "\r")
        sys.stderr.flush()

    return show


@data.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@project_option
@click.option("--name", "-n", help="Dataset name (default: from the file name).")
@click.option(
    "--delimiter", "-d", help="Field separator, e.g. ';', '\\t', ', ' (default: detected)."
)
@click.option("--quote", help="Quote character; '' for none (default: detected).")
@click.option("--escape", help="Escape character inside quotes (default: detected).")
@click.option("--decimal", type=click.Choice([".", ","]), help="Decimal separator.")
@click.option(
    "--encoding", type=click.Choice(["utf-8", "latin-1", "utf-16"]), help="Text encoding."
)
@click.option("--header/--no-header", default=None, help="First line holds column names.")
@click.option("--skip", type=click.IntRange(min=0), help="Lines to skip before the header.")
@click.option("--null", multiple=True, help="A string meaning missing, e.g. '?' (repeatable).")
@click.option("--sample-size", type=click.IntRange(min=-1), help="Rows to guess types (-1: all).")
@click.option("--ignore-errors", is_flag=True, help="Skip malformed rows instead of failing.")
@click.option("--pad-missing", is_flag=True, help="Fill rows with too few fields with nulls.")
@click.option("--table", help="Table to import from a DuckDB or SQLite file.")
@click.option("--force", is_flag=True, help="Import a file again that was already imported.")
@click.option("--preview", is_flag=True, help="Show what would be imported; change nothing.")
@json_option
@debug_option
def import_(
    file: Path,
    project: Path,
    name: str | None,
    table: str | None,
    force: bool,
    preview: bool,
    as_json: bool,
    **flags: Any,
) -> None:
    """Import FILE (CSV/TSV, Parquet, JSON/NDJSON, DuckDB, SQLite) as a new dataset."""
    from app.services import ingest

    options = _options(flags)
    if preview:
        shown = ingest.preview_import(file, options, table=table)
        emit(shown.model_dump(mode="json"), as_json, lambda: _preview_text(shown))
        return
    store = _store(project)
    version = ingest.import_file(
        store,
        file,
        name=name,
        options=options,
        table=table,
        on_progress=None if as_json else _progress_printer(),
        force=force,
    )
    from app.services.roles import column_roles

    roles = column_roles(store, version.name)
    emit(
        version.model_dump(mode="json") | {"roles": {c: r.value for c, r in roles.items()}},
        as_json,
        lambda: _imported_text(version, roles),
    )


def _preview_text(shown: Any) -> str:
    given = shown.options.model_dump(exclude_defaults=True)
    described = ", ".join(f"{k}={v!r}" for k, v in given.items()) or "defaults"
    rows = f"{shown.n_rows:,} rows" if shown.n_rows is not None else "rows not counted (big file)"
    lines = [
        f"{Path(shown.path).name}: {shown.kind.value}, {rows} x {len(shown.columns)} columns",
        wrap(f"read with: {described}"),
    ]
    if shown.tables:
        lines.append(f"tables: {', '.join(shown.tables)}")
    if shown.blocking_error:
        lines.append(wrap(f"import would fail: {shown.blocking_error}"))
    lines += [wrap(f"warning: {w}") for w in shown.warnings]
    lines.append("")
    lines.append(table_text(["column", "type"], [[c, t] for c, t in shown.columns], WIDTH))
    lines.append("")
    headers = [c for c, _ in shown.columns]
    lines.append(table_text(headers, [[r.get(h) for h in headers] for r in shown.rows[:10]]))
    return "\n".join(lines)


def _imported_text(version: Any, roles: dict[str, Any]) -> str:
    lines = [
        wrap(
            f"imported {Path(version.source_path).name} as {version.ref}: "
            f"{version.n_rows:,} rows x {version.n_cols} columns (table {version.table_name})"
        )
    ]
    lines += [wrap(f"warning: {w}") for w in version.warnings]
    special = [f"{c}={r.value}" for c, r in roles.items() if r.value != "feature"]
    lines.append(wrap(f"roles: {', '.join(special) if special else 'all columns are features'}"))
    lines.append(f"next: mlwb data show {version.name}   mlwb data roles --set COLUMN=ROLE")
    return "\n".join(lines)


@data.command("list")
@project_option
@click.option("--dataset", help="Only the versions of this dataset.")
@json_option
@debug_option
def list_(project: Path, dataset: str | None, as_json: bool) -> None:
    """List datasets and their versions (* marks the current dataset and version)."""
    from app.services import browse

    store = _store(project)
    versions = [v for v in browse.list_datasets(store) if dataset in (None, v.name)]
    current = browse.current_dataset(store)
    current_ref = current.ref if current else None

    def text() -> str:
        if not versions:
            return "no datasets yet; import one with: mlwb data import FILE"
        rows = [
            [
                ("* " if v.ref == current_ref else "  ") + v.ref,
                f"{v.n_rows:,}",
                v.n_cols,
                v.kind.value if v.kind else "recipe",
                f"{v.created_at:%Y-%m-%d %H:%M}" if v.created_at else "",
                Path(v.source_path).name if v.source_path else f"from v{v.parent_version}",
            ]
            for v in versions
        ]
        return table_text(["dataset", "rows", "cols", "kind", "created", "source"], rows)

    emit(
        {
            "current": current_ref,
            "datasets": [v.model_dump(mode="json") for v in versions],
        },
        as_json,
        text,
    )


@data.command("show")
@click.argument("dataset", required=False)
@project_option
@click.option("--rows", "limit", type=click.IntRange(0, 10_000), default=10, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--where", help="""A filter, e.g. "age > 40 AND sex = ' Male'".""")
@click.option("--sort", help="Sort by this column (nulls last).")
@click.option("--desc", is_flag=True, help="Sort descending.")
@click.option("--columns", "summary", is_flag=True, help="Show a summary per column instead.")
@json_option
@debug_option
def show(
    dataset: str | None,
    project: Path,
    limit: int,
    offset: int,
    where: str | None,
    sort: str | None,
    desc: bool,
    summary: bool,
    as_json: bool,
) -> None:
    """Show rows of DATASET[@VERSION] (default: the current dataset)."""
    from app.services import browse

    store = _store(project)
    version = browse.resolve(store, dataset)
    if summary:
        columns = browse.column_summary(store, version.name, version.version)
        emit(
            {"dataset": version.ref, "columns": [c.model_dump(mode="json") for c in columns]},
            as_json,
            lambda: _summary_text(version, columns),
        )
        return
    frame = browse.page(store, version.name, version.version, offset, limit, sort, desc, where)
    matching = browse.row_count(store, version.name, version.version, where) if where else None
    records = frame.to_dicts()

    def text() -> str:
        count = f"{version.n_rows:,} rows x {version.n_cols} columns"
        if matching is not None:
            count += f", {matching:,} match the filter"
        head = f"{version.ref}: {count}"
        if not records:
            return f"{head}\n(no rows at offset {offset})"
        end = offset + len(records)
        return f"{head}; rows {offset + 1}-{end}\n" + table_text(
            frame.columns, [list(r.values()) for r in records]
        )

    emit(
        {
            "dataset": version.ref,
            "offset": offset,
            "matching": matching if matching is not None else version.n_rows,
            "rows": records,
        },
        as_json,
        text,
    )


def _summary_text(version: Any, columns: list[Any]) -> str:
    approx = " (distinct counts approximate)" if columns and columns[0].distinct_approx else ""
    rows = []
    for c in columns:
        if c.min is not None:
            values = f"{c.min} .. {c.max}"
        else:
            values = ", ".join(f"{_cell(v, 12)} ({n})" for v, n in c.top_values[:2])
        rows.append([c.name, c.type, c.role.value, f"{c.missing_pct:g}%", c.distinct, values])
    head = f"{version.ref}: {version.n_rows:,} rows x {version.n_cols} columns{approx}"
    return (
        head
        + "\n"
        + table_text(["column", "type", "role", "missing", "distinct", "range / top values"], rows)
    )


@data.command("roles")
@click.argument("dataset", required=False)
@project_option
@click.option(
    "--set",
    "changes",
    multiple=True,
    metavar="COL=ROLE",
    help="Set a role: feature, target, id, time or ignore (repeatable).",
)
@json_option
@debug_option
def roles(dataset: str | None, project: Path, changes: tuple[str, ...], as_json: bool) -> None:
    """Show (or --set) the role of each column of DATASET (default: the current dataset)."""
    from app.errors import MlwbError
    from app.services import browse
    from app.services.roles import set_roles
    from storage import datasets as ds

    store = _store(project)
    version = browse.resolve(store, dataset)
    parsed: dict[str, str] = {}
    for change in changes:
        column, sep, role = change.rpartition("=")
        if not sep or not column:
            raise MlwbError(
                f"cannot read --set {change!r}", hint="write COLUMN=ROLE, e.g. income=target"
            )
        parsed[column] = role
    result = set_roles(store, version.name, parsed)
    with store.connect() as con:
        types = dict(ds.table_columns(con, version.table_name))
    emit(
        {"dataset": version.name, "roles": {c: r.value for c, r in result.items()}},
        as_json,
        lambda: table_text(
            ["column", "type", "role"], [[c, types.get(c, "?"), r.value] for c, r in result.items()]
        ),
    )


@data.command("use")
@click.argument("dataset")
@project_option
@json_option
@debug_option
def use(dataset: str, project: Path, as_json: bool) -> None:
    """Make DATASET the project's current dataset."""
    from app.domain.dataset import parse_ref
    from app.services.ingest import use_dataset

    version = use_dataset(_store(project), parse_ref(dataset)[0])
    emit(version.model_dump(mode="json"), as_json, f"current dataset: {version.ref}")
