"""Messages of the Monitor screen (facts its workers report) and what its dialogs ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

from screens.monitor_data import Overview

if TYPE_CHECKING:
    from app.domain.monitor import MonitorBatch


@dataclass
class OverviewRead(Message):
    """The production version and the number of batches were read."""

    overview: Overview


@dataclass
class BatchesRead(Message):
    """Every stored batch was read, oldest first."""

    batches: list[MonitorBatch]


@dataclass
class ShadowLinesRead(Message):
    """The shadow results of the batches that have one, worded (``shadow.line``), by id."""

    lines: dict[int, str]


@dataclass
class BatchAdded(Message):
    """A batch was scored, measured and stored."""

    batch: MonitorBatch


@dataclass
class AddStopped(Message):
    """Adding a batch ended without a batch: cancelled by the user, or failed (nothing stored)."""

    cancelled: bool


@dataclass
class BatchUpdated(Message):
    """Labels were joined to a batch, or a decision was recorded; ``text`` says which."""

    batch: MonitorBatch
    text: str


@dataclass
class AddRequest:
    """What the add-batch dialog collected."""

    path: str
    name: str | None = None
    label_column: str | None = None
    key_column: str | None = None


@dataclass
class LabelsRequest:
    """What the labels dialog collected."""

    path: str
    key: str
    label_column: str | None = None


@dataclass
class DecisionRequest:
    """What the decision dialog collected."""

    decision: str
    note: str
