"""The Problem stage: save, read and check the charter; every save is a new version."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import duckdb

from app.domain.charter import Charter, DataFacts, Problem, parse_charter, problems_against_data
from app.domain.metrics import METRICS
from app.domain.project import CharterVersion
from app.errors import MlwbError
from storage import repositories as repo
from storage.db import ProjectStore


def current_charter(store: ProjectStore) -> CharterVersion | None:
    """The newest charter version, or None before the first save."""
    with store.connect() as con:
        return repo.latest_charter(con)


def project_name(store: ProjectStore) -> str:
    """The project's name as given at creation."""
    with store.connect() as con:
        return repo.project_info(con).name


def charter_history(store: ProjectStore) -> list[CharterVersion]:
    """All charter versions, newest first."""
    with store.connect() as con:
        return repo.charter_history(con)


def charter_version(store: ProjectStore, number: int) -> CharterVersion:
    """One charter version; a clear error when it does not exist."""
    with store.connect() as con:
        found = repo.charter_version(con, number)
    if found is None:
        raise MlwbError(
            f"there is no charter version {number}", hint="list versions with: mlwb problem history"
        )
    return found


def data_facts(con: duckdb.DuckDBPyConnection, target: str | None = None) -> DataFacts | None:
    """Columns (and the target's values) of the project's current dataset, or None without data."""
    from app.services import browse

    if not repo.count_rows(con, "datasets"):
        return None
    return browse.data_facts(con, target)


def check_against_data(store: ProjectStore, charter: Charter) -> list[Problem]:
    """Problems of ``charter`` against the project's real data (empty without data)."""
    with store.connect() as con:
        facts = data_facts(con, charter.target)
    return problems_against_data(charter, facts) if facts else []


def _diff(old: Charter | None, new: Charter) -> dict[str, Any]:
    before = old.model_dump(mode="json") if old else {}
    after = new.model_dump(mode="json")
    return {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}


def save_charter(
    store: ProjectStore, data: Charter | dict[str, Any], note: str = ""
) -> CharterVersion:
    """Validate and store a new charter version with its audit event, in one transaction.

    Saving a charter identical to the current one is refused, so history only holds changes.
    Mismatches with the current data (``check_against_data``) do not block a save: the data
    may still need cleaning. The lifecycle status shows them.
    """
    charter = data if isinstance(data, Charter) else parse_charter(data)
    with store.transaction() as con:
        previous = repo.latest_charter(con)
        if previous and previous.charter == charter:
            raise MlwbError(
                f"nothing to save: the charter equals version {previous.version}",
                hint="change a field first",
            )
        changes = _diff(previous.charter if previous else None, charter)
        number = repo.insert_charter(con, charter, note)
        repo.record_event(
            con,
            "problem",
            "charter_saved",
            f"charter v{number} saved: {charter.primary_text()} on {charter.target!r}",
            {"version": number, "note": note, "changed": sorted(changes)},
        )
        saved = repo.charter_version(con, number)
    assert saved is not None
    return saved


def read_charter_file(path: Path) -> dict[str, Any]:
    """Read charter fields from a TOML or JSON file, with a clear message on bad syntax."""
    path = Path(path)
    if not path.is_file():
        raise MlwbError(f"no such charter file: {path}", hint="pass a .toml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MlwbError(f"cannot read {path}: {exc}", hint="save the file as UTF-8 text") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise MlwbError(
                f"{path.name}: unknown charter format {suffix or '(no extension)'}",
                hint="use a .toml or .json file",
            )
    except tomllib.TOMLDecodeError as exc:
        raise MlwbError(f"{path.name} is not valid TOML: {exc}", hint="fix the syntax") from exc
    except json.JSONDecodeError as exc:
        raise MlwbError(
            f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint="fix the syntax",
        ) from exc
    if not isinstance(data, dict):
        raise MlwbError(
            f"{path.name} must hold a table of charter fields", hint="see mlwb problem show --json"
        )
    return data


def merge_fields(base: Charter | None, updates: dict[str, Any]) -> dict[str, Any]:
    """Charter fields from ``base`` overlaid with non-None ``updates`` (not yet validated)."""
    merged = base.model_dump(mode="json") if base else {}
    merged.update({k: v for k, v in updates.items() if v is not None})
    return merged


def describe_charter(found: CharterVersion) -> str:
    """A charter as readable text, one field a line."""
    c = found.charter
    budget = c.budget
    spend = []
    if budget.time_hours is not None:
        spend.append(f"{budget.time_hours:g} h")
    if budget.cost is not None:
        spend.append(f"{budget.cost:g} {budget.currency}".strip())
    lines = [
        f"charter v{found.version}  saved {found.saved_at:%Y-%m-%d %H:%M}"
        + (f"  ({found.note})" if found.note else ""),
        f"  name            {c.name}",
        f"  objective       {c.objective}",
        f"  decision        {c.decision or '-'}",
        f"  stakeholders    {', '.join(c.stakeholders) or '-'}",
        f"  task            {c.task.value} ({c.task.label})",
        f"  target          {c.target}",
        f"  positive class  {c.positive_class or '-'}",
        f"  time column     {c.time_column or '-'}",
        f"  success         {c.primary_text()}  ({METRICS[c.primary_metric].label})",
        f"  constraints     {'; '.join(x.text() for x in c.constraints) or '-'}",
        f"  explainable     {'required' if c.explainable else 'not required'}",
        f"  budget          {', '.join(spend) or '-'}",
    ]
    for source in c.data_sources:
        lines.append(f"  data source     {source.name}: {source.description}")
        if source.limits:
            lines.append(f"                  limits: {source.limits}")
    if c.notes:
        lines.append(f"  notes           {c.notes}")
    return "\n".join(lines)
