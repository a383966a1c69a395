"""``mlwb predict``: score a CSV, Parquet or NDJSON file with a bundle, in chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.cli import cli, debug_option, emit, json_option
from app.cli_data import _progress_printer
from app.errors import MlwbError

NO_PRODUCTION = "no production bundle; deploy and promote first"


def production_bundle(project: Path) -> Path:
    """The production bundle of the project at ``project`` (a clear error when none)."""
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    try:
        from app.services import registry
    except ImportError as exc:
        raise MlwbError(NO_PRODUCTION, hint="mlwb deploy, then mlwb registry promote V") from exc
    try:
        path = registry.production_bundle(store)
    except MlwbError:
        raise
    except Exception as exc:  # the registry table or function is missing (older project)
        raise MlwbError(NO_PRODUCTION, hint="mlwb deploy, then mlwb registry promote V") from exc
    if path is None:
        raise MlwbError(NO_PRODUCTION, hint="mlwb deploy, then mlwb registry promote V")
    return Path(path)


def summary_text(s: Any) -> str:
    """The summary of a batch for people."""
    lines = [
        f"rows in:       {s.rows_in:,}",
        f"rows scored:   {s.rows_scored:,}",
        f"rows rejected: {s.rows_rejected:,}"
        + (f"  (reasons in {s.rejects})" if s.rows_rejected else ""),
        f"rows flagged:  {s.flagged:,}  (scored; out of range or unseen category)",
        f"time:          {s.seconds:.2f} s ({s.rows_per_second:,.0f} rows/s)",
        f"predictions:   {s.output}" + (f" (ID column {s.id_column})" if s.id_column else ""),
    ]
    if s.ignored_columns:
        lines.append("ignored columns: " + ", ".join(s.ignored_columns))
    return "\n".join(lines)


@cli.command("predict")
@click.option(
    "--bundle", "-b", type=click.Path(path_type=Path), help="Bundle folder or .zip to score with."
)
@click.option(
    "--project",
    "-p",
    type=click.Path(path_type=Path),
    help="Project folder: score with its production bundle.",
)
@click.option(
    "--input",
    "-i",
    "input_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV, Parquet or NDJSON file to score.",
)
@click.option(
    "--output",
    "-o",
    "output_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Predictions file (.csv, .parquet or .ndjson).",
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(path_type=Path),
    help="Rejected rows with reasons (default: <output stem>.rejects.csv).",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Rows read and scored at a time (bounds memory; default 250,000).",
)
@json_option
@debug_option
def predict_command(
    bundle: Path | None,
    project: Path | None,
    input_path: Path,
    output_path: Path,
    rejects_path: Path | None,
    chunk_rows: int | None,
    as_json: bool,
) -> None:
    """Deploy: score a file with a bundle; rows breaking the contract go to a rejects file."""
    from app.services.predict import CHUNK_ROWS, predict_file

    if (bundle is None) == (project is None):
        raise click.UsageError("give exactly one of --bundle PATH or --project P")
    from app.services.prediction_log import log_directory
    from storage.db import ProjectStore

    path = bundle if bundle is not None else production_bundle(project)  # type: ignore[arg-type]
    store = ProjectStore.open(project) if project is not None else None
    s = predict_file(
        path,
        input_path,
        output_path,
        rejects_path,
        chunk_rows=chunk_rows or CHUNK_ROWS,
        on_progress=None if as_json else _progress_printer(),
        log_dir=log_directory(store, path),
    )
    data = s._asdict() | {
        "bundle": str(path),
        "output": str(s.output),
        "rejects": str(s.rejects),
        "rows_per_second": s.rows_per_second,
        "ignored_columns": list(s.ignored_columns),
    }
    emit(data, as_json, lambda: summary_text(s))
