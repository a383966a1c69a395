"""The Deploy screen's tools that work on one registered version: the work line, the
try-it form, the predictor wheel and the local server.

Each tool runs one service call in a thread worker (opening a bundle, building a wheel,
starting or stopping the server); the work line says what is running and a failure shows the
service's message and hint. The server's request count is refreshed every second from its
in-memory statistics, and a running server is stopped when the screen goes away.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from textual import work
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from app.errors import MlwbError
from screens.base import StageScreen
from screens.deploy_data import DeployState, bundle_folder
from screens.deploy_dialogs import TryItModal
from screens.deploy_messages import BundleLoaded, ServerStarted, ServerStopped, WheelBuilt
from storage.registry import BundleVersion

VERSION_ACTIONS = {"promote", "try_it", "wheel"}
WORK_GROUPS = {"deploy-build", "deploy-registry", "deploy-load", "deploy-wheel", "deploy-server"}


class DeployTools(StageScreen):
    """Work line, try it, wheel and server of the highlighted version."""

    server_host = "127.0.0.1"
    server_port = 8000

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state: DeployState | None = None
        self.selected: int | None = None
        """The highlighted version."""
        self.busy = ""
        """What the running worker does ("" when idle)."""
        self.bundles: dict[int, Any] = {}
        """Opened bundles by version (a verified bundle never changes)."""
        self.wheels: dict[int, Path] = {}
        self.server: Any = None
        self.served: int | None = None
        self._poll: Timer | None = None

    def _version(self) -> BundleVersion | None:
        return self.state.version(self.selected) if self.state else None

    def _show_detail(self) -> None:
        """Show the highlighted version (the screen draws it)."""

    def on_unmount(self) -> None:
        if self._poll is not None:
            self._poll.stop()
        if self.server is not None:
            server, self.server = self.server, None
            with contextlib.suppress(Exception):  # leaving anyway; nothing to show it on
                server.stop()

    # -- work line ---------------------------------------------------------------------------

    def _begin(self, text: str) -> bool:
        if self.busy:
            self.notify(f"Wait: {self.busy}", severity="warning")
            return False
        self.busy = text
        self.query_one("#deploy-work").display = True
        self.query_one("#deploy-work-text", Static).update(text)
        self.refresh_bindings()
        return True

    def _end(self) -> None:
        self.busy = ""
        self.query_one("#deploy-work").display = False
        self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        done = event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
        if event.worker.group in WORK_GROUPS and done:
            self._end()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "serve":  # one key starts and stops: only one of the two shows
            if self.server is not None:
                return False
            return None if self.busy or self._version() is None else True
        if action == "stop_server":
            return (None if self.busy else True) if self.server is not None else False
        if action in {"build", "promote", "rollback", "wheel", "try_it"} and self.busy:
            return None
        if action in VERSION_ACTIONS and self._version() is None:
            return None
        return super().check_action(action, parameters)

    # -- try it ------------------------------------------------------------------------------

    def action_try_it(self) -> None:
        """Open the try-it form of the highlighted version."""
        v = self._version()
        if v is None:
            return
        if v.version in self.bundles:
            self._open_form(v.version)
        elif self._begin(f"Opening and verifying bundle v{v.version}…"):
            self._load(v)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="deploy-load",
        description="Opening the bundle",
    )
    def _load(self, v: BundleVersion) -> None:
        from app.services.bundle import load_bundle

        self.post_message(BundleLoaded(v.version, load_bundle(bundle_folder(self.mlwb.store, v))))

    def on_bundle_loaded(self, message: BundleLoaded) -> None:
        self.bundles[message.version] = message.bundle
        self._open_form(message.version)

    def _open_form(self, version: int) -> None:
        self.app.push_screen(TryItModal(self.bundles[version], f"bundle v{version}"))

    # -- wheel -------------------------------------------------------------------------------

    def action_wheel(self) -> None:
        """Build an installable wheel (``<name>_predictor``) of the highlighted version."""
        v = self._version()
        if v is not None and self._begin(f"Building the predictor wheel of v{v.version}…"):
            self._wheel(v)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="deploy-wheel",
        description="Building the wheel",
    )
    def _wheel(self, v: BundleVersion) -> None:
        try:
            from app.services.wheel import build_wheel
        except ImportError as exc:
            raise MlwbError("building a wheel is not available in this mlwb") from exc
        path = build_wheel(bundle_folder(self.mlwb.store, v))  # beside the bundle, as the CLI
        self.post_message(WheelBuilt(v.version, Path(path)))

    def on_wheel_built(self, message: WheelBuilt) -> None:
        self.wheels[message.version] = message.path
        self.notify(
            f"Wheel of v{message.version}: {message.path}", title="Built", markup=False, timeout=8
        )
        self._show_detail()

    # -- server ------------------------------------------------------------------------------

    def action_serve(self) -> None:
        """Start the local prediction server for the highlighted version."""
        v = self._version()
        if (
            self.server is None
            and v is not None
            and self._begin(f"Starting the server for v{v.version}…")
        ):
            self._start_server(v)

    def action_stop_server(self) -> None:
        """Stop the running local prediction server."""
        if self.server is not None and self._begin("Stopping the server…"):
            self._stop_server(self.server, self.served or 0)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="deploy-server",
        description="Starting the server",
    )
    def _start_server(self, v: BundleVersion) -> None:
        try:
            from app.services.serve import BackgroundServer
        except ImportError as exc:
            raise MlwbError("the local server is not available in this mlwb") from exc
        from app.services.prediction_log import log_directory

        store = self.mlwb.store
        folder = bundle_folder(store, v)
        server = BackgroundServer(
            self.bundles.get(v.version, folder),
            self.server_host,
            self.server_port,
            log_directory(store, folder),
        )
        server.start()
        self.post_message(ServerStarted(v.version, server))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="deploy-server",
        description="Stopping the server",
    )
    def _stop_server(self, server: Any, version: int) -> None:
        server.stop()
        self.post_message(ServerStopped(version))

    def on_server_started(self, message: ServerStarted) -> None:
        if not self.is_attached:
            message.server.stop()
            return
        self.server = message.server
        self.served = message.version
        self.notify(f"Serving v{message.version} at {message.server.url}", markup=False)
        self._poll = self.set_interval(1.0, self._show_server)
        self._show_server()
        self.refresh_bindings()

    def on_server_stopped(self, message: ServerStopped) -> None:
        self.server = None
        self.served = None
        if self._poll is not None:
            self._poll.stop()
            self._poll = None
        self.notify(f"Server of v{message.version} stopped.", markup=False)
        self._show_server()
        self.refresh_bindings()

    def _show_server(self) -> None:
        line = self.query_one("#server-line", Static)
        line.set_class(self.server is not None, "-on")
        if self.server is None:
            where = f"http://{self.server_host}:{self.server_port}"
            line.update(
                f"Server off · s serves the highlighted version at {where}"
                if self.state is not None and self.state.versions
                else "Server off · once a bundle is built, s serves it on this machine"
            )
            return
        text = f"Serving v{self.served} at {self.server.url}"
        try:
            stats = self.server.stats()
        except Exception as exc:  # noqa: BLE001 - the line says so; the server may be ending
            line.update(f"{text} · no statistics: {exc}")
            return
        line.update(f"{text} · {_stats_text(stats)} · s stops it")


def _stat(stats: Any, name: str) -> Any:
    return stats.get(name) if isinstance(stats, dict) else getattr(stats, name, None)


def _stats_text(stats: Any) -> str:
    """``12 requests · 1 rejected · p99 3.1 ms`` from the server's statistics."""
    requests = _stat(stats, "requests") or 0
    parts = [f"{requests:,} request{'s' if requests != 1 else ''}"]
    rejects = _stat(stats, "rejects")
    if rejects:
        parts.append(f"{rejects:,} rejected")
    p99 = _stat(stats, "p99_ms")
    if isinstance(p99, int | float):
        parts.append(f"p99 {p99:.1f} ms")
    return " · ".join(parts)
