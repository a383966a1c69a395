"""Finding spellings of one category: fingerprint key collision plus close edit distance.

The fingerprint follows OpenRefine's key-collision method: strip, lowercase, drop accents,
treat soft punctuation (``.,;:-_/'"()``...) as spaces, split into tokens, sort the distinct
tokens and join them. ``' Self-emp-inc'``, ``'self emp inc'`` and ``'Self-Emp-Inc.'`` share a
key. Comparison symbols (``< > = + %``) are kept, so ``'<=50K'`` and ``'>50K'`` never merge.
For small cardinalities, values whose keys are one or two edits apart are merged too when one
of them is rare (a typo), never when their digits differ (``'10th'`` vs ``'11th'``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from app.domain.recipe import MapValues
from app.domain.suggestion import Suggestion

_SOFT_PUNCTUATION = re.compile(r"[\s.,;:!?'\"()\[\]{}\-_/\\|`´’‘“”]+")
_DIGITS = re.compile(r"\d+")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")

EDIT_DISTANCE_MAX_VALUES = 60
"""Edit-distance matching runs only on columns with at most this many distinct values."""
TYPO_SHARE = 0.2
"""A value is merged by edit distance only if it is at most this share of the other's count."""


def fingerprint(value: str) -> str:
    """The key-collision fingerprint of a value (see the module docstring)."""
    text = unicodedata.normalize("NFKD", value.strip().lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    tokens = sorted(set(_SOFT_PUNCTUATION.sub(" ", text).split()))
    return " ".join(tokens)


def digits(value: str) -> tuple[str, ...]:
    """The digit runs in a value, in order: values with different numbers never merge."""
    return tuple(_DIGITS.findall(value))


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Levenshtein distance, stopping early once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _allowed_edits(key: str) -> int:
    if len(key) >= 10:
        return 2
    return 1 if len(key) >= 5 else 0


def cluster_spellings(counts: Mapping[str, int]) -> list[dict[str, int]]:
    """Groups of values that look like spellings of one category, each with its counts.

    ``counts`` maps each distinct value to how often it occurs. Each returned group has at
    least two values; the first key is the canonical spelling (the most frequent, ties broken
    alphabetically). Values that look like numbers are never grouped.
    """
    values = [v for v in counts if v is not None and not _NUMBER.match(v.strip())]
    by_key: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for value in values:
        key = fingerprint(value)
        if key:
            by_key.setdefault((key, digits(value)), []).append(value)
    keys = list(by_key)
    parent = {k: k for k in keys}

    def root(k: tuple[str, tuple[str, ...]]) -> tuple[str, tuple[str, ...]]:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    if len(values) <= EDIT_DISTANCE_MAX_VALUES:
        total = {k: sum(counts[v] for v in by_key[k]) for k in keys}
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if a[1] != b[1]:
                    continue
                allowed = min(_allowed_edits(a[0]), _allowed_edits(b[0]))
                rare, common = sorted((total[a], total[b]))
                typo = allowed and rare <= TYPO_SHARE * common
                if typo and edit_distance(a[0], b[0], allowed) <= allowed:
                    parent[root(a)] = root(b)
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for k in keys:
        groups.setdefault(root(k), []).extend(by_key[k])
    result = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ordered = sorted(members, key=lambda v: (-counts[v], v))
        result.append({v: counts[v] for v in ordered})
    result.sort(key=lambda g: -sum(g.values()))
    return result


def match_spellings(
    known: Mapping[str, int], new: Mapping[str, int]
) -> tuple[dict[str, str], list[str]]:
    """Map each new value that is not known to the known spelling it matches.

    Returns (new value -> known value, new values that match nothing). A match is the same
    fingerprint and digits; when several known spellings match, the most frequent wins.
    """
    index: dict[tuple[str, tuple[str, ...]], str] = {}
    for value in sorted(known, key=lambda v: (-known[v], v)):
        index.setdefault((fingerprint(value), digits(value)), value)
    mapping: dict[str, str] = {}
    unseen: list[str] = []
    for value in sorted(new, key=lambda v: (-new[v], v)):
        if value in known:
            continue
        match = index.get((fingerprint(value), digits(value)))
        if match is None:
            unseen.append(value)
        else:
            mapping[value] = match
    return mapping, unseen


def _value_counts(values: pl.Series | Iterable[Any]) -> dict[str, int]:
    series = (
        values
        if isinstance(values, pl.Series)
        else pl.Series(list(values), dtype=pl.String, strict=False)
    )
    counts = series.cast(pl.String).drop_nulls().value_counts()
    return dict(zip(counts[counts.columns[0]].to_list(), counts["count"].to_list(), strict=True))


def compare_labels(
    train_values: pl.Series | Iterable[Any],
    new_values: pl.Series | Iterable[Any],
    column: str = "label",
) -> list[Suggestion]:
    """Labels in a new file spelled differently from training (``'>50K.'`` vs ``' >50K'``).

    Returns a ``label_spelling`` suggestion mapping each new spelling to the training one, and
    an ``unseen_labels`` suggestion for new values that match no training label.
    """
    known, new = _value_counts(train_values), _value_counts(new_values)
    mapping, unseen = match_spellings(known, new)
    found = []
    if mapping:
        rows = sum(new[v] for v in mapping)
        shown = ", ".join(f"{k!r} → {v!r}" for k, v in list(mapping.items())[:4])
        found.append(
            Suggestion(
                kind="label_spelling",
                columns=[column],
                severity="high",
                message=f"{rows:,} new label(s) are spelled differently from training: {shown}",
                evidence={"mapping": mapping, "rows": rows, "counts": {k: new[k] for k in mapping}},
                step=MapValues(column=column, mapping=dict(mapping)),
            )
        )
    if unseen:
        rows = sum(new[v] for v in unseen)
        found.append(
            Suggestion(
                kind="unseen_labels",
                columns=[column],
                severity="medium",
                message=f"{rows:,} new label(s) match no training label: {', '.join(repr(v) for v in unseen[:5])}",
                evidence={"values": {v: new[v] for v in unseen}, "rows": rows},
            )
        )
    return found
