"""``mlwb train`` and ``mlwb runs``: the Train stage headless.

``mlwb train`` runs a session (or ``--resume``s the last one, ``--rerun``s a run, ``--choose``s
a run to refit and keep); ``mlwb runs`` lists, shows and explains runs and candidates. The
first ctrl+c stops after the current fold and keeps every finished run; a second one stops
at once.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from app.cli import cli, debug_option, emit, json_option, project_option
from app.cli_data import table_text, wrap
from app.errors import MlwbError

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|it|iter|iterations)?\s*$", re.I)


def parse_budget(text: str | None) -> tuple[int | None, float | None]:
    """``60s``/``5m``/``1h`` is seconds; ``20`` or ``20it`` is iterations."""
    if not text:
        return None, None
    match = _BUDGET.match(text)
    if not match:
        raise MlwbError(
            f"cannot read the budget {text!r}",
            hint="write seconds as 60s, 5m or 1h, or trials as 20 (or 20it)",
        )
    value, unit = float(match[1]), (match[2] or "it").lower()
    if value <= 0:
        raise MlwbError("the budget must be positive", hint="e.g. --budget 60s or --budget 20")
    if unit.startswith("it"):
        if value != int(value):
            raise MlwbError("a budget in trials must be a whole number", hint="e.g. --budget 20")
        return int(value), None
    scale = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]
    return None, value * scale


def parse_params(items: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``rf.n_estimators=200`` items as {candidate: {param: text}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        left, sep, value = item.partition("=")
        model, dot, name = left.strip().partition(".")
        if not sep or not dot or not name:
            raise MlwbError(
                f"cannot read the parameter {item!r}",
                hint="write MODEL.PARAM=VALUE, e.g. --param rf.n_estimators=200",
            )
        out.setdefault(model.strip().lower(), {})[name.strip()] = value.strip()
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _sig(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits (metrics range from 0.01 to 10,000)."""
    if value is None:
        return "—"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def run_json(run: Any) -> dict[str, Any]:
    """A run as plain JSON."""
    return run.model_dump(mode="json")


def leaderboard_text(board: Any) -> str:
    """The leaderboard as a table that fits 80 columns, with how to read it."""
    from app.domain.metrics import METRICS
    from app.services.scoring import metric_names

    if not board.rows and not board.failed:
        return "No finished runs yet. Start with: mlwb train --preset quick"
    primary = board.primary
    others = [m for m in metric_names(board.task) if m != primary][:1]
    headers = [
        "#",
        "run",
        "model",
        f"{primary} (±sd)",
        *others,
        "fit s",
        "ms/1k",
        "size",
        "vs best",
    ]
    rows = []
    for row in board.rows:
        r = row.run
        if row.rank == 1:
            versus = "best"
        elif row.p_value is None:
            versus = "n/a"
        else:
            versus = f"≈ p={row.p_value:.2f}" if row.tied else f"worse p={row.p_value:.3f}"
        rows.append(
            [
                row.rank,
                r.id,
                r.candidate + (" *" if r.subsample else ""),
                f"{_sig(r.mean.get(primary))}±{_sig(r.std.get(primary), 2)}",
                *(_sig(r.mean.get(m)) for m in others),
                f"{r.fit_seconds:.2f}",
                _fmt(r.predict_ms_per_1k, 1),
                _size(r.model_bytes),
                versus,
            ]
        )
    lines = [
        f"Leaderboard of {board.version.ref if board.version else '?'} by "
        f"{METRICS[primary].label} (mean over folds; higher is better)"
        if METRICS[primary].direction.value == "maximize"
        else f"Leaderboard of {board.version.ref if board.version else '?'} by "
        f"{METRICS[primary].label} (mean over folds; lower is better)",
    ]
    if board.split is not None:
        lines.append(wrap(f"Holdout (locked, never used here): {board.split.text()}"))
    if rows:
        lines += ["", table_text(headers, rows)]
        lines.append("")
        lines.append(
            wrap(
                "'≈' = statistically indistinguishable from the best (Nadeau–Bengio corrected "
                "resampled t-test, p > 0.05); fit s = mean per fold; ms/1k = predict time per "
                "1,000 rows."
            )
        )
        if any(row.run.subsample for row in board.rows):
            lines.append("* fitted on a seeded subsample (the model's row limit).")
        lines.append(
            wrap(
                "models: "
                + ", ".join(f"{row.run.candidate} = {row.run.label}" for row in board.rows)
            )
        )
    seen: list[str] = []
    for row in board.rows:
        for note in row.run.notes:
            if note not in seen and "subsample" not in note and "halving" not in note:
                seen.append(note)
    lines += [wrap(f"note: {n}") for n in seen]
    for r in board.failed:
        lines.append(wrap(f"{r.label} ({r.candidate}): {r.status.value} — {r.error}"))
    return "\n".join(lines)


class _Interrupts:
    """First ctrl+c asks the session to stop after the current fold; a second one aborts."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._old: Any = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        sys.stderr.write(
            "\nstopping after the current fold (finished runs are kept); ctrl+c again to stop now\n"
        )

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def _printer(as_json: bool) -> Any:
    """Progress lines on stderr: one per finished run (and a live fold counter on a tty)."""
    tty = sys.stderr.isatty()

    def show(event: Any) -> None:
        if event.kind == "start":
            sys.stderr.write(event.message + "\n")
        elif event.kind == "fold" and tty:
            sys.stderr.write(
                f"\r{event.fraction:4.0%}  {event.candidate} trial {event.trial + 1}/"
                f"{event.trials}: fold {event.fold}/{event.folds} ({event.elapsed:.1f} s)   "
            )
        elif event.kind == "run" and event.run is not None:
            r = event.run
            if tty:
                sys.stderr.write("\r" + " " * 72 + "\r")
            trial = f" trial {event.trial + 1}/{event.trials}" if event.trials > 1 else ""
            primary = next(iter(r.mean.items()), None)
            if r.status.value == "done":
                detail = ", ".join(
                    f"{k} {v:.4f}" for k, v in list(r.mean.items())[:3] if v is not None
                )
            else:
                detail = f"{r.status.value}: {r.error}"
            del primary
            sys.stderr.write(f"run {r.id} {r.label}{trial}: {detail} ({r.duration:.1f} s)\n")
        sys.stderr.flush()

    return show


@cli.command("train")
@project_option
@click.option("--models", "-m", help="Comma-separated models or presets, e.g. logreg,hgb,rf.")
@click.option("--preset", type=click.Choice(["quick", "thorough"]), help="A model preset.")
@click.option("--cv", type=click.IntRange(2, 20), default=5, show_default=True, help="CV folds.")
@click.option(
    "--search",
    type=click.Choice(["none", "random", "halving"]),
    default="none",
    show_default=True,
    help="Hyperparameter search per candidate.",
)
@click.option("--budget", help="Search budget per candidate: 60s, 5m, or a trial count (20).")
@click.option("--time-limit", type=float, help="Seconds per candidate before it is stopped.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=42, show_default=True)
@click.option("--param", "params", multiple=True, help="MODEL.PARAM=VALUE (repeatable).")
@click.option("--resume", is_flag=True, help="Continue the last session's missing candidates.")
@click.option("--rerun", type=int, metavar="RUN", help="Repeat RUN and compare fold metrics.")
@click.option("--choose", type=int, metavar="RUN", help="Refit RUN on all training rows; keep it.")
@json_option
@debug_option
def train_command(
    project: Path,
    models: str | None,
    preset: str | None,
    cv: int,
    search: str,
    budget: str | None,
    time_limit: float | None,
    seed: int,
    params: tuple[str, ...],
    resume: bool,
    rerun: int | None,
    choose: int | None,
    as_json: bool,
) -> None:
    """Stage 4: cross-validate candidate models into a leaderboard (see also mlwb runs)."""
    from pydantic import ValidationError

    from app.domain.training import TrainSettings, parse_models
    from app.services import models as model_service
    from app.services import training as tr
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    if sum(bool(x) for x in (resume, rerun is not None, choose is not None)) > 1:
        raise MlwbError("use one of --resume, --rerun and --choose", hint="run them one by one")
    if choose is not None:
        chosen = model_service.choose(store, choose)
        emit(
            {
                "run": chosen.run.id,
                "path": str(chosen.path),
                "bytes": chosen.bytes,
                "sha256": chosen.sha256,
                "rows": chosen.n_rows,
                "seconds": chosen.seconds,
            },
            as_json,
            f"run {chosen.run.id} ({chosen.run.label}) refitted on {chosen.n_rows:,} training "
            f"rows in {chosen.seconds:.1f} s and saved: {chosen.path} "
            f"({_size(chosen.bytes)}, skops). It is the chosen model for Evaluate.",
        )
        return
    if rerun is not None:
        result = model_service.rerun(store, rerun)
        emit(
            {
                "run": rerun,
                "rerun": result.again.id,
                "identical": result.identical,
                "differences": result.differences,
            },
            as_json,
            f"run {rerun} repeated as run {result.again.id}: "
            + (
                f"identical fold metrics ({len(result.again.folds)} folds)"
                if result.identical
                else "differences:\n  " + "\n  ".join(result.differences[:20])
            ),
        )
        if not result.identical:
            sys.exit(1)
        return
    charter_task = tr.charter_task(store)
    if resume:
        settings = None
    else:
        chosen_models = ",".join(x for x in (models, preset) if x) or "quick"
        try:
            keys = parse_models(chosen_models, charter_task)
        except ValueError as exc:
            raise MlwbError(str(exc), hint="list the models with: mlwb runs candidates") from None
        iterations, seconds = parse_budget(budget)
        if search == "none" and (iterations or seconds):
            raise MlwbError("--budget needs a search", hint="add --search random (or halving)")
        try:
            settings = TrainSettings(
                models=keys,
                cv=cv,
                search=search,  # type: ignore[arg-type]
                budget_iterations=iterations,
                budget_seconds=seconds,
                time_limit_seconds=time_limit,
                seed=seed,
                params=parse_params(params),
            )
        except ValidationError as exc:
            raise MlwbError(
                "invalid training settings: "
                + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            ) from None
    with _Interrupts() as interrupts:
        try:
            session = tr.train(
                store,
                settings or TrainSettings(models=["dummy"]),
                on_event=_printer(as_json),
                should_stop=interrupts.stop.is_set,
                resume=resume,
            )
            cancelled = False
        except tr.TrainingCancelled as exc:
            sys.stderr.write(f"{exc.message}; continue with: mlwb train --resume\n")
            session = None
            cancelled = True
    board = tr.leaderboard(store)
    emit(
        {
            "session": session,
            "cancelled": cancelled,
            "primary": board.primary,
            "split": board.split.model_dump(mode="json") if board.split else None,
            "leaderboard": [
                {
                    "rank": row.rank,
                    "p_value": row.p_value,
                    "tied": row.tied,
                    "trials": row.trials,
                    "run": run_json(row.run),
                }
                for row in board.rows
            ],
            "failed": [run_json(r) for r in board.failed],
        },
        as_json,
        lambda: (
            leaderboard_text(board)
            + "\n\nNext: inspect a run (mlwb runs show RUN), then choose one (mlwb train --choose RUN)."
        ),
    )
    if cancelled:
        sys.exit(130)


@cli.group("runs")
def runs() -> None:
    """Stage 4: list and inspect training runs and the candidate models."""


@runs.command("list")
@project_option
@click.option("--all", "show_all", is_flag=True, help="Every run, not only the leaderboard.")
@json_option
@debug_option
def runs_list(project: Path, show_all: bool, as_json: bool) -> None:
    """The leaderboard of the current dataset version (or --all runs)."""
    from app.services import training as tr
    from storage import training as store_runs
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    if not show_all:
        board = tr.leaderboard(store)
        emit(
            [
                {"rank": row.rank, "p_value": row.p_value, "tied": row.tied, **run_json(row.run)}
                for row in board.rows
            ],
            as_json,
            lambda: leaderboard_text(board),
        )
        return
    with store.connect() as con:
        every = store_runs.list_runs(con)
    charter_primary = tr.leaderboard(store).primary
    emit(
        [run_json(r) for r in every],
        as_json,
        lambda: (
            table_text(
                ["run", "session", "model", "trial", "status", charter_primary, "data", "seconds"],
                [
                    [
                        r.id,
                        r.session,
                        r.label,
                        r.trial,
                        r.status.value,
                        _fmt(r.mean.get(charter_primary)),
                        f"{r.dataset}@{r.version}",
                        f"{r.duration:.1f}",
                    ]
                    for r in every
                ],
            )
            if every
            else "No runs yet."
        ),
    )


def run_detail_text(run: Any, summary: str | None = None) -> str:
    """Everything about one run, for people."""
    lines = [
        f"Run {run.id}: {run.label} — {run.status.value}"
        + (f" (rerun of {run.rerun_of})" if run.rerun_of else ""),
        f"  data {run.dataset}@{run.version} (fingerprint {run.fingerprint[:12]}), "
        f"session {run.session}, trial {run.trial}",
        f"  {run.cv}-fold {run.cv_kind} CV, seed {run.seed}; {run.split}",
        "  parameters: "
        + (", ".join(f"{k}={v}" for k, v in run.params.items()) or "(none: defaults)"),
        f"  fit {run.fit_seconds:.2f} s per fold; predict {_fmt(run.predict_ms_per_1k, 1)} ms "
        f"per 1,000 rows; model {_size(run.model_bytes)}; took {run.duration:.1f} s",
    ]
    if run.error:
        lines.append(f"  error: {run.error}")
    lines += [f"  note: {n}" for n in run.notes]
    if run.folds:
        metrics = list(run.folds[0].metrics)
        headers = ["metric", *(f"fold {f.fold + 1}" for f in run.folds)]
        if run.mean:
            headers += ["mean", "sd"]
        rows = []
        for m in metrics:
            row = [m, *(_fmt(f.metrics.get(m)) for f in run.folds)]
            if run.mean:
                row += [_fmt(run.mean.get(m)), _fmt(run.std.get(m))]
            rows.append(row)
        pad = [""] * (len(headers) - len(run.folds) - 1)
        rows.append(["train rows", *(f.n_train for f in run.folds), *pad])
        rows.append(["valid rows", *(f.n_valid for f in run.folds), *pad])
        lines += ["", table_text(headers, rows), ""]
    lines.append(
        wrap("  libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(run.libraries.items())))
    )
    if summary:
        lines += ["", summary]
    return "\n".join(lines)


@runs.command("show")
@click.argument("run_id", type=int, metavar="RUN")
@project_option
@json_option
@debug_option
def runs_show(run_id: int, project: Path, as_json: bool) -> None:
    """Parameters, fold metrics and (for statsmodels models) the coefficient table of RUN."""
    from app.services import models as model_service
    from storage import training as store_runs
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    with store.connect() as con:
        run = store_runs.get_run(con, run_id)
    if run is None:
        raise MlwbError(f"there is no run {run_id}", hint="list runs with: mlwb runs list --all")
    summary = model_service.interpretable_summary(store, run) if not as_json else None
    emit(run_json(run), as_json, lambda: run_detail_text(run, summary))


@runs.command("candidates")
@project_option
@json_option
@debug_option
def runs_candidates(project: Path, as_json: bool) -> None:
    """The models the charter's task can train, with their parameters and ranges."""
    from app.domain.training import PRESETS, candidates_for
    from app.services import training as tr
    from storage.db import ProjectStore

    store = ProjectStore.open(project)
    task = tr.charter_task(store)
    found = candidates_for(task)

    def text() -> str:
        lines = [f"Models for {task.label} (quick preset: {', '.join(PRESETS['quick'][task])}):"]
        for c in found:
            limit = f"; subsample above {c.row_limit:,} rows" if c.row_limit else ""
            lines.append(f"\n{c.key:<9} {c.label}{limit}\n          {c.description}")
            for p in c.params:
                lines.append(
                    f"          {c.key}.{p.name}={p.default!s:<8} {p.range_text()}"
                    f"{'' if p.search else ' (not searched)'} — {p.help}"
                )
        return "\n".join(lines)

    emit([c.model_dump(mode="json") for c in found], as_json, text)
