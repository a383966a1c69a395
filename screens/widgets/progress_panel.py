"""A progress line for long work: bar, message and how to cancel."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import ProgressBar, Static


@dataclass
class ProgressReported(Message):
    """A worker's progress: ``fraction`` in [0, 1] and what it is doing."""

    fraction: float
    text: str


class ProgressPanel(Horizontal):
    """Hidden until work starts; shows a bar, the current step and ``esc cancels``."""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1.0, show_eta=False, id="progress-bar")
        yield Static("", id="progress-text", markup=False)

    def on_mount(self) -> None:
        self.display = False

    def start(self, text: str) -> None:
        """Show the panel at 0 %."""
        self.display = True
        self.query_one(ProgressBar).update(progress=0)
        self.query_one("#progress-text", Static).update(f"{text}  (esc cancels)")

    def report(self, fraction: float, text: str) -> None:
        """Move the bar and say what is happening."""
        self.display = True
        self.query_one(ProgressBar).update(progress=max(0.0, min(1.0, fraction)))
        self.query_one("#progress-text", Static).update(f"{text}  (esc cancels)")

    def finish(self) -> None:
        """Hide the panel."""
        self.display = False
