"""Project-level records: identity, audit events and charter versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.domain.charter import Charter


class ProjectInfo(BaseModel):
    """Who the project is: name, when and by which mlwb it was made, its schema version."""

    name: str
    created_at: datetime
    created_by: str
    schema_version: int


class Event(BaseModel):
    """One entry of the audit trail: what changed, when, in which stage."""

    id: int
    at: datetime
    stage: str
    action: str
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)


class CharterVersion(BaseModel):
    """A saved charter with its version number, time and note."""

    version: int
    saved_at: datetime
    note: str
    charter: Charter
