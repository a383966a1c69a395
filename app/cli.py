"""The ``mlwb`` command line: every lifecycle action headless, plus the TUI launcher.

Conventions on every command: ``--project PATH`` (default: the current folder), ``--json`` for
machine-readable output, ``--debug`` for tracebacks. Exit 0 on success, 1 with one line on
stderr on failure, 2 for usage errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from app.errors import MlwbError

F = TypeVar("F", bound=Callable[..., Any])


def project_option(func: F) -> F:
    """``--project PATH``, defaulting to the current folder."""
    return click.option(
        "--project",
        "-p",
        "project",
        type=click.Path(path_type=Path),
        default=Path("."),
        show_default="current folder",
        help="Project folder.",
    )(func)


def json_option(func: F) -> F:
    """``--json`` for machine-readable output on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def debug_option(func: F) -> F:
    """``--debug``: show tracebacks (read in ``main`` before the command runs)."""
    return click.option("--debug", is_flag=True, expose_value=False, help="Show tracebacks.")(func)


def emit(data: Any, as_json: bool, text: str | Callable[[], str]) -> None:
    """Print ``data`` as JSON or ``text`` for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        click.echo(text() if callable(text) else text)


class MlwbGroup(click.Group):
    """A group where ``mlwb PATH`` means ``mlwb open PATH``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["open", *args]
        return super().parse_args(ctx, args)


@click.group(cls=MlwbGroup, invoke_without_command=True)
@click.version_option(package_name="mlwb", prog_name="mlwb")
@debug_option
@click.pass_context
def cli(ctx: click.Context) -> None:
    """mlwb — the machine-learning lifecycle workbench for the terminal.

    Run `mlwb demo` for a ready-made project, `mlwb new PATH` to start one, or `mlwb PATH`
    to open one. Every stage also works headless; see the commands below.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _open(path: Path) -> Any:
    from storage.db import ProjectStore

    return ProjectStore.open(path)


def _run_tui(store: Any) -> None:
    from app.tui import MlwbApp

    MlwbApp(store).run()


@cli.command("new")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", "-n", help="Project name (default: the folder name).")
@click.option("--open/--no-open", "open_after", default=False, help="Open the TUI afterwards.")
@json_option
@debug_option
def new_command(path: Path, name: str | None, open_after: bool, as_json: bool) -> None:
    """Create a project folder (project.duckdb + artifacts/) at PATH."""
    from storage.db import ProjectStore

    store = ProjectStore.create(path, name or path.resolve().name)
    emit(
        {"project": str(store.root), "name": name or path.resolve().name},
        as_json,
        f"created project {name or path.resolve().name!r} in {store.root}\n"
        f"next: mlwb open {path}   (or: mlwb problem set --project {path} ...)",
    )
    if open_after:
        _run_tui(store)


@cli.command("open")
@click.argument("path", type=click.Path(path_type=Path), default=Path("."))
@debug_option
def open_command(path: Path) -> None:
    """Open the project at PATH (default: current folder) in the TUI."""
    _run_tui(_open(path))


@cli.command("demo")
@click.option(
    "--dataset",
    type=click.Choice(["adult", "bikes"]),
    default="adult",
    show_default=True,
    help="Which demo: adult (binary classification) or bikes (regression over time).",
)
@click.option("--reset", is_flag=True, help="Delete the demo project and build it again.")
@click.option(
    "--path",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the demo project lives (default: $MLWB_HOME or ~/.local/share/mlwb/demo-NAME).",
)
@click.option("--open/--no-open", "open_after", default=True, help="Open the TUI (default).")
@json_option
@debug_option
def demo_command(
    dataset: str, reset: bool, path: Path | None, open_after: bool, as_json: bool
) -> None:
    """Create (once) and open a demo project built from the sample data."""
    from app.services.demo import ensure_demo

    store = ensure_demo(dataset, path, reset=reset)
    if open_after:
        _run_tui(store)
    else:
        emit(
            {"project": str(store.root), "dataset": dataset}, as_json, f"demo project: {store.root}"
        )


@cli.command("status")
@project_option
@json_option
@debug_option
def status_command(project: Path, as_json: bool) -> None:
    """Print the lifecycle state of every stage."""
    from app.services.lifecycle import stage_statuses
    from storage import repositories as repo

    store = _open(project)
    statuses = stage_statuses(store)
    with store.connect() as con:
        info = repo.project_info(con)

    def text() -> str:
        lines = [f"{info.name}  ({store.root})"]
        for s in statuses:
            lines.append(
                f"  {s.stage.number} {s.stage.title:<9} {s.state.glyph} {s.state.value:<9} {s.summary}"
            )
            if s.next_step and s.state.value != "done":
                lines.append(f"{'':16}next: {s.next_step}")
        return "\n".join(lines)

    emit(
        {
            "project": info.model_dump(mode="json") | {"path": str(store.root)},
            "stages": [s.model_dump(mode="json") for s in statuses],
        },
        as_json,
        text,
    )


@cli.command("events")
@project_option
@click.option("--limit", default=20, show_default=True, help="How many events, newest first.")
@json_option
@debug_option
def events_command(project: Path, limit: int, as_json: bool) -> None:
    """Print the project's audit trail."""
    from storage import repositories as repo

    store = _open(project)
    with store.connect() as con:
        events = repo.list_events(con, limit)
    emit(
        [e.model_dump(mode="json") for e in events],
        as_json,
        lambda: "\n".join(
            f"{e.id:>5}  {e.at:%Y-%m-%d %H:%M:%S}  {e.stage:<8} {e.action:<16} {e.summary}"
            for e in events
        ),
    )


from app import cli_problem  # noqa: E402  (registers the `problem` group)

cli.add_command(cli_problem.problem)

from app import cli_data  # noqa: E402  (registers the `data` group)

cli.add_command(cli_data.data)

from app import cli_eda  # noqa: E402  (registers the `eda` group)

cli.add_command(cli_eda.eda)

from app import cli_lesson  # noqa: E402  (registers the `lesson` group)

cli.add_command(cli_lesson.lesson)

# cli_clean adds the recipe commands to `data`; the others register their stage commands.
from app import (  # noqa: E402,F401
    cli_clean,
    cli_deploy,
    cli_evaluate,
    cli_monitor,
    cli_predict,
    cli_report,
    cli_retrain,
    cli_serve,
    cli_train,
)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into one line and exit code 1."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="mlwb", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except MlwbError as exc:
        if debug:
            raise
        click.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} — rerun with --debug", err=True)
        sys.exit(1)
