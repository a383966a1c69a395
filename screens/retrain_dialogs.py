"""Messages of the Retrain screen (facts its workers report) and the override dialog."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from screens.retrain_data import RetrainState


@dataclass
class RetrainStateRead(Message):
    """The champion, the batches and the last comparison were read."""

    state: RetrainState


@dataclass
class ChallengerCompared(Message):
    """A challenger was trained and compared with the champion; ``text`` is the decision."""

    decision: str
    text: str


@dataclass
class RetrainStopped(Message):
    """Training the challenger ended without a comparison: cancelled, or failed."""

    cancelled: bool
    step: str = ""


@dataclass
class ProductionChanged(Message):
    """The challenger was promoted, or production rolled back; ``text`` says which."""

    version: int
    text: str


@dataclass
class ShadowSummaryRead(Message):
    """The shadow evidence (``shadow.summary``) of the bundle being shadowed was read."""

    version: int
    text: str


@dataclass
class ShadowChanged(Message):
    """Shadowing started or stopped; ``text`` says which."""

    text: str


class Cancelled(Exception):
    """Raised from the progress callback when the user stopped the retrain."""
