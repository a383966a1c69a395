"""The bundle registry: deploy a run as a numbered version, promote, roll back.

``deploy`` builds the bundle under ``artifacts/bundles`` and registers it as the next version
with the ``candidate`` alias in one transaction with its event; when the database write fails
the bundle folder and zip are removed, so a failed deploy leaves nothing behind. ``promote``
moves ``production`` (the previous production becomes ``archived``) and ``rollback`` restores
the previous production version; each records who, what and when in the events table.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
from pathlib import Path

from app.errors import MlwbError
from app.services import bundle as bd
from app.services import evaluation as ev
from storage import registry as reg
from storage import repositories as repo
from storage.db import ProjectStore
from storage.registry import BundleVersion

STAGE = "deploy"


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _relative(store: ProjectStore, path: Path) -> str:
    try:
        return path.resolve().relative_to(store.root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def resolve(store: ProjectStore, path: str) -> Path:
    """A registered path as an absolute path."""
    p = Path(path)
    return p if p.is_absolute() else store.root / p


def _sha_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def deploy(
    store: ProjectStore, run_id: int | None = None, override_reason: str | None = None
) -> BundleVersion:
    """Build the bundle of ``run_id`` (the chosen run by default) and register it as the next
    version with the ``candidate`` alias."""
    folder = bd.build_bundle(store, run_id, store.artifacts / "bundles", override_reason)
    archive = folder.with_name(folder.name + ".zip")
    try:
        metadata = json.loads((folder / bd.METADATA).read_text())
        evaluation = ev.latest(store, int(metadata["run_id"]))
        body = {**metadata, "primary_metric": evaluation.primary if evaluation else None}
        sha = _sha_file(archive)
        with store.transaction() as con:
            version = reg.next_version(con)
            previous = reg.aliases(con).get("candidate")
            reg.insert_bundle(
                con,
                version=version,
                run_id=int(metadata["run_id"]),
                path=_relative(store, folder),
                zip_path=_relative(store, archive),
                sha256=sha,
                gate=str(metadata["gate"]),
                override_reason=metadata.get("override_reason"),
                body=body,
            )
            reg.set_alias(con, "candidate", version)
            summary = f"bundle v{version} of run {metadata['run_id']} registered as candidate"
            if metadata.get("override_reason"):
                summary += f" (gate {metadata['gate']} overridden: {metadata['override_reason']})"
            repo.record_event(
                con,
                STAGE,
                "deploy",
                summary,
                {
                    "version": version,
                    "run_id": metadata["run_id"],
                    "gate": metadata["gate"],
                    "override_reason": metadata.get("override_reason"),
                    "previous_candidate": previous,
                    "path": _relative(store, folder),
                    "by": _who(),
                },
            )
            found = reg.get_bundle(con, version)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        archive.unlink(missing_ok=True)
        raise
    assert found is not None
    return found


def _missing(version: int) -> MlwbError:
    return MlwbError(
        f"there is no bundle version {version}", hint="list versions with: mlwb registry list"
    )


def promote(store: ProjectStore, version: int) -> BundleVersion:
    """Make ``version`` production; the previous production version becomes ``archived``."""
    with store.transaction() as con:
        if reg.get_bundle(con, version) is None:
            raise _missing(version)
        current = reg.aliases(con)
        previous = current.get("production")
        if previous == version:
            raise MlwbError(f"bundle v{version} is already in production")
        reg.set_alias(con, "production", version)
        if previous is not None:
            reg.set_alias(con, "archived", previous)
        if current.get("candidate") == version:
            reg.set_alias(con, "candidate", None)
        summary = f"bundle v{version} promoted to production"
        if previous is not None:
            summary += f" (v{previous} archived)"
        repo.record_event(
            con,
            STAGE,
            "promote",
            summary,
            {"version": version, "previous": previous, "by": _who()},
        )
        found = reg.get_bundle(con, version)
    assert found is not None
    return found


def rollback(store: ProjectStore) -> BundleVersion:
    """Make the previous production version production again (the current one is archived)."""
    with store.transaction() as con:
        current = reg.aliases(con).get("production")
        if current is None:
            raise MlwbError(
                "no bundle is in production, so there is nothing to roll back",
                hint="promote one first: mlwb registry promote VERSION",
            )
        history = reg.production_history(con)
        if history and history[-1] == current:
            history.pop()
        if not history:
            raise MlwbError(
                f"bundle v{current} is the first production version: "
                "there is no previous one to roll back to",
                hint="promote another version instead: mlwb registry promote VERSION",
            )
        target = history[-1]
        if reg.get_bundle(con, target) is None:
            raise MlwbError(f"the previous production version v{target} is no longer registered")
        reg.set_alias(con, "production", target)
        reg.set_alias(con, "archived", current)
        repo.record_event(
            con,
            STAGE,
            "rollback",
            f"rolled back production from bundle v{current} to v{target}",
            {"version": target, "previous": current, "by": _who()},
        )
        found = reg.get_bundle(con, target)
    assert found is not None
    return found


def list_versions(store: ProjectStore) -> list[BundleVersion]:
    """Every registered version, newest first, with its aliases."""
    with store.connect() as con:
        return reg.list_bundles(con)


def get_version(store: ProjectStore, version: int) -> BundleVersion:
    """One registered version (a clear error when there is none)."""
    with store.connect() as con:
        found = reg.get_bundle(con, version)
    if found is None:
        raise _missing(version)
    return found


def production_bundle(store: ProjectStore) -> Path | None:
    """The folder of the production bundle, or None when no version is in production."""
    with store.connect() as con:
        version = reg.aliases(con).get("production")
        found = reg.get_bundle(con, version) if version is not None else None
    return resolve(store, found.path) if found is not None else None
