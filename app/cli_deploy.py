"""``mlwb deploy [--wheel]``, ``mlwb registry list|promote|rollback``, ``mlwb bundle verify`` and
``mlwb bundle wheel``.

Importing this module registers the commands on ``app.cli.cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.cli import cli, debug_option, emit, json_option, project_option
from app.cli_data import table_text, wrap
from storage.db import ProjectStore
from storage.registry import BundleVersion


def _rs() -> Any:
    """The registry service, imported when a command runs (it loads scikit-learn)."""
    from app.services import registry

    return registry


def _bd() -> Any:
    """The bundle service, imported when a command runs (it loads scikit-learn)."""
    from app.services import bundle

    return bundle


def _primary(v: BundleVersion) -> str:
    metrics = v.metadata.get("metrics") or {}
    if not metrics:
        return "—"
    name = v.metadata.get("primary_metric")
    if name not in metrics:
        name = next(iter(metrics))
    m = metrics[name]
    value = m.get("value") if isinstance(m, dict) else None
    return f"{name} {value:.4f}" if isinstance(value, int | float) else f"{name} —"


def _gate(v: BundleVersion) -> str:
    return f"{v.gate}, overridden" if v.override_reason and v.gate != "pass" else v.gate


def _data(v: BundleVersion, store: ProjectStore) -> dict[str, Any]:
    out = v.model_dump(mode="json", exclude={"metadata"})
    out["folder"] = str(_rs().resolve(store, v.path))
    out["zip"] = str(_rs().resolve(store, v.zip_path))
    out["metrics"] = v.metadata.get("metrics", {})
    return out


def _wheel(bundle_path: Path, out_dir: Path | None, name: str | None, version: str | None) -> Path:
    """Build the predictor wheel of a bundle (the wheel service loads scikit-learn)."""
    from app.services.wheel import build_wheel

    return build_wheel(bundle_path, out_dir, name=name, version=version)


def _version_text(v: BundleVersion, head: str) -> str:
    """Paths are shown as registered: relative to the project root when inside it."""
    lines = [wrap(head), wrap(f"  folder: {v.path}"), wrap(f"  zip:    {v.zip_path}")]
    lines.append(wrap(f"  gate:   {v.gate}"))
    if v.override_reason:
        lines.append(wrap(f"  override reason: {v.override_reason}"))
    return "\n".join(lines)


@cli.command("deploy")
@click.argument("run", type=int, required=False)
@click.option(
    "--override-gate",
    "override",
    metavar="REASON",
    help="Deploy a run whose gate did not pass, recording this reason.",
)
@click.option(
    "--wheel",
    "wheel",
    is_flag=True,
    help="Also build an installable predictor wheel (<project>_predictor) next to the bundle.",
)
@project_option
@json_option
@debug_option
def deploy_command(
    run: int | None, override: str | None, wheel: bool, project: Path, as_json: bool
) -> None:
    """Build a verified bundle of RUN (the chosen run by default) and register it as the
    next version with the "candidate" alias; with --wheel, also build its predictor wheel
    (version <registry version>.0.<run>)."""
    store = ProjectStore.open(project)
    v = _rs().deploy(store, run, override)
    data = _data(v, store)
    built: Path | None = None
    if wheel:
        folder = Path(data["folder"])
        built = _wheel(folder, folder.parent, None, f"{v.version}.0.{v.run_id}")
        data["wheel"] = str(built)

    def text() -> str:
        head = f"Registered bundle v{v.version} of run {v.run_id} as candidate."
        out = _version_text(v, head)
        if built is not None:
            out += "\n" + wrap(f"  wheel:  {built}")
            out += "\n" + wrap(f"Install it with: pip install {built}")
        return out + f"\nPromote it with: mlwb registry promote {v.version}"

    emit(data, as_json, text)


@cli.group("registry")
def registry() -> None:
    """Registered bundle versions: list, promote, roll back."""


@registry.command("list")
@project_option
@json_option
@debug_option
def registry_list(project: Path, as_json: bool) -> None:
    """Every registered version, newest first, with its aliases."""
    store = ProjectStore.open(project)
    versions = _rs().list_versions(store)

    def text() -> str:
        if not versions:
            return "No bundles registered yet: build one with mlwb deploy."
        rows = [
            [
                f"v{v.version}",
                v.run_id,
                _gate(v),
                ", ".join(v.aliases) or "—",
                v.created_at.strftime("%Y-%m-%d %H:%M"),
                _primary(v),
            ]
            for v in versions
        ]
        return table_text(["version", "run", "gate", "alias", "created", "metric"], rows)

    emit([_data(v, store) for v in versions], as_json, text)


@registry.command("promote")
@click.argument("version", type=int)
@project_option
@json_option
@debug_option
def registry_promote(version: int, project: Path, as_json: bool) -> None:
    """Make VERSION production (the previous production version is archived)."""
    store = ProjectStore.open(project)
    v = _rs().promote(store, version)
    emit(
        _data(v, store),
        as_json,
        lambda: _version_text(v, f"Bundle v{v.version} (run {v.run_id}) is production."),
    )


@registry.command("rollback")
@project_option
@json_option
@debug_option
def registry_rollback(project: Path, as_json: bool) -> None:
    """Make the previous production version production again."""
    store = ProjectStore.open(project)
    v = _rs().rollback(store)
    emit(
        _data(v, store),
        as_json,
        lambda: _version_text(
            v, f"Rolled back: bundle v{v.version} (run {v.run_id}) is production again."
        ),
    )


@cli.group("bundle")
def bundle() -> None:
    """Inspect deployable bundles."""


@bundle.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
@debug_option
def bundle_verify(path: Path, as_json: bool) -> None:
    """Verify the bundle folder or .zip at PATH (SHA-256 of every file, allow-listed model)
    and print its manifest and metadata; exit 1 with the reason when it is refused."""
    b = _bd().load_bundle(path)
    m = b.metadata
    data = {
        "path": str(path),
        "verified": True,
        "manifest": b.manifest.model_dump(mode="json"),
        "metadata": m.model_dump(mode="json"),
    }

    def text() -> str:
        lines = [wrap(f"Verified {path}"), "", "Manifest (SHA-256):"]
        for name, digest in b.manifest.files.items():
            lines.append(f"  {digest[:16]}…  {name}")
        lines += ["", "Metadata:"]
        fields = [
            ("project", m.project),
            ("run", f"{m.run_id} ({m.candidate})"),
            ("dataset", m.dataset),
            ("charter", "—" if m.charter_version is None else f"v{m.charter_version}"),
            ("task", f"{m.task}, target {m.target}"),
            ("threshold", "—" if m.threshold is None else f"{m.threshold:g}"),
            ("gate", m.gate),
            ("override", m.override_reason or "—"),
            ("created", m.created_at.strftime("%Y-%m-%d %H:%M:%S %Z")),
            ("mlwb", m.mlwb_version),
        ]
        lines += [wrap(f"  {k:<10} {v}") for k, v in fields]
        for name, mv in m.metrics.items():
            value = "—" if mv.value is None else f"{mv.value:.4f}"
            if mv.low is not None and mv.high is not None:
                value += f" (95% CI {mv.low:.4f}–{mv.high:.4f})"
            lines.append(wrap(f"  {name:<10} {value}"))
        return "\n".join(lines)

    emit(data, as_json, text)


@bundle.command("wheel")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write the wheel to (default: the bundle's folder's parent).",
)
@click.option("--name", help="Package name stem (default: the project's name).")
@click.option("--version", "version", help="Wheel version (default: 1.0.<run>).")
@json_option
@debug_option
def bundle_wheel(
    path: Path, out_dir: Path | None, name: str | None, version: str | None, as_json: bool
) -> None:
    """Build an installable predictor wheel (<name>_predictor) from the bundle at PATH: the
    bundle, a minimal runtime (no mlwb, no Textual), predict() and a <name>-predict command."""
    built = _wheel(path, out_dir, name, version)
    data = {"bundle": str(path), "wheel": str(built), "size": built.stat().st_size}

    def text() -> str:
        return "\n".join(
            [
                wrap(f"Built {built} ({built.stat().st_size:,} bytes)"),
                f"Install it with: pip install {built}",
            ]
        )

    emit(data, as_json, text)
