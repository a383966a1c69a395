"""The Retrain screen's work: training and comparing a challenger (one worker with progress
and cancel), promoting it and rolling production back, each one service call.

esc sets a stop event the retrain service asks (``should_stop``) between its steps and between
training folds; it raises ``RetrainCancelled`` (the progress callback also raises ``Cancelled``
at a step boundary). Stopped before the new data is stored, nothing is written; later, what
was already stored (the new dataset version, finished runs) stays, but no comparison is
recorded, so nothing can be promoted from it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from textual import work
from textual.app import SystemCommand
from textual.worker import Worker, WorkerState

from screens.base import StageScreen
from screens.modals import ConfirmModal, ReasonModal
from screens.retrain_data import RetrainState, gate_label, reason_text
from screens.retrain_dialogs import (
    Cancelled,
    ChallengerCompared,
    ProductionChanged,
    RetrainStopped,
    ShadowChanged,
)
from screens.widgets.progress_panel import ProgressPanel, ProgressReported


@dataclass
class RetrainRequest:
    """What the data panel is set to."""

    batches: list[int]
    window_days: int | None
    compare_on: int | None
    rerun_leaderboard: bool
    margin: float


class RetrainRunner(StageScreen):
    """Workers of the Retrain screen: train and compare, promote, roll back."""

    state: RetrainState | None = None
    training = False
    resamples = 1000
    """Bootstrap resamples of the comparison and the challenger's evaluation (as the CLI)."""
    importance = True
    """Compute the challenger's permutation importance during its evaluation (as the CLI)."""
    _stop: threading.Event | None = None
    _fraction = 0.0
    _step = ""

    def load(self) -> None:
        """Read the store again (implemented by the screen)."""

    def on_unmount(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # -- train and compare -------------------------------------------------------------------

    def start_retrain(self, request: RetrainRequest) -> None:
        """Train the challenger on the chosen data and compare it, in a worker."""
        self.training = True
        self._fraction = 0.0
        self._step = ""
        self._stop = threading.Event()
        what = f"batches {', '.join(map(str, request.batches))}" if request.batches else "rows"
        self.query_one(ProgressPanel).start(f"Training a challenger with {what}")
        self.refresh_bindings()
        self.run_retrain(request, self._stop)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="retrain",
        description="Training the challenger",
    )
    def run_retrain(self, request: RetrainRequest, stop: threading.Event) -> None:
        """One call of ``retrain.retrain`` (stores the data, the run and the comparison)."""
        from app.services import retrain

        def progress(fraction: float, text: str) -> None:
            if stop.is_set():
                raise Cancelled(text)
            self._step = text
            self.post_message(ProgressReported(fraction, text))

        try:
            comparison = retrain.retrain(
                self.mlwb.store,
                batches=request.batches or None,
                window_days=request.window_days,
                compare_on=request.compare_on,
                rerun_leaderboard=request.rerun_leaderboard,
                margin=request.margin,
                resamples=self.resamples,
                importance=self.importance,
                on_progress=progress,
                should_stop=stop.is_set,
            )
        except (Cancelled, retrain.RetrainCancelled):
            self.post_message(RetrainStopped(cancelled=True, step=self._step))
            return
        except Exception:
            self.post_message(RetrainStopped(cancelled=False))
            raise
        self.post_message(
            ChallengerCompared(
                comparison.decision,
                f"{comparison.decision.upper()}: {reason_text(comparison)}",
            )
        )

    def on_progress_reported(self, message: ProgressReported) -> None:
        if self.training:
            self._fraction = message.fraction
            stopping = self._stop is not None and self._stop.is_set()
            text = f"stopping after: {message.text}" if stopping else message.text
            self.query_one(ProgressPanel).report(message.fraction, text)

    def action_cancel(self) -> None:
        """Stop training the challenger at the next step (no comparison is recorded)."""
        if self.training and self._stop is not None and not self._stop.is_set():
            self._stop.set()
            self.query_one(ProgressPanel).report(
                self._fraction, f"stopping after: {self._step or 'the current step'}…"
            )

    def _retrain_finished(self) -> None:
        self.training = False
        self.query_one(ProgressPanel).finish()
        self.refresh_bindings()

    def on_retrain_stopped(self, message: RetrainStopped) -> None:
        self._retrain_finished()
        if message.cancelled:
            early = message.step in ("", "gathering the new training data")
            self.notify(
                "Stopped: no comparison was recorded."
                + (
                    ""
                    if early
                    else " The new dataset version and any finished run stay in the project."
                ),
                title="Retrain stopped",
                timeout=6,
            )
        self.load()
        self.mlwb.refresh_status()

    def on_challenger_compared(self, message: ChallengerCompared) -> None:
        self._retrain_finished()
        self.notify(
            message.text,
            title="Challenger compared",
            severity="information" if message.decision == "promote" else "warning",
            markup=False,
            timeout=8,
        )
        self.load()
        self.mlwb.refresh_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "retrain" and event.state is WorkerState.CANCELLED:
            self._retrain_finished()

    # -- promote and roll back ---------------------------------------------------------------

    def action_promote(self) -> None:
        """Promote the last comparison's challenger (asks first; a reason when it was kept)."""
        state = self.state
        c = state.comparison if state else None
        if state is None or c is None:
            self.notify("No comparison yet: train a challenger first (t).", severity="warning")
            return
        if state.promoted_as is not None:
            now = (
                "r rolls back"
                if state.production == state.promoted_as
                else f"production is v{state.production} now; train a new challenger (t)"
            )
            self.notify(
                f"The challenger (run {c.challenger.run_id}) was promoted already, as "
                f"v{state.promoted_as}: {now}.",
                markup=False,
            )
            return
        if state.production != c.champion.bundle_version:
            self.notify(
                f"Production is v{state.production}, not the champion v"
                f"{c.champion.bundle_version} this comparison was made against: "
                "train a new challenger (t).",
                severity="warning",
                markup=False,
                timeout=8,
            )
            return
        reason = reason_text(c)
        question = f"Promote the challenger (run {c.challenger.run_id}) to production?"
        detail = (
            f"It is built as a new bundle version and becomes production; v{state.production} "
            "(the champion) is archived and r rolls back to it."
        )
        if c.decision == "promote":
            self.app.push_screen(
                ConfirmModal(question, f"{reason}.\n{detail}", yes="Promote"),
                lambda yes: self._promote(None) if yes else None,
            )
        else:
            self.app.push_screen(
                ReasonModal(
                    "Promote anyway? The comparison decided to KEEP the champion",
                    f"{reason}.\n{detail}",
                    "why promote it anyway (recorded with the event)",
                    "Promote anyway",
                    "the promotion",
                ),
                lambda reason: self._promote(reason) if reason else None,
            )

    def _promote(self, reason: str | None) -> None:
        self.notify("Promoting the challenger…", timeout=3)
        self.run_registry("promote", reason)

    def action_rollback(self) -> None:
        """Production back to the previous production version (after a confirmation)."""
        state = self.state
        if state is None or state.production is None:
            self.notify("Nothing is in production: there is nothing to roll back.")
            return
        if state.rollback_to is None:
            self.notify(
                f"v{state.production} is the first production version: there is no previous "
                "one to roll back to.",
                severity="warning",
            )
            return
        current, target = state.production, state.rollback_to
        self.app.push_screen(
            ConfirmModal(
                f"Roll production back from v{current} to v{target}?",
                f"v{current} becomes archived; v{target} serves and is monitored again.",
                yes="Roll back",
            ),
            lambda yes: self.run_registry("rollback", None) if yes else None,
        )

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="retrain-registry",
        description="Changing production",
    )
    def run_registry(self, what: str, reason: str | None) -> None:
        """``retrain.promote`` or ``registry.rollback``."""
        if what == "promote":
            from app.services import retrain

            v = retrain.promote(self.mlwb.store, reason)
            text = f"The challenger (run {v.run_id}) is production as v{v.version}."
        else:
            from app.services import registry

            v = registry.rollback(self.mlwb.store)
            text = f"Rolled back: v{v.version} is production again."
        self.post_message(ProductionChanged(v.version, text))

    def on_production_changed(self, message: ProductionChanged) -> None:
        self.notify(message.text, title="Production", markup=False)
        self.load()
        self.mlwb.refresh_status()

    # -- shadow scoring ----------------------------------------------------------------------

    def action_shadow(self) -> None:
        """Shadow the last comparison's challenger (asks first; a reason when its gate did not
        pass): labelled batches added on Monitor are then scored by both models."""
        state = self.state
        c = state.comparison if state else None
        if state is None or c is None:
            self.notify("No comparison yet: train a challenger first (t).", severity="warning")
            return
        if state.shadow is not None:
            self.action_stop_shadow()
            return
        if state.promoted_as is not None and state.production == state.promoted_as:
            self.notify(
                f"The challenger (run {c.challenger.run_id}) is production already "
                f"(v{state.promoted_as}): there is nothing to shadow it beside.",
                markup=False,
            )
            return
        question = f"Shadow the challenger (run {c.challenger.run_id})?"
        detail = (
            "It is registered as a bundle version with the alias shadow. Every labelled batch "
            "added on Monitor (7) is then scored by production and by the challenger on the "
            "same rows, with the interval of their difference; production keeps answering. "
            "s stops it; p promotes it."
        )
        if c.gate == "pass":
            self.app.push_screen(
                ConfirmModal(question, detail, yes="Shadow"),
                lambda yes: self._start_shadow(None) if yes else None,
            )
        else:
            self.app.push_screen(
                ReasonModal(
                    f"Shadow anyway? The challenger's gate is {gate_label(c.gate)}",
                    f"{reason_text(c)}.\n{detail}",
                    "why shadow it anyway (recorded with the event)",
                    "Shadow anyway",
                    "the shadow bundle",
                ),
                lambda reason: self._start_shadow(reason) if reason else None,
            )

    def _start_shadow(self, reason: str | None) -> None:
        self.notify("Registering the challenger as the shadow bundle…", timeout=3)
        self.run_shadow("start", reason)

    def action_stop_shadow(self) -> None:
        """Stop shadowing (after a confirmation); the results stay with their batches."""
        state = self.state
        if state is None or state.shadow is None:
            self.notify("No challenger is being shadowed.")
            return
        self.app.push_screen(
            ConfirmModal(
                f"Stop shadowing bundle v{state.shadow}?",
                "New batches are then scored by production only. The results so far stay "
                "with their batches.",
                yes="Stop shadowing",
            ),
            lambda yes: self.run_shadow("stop", None) if yes else None,
        )

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="retrain-shadow",
        description="Changing the shadow",
    )
    def run_shadow(self, what: str, reason: str | None) -> None:
        """``shadow.start`` or ``shadow.stop``."""
        from app.services import shadow

        if what == "start":
            v = shadow.start(self.mlwb.store, reason)
            text = (
                f"Shadowing the challenger (run {v.run_id}) as bundle v{v.version}: labelled "
                "batches added on Monitor are scored by both models."
            )
        else:
            text = f"Stopped shadowing bundle v{shadow.stop(self.mlwb.store)}."
        self.post_message(ShadowChanged(text))

    def on_shadow_changed(self, message: ShadowChanged) -> None:
        self.notify(message.text, title="Shadow", markup=False)
        self.load()
        self.mlwb.refresh_status()

    def palette_commands(self) -> Iterable[SystemCommand]:
        for title, help_text, action in (
            ("Train a challenger", "Train and compare it with the champion", "train"),
            ("Promote the challenger", "Make the last challenger production", "promote"),
            ("Roll back production", "Production back to the previous version", "rollback"),
            ("Select all new batches", "Select every labelled batch not yet trained on", "all"),
            (
                "Shadow the challenger",
                "Score it beside production on the next labelled batches",
                "shadow",
            ),
            ("Stop shadowing", "New batches are scored by production only", "stop_shadow"),
        ):
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
