"""Running the Evaluate service from the Evaluate screen: one evaluation at a time in a
thread worker, with progress, and a cancel that the service honours between its steps (a
stopped evaluation stores nothing)."""

from __future__ import annotations

import threading

from textual import on, work
from textual.widgets import DataTable, Input
from textual.worker import Worker, WorkerState, get_current_worker

from app.domain.evaluation import DEFAULT_RESAMPLES
from screens.evaluate_messages import EvaluationFinished, EvaluationStopped
from screens.overview import StageOverviewScreen
from screens.widgets.progress_panel import ProgressPanel, ProgressReported


class EvaluationRunner(StageOverviewScreen):
    """The evaluation worker of a stage screen: start, progress, cancel and finish."""

    resamples = DEFAULT_RESAMPLES
    """Bootstrap resamples of an evaluation started here (the CLI's default)."""

    run_id: int | None = None
    threshold: float | None = None
    segments: list[str] | None = None
    evaluating = False
    _stop: threading.Event | None = None
    _fraction = 0.0

    def on_unmount(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def action_evaluate(self) -> None:
        """Evaluate the picked run on the holdout (at its stored threshold)."""
        self._start("Evaluating", threshold=None, tune=False)

    def action_tune(self) -> None:
        """Tune the threshold on out-of-fold predictions of the training part, then evaluate."""
        self._start("Tuning the threshold", threshold=None, tune=True)

    def action_store_threshold(self) -> None:
        """Evaluate again at the tried threshold; it is then stored with the model."""
        if self.threshold is None:
            return
        self._start(f"Evaluating at T = {self.threshold:g}", threshold=self.threshold, tune=False)

    @on(Input.Submitted, "#segment-input")
    def _segments_typed(self, event: Input.Submitted) -> None:
        columns = [c.strip() for c in event.value.split(",") if c.strip()]
        self.segments = columns or None
        self.query_one("#segment-table", DataTable).focus()
        self._start("Evaluating with new segments", threshold=None, tune=False)

    def _start(self, what: str, threshold: float | None, tune: bool) -> None:
        if self.evaluating:
            self.notify("An evaluation is already running (esc stops it).", severity="warning")
            return
        self.evaluating = True
        self._fraction = 0.0
        self._stop = threading.Event()
        self.query_one(ProgressPanel).start(what)
        self.refresh_bindings()
        self.run_evaluation(self.run_id, threshold, tune, self.segments, self._stop)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="evaluate-work",
        description="Evaluating",
    )
    def run_evaluation(
        self,
        run_id: int | None,
        threshold: float | None,
        tune: bool,
        segments: list[str] | None,
        stop: threading.Event,
    ) -> None:
        """One call of the Evaluate service (stores the evaluation and its event)."""
        from app.services import evaluation as ev

        worker = get_current_worker()
        try:
            found = ev.evaluate(
                self.mlwb.store,
                run_id,
                threshold=threshold,
                tune=tune,
                segments=segments,
                resamples=self.resamples,
                on_progress=self._progress,
                should_stop=lambda: stop.is_set() or worker.is_cancelled,
            )
        except ev.EvaluationCancelled:
            self.post_message(EvaluationStopped(cancelled=True))
            return
        except Exception:
            self.post_message(EvaluationStopped(cancelled=False))
            raise
        self.post_message(EvaluationFinished(found))

    def _progress(self, fraction: float, text: str) -> None:
        self.post_message(ProgressReported(fraction, text))

    def on_progress_reported(self, message: ProgressReported) -> None:
        if self.evaluating:
            self._fraction = message.fraction
            stopping = self._stop is not None and self._stop.is_set()
            text = f"cancelling after: {message.text}" if stopping else message.text
            self.query_one(ProgressPanel).report(message.fraction, text)

    def action_cancel_work(self) -> None:
        """Ask the running evaluation to stop (it stores nothing)."""
        if self.evaluating and self._stop is not None and not self._stop.is_set():
            self._stop.set()
            self.query_one(ProgressPanel).report(self._fraction, "cancelling at the next step…")

    def _finished(self) -> None:
        self.evaluating = False
        self.query_one(ProgressPanel).finish()
        self.refresh_bindings()

    def on_evaluation_stopped(self, message: EvaluationStopped) -> None:
        self._finished()
        if message.cancelled:
            self.notify("Evaluation cancelled: nothing was stored.", timeout=4)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "evaluate-work" and event.state is WorkerState.CANCELLED:
            self._finished()
