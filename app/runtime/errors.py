"""The one error type of the predictor runtime (mlwb's ``MlwbError`` is this class)."""

from __future__ import annotations


class MlwbError(Exception):
    """An expected failure: what went wrong (``message``) and how to fix it (``hint``)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as a single line, for stderr and notifications."""
        return f"{self.message} — {self.hint}" if self.hint else self.message
