"""What the Deploy screen reads and how it words it: the registry, the chosen run, its gate.

``read_state`` runs in a thread worker and is deliberately light: the registry and bundle
services import scikit-learn when they load (seconds on a cold start), so the registered
versions, the chosen run and its latest evaluation are read through the storage layer the way
the lifecycle service reads them, and each version's contract straight from its JSON file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from app.domain.evaluation import Evaluation, GateOutcome
from app.runtime.contract import InputContract
from storage.db import ProjectStore
from storage.registry import BundleVersion


@dataclass
class DeployState:
    """The registry and what a new bundle would be built from."""

    versions: list[BundleVersion] = field(default_factory=list)
    chosen: int | None = None
    """The chosen run (what ``b`` builds)."""
    candidate: str = ""
    """The chosen run's model name."""
    evaluation: Evaluation | None = None
    """The chosen run's latest evaluation."""
    contracts: dict[int, str] = field(default_factory=dict)
    """Version -> a one-line summary of its input contract."""
    rollback_to: int | None = None
    """The version a rollback would make production again."""

    @property
    def production(self) -> BundleVersion | None:
        """The version in production, if any."""
        return next((v for v in self.versions if "production" in v.aliases), None)

    @property
    def gate_passed(self) -> bool:
        """Whether the chosen run's latest evaluation passed the gate."""
        return self.evaluation is not None and self.evaluation.gate.outcome is GateOutcome.PASS

    def version(self, number: int | None) -> BundleVersion | None:
        """The registered version ``number``."""
        return next((v for v in self.versions if v.version == number), None)


def bundle_folder(store: ProjectStore, v: BundleVersion) -> Path:
    """A registered bundle's folder as an absolute path (as the registry service resolves it)."""
    path = Path(v.path)
    return path if path.is_absolute() else store.root / path


def contract_summary(folder: Path) -> str:
    """``14 columns: 6 numeric, 8 categorical`` from the bundle's contract file."""
    try:
        contract = InputContract.model_validate_json((folder / "contract.json").read_text())
    except (OSError, ValueError):
        return "unreadable: the bundle folder is missing or damaged"
    kinds: dict[str, int] = {}
    for c in contract.columns:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    parts = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    return f"{len(contract.columns)} columns ({parts}) → {contract.target}"


def read_state(store: ProjectStore) -> DeployState:
    """The registered versions, the chosen run and its latest evaluation (no ML libraries)."""
    from storage import datasets as ds
    from storage import registry as reg
    from storage import repositories as repo
    from storage import training as store_runs

    state = DeployState()
    with store.connect() as con:
        if repo.count_rows(con, "bundles") is not None:
            state.versions = reg.list_bundles(con)
            current = reg.aliases(con).get("production")
            history = reg.production_history(con) if current is not None else []
            if history and history[-1] == current:
                history.pop()
            state.rollback_to = history[-1] if history else None
        value = ds.get_state(con, store_runs.CHOSEN_RUN)
        state.chosen = int(value) if value else None
        if state.chosen is not None:
            run = store_runs.get_run(con, state.chosen)
            state.candidate = run.candidate if run is not None else ""
            if repo.count_rows(con, "evaluations") is not None:
                state.evaluation = store_runs.latest_evaluation(con, state.chosen)
    for v in state.versions:
        state.contracts[v.version] = contract_summary(bundle_folder(store, v))
    return state


# -- wording ------------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "—"


def metric_name(v: BundleVersion) -> str | None:
    """The name of the version's primary metric (None without metrics)."""
    metrics: dict[str, Any] = v.metadata.get("metrics") or {}
    if not metrics:
        return None
    name = v.metadata.get("primary_metric")
    return name if name in metrics else next(iter(metrics))


def primary_metric(v: BundleVersion, named: bool = True) -> str:
    """``f1 0.672 [0.651, 0.693]``: the primary metric on the holdout with its interval."""
    metrics: dict[str, Any] = v.metadata.get("metrics") or {}
    if not metrics:
        return "—"
    name = v.metadata.get("primary_metric")
    if name not in metrics:
        name = next(iter(metrics))
    m = metrics[name] if isinstance(metrics[name], dict) else {}
    text = f"{name} {_number(m.get('value'))}" if named else _number(m.get("value"))
    if m.get("low") is not None and m.get("high") is not None:
        text += f" [{_number(m['low'])}, {_number(m['high'])}]"
    return text


def gate_text(v: BundleVersion, short: bool = False) -> str:
    """``pass``, or ``fail, overridden`` when it was deployed with a reason (``short``:
    ``overridden``, for the table)."""
    label = v.gate.replace("_", " ")
    if v.override_reason and v.gate != "pass":
        return "overridden" if short else f"{label}, overridden"
    return label


def metric_header(versions: list[BundleVersion]) -> str | None:
    """``f1 [95% CI]`` when every version has the same primary metric, else None."""
    names = {metric_name(v) for v in versions}
    if len(names) == 1 and None not in names:
        return f"{names.pop()} [95% CI]"
    return None


def registry_row(v: BundleVersion, named: bool = True) -> tuple[str, ...]:
    """One row of the registry table (``named``: the metric's name in the cell)."""
    return (
        f"v{v.version}",
        str(v.run_id),
        str(v.metadata.get("candidate", "")),
        primary_metric(v, named),
        gate_text(v, short=True),
        ", ".join(v.aliases) or "—",
        v.created_at.strftime("%m-%d %H:%M"),
    )


def version_detail(v: BundleVersion, contract: str, wheel: Path | None = None) -> str:
    """The detail pane of one version: where it came from, how it decides, its contract."""
    md = v.metadata
    lines = [f"v{v.version} · run {v.run_id} {md.get('candidate', '')}".rstrip()]
    lines.append(f"alias: {', '.join(v.aliases) or 'none'}")
    lines.append(f"gate: {gate_text(v)}")
    if v.override_reason:
        lines.append(f"override reason: {v.override_reason}")
    task = md.get("task", "?")
    target = md.get("target", "?")
    decides = f"task: {task} → {target}"
    if md.get("positive_class"):
        decides += f" (positive {md['positive_class']})"
    lines.append(decides)
    if md.get("threshold") is not None:
        lines.append(f"threshold: {md['threshold']:g}")
    data = f"data: {md.get('dataset', '?')}"
    if md.get("charter_version") is not None:
        data += f" · charter v{md['charter_version']}"
    lines.append(data)
    metrics: dict[str, Any] = md.get("metrics") or {}
    if metrics:
        lines.append("holdout metrics:")
        for name, m in metrics.items():
            if not isinstance(m, dict):
                continue
            interval = ""
            if m.get("low") is not None and m.get("high") is not None:
                interval = f" [{_number(m['low'])}, {_number(m['high'])}]"
            lines.append(f"  {name} {_number(m.get('value'))}{interval}")
    lines.append(f"contract: {contract}")
    lines.append(
        f"created: {v.created_at.strftime('%Y-%m-%d %H:%M')} by mlwb {md.get('mlwb_version', '?')}"
    )
    lines.extend(file_lines(v, wheel))
    return "\n".join(lines)


def file_lines(v: BundleVersion, wheel: Path | None = None) -> list[str]:
    """Where the bundle is: each file name on its own line under its folder, so a narrow
    pane never breaks a path in the middle of a name."""
    folder, zipped = PurePath(v.path), PurePath(v.zip_path)
    if zipped.parent == folder.parent:
        lines = [f"files in {folder.parent.as_posix()}/", f"  {folder.name}/", f"  {zipped.name}"]
    else:
        lines = ["folder:", f"  {folder.as_posix()}", "zip:", f"  {zipped.as_posix()}"]
    lines.append(f"sha256: {v.sha256[:16]}…")
    if wheel is not None:
        lines.extend(["wheel:", f"  {wheel.name}"])
    return lines


def next_step(state: DeployState) -> tuple[str, str]:
    """What to do next, in words, and the state-box class (``-locked``, ``-attention``...)."""
    e = state.evaluation
    production = state.production
    live = f" Production is v{production.version}." if production else ""
    if state.chosen is None or e is None:
        if state.chosen is None:
            text = (
                "Nothing to deploy yet: no run is chosen. Save a charter (1), import the "
                "data (2), train and choose a run (4), evaluate it (5), then press b here."
            )
        else:
            run = f"run {state.chosen}" + (f" ({state.candidate})" if state.candidate else "")
            text = (
                f"The chosen {run} has not been evaluated: judge it in Evaluate (5), "
                "then press b here to build its bundle."
            )
        return text + live, "-locked" if not state.versions else "-current"
    run = f"run {state.chosen}" + (f" ({state.candidate})" if state.candidate else "")
    built = [v for v in state.versions if v.metadata.get("evaluation_id") == e.id]
    if not built:
        if e.gate.outcome is not GateOutcome.PASS:
            return (
                f"The chosen {run} did not pass the gate ({e.gate.outcome.label}: "
                f"{e.gate.summary}). Improve it in Train or Evaluate; b builds it anyway "
                "and asks for a reason that is recorded." + live,
                "-attention",
            )
        if not state.versions:
            return (
                f"Nothing deployed yet: the chosen {run} passed the gate. "
                "Press b to build its bundle and register it as candidate.",
                "-current",
            )
        return f"The chosen {run} passed the gate: b builds its bundle." + live, "-current"
    newest = built[0].version
    if production is None:
        return (
            f"v{newest} of the chosen {run} is registered. t tries it on one row, "
            "p promotes the highlighted version to production.",
            "-current",
        )
    back = f", r rolls back to v{state.rollback_to}" if state.rollback_to is not None else ""
    if production.metadata.get("evaluation_id") == e.id:
        return (
            f"v{production.version} is in production. s serves the highlighted version, "
            f"t tries it, p promotes another one{back}.",
            "-done",
        )
    return (
        f"Production is v{production.version}; v{newest} of the chosen {run} is newer: "
        f"t tries it, p promotes it{back}.",
        "-current",
    )
