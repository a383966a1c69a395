"""Cached dataset profiles: one stored ``Profile`` (JSON) per dataset version.

A profile is looked up by dataset name, version, settings hash and the version's content
fingerprint, so a profile never answers for other data or other settings. Each version keeps
only its latest profile: storing one replaces any other for the same version. Every function
takes an open connection so the caller owns the transaction.
"""

from __future__ import annotations

import duckdb

from app.domain.profile import Profile
from storage.datasets import first_row


def get_profile(
    con: duckdb.DuckDBPyConnection,
    dataset: str,
    version: int,
    settings_hash: str,
    fingerprint: str,
) -> Profile | None:
    """The stored profile of that version, settings and content, or None."""
    row = first_row(
        con.execute(
            "SELECT body FROM profiles WHERE dataset = ? AND version = ? AND settings_hash = ? "
            "AND fingerprint = ?",
            [dataset, version, settings_hash, fingerprint],
        )
    )
    return Profile.model_validate_json(row[0]) if row else None


def latest_profile(
    con: duckdb.DuckDBPyConnection, dataset: str, version: int, fingerprint: str
) -> Profile | None:
    """The most recent profile of a version whatever its settings, or None."""
    row = first_row(
        con.execute(
            "SELECT body FROM profiles WHERE dataset = ? AND version = ? AND fingerprint = ? "
            "ORDER BY computed_at DESC LIMIT 1",
            [dataset, version, fingerprint],
        )
    )
    return Profile.model_validate_json(row[0]) if row else None


def put_profile(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    """Store ``profile``, replacing any earlier profile of the same dataset version."""
    con.execute(
        "DELETE FROM profiles WHERE dataset = ? AND version = ?",
        [profile.dataset, profile.version],
    )
    con.execute(
        "INSERT INTO profiles (dataset, version, settings_hash, fingerprint, computed_at, "
        "seconds, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            profile.dataset,
            profile.version,
            profile.settings_hash,
            profile.fingerprint,
            profile.computed_at,
            profile.seconds,
            profile.model_dump_json(),
        ],
    )


def delete_profiles(con: duckdb.DuckDBPyConnection, dataset: str) -> int:
    """Forget every stored profile of ``dataset``; returns how many were removed."""
    row = first_row(con.execute("SELECT count(*) FROM profiles WHERE dataset = ?", [dataset]))
    con.execute("DELETE FROM profiles WHERE dataset = ?", [dataset])
    return int(row[0]) if row else 0


def profiled_versions(con: duckdb.DuckDBPyConnection, dataset: str) -> list[int]:
    """Versions of ``dataset`` that have a stored profile, ascending."""
    rows = con.execute(
        "SELECT DISTINCT version FROM profiles WHERE dataset = ? ORDER BY 1", [dataset]
    ).fetchall()
    return [int(r[0]) for r in rows]
