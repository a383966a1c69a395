"""Shared fixtures: projects in tmp_path, a valid charter, a short lock wait."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from app.services.demo import DEMO_CHARTERS
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep demo projects and lock waits inside the test."""
    monkeypatch.setenv("MLWB_HOME", str(tmp_path / "mlwb-home"))
    monkeypatch.setenv("MLWB_LOCK_WAIT", "0.5")


@pytest.fixture
def charter_data() -> dict[str, Any]:
    """A complete, valid binary-classification charter (the adult demo's)."""
    return copy.deepcopy(DEMO_CHARTERS["adult"])


@pytest.fixture
def store(tmp_path: Path) -> ProjectStore:
    """A new, empty project."""
    return ProjectStore.create(tmp_path / "proj", "Test project")
