"""Data-quality suggestions: what was found, where, how bad, the evidence and the fix."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.domain.recipe import Step

Severity = Literal["high", "medium", "low"]
SuggestionKind = Literal[
    "leakage",
    "missing_markers",
    "duplicates",
    "whitespace",
    "spellings",
    "numbers_as_text",
    "dates_as_text",
    "constant",
    "id_like",
    "mostly_missing",
    "missing_values",
    "suspicious_value",
    "empty_rows",
    "label_spelling",
    "unseen_labels",
]


class Suggestion(BaseModel):
    """One finding: what, where, how bad, the numbers behind it, and a step that fixes it."""

    model_config = ConfigDict(frozen=True)

    kind: SuggestionKind
    columns: list[str]
    severity: Severity
    message: str
    evidence: dict[str, Any]
    step: Step | None = None
