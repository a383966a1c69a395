"""Fixtures shared by the unit tests: the sample files imported once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.profile import Profile
from app.services import ingest, problem
from app.services.demo import DEMO_CHARTERS
from app.services.profile import profile_dataset
from storage.db import ProjectStore

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def _sample_store(factory: pytest.TempPathFactory, name: str, file: str) -> ProjectStore:
    """A project with the demo charter and the raw sample file imported as ``name``."""
    store = ProjectStore.create(factory.mktemp(name) / "p", name)
    problem.save_charter(store, DEMO_CHARTERS[name])
    ingest.import_file(store, SAMPLE / file, name=name)
    return store


@pytest.fixture(scope="module")
def adult_store(tmp_path_factory: pytest.TempPathFactory) -> ProjectStore:
    """adult.csv as imported (leading spaces, ' ?' markers) under the demo charter."""
    return _sample_store(tmp_path_factory, "adult", "adult.csv")


@pytest.fixture(scope="module")
def adult_profile(adult_store: ProjectStore) -> Profile:
    return profile_dataset(adult_store, "adult", 1)


@pytest.fixture(scope="module")
def bikes_store(tmp_path_factory: pytest.TempPathFactory) -> ProjectStore:
    """bike_sharing_hour.csv as imported under the demo charter."""
    return _sample_store(tmp_path_factory, "bikes", "bike_sharing_hour.csv")


@pytest.fixture(scope="module")
def bikes_profile(bikes_store: ProjectStore) -> Profile:
    return profile_dataset(bikes_store, "bikes")
