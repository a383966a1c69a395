"""The error hierarchy: every expected failure is an MlwbError with a message and a hint.

The CLI prints ``message`` and ``hint`` on one line; the TUI shows them in a notification or
the error modal. Tracebacks are only shown with ``--debug``.
"""

from __future__ import annotations

from app.runtime.errors import MlwbError

__all__ = ["MlwbError"]


class ProjectNotFound(MlwbError):
    """The path is not an mlwb project folder."""


class ProjectCorrupt(MlwbError):
    """The project database cannot be read."""


class ProjectInUse(MlwbError):
    """Another process holds the project database."""


class ProjectReadOnly(MlwbError):
    """The project folder or database cannot be written."""


class SchemaTooNew(MlwbError):
    """The project was written by a newer mlwb."""


class ValidationFailed(MlwbError):
    """Input did not validate; ``problems`` lists (field, message) pairs."""

    def __init__(self, message: str, problems: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__(message, hint)
        self.problems = problems

    def one_line(self) -> str:
        """All problems joined on one line."""
        detail = "; ".join(f"{field}: {msg}" if field else msg for field, msg in self.problems)
        text = f"{self.message}: {detail}" if detail else self.message
        return f"{text} — {self.hint}" if self.hint else text
