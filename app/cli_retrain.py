"""``mlwb retrain [--batches 3,4 | --window 90d]``, ``mlwb retrain compare``, ``mlwb retrain
promote``: a challenger trained on fresher data against the production champion.

Importing this module registers the ``retrain`` group on ``app.cli.cli``. The retrain service
(which trains, so it loads scikit-learn) is imported when a command runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from app.cli import cli, debug_option, emit, json_option, project_option
from app.cli_data import _progress_printer, wrap
from app.errors import MlwbError
from storage.db import ProjectStore

_WINDOW = re.compile(r"^\s*(\d+)\s*d?\s*$", re.IGNORECASE)


def _svc() -> Any:
    from app.services import retrain

    return retrain


def parse_batches(text: str | None) -> list[int] | None:
    """``3,4`` -> [3, 4]; None stays None (every labelled batch)."""
    if text is None:
        return None
    try:
        ids = [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError:
        raise MlwbError(
            f"--batches takes batch ids separated by commas, not {text!r}", hint="e.g. 3,4"
        ) from None
    if not ids:
        raise MlwbError("--batches names no batch", hint="e.g. --batches 3,4")
    return ids


def parse_window(text: str | None) -> int | None:
    """``90d`` (or ``90``) -> 90 days."""
    if text is None:
        return None
    found = _WINDOW.match(text)
    if found is None:
        raise MlwbError(f"--window takes days such as 90d, not {text!r}", hint="e.g. --window 90d")
    return int(found.group(1))


@cli.group("retrain", invoke_without_command=True)
@project_option
@click.option("--batches", metavar="IDS", help="Labelled batches to add, e.g. 3,4 (default: all).")
@click.option("--window", metavar="DAYS", help="Train on the most recent data only, e.g. 90d.")
@click.option(
    "--compare-on",
    type=int,
    metavar="BATCH",
    help="Batch held out for the comparison (default: the latest selected one).",
)
@click.option("--rerun-leaderboard", is_flag=True, help="Run the quick preset, keep the best.")
@click.option(
    "--margin",
    type=float,
    default=0.0,
    show_default=True,
    help="Promote when the challenger is not worse by more than this (metric units).",
)
@click.option("--resamples", type=int, default=1000, show_default=True, help="Bootstrap size.")
@json_option
@debug_option
@click.pass_context
def retrain(
    ctx: click.Context,
    project: Path,
    batches: str | None,
    window: str | None,
    compare_on: int | None,
    rerun_leaderboard: bool,
    margin: float,
    resamples: int,
    as_json: bool,
) -> None:
    """Train a challenger on the original data plus labelled batches (or a recent window),
    compare it with the production champion on a held-out batch and decide.

    The latest selected batch is held out for the comparison. The decision is PROMOTE when
    the challenger's gate passes and the 95% paired-bootstrap interval of its difference to
    the champion is on the challenger's side of -margin; promote it with
    `mlwb retrain promote`.
    """
    if ctx.invoked_subcommand is not None:
        return
    ids = parse_batches(batches)
    days = parse_window(window)
    store = ProjectStore.open(project)
    comparison = _svc().retrain(
        store,
        batches=ids,
        window_days=days,
        compare_on=compare_on,
        rerun_leaderboard=rerun_leaderboard,
        margin=margin,
        resamples=resamples,
        on_progress=None if as_json else _progress_printer(),
    )
    emit(comparison.model_dump(mode="json"), as_json, lambda: _text(comparison))


def _text(comparison: Any) -> str:
    lines = [wrap(line) for line in comparison.text().splitlines()]
    lineage = comparison.lineage
    lines.append(
        wrap(
            f"Challenger data: {lineage.get('dataset')} (batches "
            f"{', '.join(map(str, lineage.get('batches') or [])) or 'none'}"
            + (f", last {lineage['window']['days']} days" if lineage.get("window") else "")
            + f"; charter v{lineage.get('charter_version')})"
        )
    )
    if comparison.decision == "promote":
        lines.append("Next: mlwb retrain promote")
    return "\n".join(lines)


@retrain.command("compare")
@project_option
@json_option
@debug_option
def retrain_compare(project: Path, as_json: bool) -> None:
    """Show the last champion/challenger comparison and its decision."""
    store = ProjectStore.open(project)
    comparison = _svc().last_comparison(store)
    emit(comparison.model_dump(mode="json"), as_json, lambda: _text(comparison))


@retrain.command("promote")
@project_option
@click.option(
    "--override",
    metavar="REASON",
    help="Promote although the comparison decided to keep the champion, recording why.",
)
@json_option
@debug_option
def retrain_promote(project: Path, override: str | None, as_json: bool) -> None:
    """Deploy the last comparison's challenger and make it production."""
    store = ProjectStore.open(project)
    version = _svc().promote(store, override)
    emit(
        version.model_dump(mode="json"),
        as_json,
        f"bundle v{version.version} (run {version.run_id}) is production; "
        "undo with: mlwb registry rollback",
    )


@retrain.command("shadow")
@click.argument("action", type=click.Choice(["status", "start", "stop"]), default="status")
@project_option
@click.option(
    "--override",
    metavar="REASON",
    help="Shadow a challenger whose gate did not pass, recording why.",
)
@json_option
@debug_option
def retrain_shadow(project: Path, action: str, override: str | None, as_json: bool) -> None:
    """Score the last comparison's challenger beside production on the next labelled batches
    (start), show the evidence per batch (status), or stop. `retrain promote` then promotes
    the shadowed bundle itself."""
    from app.services import shadow

    store = ProjectStore.open(project)
    if action == "start":
        version = shadow.start(store, override)
        emit(
            version.model_dump(mode="json"),
            as_json,
            f"bundle v{version.version} (run {version.run_id}) is shadowed: every labelled batch "
            "added with mlwb monitor add --label-column is scored by both models",
        )
    elif action == "stop":
        version = shadow.stop(store)
        emit({"stopped": version}, as_json, f"stopped shadowing bundle v{version}")
    else:
        rows = shadow.results(store)
        emit(
            {
                "version": shadow.current(store),
                "batches": [
                    {"batch": b, "name": n, **r.model_dump(mode="json")} for b, n, r in rows
                ],
            },
            as_json,
            lambda: shadow.summary(store),
        )
