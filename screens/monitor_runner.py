"""The Monitor screen's work: adding a batch (one worker with progress and cancel), joining
late labels and recording a decision, each one call of the monitoring service.

A failed or cancelled batch stores nothing (the service's guarantee); the failure's message
and hint reach the user through the app's one worker-error path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import SystemCommand
from textual.worker import Worker, WorkerState, get_current_worker

from screens.base import StageScreen
from screens.monitor_data import Overview
from screens.monitor_dialogs import AddBatchModal, DecisionModal, LabelsModal
from screens.monitor_messages import (
    AddRequest,
    AddStopped,
    BatchAdded,
    BatchUpdated,
    DecisionRequest,
    LabelsRequest,
)
from screens.widgets.progress_panel import ProgressPanel, ProgressReported

if TYPE_CHECKING:
    from app.domain.monitor import MonitorBatch


class MonitorRunner(StageScreen):
    """Workers of the Monitor screen: add a batch, join labels, record a decision."""

    overview: Overview | None = None
    adding = False
    _stop: threading.Event | None = None
    _fraction = 0.0

    def selected_batch(self) -> MonitorBatch | None:
        """The batch highlighted in the timeline (implemented by the screen)."""
        return None

    def load(self) -> None:
        """Read the store again (implemented by the screen)."""

    def action_tab(self, tab: str) -> None:
        """Show one view (implemented by the screen)."""

    def on_unmount(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # -- add a batch -------------------------------------------------------------------------

    def action_add_batch(self) -> None:
        """Ask for a batch file, then score and measure it in a worker."""
        if self.adding:
            self.notify("A batch is already being added (esc stops it).", severity="warning")
            return
        overview = self.overview
        if overview is None or overview.production is None:
            self.notify(
                "Nothing is in production yet: deploy and promote a bundle first (stage 6).",
                severity="warning",
            )
            return
        self.app.push_screen(AddBatchModal(overview.production, overview.target), self._add_with)

    def _add_with(self, request: object) -> None:
        if not isinstance(request, AddRequest):
            return
        self.adding = True
        self._fraction = 0.0
        self._stop = threading.Event()
        self.query_one(ProgressPanel).start(f"Adding {Path(request.path).name}")
        self.refresh_bindings()
        self.run_add(request, self._stop)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="monitor-add",
        description="Adding a batch",
    )
    def run_add(self, request: AddRequest, stop: threading.Event) -> None:
        """One call of ``monitor.add_batch`` (stores the batch, or nothing and an event)."""
        from app.services import monitor

        worker = get_current_worker()
        try:
            batch = monitor.add_batch(
                self.mlwb.store,
                request.path,
                name=request.name,
                label_column=request.label_column,
                key_column=request.key_column,
                on_progress=self._progress,
                should_stop=lambda: stop.is_set() or worker.is_cancelled,
            )
        except monitor.MonitorCancelled:
            self.post_message(AddStopped(cancelled=True))
            return
        except Exception:
            self.post_message(AddStopped(cancelled=False))
            raise
        self.post_message(BatchAdded(batch))

    def _progress(self, fraction: float, text: str) -> None:
        self.post_message(ProgressReported(fraction, text))

    def on_progress_reported(self, message: ProgressReported) -> None:
        if self.adding:
            self._fraction = message.fraction
            stopping = self._stop is not None and self._stop.is_set()
            text = f"cancelling after: {message.text}" if stopping else message.text
            self.query_one(ProgressPanel).report(message.fraction, text)

    def action_cancel_add(self) -> None:
        """Stop adding the batch (nothing is stored)."""
        if self.adding and self._stop is not None and not self._stop.is_set():
            self._stop.set()
            self.query_one(ProgressPanel).report(self._fraction, "cancelling…")

    def _add_finished(self) -> None:
        self.adding = False
        self.query_one(ProgressPanel).finish()
        self.refresh_bindings()

    def on_add_stopped(self, message: AddStopped) -> None:
        self._add_finished()
        if message.cancelled:
            self.notify("Batch not added: cancelled, nothing was stored.", timeout=4)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "monitor-add" and event.state is WorkerState.CANCELLED:
            self._add_finished()

    # -- labels and decisions ----------------------------------------------------------------

    def action_add_labels(self) -> None:
        """Join labels that arrived later to the highlighted batch."""
        batch = self.selected_batch()
        if batch is None:
            return
        if batch.key_column is None:
            self.notify(
                f"Batch {batch.id} was added without a key column, so labels cannot be "
                "joined: add the file again with a key column (a, key column).",
                severity="warning",
                markup=False,
                timeout=8,
            )
            return
        target = self.overview.target if self.overview else ""
        self.app.push_screen(
            LabelsModal(batch.id, batch.name, batch.key_column, target),
            lambda request: self._labels_with(batch.id, request),
        )

    def _labels_with(self, batch_id: int, request: object) -> None:
        if isinstance(request, LabelsRequest):
            self.notify(f"Joining labels to batch {batch_id}…", timeout=3)
            self.run_labels(batch_id, request)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="monitor-labels",
        description="Joining labels",
    )
    def run_labels(self, batch_id: int, request: LabelsRequest) -> None:
        from app.services import monitor

        batch = monitor.add_labels(
            self.mlwb.store, batch_id, request.path, request.key, request.label_column
        )
        perf = batch.report.performance
        what = f"{perf.n_labelled:,} labelled rows" if perf else "labels"
        self.post_message(
            BatchUpdated(batch, f"Batch {batch_id}: {what}; status {batch.status.value}.")
        )

    def action_decide(self) -> None:
        """Record retrain / inspect / accept (with a note) for the highlighted batch."""
        batch = self.selected_batch()
        if batch is None:
            return
        rec = batch.report.recommendation
        current = batch.decision.value if batch.decision else None
        self.app.push_screen(
            DecisionModal(batch.id, rec.value if rec else None, current),
            lambda request: self._decide_with(batch.id, request),
        )

    def _decide_with(self, batch_id: int, request: object) -> None:
        if isinstance(request, DecisionRequest):
            self.notify(f"Recording the decision for batch {batch_id}…", timeout=3)
            self.run_decide(batch_id, request)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="monitor-decide",
        description="Recording the decision",
    )
    def run_decide(self, batch_id: int, request: DecisionRequest) -> None:
        from app.services import monitor

        batch = monitor.decide(self.mlwb.store, batch_id, request.decision, request.note)
        self.post_message(BatchUpdated(batch, f"Batch {batch_id}: decided to {request.decision}."))

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Add a batch", "Score and check a new batch file", self.action_add_batch
        )
        yield SystemCommand(
            "Add labels", "Join late labels to the highlighted batch", self.action_add_labels
        )
        yield SystemCommand(
            "Record a decision", "Retrain, inspect or accept the batch", self.action_decide
        )
        for tab, title in (
            ("tab-timeline", "Timeline"),
            ("tab-features", "Features"),
            ("tab-violations", "Violations"),
            ("tab-recommendation", "Recommendation"),
        ):
            yield SystemCommand(
                f"Monitor: {title}",
                f"Show the {title} view",
                lambda t=tab: self.action_tab(t),  # type: ignore[attr-defined]
            )
