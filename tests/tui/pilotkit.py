"""Helpers for Pilot tests."""

from __future__ import annotations

from typing import Any


async def settle(app: Any, pilot: Any) -> None:
    """Let workers finish and their messages be handled (three rounds: results start workers)."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()
