"""The eight lifecycle stages and the state each can be in."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Stage(StrEnum):
    """A lifecycle stage; the value is the TUI mode name and the CLI spelling."""

    PROBLEM = "problem"
    DATA = "data"
    EXPLORE = "explore"
    TRAIN = "train"
    EVALUATE = "evaluate"
    DEPLOY = "deploy"
    MONITOR = "monitor"
    RETRAIN = "retrain"

    @property
    def number(self) -> int:
        """1-based position, also the key that switches to it."""
        return list(Stage).index(self) + 1

    @property
    def title(self) -> str:
        """The stage's display name."""
        return self.value.capitalize()


class StageState(StrEnum):
    """Where a stage stands, computed from the project store."""

    DONE = "done"
    CURRENT = "current"
    ATTENTION = "attention"
    LOCKED = "locked"

    @property
    def label(self) -> str:
        """The state in words."""
        return {
            "done": "Done",
            "current": "Up next",
            "attention": "Needs attention",
            "locked": "Locked",
        }[self.value]

    @property
    def glyph(self) -> str:
        """A one-character marker for the stepper."""
        return {"done": "✓", "current": "●", "attention": "!", "locked": "○"}[self.value]


class StageStatus(BaseModel):
    """A stage's state and a one-line explanation (what is done or what is missing)."""

    stage: Stage
    state: StageState
    summary: str
    next_step: str = ""
