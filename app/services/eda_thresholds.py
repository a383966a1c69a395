"""The Explore stage's alert thresholds in a project: defaults plus stored overrides.

Overrides live as one JSON object in ``project_state`` (key ``eda_thresholds``); only values
that differ from the defaults are kept, so a later change of a default reaches every project
that did not override it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb

from app.domain.thresholds import EDA_THRESHOLDS_KEY, AlertThresholds, parse_thresholds
from storage import datasets as ds
from storage import repositories as repo
from storage.db import ProjectStore


def _stored_overrides(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    raw = ds.get_state(con, EDA_THRESHOLDS_KEY)
    try:
        found = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def thresholds_in(con: duckdb.DuckDBPyConnection) -> AlertThresholds:
    """The thresholds in force, read on an open connection (bad stored values are ignored)."""
    overrides = _stored_overrides(con)
    known = {k: v for k, v in overrides.items() if k in AlertThresholds.model_fields}
    try:
        return AlertThresholds.model_validate(known)
    except ValueError:
        return AlertThresholds()


def read_thresholds(store: ProjectStore) -> AlertThresholds:
    """The alert thresholds in force: defaults with the project's overrides."""
    with store.connect() as con:
        return thresholds_in(con)


def set_thresholds(store: ProjectStore, changes: Mapping[str, Any]) -> AlertThresholds:
    """Override some thresholds (validated together); returns the thresholds in force."""
    with store.transaction() as con:
        overrides = _stored_overrides(con) | dict(changes)
        checked = parse_thresholds(overrides)
        defaults = AlertThresholds()
        kept = {k: v for k, v in checked.model_dump().items() if v != getattr(defaults, k)}
        ds.set_state(con, EDA_THRESHOLDS_KEY, json.dumps(kept, sort_keys=True))
        shown = ", ".join(f"{k}={v}" for k, v in changes.items())
        repo.record_event(
            con, "explore", "thresholds_set", f"alert thresholds: {shown}"[:500], dict(changes)
        )
    return checked


def reset_thresholds(store: ProjectStore, names: Iterable[str] | None = None) -> AlertThresholds:
    """Drop the overrides of ``names`` (all when None); returns the thresholds in force."""
    with store.transaction() as con:
        overrides = _stored_overrides(con)
        dropped = list(overrides) if names is None else [n for n in names if n in overrides]
        for name in dropped:
            overrides.pop(name, None)
        ds.set_state(con, EDA_THRESHOLDS_KEY, json.dumps(overrides, sort_keys=True))
        if dropped:
            repo.record_event(
                con, "explore", "thresholds_reset", f"reset {', '.join(dropped)}"[:500], {}
            )
        return thresholds_in(con)
