"""Helpers for Pilot tests."""

from __future__ import annotations

import contextlib
from typing import Any

from textual.worker import WorkerCancelled, WorkerFailed


async def settle(app: Any, pilot: Any) -> None:
    """Let workers finish and their messages be handled (three rounds: results start workers).

    A worker that failed on purpose (an expected error the screen reports itself) or was
    replaced by a newer one (exclusive workers) is not a test failure here: tests check what
    the screen shows.
    """
    for _ in range(3):
        with contextlib.suppress(WorkerFailed, WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()


async def settle_until(app: Any, pilot: Any, check: Any, rounds: int = 10) -> None:
    """``settle`` until ``check()`` holds (a result that starts further workers); at most
    ``rounds`` times, then once more so the caller's assertion shows what is on screen."""
    for _ in range(rounds):
        if check():
            return
        await settle(app, pilot)
