"""Who has a project open: a shared lock an mlwb TUI holds while it runs, and the exclusive
hold an operation that replaces the whole project folder (a lesson reset) needs.

The lock file lives outside the project (in the temporary folder, per user), so copies of a
project folder never carry it, and the operating system releases it when the process ends.
Where file locks are unavailable the TUI holds nothing and only the database's own lock
protects the project.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from app.errors import ProjectInUse
from storage.db import ProjectStore


def presence_file(root: Path) -> Path:
    """A lock file outside the project (so copies of the folder never carry it)."""
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:20]
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    folder = Path(tempfile.gettempdir()) / f"mlwb-{user}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"open-{key}.lock"


class ProjectPresence:
    """A shared lock a TUI holds on its project while it runs, so a reset can tell the
    project is open. The operating system releases it when the process ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._handle: IO[str] | None = None

    def hold(self) -> None:
        """Take the shared lock (a no-op where file locks are unavailable)."""
        try:
            import fcntl
        except ImportError:
            return
        try:
            handle = presence_file(self.root).open("a")
        except OSError:
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return
        self._handle = handle

    def release(self) -> None:
        """Give the lock back."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


@contextlib.contextmanager
def exclusive(root: Path) -> Iterator[None]:
    """Hold the project exclusively, or raise ProjectInUse when a TUI or a process has it."""
    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    handle = None
    if fcntl is not None:
        handle = presence_file(root).open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ProjectInUse(
                f"{root} is open in another mlwb process (the TUI)",
                hint="close mlwb on that project (ctrl+q), then reset again",
            ) from None
    try:
        with ProjectStore(root, lock_wait=0.0).connect():
            pass
        yield
    finally:
        if handle is not None:
            handle.close()
