"""Helpers for Pilot tests."""

from __future__ import annotations

import contextlib
from typing import Any

from textual.worker import WorkerFailed


async def settle(app: Any, pilot: Any) -> None:
    """Let workers finish and their messages be handled (three rounds: results start workers).

    A worker that failed on purpose (an expected error the screen reports itself) is not a
    test failure here: tests check what the screen shows.
    """
    for _ in range(3):
        with contextlib.suppress(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
