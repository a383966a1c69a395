"""Stage 6: build a verified bundle of the chosen run, keep versions in a registry, try one
row, promote, roll back, build a wheel and serve a version locally.

The registry shows at once (read without the ML libraries). Building, promoting, rolling
back, loading a bundle, building a wheel and starting or stopping the server each run one
service call in a thread worker; the work line under the table says what is running, and a
failure shows the service's message and hint and changes nothing. A running server is
stopped when the screen goes away (the app exits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, ProgressBar, Static
from textual.widgets.data_table import ColumnKey

from app.domain.stages import Stage
from screens.deploy_data import (
    metric_header,
    next_step,
    read_state,
    registry_row,
    version_detail,
)
from screens.deploy_messages import (
    BundleBuilt,
    DeployStateRead,
    RegistryChanged,
)
from screens.deploy_tools import DeployTools
from screens.modals import ConfirmModal, ReasonModal
from storage import registry

COLUMNS = ("version", "run", "model", "metric", "gate", "alias", "created")
COLUMN_LABELS = {
    "version": "ver",
    "metric": "metric [95% CI]",
    # As wide as the widest alias from the first frame: the table widens a column only once
    # it has measured the new cells, and a re-filled row could show "productio" until then.
    "alias": "alias".ljust(max(map(len, registry.ALIASES))),
}


class DeployScreen(DeployTools):
    """Registry table, version detail, build / wheel / promote / rollback / try it / serve."""

    stage = Stage.DEPLOY

    SCOPED_CSS = False  # the rules follow the app's -narrow / -wide breakpoint classes
    DEFAULT_CSS = """
    #deploy-state { margin: 0 1; }
    #deploy-main { height: 1fr; }
    #registry-table { width: auto; max-width: 70%; height: 1fr; }
    #deploy-detail-box { width: 1fr; height: 1fr; padding: 0 1; border-left: vkey $panel; }
    .-narrow #deploy-main { layout: vertical; }
    .-narrow #registry-table { width: 1fr; max-width: 100%; height: auto; max-height: 50%; }
    .-narrow #deploy-detail-box {
        width: 1fr; height: 1fr; border-left: none; border-top: hkey $panel;
    }
    #deploy-main.-empty #registry-table { display: none; }
    #deploy-main.-empty #deploy-detail-box { width: 1fr; height: 1fr; border: none; }
    #deploy-work { height: 1; padding: 0 1; }
    #deploy-bar { width: 20; }
    #deploy-work-text { width: 1fr; padding-left: 1; }
    #server-line { height: 1; padding: 0 1; background: $panel; }
    #server-line.-on { color: $success; text-style: bold; }
    """

    BINDINGS = [
        Binding("b", "build", "Build", tooltip="Build a bundle of the chosen run", id="dep.build"),
        Binding(
            "p",
            "promote",
            "Promote",
            tooltip="Make the highlighted version production",
            id="dep.promote",
        ),
        Binding(
            "r",
            "rollback",
            "Rollback",
            tooltip="Production back to the previous version",
            id="dep.rollback",
        ),
        Binding("t", "try_it", "Try it", tooltip="Predict one row typed into a form", id="dep.try"),
        Binding(
            "s",
            "serve",
            "Serve",
            tooltip="Serve the highlighted version on this machine",
            id="dep.serve",
        ),
        Binding(
            "s",
            "stop_server",
            "Stop server",
            tooltip="Stop the local prediction server",
            id="dep.stop_server",
        ),
        Binding(
            "w", "wheel", "Wheel", tooltip="Build an installable predictor wheel", id="dep.wheel"
        ),
    ]

    def __init__(self) -> None:
        super().__init__(name=Stage.DEPLOY.value)

    def compose_body(self) -> ComposeResult:
        with Vertical(id="deploy-body", classes="stage-body"):
            yield Static("Reading the registry…", id="deploy-state", classes="state-box")
            with Horizontal(id="deploy-main"):
                yield DataTable(id="registry-table", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="deploy-detail-box"):
                    yield Static("", id="deploy-detail", markup=False)
            with Horizontal(id="deploy-work"):
                yield ProgressBar(
                    total=None, show_eta=False, show_percentage=False, id="deploy-bar"
                )
                yield Static("", id="deploy-work-text", markup=False)
            yield Static("", id="server-line", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#deploy-work").display = False
        table = self.query_one("#registry-table", DataTable)
        for name in COLUMNS:
            table.add_column(COLUMN_LABELS.get(name, name), key=name)
        self._show_server()
        self.query_one("#registry-table", DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load()

    # -- reading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the registry again (off the UI thread)."""
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="deploy-read")
    def _read(self) -> None:
        with self.read_lock:
            self.post_message(DeployStateRead(read_state(self.mlwb.store)))

    def on_deploy_state_read(self, message: DeployStateRead) -> None:
        if self.state is not None and message.state == self.state:
            return  # nothing changed (e.g. back from a dialog)
        self.state = message.state
        text, kind = next_step(message.state)
        box = self.query_one("#deploy-state", Static)
        box.update(text)
        for name in ("-locked", "-attention", "-current", "-done"):
            box.set_class(name == kind, name)
        self._fill_table()
        self._show_server()
        self.refresh_bindings()

    def _fill_table(self) -> None:
        assert self.state is not None
        table = self.query_one("#registry-table", DataTable)
        wanted = self.selected
        header = metric_header(self.state.versions)
        table.columns[ColumnKey("metric")].label = Text(header or COLUMN_LABELS["metric"])
        table.clear()
        for v in self.state.versions:
            table.add_row(*registry_row(v, named=header is None), key=str(v.version))
        numbers = [v.version for v in self.state.versions]
        if wanted not in numbers:
            production = self.state.production
            wanted = production.version if production else (numbers[0] if numbers else None)
        self.selected = wanted
        if wanted is not None:
            table.move_cursor(row=numbers.index(wanted))
        self._show_detail()

    @on(DataTable.RowHighlighted, "#registry-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.selected = int(event.row_key.value)
            self._show_detail()
            self.refresh_bindings()

    def _show_detail(self) -> None:
        detail = self.query_one("#deploy-detail", Static)
        v = self._version()
        if v is None or self.state is None:
            self.query_one("#deploy-main").set_class(True, "-empty")
            detail.update(
                "No bundle registered yet.\n\nA bundle is the model with its cleaning steps, "
                "input contract and training baseline, verified by SHA-256 and loaded "
                "without pickle."
            )
            return
        self.query_one("#deploy-main").set_class(False, "-empty")
        detail.update(
            version_detail(v, self.state.contracts.get(v.version, ""), self.wheels.get(v.version))
        )

    # -- build -------------------------------------------------------------------------------

    def action_build(self) -> None:
        """Build a bundle of the chosen run (asks for a reason when its gate did not pass)."""
        state = self.state
        if state is not None and state.evaluation is not None and not state.gate_passed:
            gate = state.evaluation.gate
            why = (
                f"Run {state.chosen}: {gate.outcome.label} — {gate.summary}\n"
                "The bundle is built anyway and the reason is recorded with it and in the "
                "events. It becomes a candidate: promoting it is a separate step (p)."
            )
            modal = ReasonModal(
                "Deploy anyway? The gate did not pass",
                why,
                "why deploy it anyway (recorded with the bundle and the event)",
                "Build anyway",
                "the bundle",
            )
            self.app.push_screen(modal, self._build_with)
            return
        self._build_with(None)

    def _build_with(self, reason: str | None) -> None:
        state = self.state
        if reason is None and state is not None and state.evaluation and not state.gate_passed:
            return  # the reason dialog was cancelled
        run = f"run {state.chosen}" if state and state.chosen is not None else "the chosen run"
        if self._begin(f"Building and verifying the bundle of {run}…"):
            self._build(reason)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="deploy-build",
        description="Building the bundle",
    )
    def _build(self, reason: str | None) -> None:
        from app.services import registry

        self.post_message(BundleBuilt(registry.deploy(self.mlwb.store, None, reason)))

    def on_bundle_built(self, message: BundleBuilt) -> None:
        v = message.version
        self.selected = v.version
        self.notify(
            f"Bundle v{v.version} of run {v.run_id} registered as candidate. "
            "t tries it, p promotes it.",
            title="Built",
            markup=False,
        )
        self.load()
        self.mlwb.refresh_status()

    # -- promote and roll back ---------------------------------------------------------------

    def action_promote(self) -> None:
        """Make the highlighted version production (after a confirmation)."""
        v = self._version()
        if v is None or self.state is None:
            return
        if "production" in v.aliases:
            self.notify(f"v{v.version} is already in production.", markup=False)
            return
        current = self.state.production
        detail = (
            f"v{current.version} (now in production) becomes archived; r rolls back to it."
            if current
            else "No version is in production yet."
        )
        if v.gate != "pass":
            detail += (
                f"\nIts gate did not pass ({v.gate.replace('_', ' ')}); "
                f"it was built with the reason: {v.override_reason or '—'}."
            )
        detail += "\nMonitoring and mlwb serve --project use the production version."
        self.app.push_screen(
            ConfirmModal(
                f"Promote v{v.version} (run {v.run_id}) to production?", detail, yes="Promote"
            ),
            lambda yes: self._registry("promote", v.version) if yes else None,
        )

    def action_rollback(self) -> None:
        """Production back to the previous production version (after a confirmation)."""
        state = self.state
        current = state.production if state else None
        if state is None or current is None:
            self.notify(
                "No version is in production, so there is nothing to roll back: "
                "promote one first (p).",
                severity="warning",
            )
            return
        if state.rollback_to is None:
            self.notify(
                f"v{current.version} is the first production version: there is no previous "
                "one to roll back to. Promote another version instead (p).",
                severity="warning",
            )
            return
        target = state.rollback_to
        self.app.push_screen(
            ConfirmModal(
                f"Roll production back from v{current.version} to v{target}?",
                f"v{current.version} becomes archived; v{target} serves and is monitored again.",
                yes="Roll back",
            ),
            lambda yes: self._registry("rollback", target) if yes else None,
        )

    def _registry(self, what: str, version: int) -> None:
        verb = "Promoting" if what == "promote" else "Rolling back to"
        if self._begin(f"{verb} v{version}…"):
            self._change_registry(what, version)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="deploy-registry",
        description="Changing the registry",
    )
    def _change_registry(self, what: str, version: int) -> None:
        from app.services import registry

        if what == "promote":
            v = registry.promote(self.mlwb.store, version)
            text = f"v{v.version} is production."
        else:
            v = registry.rollback(self.mlwb.store)
            text = f"Rolled back: v{v.version} is production again."
        self.post_message(RegistryChanged(v.version, text))

    def on_registry_changed(self, message: RegistryChanged) -> None:
        self.selected = message.version
        self.notify(message.text, title="Registry", markup=False)
        self.load()
        self.mlwb.refresh_status()

    # -- palette -----------------------------------------------------------------------------

    def palette_commands(self) -> Iterable[SystemCommand]:
        commands: list[tuple[str, str, Callable[[], None]]] = [
            ("Build a bundle", "Bundle the chosen run and register it", self.action_build),
            ("Promote the version", "Make the highlighted version production", self.action_promote),
            (
                "Roll back production",
                "Production back to the previous version",
                self.action_rollback,
            ),
            ("Try one row", "Predict a row typed into a form", self.action_try_it),
            ("Serve the version", "Serve the highlighted version locally", self.action_serve),
            ("Stop the server", "Stop the local prediction server", self.action_stop_server),
            (
                "Build a wheel",
                "An installable predictor of the highlighted version",
                self.action_wheel,
            ),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
