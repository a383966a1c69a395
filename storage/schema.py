"""The project schema as numbered migrations, recorded in ``schema_version``.

Opening a project applies the migrations it lacks in one transaction; a project whose schema
is newer than this mlwb knows is refused before anything is touched.
"""

from __future__ import annotations

from typing import Any

import duckdb

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "project info, audit events, charter versions",
        [
            """CREATE TABLE project_info (
                name VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                created_by VARCHAR NOT NULL
            )""",
            "CREATE SEQUENCE events_id_seq START 1",
            """CREATE TABLE events (
                id BIGINT PRIMARY KEY DEFAULT nextval('events_id_seq'),
                happened_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                stage VARCHAR NOT NULL,
                action VARCHAR NOT NULL,
                summary VARCHAR NOT NULL,
                details JSON NOT NULL
            )""",
            """CREATE TABLE charters (
                version INTEGER PRIMARY KEY,
                saved_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                note VARCHAR NOT NULL,
                body JSON NOT NULL
            )""",
        ],
    ),
    (
        2,
        "dataset versions, column roles, project state",
        [
            # One row per immutable dataset version; the data is in table_name.
            """CREATE TABLE datasets (
                name VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                table_name VARCHAR NOT NULL UNIQUE,
                parent_version INTEGER,
                kind VARCHAR,
                source_path VARCHAR,
                source_table VARCHAR,
                file_hash VARCHAR,
                options JSON,
                recipe JSON NOT NULL,
                n_rows BIGINT NOT NULL,
                n_cols INTEGER NOT NULL,
                fingerprint VARCHAR NOT NULL,
                warnings JSON NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                PRIMARY KEY (name, version)
            )""",
            """CREATE TABLE column_roles (
                dataset VARCHAR NOT NULL,
                column_name VARCHAR NOT NULL,
                role VARCHAR NOT NULL,
                PRIMARY KEY (dataset, column_name)
            )""",
            """CREATE TABLE project_state (
                key VARCHAR PRIMARY KEY,
                value VARCHAR NOT NULL
            )""",
        ],
    ),
    (
        3,
        "cached dataset profiles (Explore stage)",
        [
            # One profile per dataset version and settings hash; body is the Profile as JSON.
            """CREATE TABLE profiles (
                dataset VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                settings_hash VARCHAR NOT NULL,
                fingerprint VARCHAR NOT NULL,
                computed_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                seconds DOUBLE NOT NULL,
                body JSON NOT NULL,
                PRIMARY KEY (dataset, version, settings_hash)
            )""",
        ],
    ),
    (
        4,
        "holdout splits, training sessions, runs and models (Train stage)",
        [
            # The locked holdout of a dataset version: how it was drawn (body) and its rows.
            """CREATE TABLE splits (
                dataset VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                fingerprint VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                body JSON NOT NULL,
                PRIMARY KEY (dataset, version)
            )""",
            """CREATE TABLE holdout_rows (
                dataset VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                row_id BIGINT NOT NULL
            )""",
            "CREATE SEQUENCE train_sessions_id_seq START 1",
            """CREATE TABLE train_sessions (
                id BIGINT PRIMARY KEY DEFAULT nextval('train_sessions_id_seq'),
                dataset VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                status VARCHAR NOT NULL,
                pid INTEGER,
                started_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                finished_at TIMESTAMPTZ,
                settings JSON NOT NULL
            )""",
            "CREATE SEQUENCE runs_id_seq START 1",
            # One row per cross-validated configuration; body is the Run as JSON.
            """CREATE TABLE runs (
                id BIGINT PRIMARY KEY DEFAULT nextval('runs_id_seq'),
                session BIGINT NOT NULL,
                dataset VARCHAR NOT NULL,
                version INTEGER NOT NULL,
                candidate VARCHAR NOT NULL,
                status VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                body JSON NOT NULL
            )""",
            # A run refitted on the whole training part and saved as a skops artifact.
            """CREATE TABLE models (
                run_id BIGINT PRIMARY KEY,
                path VARCHAR NOT NULL,
                bytes BIGINT NOT NULL,
                sha256 VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                body JSON NOT NULL
            )""",
        ],
    ),
    (
        5,
        "holdout evaluations and gate decisions (Evaluate stage)",
        [
            "CREATE SEQUENCE evaluations_id_seq START 1",
            # One row per evaluation of a run on the locked holdout; body is the Evaluation.
            """CREATE TABLE evaluations (
                id BIGINT PRIMARY KEY DEFAULT nextval('evaluations_id_seq'),
                run_id BIGINT NOT NULL,
                charter_version INTEGER NOT NULL,
                outcome VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                body JSON NOT NULL
            )""",
        ],
    ),
    (
        6,
        "bundle registry: versions and aliases (Deploy stage)",
        [
            # One row per registered bundle; path and zip_path are relative to the project root
            # when inside it; sha256 is the zip's; body is the bundle's metadata.json.
            """CREATE TABLE bundles (
                version INTEGER PRIMARY KEY,
                run_id BIGINT NOT NULL,
                path VARCHAR NOT NULL,
                zip_path VARCHAR NOT NULL,
                sha256 VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                gate VARCHAR NOT NULL,
                override_reason VARCHAR,
                body JSON NOT NULL
            )""",
            # candidate / production / archived: at most one version each; history is in events.
            """CREATE TABLE bundle_aliases (
                alias VARCHAR PRIMARY KEY,
                version INTEGER NOT NULL
            )""",
        ],
    ),
    (
        7,
        "monitoring: batches scored by the production bundle and their predictions (Monitor)",
        [
            # One row per monitored batch; body is the full report (drift per feature, contract
            # violations, prediction drift, performance once labels arrive, recommendation).
            """CREATE TABLE monitor_batches (
                id INTEGER PRIMARY KEY,
                name VARCHAR NOT NULL,
                source VARCHAR NOT NULL,
                file_hash VARCHAR,
                bundle_version INTEGER NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
                n_rows BIGINT NOT NULL,
                n_scored BIGINT NOT NULL,
                n_rejected BIGINT NOT NULL,
                status VARCHAR NOT NULL,
                drifted_share DOUBLE,
                key_column VARCHAR,
                decision VARCHAR,
                decision_note VARCHAR,
                decided_at TIMESTAMPTZ,
                body JSON NOT NULL
            )""",
            # The scored rows of each batch, so labels that arrive later can be joined by key.
            """CREATE TABLE monitor_predictions (
                batch INTEGER NOT NULL,
                row BIGINT NOT NULL,
                key VARCHAR,
                prediction VARCHAR,
                score DOUBLE,
                label VARCHAR
            )""",
        ],
    ),
]

LATEST_SCHEMA = MIGRATIONS[-1][0]


def latest_schema() -> int:
    """The schema version this mlwb writes (read at call time so tests can extend it)."""
    return MIGRATIONS[-1][0]


def first_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of an executed query, fetching all of it.

    DuckDB 2 keeps a result open until it is fully fetched, and ``con.sql`` refuses to run
    while one is open, so never leave a ``fetchone()`` behind.
    """
    rows = result.fetchall()
    return rows[0] if rows else None


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The highest applied migration, or None when the file has no mlwb schema."""
    exists = first_row(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        )
    )
    if not exists or not exists[0]:
        return None
    row = first_row(con.execute("SELECT max(version) FROM schema_version"))
    return int(row[0]) if row and row[0] is not None else 0


def create_version_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping table for migrations."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            description VARCHAR NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            applied_by VARCHAR NOT NULL
        )"""
    )


def apply_migrations(con: duckdb.DuckDBPyConnection, current: int, applied_by: str) -> list[int]:
    """Apply every migration after ``current``; the caller owns the transaction."""
    done: list[int] = []
    for version, description, statements in MIGRATIONS:
        if current < version:
            for statement in statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_version (version, description, applied_by) VALUES (?, ?, ?)",
                [version, description, applied_by],
            )
            done.append(version)
    return done
