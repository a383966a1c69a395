"""``mlwb report``: the lifecycle report of the whole project as Markdown and self-contained HTML.

Importing this module registers the command on ``app.cli.cli``; the report service (which reads
every stage's records and so loads scikit-learn) is imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from app.cli import cli, debug_option, emit, json_option, project_option


@cli.command("report")
@click.option(
    "--output",
    "-o",
    "md_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Markdown file to write (default: report.md in the project folder).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a self-contained HTML file (opens offline).",
)
@project_option
@json_option
@debug_option
def report_command(
    md_path: Path | None, html_path: Path | None, project: Path, as_json: bool
) -> None:
    """Write one document of the whole project: charter, data, profile, leaderboard,
    evaluation and gate, model card, registry, monitoring and retraining."""
    from app.services.report import NOT_STARTED, write_report
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    md_target = md_path or store.root / "report.md"
    report = write_report(store, md_target, html_path)
    sections = [{"key": s.key, "title": s.title, "state": s.state} for s in report.sections]
    waiting = [s["title"] for s in sections if s["state"] == NOT_STARTED]
    lines = [f"wrote {md_target}"] + ([f"wrote {html_path}"] if html_path else [])
    lines.append(
        f"{len(sections) - len(waiting)} of {len(sections)} sections filled"
        + (f"; not started: {', '.join(waiting)}" if waiting else "")
    )
    emit(
        {
            "markdown": str(md_target),
            "html": str(html_path) if html_path else None,
            "sections": sections,
        },
        as_json,
        "\n".join(lines),
    )
