"""Evaluation speed: the full holdout evaluation of a boosting model, and the live threshold.

Targets (issue 6, the Evaluate stage):

1. Full evaluation of a histogram gradient boosting model on a 20k-row holdout: every metric
   with 1,000-resample bootstrap intervals (model and baseline, paired), curves, segments on
   two categorical columns (``segment``, 16 spellings, and ``channel``, 7 values: 200
   resamples per segment), permutation importance and the latency probe. Only reported (no
   target): ``evaluate(store, run_id, segments=..., resamples=1000, importance=True)`` end to
   end, ``REPEATS`` times, median and each run. The phases come from the service's own
   ``on_progress`` reports (the time from one report to the next), and light wrappers around
   ``training.load_part``, ``point_metrics``, ``bootstrap.bootstrap``, ``_curves``,
   ``_segments``, ``_importance`` and ``_latency`` split them further (accumulated per phase).
   One more run under cProfile (not timed) lists the costliest functions in
   ``bench/out/evaluate-profile.txt`` (``MLWB_BENCH_EVAL_PROFILE=0`` skips it).
2. The threshold change redraws in under 100 ms:

   a. service level: what the Evaluate screen computes per change (``HoldoutScores.metrics_at``
      and ``confusion_at`` on the stored holdout scores, 20k rows), p50 / p95 over
      ``CHANGES`` thresholds; for scale, ``bootstrap.binary_label_metrics`` alone and
      scikit-learn's ``evaluation.point_metrics`` at the new threshold, and the one-off costs of
      the screen's scoring worker (``holdout_scores``: load the model, read the holdout,
      predict) and ``threshold_grid``.
   b. the screen: headless ``run_test`` at 120x40, open the project, press ``5``, wait for the
      stored evaluation and the holdout scores, show the Metrics tab (``m``), then press ``-``
      15 times and ``+`` 15 times back to back, timing key press -> ``await pilot.pause()``
      returning (target p95 < 100 ms). ``pilot.press`` waits for idle twice and ``pause()``
      once more (Textual's ``wait_for_idle(0)``: 20 ms sleeps, repeated while the process used
      1 ms of CPU or more in the last 20 ms), and each wait first posts a callback to every
      widget of the screen (about 380 here), so the harness alone costs about 115 ms per press
      on this screen: the floor (an unbound key, ``f9``) is shown. Without the harness, the
      same target is checked on ``RESTED`` key events posted to the app ``SETTLE_SECONDS``
      apart: key event -> the last frame written (``App._display``). For scale: the CPU per
      press, the screen's handler alone (``action_threshold``), and per press the time in
      the handler, in layout (with the frames rendered inside it), in other frames and in the
      footer's recompose (wrappers on the screen and footer instances).

The project: ``bench.train``'s churn table (``bench.datagen``'s synthetic data made model-ready,
binary target ``churn``) with ``ROWS`` rows (default 100,000: the locked holdout is 20%, 20,000
rows), trained with ``TrainSettings(models=["dummy", "hgb"], cv=3)`` and the hgb run chosen
(refitted on the training part). It is built once and cached in
``bench/out/evaluate-project-<rows>`` (``MLWB_BENCH_EVAL_REBUILD=1`` builds it again); every
benchmark run works on a copy, so the cache holds no evaluation and no stored threshold.

``MLWB_BENCH_EVAL_THREADS=1`` limits the BLAS and OpenMP pools to one thread with
threadpoolctl (in this thread, where the service runs and the screen handles keys) and sets
``OMP_NUM_THREADS`` for threads started later (the screen's workers) when the libraries are
not loaded yet: histogram gradient boosting's OpenMP loops slow down about tenfold on a busy
machine. Unset: the libraries' defaults. The load average is shown at the start and the end.
``MLWB_BENCH_EVAL_ONLY=service`` (or ``threshold``, ``screen``, comma-separated) runs a subset.
Results: a table on stdout, ``bench/out/evaluate.json`` and ``bench/out/evaluate.txt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import functools
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import REPEATS, conditions, median, seconds, table, verdict

OUT = Path(__file__).resolve().parent / "out"
ROWS = int(os.environ.get("MLWB_BENCH_EVAL_ROWS", "100000"))
THREADS = os.environ.get("MLWB_BENCH_EVAL_THREADS", "")
REBUILD = os.environ.get("MLWB_BENCH_EVAL_REBUILD", "") == "1"
PROFILE = os.environ.get("MLWB_BENCH_EVAL_PROFILE", "1") == "1"
ONLY = os.environ.get("MLWB_BENCH_EVAL_ONLY", "")
"""Comma-separated subset of ``service``, ``threshold``, ``screen`` (default: all three)."""
MODELS = ["dummy", "hgb"]
CV = 3
SEED_TRAIN = 42
SEGMENTS = ["segment", "channel"]
RESAMPLES = 1_000
CHANGES = 50
PRESSES = 30
RESTED = 20
FLOOR = 10
SETTLE_SECONDS = 0.3
LIMIT = 0.100
SIZE = (120, 40)
WAIT_SECONDS = 180.0
"""How long the screen may take to show the stored evaluation and score the holdout."""

PHASES = {
    "loading the model": "load model, charter, holdout rows",
    "predicting": "predict holdout, load training part, baseline, point metrics",
    "bootstrapping": "bootstrap (model + baseline) and intervals",
    "curves and segments": "curves, segments, confusion matrix",
    "permutation importance": "permutation importance",
    "timing predictions": "latency probe, gate, store",
}
"""Progress text (its start) -> what happens until the next report."""


# -- the project -----------------------------------------------------------------------------


def project_dir() -> Path:
    """Where the trained and chosen project is cached."""
    return OUT / f"evaluate-project-{ROWS}"


def build_project(root: Path) -> dict[str, Any]:
    """Import the churn table into a new project at ``root``, train dummy + hgb and choose hgb."""
    from app.domain.training import TrainSettings
    from app.services import models
    from app.services.training import leaderboard, train
    from bench.train import churn_project, make_churn_csv

    csv = make_churn_csv(ROWS)
    store, imported = churn_project(csv, root)
    started = time.perf_counter()
    train(store, TrainSettings(models=MODELS, cv=CV, seed=SEED_TRAIN))
    trained = time.perf_counter() - started
    board = leaderboard(store)
    run = next(row.run for row in board.rows if row.run.candidate == "hgb")
    chosen = models.choose(store, run.id)
    info = {
        "rows": ROWS,
        "csv": csv.name,
        "csv_mb": csv.stat().st_size / 1e6,
        "import_s": imported,
        "train_s": trained,
        "choose_s": chosen.seconds,
        "run_id": run.id,
        "cv_roc_auc": run.mean.get("roc_auc"),
        "model_mb": chosen.bytes / 1e6,
        "refit_rows": chosen.n_rows,
        "threads": THREADS,
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (root / "bench-ready.json").write_text(json.dumps(info, indent=2))
    return info


def cached_project() -> dict[str, Any]:
    """The cached project's build record (building it first when needed)."""
    root = project_dir()
    ready = root / "bench-ready.json"
    if ready.exists() and not REBUILD:
        return json.loads(ready.read_text())
    if root.exists():
        shutil.rmtree(root)
    print(f"building {root.name}: import, train {MODELS} ({CV}-fold), choose hgb", file=sys.stderr)
    info = build_project(root)
    print(
        f"built {root.name}: import {info['import_s']:.1f} s, train {info['train_s']:.1f} s, "
        f"refit {info['choose_s']:.1f} s",
        file=sys.stderr,
    )
    return info


def project_size_mb(root: Path) -> float:
    """The project's size on disk."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


# -- 1. the full evaluation ------------------------------------------------------------------


class _Parts:
    """Seconds spent in some service functions, per evaluation phase (wrappers, restored)."""

    def __init__(self) -> None:
        self.phase = "start"
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, took: float) -> None:
        key = f"{self.phase} / {name}"
        self.seconds[key] = self.seconds.get(key, 0.0) + took
        self.calls[key] = self.calls.get(key, 0) + 1

    @contextlib.contextmanager
    def wrapped(self) -> Iterator[None]:
        from app.services import bootstrap as bs
        from app.services import evaluation as ev
        from app.services import training as tr
        from storage import training as store_runs

        targets: list[tuple[Any, str, str]] = [
            (tr, "load_part", "load_part"),
            (ev, "point_metrics", "point_metrics"),
            (bs, "bootstrap", "bootstrap.bootstrap"),
            (ev, "_curves", "_curves"),
            (ev, "_segments", "_segments"),
            (ev, "_importance", "_importance"),
            (ev, "_latency", "_latency"),
            (ev, "_baseline", "_baseline"),
            (ev, "decide", "decide (gate)"),
            (store_runs, "insert_evaluation", "insert_evaluation (store)"),
        ]
        saved = [(module, attr, getattr(module, attr)) for module, attr, _ in targets]
        for module, attr, name in targets:
            setattr(module, attr, self._timer(getattr(module, attr), name))
        try:
            yield
        finally:
            for module, attr, original in saved:
                setattr(module, attr, original)

    def _timer(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(func)
        def timer(*args: Any, **kwargs: Any) -> Any:
            label = name
            if name == "load_part":
                label += " (holdout)" if kwargs.get("holdout") else " (training part)"
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.add(label, time.perf_counter() - start)

        return timer


def one_evaluation(store: Any, run_id: int, parts: _Parts | None = None) -> dict[str, Any]:
    """One timed ``evaluate`` call: its seconds, the progress reports and the parts."""
    import gc

    from app.services import evaluation as ev

    marks: list[tuple[float, str]] = []
    start = time.perf_counter()

    def report(fraction: float, text: str) -> None:
        marks.append((time.perf_counter() - start, text))
        if parts is not None:
            parts.phase = _phase(text)

    gc.collect()
    start = time.perf_counter()
    found = ev.evaluate(
        store, run_id, segments=SEGMENTS, resamples=RESAMPLES, importance=True, on_progress=report
    )
    took = time.perf_counter() - start
    phases: dict[str, float] = {}
    ends = [*marks[1:], (took, "end")]
    for (at, text), (until, _) in zip(marks, ends, strict=True):
        key = _phase(text)
        phases[key] = phases.get(key, 0.0) + until - at
    phases = {"start (checks, pick run)": marks[0][0] if marks else took, **phases}
    return {
        "seconds": took,
        "inner_s": found.seconds,
        "marks": marks,
        "phases": phases,
        "parts": dict(parts.seconds) if parts else {},
        "calls": dict(parts.calls) if parts else {},
        "evaluation": found,
    }


def _phase(text: str) -> str:
    for start, label in PHASES.items():
        if text.startswith(start):
            return label
    return "gate reported" if text.startswith("gate") else text


def service(store: Any, run_id: int) -> dict[str, Any]:
    """``REPEATS`` timed evaluations (phases and parts of each) and one under cProfile."""
    runs = []
    for i in range(REPEATS):
        parts = _Parts()
        with parts.wrapped():
            got = one_evaluation(store, run_id, parts)
        print(f"evaluate run {i + 1}: {got['seconds']:.2f} s", file=sys.stderr)
        runs.append(got)
    e = runs[-1].pop("evaluation")
    for got in runs:
        got.pop("evaluation", None)
    primary = e.metric(e.primary)
    result: dict[str, Any] = {
        "runs": runs,
        "seconds": [r["seconds"] for r in runs],
        "n_holdout": e.n_holdout,
        "resamples": e.resamples,
        "segments": len(e.segments),
        "segment_columns": SEGMENTS,
        "importance_rows": e.importance_rows,
        "features": len(e.importance),
        "metrics": len(e.metrics),
        "threshold": e.threshold,
        "primary": e.primary,
        "primary_value": primary.model.value if primary else None,
        "primary_ci": [primary.model.low, primary.model.high] if primary else None,
        "gate": e.gate.outcome.value,
        "latency": e.latency.model_dump() if e.latency else None,
        "profile": None,
    }
    if PROFILE:
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        one_evaluation(store, run_id)
        profiler.disable()
        took = time.perf_counter() - start
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        path = OUT / "evaluate-profile.txt"
        path.write_text(f"evaluate() under cProfile: {took:.2f} s\n" + text.getvalue())
        result["profile"] = {"seconds": took, "path": str(path), "top": _top(stats)}
        print(f"evaluate under cProfile: {took:.2f} s -> {path}", file=sys.stderr)
    return result


def _top(stats: pstats.Stats, count: int = 12) -> list[dict[str, Any]]:
    """The functions with the most own time (tottime)."""
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(file).name}:{line}({name})",
                "calls": calls,
                "own_s": own,
                "cumulative_s": cumulative,
            }
        )
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:count]


# -- 2a. the threshold change, service level -------------------------------------------------


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def _thresholds(start: float, count: int) -> list[float]:
    """``count`` thresholds stepping 0.01 down from ``start`` and back, never repeating one in
    a row (what pressing - and + does)."""
    half = count // 2
    down = [round(start - 0.01 * (i + 1), 3) for i in range(half)]
    up = [round(down[-1] + 0.01 * (i + 1), 3) for i in range(count - half)]
    return down + up


def threshold_service(store: Any) -> dict[str, Any]:
    """Per threshold change: the screen's computation on the stored holdout scores."""
    import gc

    import numpy as np

    from app.services import evaluation as ev
    from app.services.bootstrap import binary_label_metrics
    from screens.evaluate_data import holdout_scores, threshold_grid
    from screens.evaluate_threshold import HoldoutScores

    e = ev.latest(store)
    if e is None or e.threshold is None:
        raise RuntimeError("no stored binary evaluation to change the threshold of")
    gc.collect()
    start = time.perf_counter()
    truth, score = holdout_scores(store, e)
    scored_s = time.perf_counter() - start
    start = time.perf_counter()
    curve = threshold_grid(truth, score, e.primary)
    grid_s = time.perf_counter() - start
    scores = HoldoutScores(e.run_id, e.id or 0, truth, score, curve)
    cuts = _thresholds(e.threshold, CHANGES)
    got: dict[str, list[float]] = {"screen": [], "label_metrics": [], "sklearn": []}
    ones = np.ones((1, len(truth)))
    positive = str(e.positive_class)
    negative = next(c for c in e.classes if c != positive)
    y = np.where(truth, positive, negative)
    for t in cuts:  # what show_threshold computes: the live column and the confusion matrix
        start = time.perf_counter()
        values = scores.metrics_at(t)
        scores.confusion_at(t)
        got["screen"].append(time.perf_counter() - start)
        start = time.perf_counter()
        binary_label_metrics(ones, truth, score >= t)
        got["label_metrics"].append(time.perf_counter() - start)
        start = time.perf_counter()
        s = ev.Scored.__new__(ev.Scored)
        s.task, s.y, s.positive, s.threshold = ev.TaskType.BINARY, y, positive, t
        s.classes = np.asarray(sorted([negative, positive]))
        s.score, s.proba = score, np.c_[1 - score, score]
        s.labels = np.where(score >= t, positive, negative)
        reference = ev.point_metrics(s)
        got["sklearn"].append(time.perf_counter() - start)
    gap = max(abs(values[k] - (reference[k] or 0.0)) for k in values)  # the last threshold
    return {
        "rows": len(truth),
        "changes": len(cuts),
        "holdout_scores_s": scored_s,
        "threshold_grid_s": grid_s,
        "gap_vs_sklearn": gap,
        **got,
    }


# -- 2b. the threshold change on the screen ---------------------------------------------------


class _Frames:
    """Records when the app last wrote a frame (wraps ``App._display``)."""

    def __init__(self, app: Any) -> None:
        self.last = 0.0
        self.count = 0
        self._display = app._display

        def display(*args: Any, **kwargs: Any) -> Any:
            self.last = time.perf_counter()
            self.count += 1
            return self._display(*args, **kwargs)

        app._display = display


class _Costs:
    """Seconds the screen spends per part while keys are pressed (wrappers on the instances):
    the threshold handler, layout (with the frames rendered inside it), frames rendered
    outside a layout, and the footer's recompose (wall time, awaits included)."""

    def __init__(self, screen: Any, footer: Any) -> None:
        self.seconds = {"handler": 0.0, "layout": 0.0, "render": 0.0, "footer": 0.0}
        self.calls = dict.fromkeys(self.seconds, 0)
        self._depth = 0
        screen.action_threshold = self._sync(screen.action_threshold, "handler")
        screen._refresh_layout = self._sync(screen._refresh_layout, "layout")
        screen._compositor_refresh = self._sync(screen._compositor_refresh, "render")
        if footer is not None:
            recompose = footer.recompose

            async def timed_recompose() -> None:
                start = time.perf_counter()
                try:
                    await recompose()
                finally:
                    self._add("footer", time.perf_counter() - start)

            footer.recompose = timed_recompose

    def _add(self, name: str, took: float) -> None:
        self.seconds[name] += took
        self.calls[name] += 1

    def _sync(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if name == "render" and self._depth:  # counted in the layout around it
                return func(*args, **kwargs)
            self._depth += name == "layout"
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self._depth -= name == "layout"
                self._add(name, time.perf_counter() - start)

        return timed

    def snapshot(self) -> tuple[dict[str, float], dict[str, int]]:
        """Copies of the totals so far."""
        return dict(self.seconds), dict(self.calls)


async def _screen(store: Any) -> dict[str, Any]:
    from textual import events
    from textual.widgets import Footer

    from app.tui import MlwbApp
    from screens.evaluate import EvaluateScreen
    from screens.evaluate_metrics import MetricsPane

    app = MlwbApp(store)
    got: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        opened = time.perf_counter()
        await pilot.press("5")
        shown = live = None
        screen: Any = None
        while time.perf_counter() - opened < WAIT_SECONDS:
            screen = app.screen
            if isinstance(screen, EvaluateScreen):
                if shown is None and screen.evaluation is not None:
                    shown = time.perf_counter() - opened
                if screen.scores is not None or screen.scores_problem:
                    live = time.perf_counter() - opened
                    break
            await asyncio.sleep(0.01)
        if not isinstance(screen, EvaluateScreen) or screen.evaluation is None:
            raise RuntimeError("the Evaluate screen did not show the stored evaluation")
        if screen.scores is None:
            raise RuntimeError(f"no live threshold on the Evaluate screen: {screen.scores_problem}")
        got["shown_s"], got["live_s"] = shown, live
        await app.workers.wait_for_complete()  # the card, the run picker
        await pilot.press("m")
        await pilot.pause(SETTLE_SECONDS)
        pane = screen.query_one(MetricsPane)
        stored = screen.threshold
        frames = _Frames(app)
        footers = list(app.screen.query(Footer))
        costs = _Costs(screen, footers[0] if footers else None)
        keys = ["minus"] * (PRESSES // 2) + ["plus"] * (PRESSES - PRESSES // 2)
        got |= {"press": [], "press_cpu": [], "frames": []}
        for key in keys:  # back to back: the next press as soon as pause() returns
            before = screen.threshold
            count = frames.count
            start, cpu = time.perf_counter(), time.process_time()
            await pilot.press(key)
            await pilot.pause()
            got["press"].append(time.perf_counter() - start)
            got["press_cpu"].append(time.process_time() - cpu)
            got["frames"].append(frames.count - count)
            if screen.threshold == before:
                raise RuntimeError(f"{key} did not change the threshold ({before})")
        total, calls = costs.snapshot()
        got["costs"] = {k: v / len(keys) for k, v in total.items()}
        got["cost_calls"] = {k: v / len(keys) for k, v in calls.items()}
        if screen.threshold != stored:
            raise RuntimeError(f"the threshold ended at {screen.threshold}, not {stored}")
        assert screen.scores is not None and stored is not None
        expected = screen.scores.metrics_at(stored)["f1"]
        got["live_f1"] = pane.live_value("f1")
        if got["live_f1"] != f"{expected:.4f}":
            raise RuntimeError(f"live F1 {got['live_f1']} != {expected:.4f}")
        got |= {"frame": [], "frame_cpu": [], "frame_count": []}
        await pilot.pause(SETTLE_SECONDS)
        for i in range(RESTED):  # no harness: post the key, wait, read when the last frame landed
            key, char = ("minus", "-") if i < RESTED // 2 else ("plus", "+")
            before, count = screen.threshold, frames.count
            start, cpu = time.perf_counter(), time.process_time()
            app.post_message(events.Key(key, char))
            await asyncio.sleep(SETTLE_SECONDS)
            got["frame"].append(frames.last - start)
            got["frame_cpu"].append(time.process_time() - cpu)
            got["frame_count"].append(frames.count - count)
            if screen.threshold == before:
                raise RuntimeError(f"{key} (posted) did not change the threshold ({before})")
        got |= {"floor": [], "floor_cpu": []}
        for _ in range(FLOOR):  # an unbound key: nothing changes or repaints
            start, cpu = time.perf_counter(), time.process_time()
            await pilot.press("f9")
            await pilot.pause()
            got["floor"].append(time.perf_counter() - start)
            got["floor_cpu"].append(time.process_time() - cpu)
        got["direct"] = []
        for step in [-1] * (PRESSES // 2) + [1] * (PRESSES - PRESSES // 2):
            start = time.perf_counter()
            screen.action_threshold(step)  # the handler alone: no layout, no frame
            got["direct"].append(time.perf_counter() - start)
        await pilot.pause()
    return got


def threshold_screen(store: Any) -> dict[str, Any]:
    """Key press to redraw of the Evaluate screen's threshold control."""
    return asyncio.run(_screen(store))


# -- report ----------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    return f"{1000 * median(values):.1f} ms"


def report_service(svc: dict[str, Any], info: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Table rows and notes of measurement 1."""
    times = svc["seconds"]
    rows = [
        [
            f"1. evaluate(): {svc['n_holdout']:,} holdout rows, {svc['resamples']:,} resamples, "
            f"segments {'+'.join(SEGMENTS)}, importance",
            "",
            "",
            "",
            "",
        ],
        [
            f"  end to end, median / best / worst of {len(times)}",
            seconds(median(times)),
            seconds(min(times)),
            seconds(max(times)),
            "report",
        ],
    ]
    phases: dict[str, list[float]] = {}
    for run in svc["runs"]:
        for key, value in run["phases"].items():
            phases.setdefault(key, []).append(value)
    parts: dict[str, list[float]] = {}
    for run in svc["runs"]:
        for key, value in run["parts"].items():
            parts.setdefault(key, []).append(value)
    for key, values in phases.items():
        share = median(values) / median(times)
        rows.append([f"  {key}", seconds(median(values)), f"{share:.0%}", "", "phase"])
        for part, found in parts.items():
            phase, _, name = part.partition(" / ")
            if phase == key:
                calls = svc["runs"][-1]["calls"].get(part, 0)
                rows.append(
                    [f"    of which {name} ({calls} calls)", seconds(median(found)), "", "", ""]
                )
    notes = [
        f"1. project: {info['rows']:,}-row churn table ({info['csv_mb']:.0f} MB CSV; built "
        f"{info['built']}: import {info['import_s']:.1f} s, train {MODELS} {CV}-fold "
        f"{info['train_s']:.1f} s, refit hgb on {info['refit_rows']:,} rows "
        f"{info['choose_s']:.1f} s, model {info['model_mb']:.2f} MB, CV ROC-AUC "
        f"{info['cv_roc_auc']:.4f}). Evaluation: {svc['metrics']} metrics, {svc['primary']} "
        f"{svc['primary_value']:.4f} (95% CI {svc['primary_ci'][0]:.4f}-"
        f"{svc['primary_ci'][1]:.4f}), gate {svc['gate']}, {svc['segments']} segments, "
        f"importance of {svc['features']} features on {svc['importance_rows']:,} rows, "
        f"threshold {svc['threshold']}. Runs (s): {[round(t, 2) for t in times]}."
    ]
    if svc["latency"]:
        lat = svc["latency"]
        notes.append(
            f"   latency probe (last run): single row p50 {lat['single_p50_ms']:.2f} ms / p95 "
            f"{lat['single_p95_ms']:.2f} ms, batch {lat['batch_ms_per_row'] * 1000:.1f} us/row "
            f"on {lat['batch_rows']:,} rows"
        )
    if svc["profile"]:
        top = ", ".join(
            f"{r['function']} {r['own_s']:.2f} s ({r['calls']} calls)"
            for r in svc["profile"]["top"][:8]
        )
        notes.append(
            f"   cProfile run {svc['profile']['seconds']:.2f} s ({svc['profile']['path']}); most "
            f"own time: {top}"
        )
    return rows, notes


def report_threshold(got: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Table rows and notes of measurement 2a."""
    screen = got["screen"]
    rows = [
        [
            f"2a. threshold change, service level ({got['rows']:,} rows, {got['changes']})",
            "",
            "",
            "",
        ]
        + [""],
        [
            "  metrics_at + confusion_at (the screen's sums), p95 / p50",
            seconds(p95(screen)),
            seconds(median(screen)),
            f"max {seconds(max(screen))}",
            f"< {LIMIT * 1000:.0f} ms {verdict(p95(screen) < LIMIT)}",
        ],
        [
            "  bootstrap.binary_label_metrics alone, p95 / p50",
            seconds(p95(got["label_metrics"])),
            seconds(median(got["label_metrics"])),
            "",
            "info",
        ],
        [
            "  scikit-learn evaluation.point_metrics instead, p95 / p50",
            seconds(p95(got["sklearn"])),
            seconds(median(got["sklearn"])),
            "",
            "info",
        ],
        [
            "  once per opening: holdout_scores worker / threshold_grid",
            seconds(got["holdout_scores_s"]),
            seconds(got["threshold_grid_s"]),
            "",
            "info",
        ],
    ]
    notes = [
        f"2a. largest difference of the live label metrics from scikit-learn's: "
        f"{got['gap_vs_sklearn']:.1e}"
    ]
    return rows, notes


def _one(value: float, calls: float) -> str:
    """Seconds per press, with the calls per press."""
    return f"{value * 1000:.1f} ms x{calls:.1f}"


def report_screen(got: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Table rows and notes of measurement 2b."""
    press, frame = got["press"], got["frame"]
    work = median(got["press_cpu"]) - median(got["floor_cpu"])
    rows = [
        [f"2b. Evaluate screen, threshold keys ({PRESSES} presses, {SIZE[0]}x{SIZE[1]})"]
        + ["", "", "", ""],
        [
            "  back to back: key press -> pilot.pause(), p95 / p50",
            seconds(p95(press)),
            seconds(median(press)),
            f"max {seconds(max(press))}",
            f"< {LIMIT * 1000:.0f} ms {verdict(p95(press) < LIMIT)}",
        ],
        [
            "  back to back: CPU per press / per floor press (median)",
            _ms(got["press_cpu"]),
            _ms(got["floor_cpu"]),
            f"{1000 * work:.1f} ms",
            "info",
        ],
        [
            "  harness floor: unbound key (f9) -> pause(), p50 / max",
            seconds(median(got["floor"])),
            seconds(max(got["floor"])),
            "",
            "info",
        ],
        [
            "  no harness: key event posted -> last frame written, p95 / p50",
            seconds(p95(frame)),
            seconds(median(frame)),
            f"max {seconds(max(frame))}",
            f"< {LIMIT * 1000:.0f} ms {verdict(p95(frame) < LIMIT)}",
        ],
        [
            f"  no harness: CPU per key event ({SETTLE_SECONDS:g} s window), p50 / max",
            _ms(got["frame_cpu"]),
            seconds(max(got["frame_cpu"])),
            "",
            "info",
        ],
        [
            "  the handler alone (action_threshold), p95 / p50",
            seconds(p95(got["direct"])),
            seconds(median(got["direct"])),
            f"max {seconds(max(got['direct']))}",
            "info",
        ],
        [
            "  opening: key 5 -> stored evaluation shown / live threshold ready",
            seconds(got["shown_s"] or 0.0),
            seconds(got["live_s"] or 0.0),
            "",
            "info",
        ],
    ]
    costs, calls = got["costs"], got["cost_calls"]
    rows.append(
        [
            "  per back-to-back press: handler / layout (+its frames) / other frames",
            _one(costs["handler"], calls["handler"]),
            _one(costs["layout"], calls["layout"]),
            _one(costs["render"], calls["render"]),
            "info",
        ]
    )
    rows.append(
        [
            "  per back-to-back press: footer recompose (wall, awaits included)",
            _one(costs["footer"], calls["footer"]),
            "",
            "",
            "info",
        ]
    )
    notes = [
        f"2b. frames written per back-to-back press: median "
        f"{statistics.median(got['frames']):.0f}, per posted key event "
        f"{statistics.median(got['frame_count']):.0f}; live F1 after -15/+15 presses "
        f"{got['live_f1']} (checked against HoldoutScores.metrics_at). Press times (ms): "
        f"{[round(v * 1000) for v in press]}"
    ]
    return rows, notes


def code_state() -> str:
    """The commit measured, with ``+changes`` when app/, screens/ or storage/ differ from it."""
    import subprocess

    root = OUT.parent.parent
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "app", "screens", "storage"],
        capture_output=True,
        text=True,
    )
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main() -> None:
    """Build (or reuse) the project, then run the evaluation measurements on a copy of it."""
    chosen = [k.strip() for k in ONLY.split(",") if k.strip()] or ["service", "threshold", "screen"]
    unknown = [k for k in chosen if k not in ("service", "threshold", "screen")]
    if unknown:
        sys.exit(f"MLWB_BENCH_EVAL_ONLY: unknown {unknown}; choose service, threshold, screen")
    if THREADS and "sklearn" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = THREADS  # for threads started later (the workers)
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=int(THREADS)) if THREADS else contextlib.nullcontext()
    results: dict[str, Any] = {
        "rows": ROWS,
        "threads": THREADS,
        "code": code_state(),
        "conditions": conditions(),
    }
    started = time.perf_counter()
    with limits:
        from storage.db import ProjectStore

        info = cached_project()
        results["project"] = info
        OUT.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="evaluate-bench-", dir=OUT) as tmp:
            root = Path(tmp) / "project"
            shutil.copytree(project_dir(), root)
            results["project_mb"] = project_size_mb(root)
            store = ProjectStore.open(root)
            run_id = int(info["run_id"])
            if "service" in chosen:
                results["service"] = service(store, run_id)
            elif "threshold" in chosen or "screen" in chosen:
                from app.services import evaluation as ev

                ev.evaluate(store, run_id, segments=SEGMENTS, resamples=100, importance=False)
            if "threshold" in chosen:
                results["threshold"] = threshold_service(store)
            if "screen" in chosen:
                results["screen"] = threshold_screen(store)
    results["seconds"] = time.perf_counter() - started
    results["conditions_end"] = conditions()
    rows: list[list[str]] = []
    notes: list[str] = []
    if "service" in results:
        more = report_service(results["service"], info)
        rows, notes = rows + more[0], notes + more[1]
    if "threshold" in results:
        more = report_threshold(results["threshold"])
        rows, notes = rows + more[0], notes + more[1]
    if "screen" in results:
        more = report_screen(results["screen"])
        rows, notes = rows + more[0], notes + more[1]
    text = "\n".join(
        [
            table(
                ["measurement", "a", "b", "c", "target"],
                rows,
                f"evaluate: hgb on the {ROWS:,}-row churn table (OpenMP/BLAS threads "
                f"{THREADS or 'default'}; code {results['code']}; benchmark "
                f"{results['seconds']:.0f} s); {results['conditions']} at the start, "
                f"{results['conditions_end']} at the end",
            ),
            *notes,
        ]
    )
    print(text)
    (OUT / "evaluate.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / "evaluate.txt").write_text(text + "\n")
    print(f"raw results: {OUT / 'evaluate.json'}, this report: {OUT / 'evaluate.txt'}")


if __name__ == "__main__":
    main()
