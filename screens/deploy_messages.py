"""Messages of the Deploy screen: facts its workers report back to the UI thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from screens.deploy_data import DeployState
from storage.registry import BundleVersion


@dataclass
class DeployStateRead(Message):
    """The registry, the chosen run and its evaluation, read from the store."""

    state: DeployState


@dataclass
class BundleBuilt(Message):
    """A bundle was built and registered as candidate."""

    version: BundleVersion


@dataclass
class RegistryChanged(Message):
    """A promotion or rollback was recorded; ``text`` says what happened."""

    version: int
    text: str


@dataclass
class BundleLoaded(Message):
    """A bundle was opened and verified (for the try-it form)."""

    version: int
    bundle: Any


@dataclass
class WheelBuilt(Message):
    """An installable predictor wheel was written."""

    version: int
    path: Path


@dataclass
class ServerStarted(Message):
    """The local prediction server answers at ``server.url``."""

    version: int
    server: Any


@dataclass
class ServerStopped(Message):
    """The local prediction server was stopped."""

    version: int
