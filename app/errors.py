"""The error hierarchy: every expected failure is an MlwbError with a message and a hint.

The CLI prints ``message`` and ``hint`` on one line; the TUI shows them in a notification or
the error modal. Tracebacks are only shown with ``--debug``.
"""

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
