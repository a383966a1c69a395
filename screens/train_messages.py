"""Messages of the Train screen: facts its workers report back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from app.domain.metrics import TaskType
from app.domain.training import Session

if TYPE_CHECKING:
    from app.services.training import Leaderboard, TrainEvent


@dataclass
class SetupLoaded(Message):
    """The charter's task and the current dataset, read from the store."""

    task: TaskType
    primary: str
    target: str
    dataset: str


@dataclass
class TrainingProgressed(Message):
    """A training event from the worker thread (start, candidate, fold, run, done)."""

    event: TrainEvent


@dataclass
class TrainingFinished(Message):
    """A session ended: finished (with its id) or cancelled."""

    session: int | None
    cancelled: bool
    text: str


@dataclass
class LeaderboardLoaded(Message):
    """The leaderboard, the chosen run and the latest session, read from the store."""

    board: Leaderboard
    chosen: int | None
    session: Session | None
    read: int
    """Which read this is (the screen shows only its newest)."""


@dataclass
class SummaryLoaded(Message):
    """A statsmodels coefficient table for a run."""

    run_id: int
    text: str | None


@dataclass
class RunChosen(Message):
    """A run was refitted on all training rows and stored as the chosen model."""

    text: str
