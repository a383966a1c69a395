"""Messages of the Evaluate screen: facts its workers report back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from app.domain.evaluation import Evaluation
from screens.evaluate_data import RunChoice, StoredState
from screens.evaluate_threshold import HoldoutScores


@dataclass
class StoredEvaluationRead(Message):
    """The stored evaluation of a run (or None) and the chosen run, read from the store."""

    state: StoredState


@dataclass
class RunsListed(Message):
    """The finished runs for the picker, best first."""

    choices: list[RunChoice]


@dataclass
class HoldoutScored(Message):
    """The evaluated model's holdout scores arrived: the threshold can move live."""

    scores: HoldoutScores


@dataclass
class EvaluationFinished(Message):
    """An evaluation ran and was stored (with its event)."""

    evaluation: Evaluation


@dataclass
class EvaluationStopped(Message):
    """An evaluation was cancelled (nothing stored) or failed (the error is shown)."""

    cancelled: bool


@dataclass
class CardWritten(Message):
    """The model card of the shown evaluation's run, as Markdown."""

    run_id: int
    markdown: str
