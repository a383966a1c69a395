"""``mlwb serve``: the local prediction server (FastAPI on uvicorn) for a bundle.

FastAPI, uvicorn and scikit-learn are imported when the command runs, so ``mlwb`` starts fast.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click

from app.cli import cli, debug_option

DEFAULT_PORT = 8000


@cli.command("serve")
@click.option(
    "--bundle", "-b", type=click.Path(path_type=Path), help="Bundle folder or .zip to serve."
)
@click.option(
    "--project",
    "-p",
    type=click.Path(path_type=Path),
    help="Project folder: serve its production bundle and log into the project.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (127.0.0.1: this machine only).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--max-body-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Largest request body accepted (larger: 413).",
)
@debug_option
def serve_command(
    bundle: Path | None, project: Path | None, host: str, port: int, max_body_mb: float
) -> None:
    """Deploy: serve a bundle over HTTP (POST /predict, GET /health, /contract, /metadata,
    /metrics, /docs) until Ctrl+C or SIGTERM; requests are logged for monitoring."""
    import uvicorn

    from app.cli_predict import production_bundle
    from app.services.bundle import load_bundle
    from app.services.prediction_log import PredictionLog, log_directory
    from app.services.serve import bind, is_loopback, make_app

    if (bundle is None) == (project is None):
        raise click.UsageError("give exactly one of --bundle PATH or --project P")
    store: Any = None
    if project is not None:
        from storage.db import ProjectStore

        path = production_bundle(project)
        store = ProjectStore.open(project)
    else:
        path = bundle  # type: ignore[assignment]
    loaded = load_bundle(path)
    directory = log_directory(store, loaded.path)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    if not is_loopback(host):
        click.echo(
            f"warning: listening on {host}, reachable from other machines; the server has no "
            "authentication (use --host 127.0.0.1 to serve this machine only)",
            err=True,
        )
    log = PredictionLog(directory, loaded)
    app = make_app(loaded, log, max_body_bytes=int(max_body_mb * 1024 * 1024))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"serving {loaded.path.name} (run {loaded.metadata.run_id}) on http://{shown}:{bound}"
    )
    click.echo(f"  docs: http://{shown}:{bound}/docs   log: {directory}   stop: Ctrl+C")
    # uvicorn re-raises the signal that stopped it once it is done; these handlers take it,
    # so the log is flushed and the command exits 0.
    stopped_by: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda s, _f: stopped_by.append(s))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        log.close()
    metrics = app.state.metrics.snapshot()
    click.echo(
        f"stopped: {metrics['requests']:,} request(s), {metrics['rows']:,} row(s), "
        f"{metrics['rejects']:,} rejected; log flushed to {directory}"
    )
