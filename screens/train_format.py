"""Text for the Train screen: settings parsed from the form, leaderboard cells, run details.

Pure functions (no Textual, no scikit-learn) so the screen stays thin and they can be tested
on their own.
"""

from __future__ import annotations

import math
import re
from typing import Any

from app.domain.metrics import METRICS, Direction, TaskType, metrics_for
from app.domain.training import CANDIDATES, Run, RunStatus, Session

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|it|iter|trials?)?\s*$", re.I)
SEEDS = (0, 2**32 - 1)
FOLDS = (2, 20)


def fmt(value: float | None, digits: int = 4) -> str:
    """A metric value, or a dash when there is none."""
    return "–" if value is None else f"{value:.{digits}f}"


def size_text(n: int | None) -> str:
    """Bytes in B, kB, MB or GB."""
    if n is None:
        return "–"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def show_value(value: Any) -> str:
    """A hyperparameter value as it is typed in the editor (``none``, ``true``, ``0.1``)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """``20`` (or ``20 trials``) is iterations; ``60s``, ``5m``, ``1h`` is seconds."""
    if not text.strip():
        return None, None
    match = _BUDGET.match(text)
    if not match:
        raise ValueError("write trials as 20, or time as 60s, 5m or 1h")
    value, unit = float(match[1]), (match[2] or "it").lower()
    if value <= 0:
        raise ValueError("the budget must be positive")
    if unit.startswith(("it", "tr")):
        if value != int(value) or value > 10_000:
            raise ValueError("trials must be a whole number from 1 to 10,000")
        return int(value), None
    return None, value * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]


def _whole(text: str, low: int, high: int, what: str) -> int:
    try:
        number = int(text.strip().replace("_", "").replace(",", ""))
    except ValueError:
        raise ValueError(f"{what} must be a whole number from {low:,} to {high:,}") from None
    if not low <= number <= high:
        raise ValueError(f"{what} must be from {low:,} to {high:,}, not {number:,}")
    return number


def read_settings(fields: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's text (cv, search, budget, time_limit, seed) as TrainSettings keyword
    arguments, and an error message per field that does not parse."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    try:
        values["cv"] = _whole(fields.get("cv", ""), *FOLDS, "folds")
    except ValueError as exc:
        errors["cv"] = str(exc)
    search = fields.get("search", "none") or "none"
    values["search"] = search
    try:
        iterations, seconds = parse_budget(fields.get("budget", ""))
        if search == "none" and (iterations or seconds):
            raise ValueError("a budget needs a search: pick random or halving")
        values["budget_iterations"], values["budget_seconds"] = iterations, seconds
    except ValueError as exc:
        errors["budget"] = str(exc)
    limit = fields.get("time_limit", "").strip().removesuffix("s").strip()
    if limit:
        try:
            seconds = float(limit)
            if not (math.isfinite(seconds) and seconds > 0):
                raise ValueError
            values["time_limit_seconds"] = seconds
        except ValueError:
            errors["time_limit"] = "seconds per candidate, a positive number (empty: no limit)"
    else:
        values["time_limit_seconds"] = None
    try:
        values["seed"] = _whole(fields.get("seed", ""), *SEEDS, "the seed")
    except ValueError as exc:
        errors["seed"] = str(exc)
    return values, errors


def plan_text(models: list[str], values: dict[str, Any]) -> str:
    """What Start will do with these models and (valid) settings, in one sentence."""
    n = len(models)
    cv = values.get("cv")
    search = values.get("search", "none")
    folds = f" × {cv} folds" if cv else ""
    if search == "none":
        how = f"{n} model(s){folds}" + (f" ({n * cv} fits)" if cv else "") + ", no search"
    else:
        trials = values.get("budget_iterations")
        seconds = values.get("budget_seconds")
        budget = (
            f"up to {trials} trials"
            if trials
            else f"trials for {seconds:g} s"
            if seconds
            else "10 trials"
        )
        how = f"{n} model(s) × {budget}{folds}, {search} search"
    limit = values.get("time_limit_seconds")
    seed = values.get("seed")
    tail = f", seed {seed}" if seed is not None else ""
    if limit:
        tail += f"; stop a model after {limit:g} s"
    return f"Start (t) trains {how}{tail}."


# -- leaderboard ------------------------------------------------------------------------------


def other_metrics(task: TaskType, primary: str, count: int = 2) -> list[str]:
    """The metrics shown beside the primary one."""
    return [m.name for m in metrics_for(task) if m.name != primary][:count]


def versus_text(rank: int, p_value: float | None, tied: bool) -> str:
    """How a row compares with the best: ``best``, ``≈ p=0.31`` or ``p=0.002``."""
    if rank == 1:
        return "best"
    if p_value is None:
        return "–"
    return f"≈ p={p_value:.2f}" if tied else f"p={p_value:.3f}"


def model_name(run: Run, wide: bool) -> str:
    """The candidate's label (wide) or key (narrow), starred when fitted on a subsample."""
    name = run.label if wide else run.candidate
    if wide and len(name) > 30:
        name = name[:29] + "…"
    return name + (" *" if run.subsample else "")


def leaderboard_cells(
    row: Any, primary: str, others: list[str], wide: bool, chosen: int | None
) -> list[str]:
    """One leaderboard row as table cells."""
    r = row.run
    mark = " ✓" if chosen == r.id else ""
    return [
        str(row.rank),
        model_name(r, wide) + mark,
        f"{fmt(r.mean.get(primary))}±{fmt(r.std.get(primary), 3)}",
        *(fmt(r.mean.get(m)) for m in others),
        f"{r.fit_seconds:.2f}",
        fmt(r.predict_ms_per_1k, 1),
        size_text(r.model_bytes),
        versus_text(row.rank, row.p_value, row.tied),
    ]


def failed_cells(run: Run, others: list[str], wide: bool) -> list[str]:
    """A failed or cancelled candidate as a leaderboard row (no rank)."""
    return ["–", model_name(run, wide), run.status.value, *("" for _ in others), "", "", "", ""]


def leaderboard_headers(primary: str, others: list[str]) -> list[str]:
    """Column titles of the leaderboard table."""
    return ["#", "model", f"{primary} ±sd", *others, "fit s", "ms/1k", "size", "vs best"]


def direction_words(primary: str) -> str:
    """``higher is better`` or ``lower is better``."""
    spec = METRICS.get(primary)
    if spec is not None and spec.direction is Direction.MINIMIZE:
        return "lower is better"
    return "higher is better"


def legend(primary: str, cv: int | None, subsampled: bool) -> str:
    """How to read the leaderboard, stating the statistical test."""
    label = METRICS[primary].label if primary in METRICS else primary
    folds = f"{cv} folds" if cv else "the folds"
    text = (
        f"Sorted by {label} ({direction_words(primary)}), mean ± sd over {folds}. "
        "≈ = statistically indistinguishable from the best: Nadeau–Bengio corrected "
        "resampled t-test, p > 0.05. fit s = mean per fold; ms/1k = predict time per 1,000 rows."
    )
    if subsampled:
        text += " * = fitted on a seeded subsample (the model's row limit)."
    return text


# -- one run ----------------------------------------------------------------------------------


def run_header(run: Run) -> str:
    """Everything about one run except its folds, as lines."""
    lines = [
        f"Run {run.id}: {display_name(run.candidate)} — {run.status.value}"
        + (f", trial {run.trial + 1}" if run.trial else "")
        + (f" (rerun of {run.rerun_of})" if run.rerun_of else ""),
        "parameters: "
        + (", ".join(f"{k}={show_value(v)}" for k, v in run.params.items()) or "none"),
        f"data {run.dataset}@{run.version} · {run.cv}-fold {run.cv_kind} CV · seed {run.seed}",
        f"fit {run.fit_seconds:.2f} s/fold · predict {fmt(run.predict_ms_per_1k, 1)} ms/1k rows"
        f" · model {size_text(run.model_bytes)} · took {run.duration:.1f} s",
    ]
    if run.error:
        lines.append(f"error: {run.error}")
    lines += [f"note: {n}" for n in run.notes]
    return "\n".join(lines)


def fold_table(run: Run) -> tuple[list[str], list[list[str]]]:
    """A run's fold metrics with one row per metric and one column per fold (plus mean and
    sd when it finished), so a 5-fold table fits 80 columns."""
    if not run.folds:
        return [], []
    metrics = list(run.folds[0].metrics)
    finished = run.status is RunStatus.DONE and bool(run.mean)
    headers = ["", *(f"fold {f.fold + 1}" for f in run.folds)]
    if finished:
        headers += ["mean", "sd"]
    rows = []
    for m in metrics:
        row = [m, *(fmt(f.metrics.get(m)) for f in run.folds)]
        if finished:
            row += [fmt(run.mean.get(m)), fmt(run.std.get(m))]
        rows.append(row)
    extra = [
        ("train rows", [f"{f.n_train:,}" for f in run.folds]),
        ("valid rows", [f"{f.n_valid:,}" for f in run.folds]),
        ("fit s", [f"{f.fit_seconds:.2f}" for f in run.folds]),
    ]
    for name, values in extra:
        rows.append([name, *values, *(["", ""] if finished else [])])
    return headers, rows


def run_footer(run: Run) -> str:
    """Split and library versions: what it takes to reproduce the run."""
    libs = ", ".join(f"{k} {v}" for k, v in sorted(run.libraries.items()))
    return f"split: {run.split}\nlibraries: {libs}"


def display_name(key: str) -> str:
    """``Random forest · rf``; a label that already names its key stays as it is."""
    spec = CANDIDATES.get(key)
    if spec is None:
        return key
    return spec.label if f"({key})" in spec.label else f"{spec.label} · {key}"


def candidate_text(key: str, overrides: dict[str, Any]) -> str:
    """A candidate's description and its parameters, one a line with range and help
    (``*`` marks values changed from the default)."""
    spec = CANDIDATES[key]
    limit = (
        f" Fitted on a seeded subsample above {spec.row_limit:,} rows." if spec.row_limit else ""
    )
    lines = [f"{display_name(key)}: {spec.description}{limit}"]
    if not spec.params:
        return lines[0] + "\nNo hyperparameters."
    width = max(len(p.name) for p in spec.params) + 1
    for p in spec.params:
        mark = "*" if p.name in overrides else " "
        value = show_value(overrides.get(p.name, p.default))
        lines.append(f"  {p.name + mark:<{width}} {value:<8} {p.range_text()} · {p.help}")
    lines.append("e edits these (* = changed from the default)")
    return "\n".join(lines)


def session_text(session: Session | None) -> str:
    """The latest session in a sentence, saying whether resume has work."""
    if session is None:
        return "No training session yet."
    models = ", ".join(session.settings.models)
    text = f"Last session {session.id} ({session.dataset}@{session.version}, {models}): "
    if session.status == "done":
        return text + "finished."
    if session.status == "running":
        return text + "running."
    return text + f"{session.status}; Resume (r) trains what it did not finish."
