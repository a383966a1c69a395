"""Training speed and memory: mlwb's leaderboard CV against scikit-learn and PyCaret, same run.

Targets (issue 5, the Train stage):

1. Overhead: mlwb's 5-fold cross-validation of histogram gradient boosting (candidate ``hgb``,
   default parameters) on a 100k-row table takes at most 1.15x the time of scikit-learn's own
   ``cross_validate`` of the same pipeline (``build_pipeline``), on the same folds
   (``cv=data.folds``), with scikit-learn scorers for every metric of the task, ``n_jobs=None``
   on both sides. Only the CV is timed (``cross_validate_config`` against ``cross_validate``);
   loading the training part (``load_training``) is timed once and shown apart. The two run
   ``REPEATS`` times in alternating order; the ratio uses the medians. The fold metrics of the
   two must agree (a sanity check, not a timing).
2. The quick preset (dummy, logistic regression, random forest, histogram gradient boosting;
   5-fold) on the adult sample (``sample_data/adult.csv`` under the demo charter, cleaned with
   the recipe steps ``trim_whitespace`` and ``null_markers ['?']``): the wall time of mlwb's
   ``train()`` against PyCaret's ``setup`` + ``compare_models`` on the same training rows and
   the same fold indices (a custom CV splitter as ``fold_strategy``; ``test_data`` is given so
   PyCaret makes no split of its own). PyCaret pins old libraries, so it lives in its own
   virtualenv, ``bench/out/pycaret-venv``, made with uv on first use; if it cannot be installed
   or fails, only the plain scikit-learn loop is shown (it always is, for reference: the four
   mlwb pipelines through ``cross_validate`` on the same folds). PyCaret runs twice: with the
   same estimator settings as mlwb's defaults (its own preprocessing), and with its own default
   models. Metrics are shown side by side.
3. Peak memory of a child process that trains ``dummy`` + ``hgb`` (5-fold) on a 1M-row table
   (``train()``, the import done beforehand): RSS polled every 5 ms (children included) and the
   child's own high-water mark (VmHWM), against a child that only imports mlwb and opens the
   project.

The table is ``bench.datagen``'s synthetic data made model-ready: its numeric, boolean and
(dirty) categorical columns, the amount stored as text turned into a number, and a binary
target ``churn`` drawn from a logistic model of some of the features (with noise), so the
models have something to learn. ``python -m bench.train --quick`` (or
``MLWB_BENCH_TRAIN_QUICK=1 ./dev bench train``) runs everything on small sizes as a smoke
test; ``MLWB_BENCH_TRAIN_ONLY=overhead`` (or ``preset``, ``memory``, comma-separated) runs a
subset, and ``MLWB_BENCH_TRAIN_THREADS=1`` pins OpenMP to one thread for every tool (see
``THREADS``). Results are printed as a table and kept as JSON in ``bench/out/train*.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    REPEATS,
    conditions,
    median,
    run_polling_rss,
    seconds,
    table,
    timed,
    verdict,
    warm_cache,
)
from bench.datagen import OUT, SEED, synthetic_frame

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
PYCARET_VENV = OUT / "pycaret-venv"
PYCARET_PYTHON = PYCARET_VENV / "bin" / "python"
PYCARET_PACKAGES = ["pycaret==3.3.2", "setuptools<81", "six"]
"""PyCaret 3.3.2 supports Python 3.9-3.11; scikit-plot imports ``six`` without declaring it."""

QUICK = "--quick" in sys.argv[1:] or os.environ.get("MLWB_BENCH_TRAIN_QUICK", "") == "1"
OVERHEAD_ROWS = int(os.environ.get("MLWB_BENCH_TRAIN_ROWS", "20000" if QUICK else "100000"))
MEMORY_ROWS = int(os.environ.get("MLWB_BENCH_TRAIN_MEMORY_ROWS", "100000" if QUICK else "1000000"))
ADULT_ROWS = int(os.environ.get("MLWB_BENCH_TRAIN_ADULT_ROWS", "6000" if QUICK else "0"))
"""Rows of adult.csv to use (0: all 32,561)."""
REPEATS_CV = int(os.environ.get("MLWB_BENCH_TRAIN_REPEATS", "2" if QUICK else str(REPEATS)))
PYCARET = os.environ.get("MLWB_BENCH_TRAIN_PYCARET", "1") == "1"
ONLY = os.environ.get("MLWB_BENCH_TRAIN_ONLY", "")
"""Comma-separated subset of ``overhead``, ``preset``, ``memory`` (default: all three)."""
THREADS = os.environ.get("MLWB_BENCH_TRAIN_THREADS", "")
"""OpenMP threads for every tool (``OMP_NUM_THREADS``, inherited by the child processes);
empty: the libraries' default, one per core. Histogram gradient boosting's OpenMP loops slow
down about tenfold when other processes compete for the cores, so on a busy machine
``MLWB_BENCH_TRAIN_THREADS=1`` keeps the comparisons meaningful."""
CV = 5
SEED_TRAIN = 42
OVERHEAD_LIMIT = 1.15
POLL_SECONDS = 0.005
MEMORY_MODELS = ["dummy", "hgb"]
QUICK_PRESET = "quick"

CHURN_CHARTER: dict[str, Any] = {
    "name": "Benchmark churn",
    "objective": "Find the customers about to churn (synthetic benchmark data).",
    "task": "binary",
    "target": "churn",
    "positive_class": "churned",
    "primary_metric": "roc_auc",
    "threshold": 0.7,
}


# -- the data ------------------------------------------------------------------------------


def churn_frame(rows: int, seed: int = SEED) -> Any:
    """``bench.datagen``'s table made model-ready, with a binary target ``churn``."""
    import polars as pl

    frame = synthetic_frame(rows, seed)
    # markers such as "?" or "n/a" do not parse and become missing
    amount = pl.col("amount").str.strip_chars().cast(pl.Float64, strict=False)
    frame = frame.with_columns(amount.alias("amount")).drop(
        "id", "note", "signup_date", "last_seen"
    )
    rng = np.random.default_rng(seed + 1)

    def num(column: str) -> np.ndarray:
        values = frame[column].cast(pl.Float64).to_numpy()
        mean = np.nanmean(values)
        std = np.nanstd(values) or 1.0
        return np.nan_to_num((values - mean) / std)

    def effect(column: str, scale: float) -> np.ndarray:
        codes = frame[column].fill_null("").str.strip_chars().str.to_lowercase()
        lookup = {v: i for i, v in enumerate(codes.unique().sort().to_list())}
        weights = rng.normal(0, scale, len(lookup))
        return weights[codes.replace_strict(lookup, return_dtype=pl.Int64).to_numpy()]

    logit = (
        -1.4
        + 0.8 * num("score")
        - 0.5 * num("income")
        + 0.6 * num("rate")
        - 0.4 * num("age")
        + 0.3 * num("n_items")
        + 0.5 * np.nan_to_num(frame["flag"].cast(pl.Float64).to_numpy())
        + 0.4 * np.tanh(num("balance"))
        + effect("segment", 0.6)
        + effect("channel", 0.5)
        + effect("product", 0.4)
        + effect("status", 0.5)
        + rng.logistic(0, 0.6, rows)
    )
    # not yes/no: DuckDB would read those as BOOLEAN; "churned" sorts after "active"
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "churned", "active")
    return frame.with_columns(pl.Series("churn", churn))


def make_churn_csv(rows: int, seed: int = SEED) -> Path:
    """Write (once) and return ``bench/out/train_<rows>_s<seed>.csv``."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"train_{rows}_s{seed}.csv"
    if path.exists():
        return path
    started = time.perf_counter()
    frame = churn_frame(rows, seed)
    partial = path.with_suffix(f".csv.part-{os.getpid()}")
    frame.write_csv(partial)
    partial.replace(path)
    share = (frame["churn"] == "churned").mean()
    print(
        f"generated {path.name}: {rows:,} rows x {frame.width} columns, "
        f"{path.stat().st_size / 1e6:,.0f} MB, {share:.1%} churn, "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return path


def churn_project(csv: Path, work: Path) -> tuple[Any, float]:
    """A new project with the churn charter and ``csv`` imported; the store, import seconds."""
    from app.services import ingest, problem
    from storage.db import ProjectStore

    store = ProjectStore.create(work, "bench-train")
    problem.save_charter(store, CHURN_CHARTER)
    took, _ = timed(lambda: ingest.import_file(store, csv, name="churn"))
    return store, took


def adult_project(work: Path) -> tuple[Any, str]:
    """The adult demo charter, adult.csv (or its first ADULT_ROWS rows) imported and cleaned
    with the recipe steps trim_whitespace and null_markers ['?']; the store and its ref."""
    from app.services import browse, cleaning, ingest, problem
    from app.services.demo import DEMO_CHARTERS, sample_data_dir
    from storage.db import ProjectStore

    source = sample_data_dir() / "adult.csv"
    if ADULT_ROWS:
        lines = source.read_text().splitlines(keepends=True)
        source = OUT / f"adult_head_{ADULT_ROWS}.csv"
        source.write_text("".join(lines[: ADULT_ROWS + 1]))
    store = ProjectStore.create(work, "bench-adult")
    problem.save_charter(store, DEMO_CHARTERS["adult"])
    ingest.import_file(store, source, name="adult")
    cleaning.add_step(store, "adult", {"kind": "trim_whitespace"})
    cleaning.add_step(store, "adult", {"kind": "null_markers", "markers": ["?"]})
    found = browse.current_dataset(store)
    assert found is not None
    return store, found.ref


# -- scikit-learn's side -------------------------------------------------------------------


def _roc_auc(y_true: Any, y_score: Any, *, pos_label: Any) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(y_true) == pos_label, y_score))


def sklearn_scorers(task: Any, positive: Any) -> dict[str, Any]:
    """scikit-learn scorers for every metric mlwb reports for a binary task.

    Keep the positive class the last label in sorted order (``churned`` after ``active``,
    ``>50K`` after ``<=50K``): in scikit-learn 1.9 a ``predict_proba`` scorer with
    ``pos_label`` equal to ``classes_[0]`` placed before ``neg_log_loss`` in one
    ``cross_validate`` call makes the multimetric cache hand ``neg_log_loss`` the wrong
    column (log loss 1.69 instead of 0.52 here). ``metric_gap`` would show it."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        make_scorer,
        matthews_corrcoef,
        precision_score,
        recall_score,
    )

    from app.domain.metrics import TaskType
    from app.services import scoring

    if task is not TaskType.BINARY:
        raise ValueError("the benchmark tables are binary classification")
    proba = "predict_proba"
    scorers: dict[str, Any] = {
        "f1": make_scorer(f1_score, pos_label=positive, zero_division=0),
        "recall": make_scorer(recall_score, pos_label=positive, zero_division=0),
        "precision": make_scorer(precision_score, pos_label=positive, zero_division=0),
        "accuracy": "accuracy",
        "balanced_accuracy": "balanced_accuracy",
        "roc_auc": make_scorer(_roc_auc, response_method=proba, pos_label=positive),
        "pr_auc": make_scorer(average_precision_score, response_method=proba, pos_label=positive),
        "log_loss": "neg_log_loss",
        "mcc": make_scorer(matthews_corrcoef),
    }
    names = scoring.metric_names(task)
    missing = [n for n in names if n not in scorers]
    if missing:
        raise ValueError(f"no scikit-learn scorer for {missing}")
    return {n: scorers[n] for n in names}


def sklearn_cv(data: Any, key: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``cross_validate`` of mlwb's pipeline for ``key`` on ``data.folds``; scores per metric."""
    from sklearn.model_selection import cross_validate

    from app.domain.training import CANDIDATES
    from app.services.features import build_pipeline

    spec = CANDIDATES[key]
    values = spec.resolve(params)
    pipe = build_pipeline(spec, values, data.task, SEED_TRAIN, data.features)
    scores = cross_validate(
        pipe,
        data.X,
        data.y,
        cv=data.folds,
        scoring=sklearn_scorers(data.task, data.positive),
        n_jobs=None,
    )
    out = {k[5:]: [float(v) for v in scores[k]] for k in scores if k.startswith("test_")}
    out["log_loss"] = [-v for v in out["log_loss"]]
    out["fit_time"] = [float(v) for v in scores["fit_time"]]
    out["score_time"] = [float(v) for v in scores["score_time"]]
    return out


def mlwb_cv(data: Any, key: str) -> Any:
    """mlwb's cross-validation of one configuration (what a leaderboard row is made of)."""
    from app.domain.training import CANDIDATES, RunStatus
    from app.services.training import cross_validate_config

    spec = CANDIDATES[key]
    run = cross_validate_config(data, spec, spec.resolve(None), SEED_TRAIN, session=0)
    if run.status is not RunStatus.DONE:
        raise RuntimeError(f"mlwb's CV of {key} ended {run.status}: {run.error}")
    return run


def metric_gap(run: Any, theirs: dict[str, Any]) -> float:
    """The largest absolute difference between mlwb's and scikit-learn's fold metrics."""
    gap = 0.0
    for fold in run.folds:
        for name, value in fold.metrics.items():
            if value is None:
                continue
            gap = max(gap, abs(value - theirs[name][fold.fold]))
    return gap


# -- 1. overhead ---------------------------------------------------------------------------


def overhead(work: Path) -> dict[str, Any]:
    """mlwb's hgb CV against scikit-learn's cross_validate, alternating, REPEATS times each."""
    from app.domain.training import TrainSettings
    from app.services.training import load_training, train

    csv = make_churn_csv(OVERHEAD_ROWS)
    warm_cache(csv)
    store, imported = churn_project(csv, work / "overhead")
    loaded, data = timed(lambda: load_training(store, CV, SEED_TRAIN))
    print(
        f"overhead: imported {csv.name} in {imported:.1f} s, load_training {loaded:.2f} s, "
        f"{len(data.y):,} training rows",
        file=sys.stderr,
    )
    mine: list[float] = []
    theirs: list[float] = []
    run = None
    sk: dict[str, Any] = {}
    for i in range(REPEATS_CV):
        order = ("mlwb", "sklearn") if i % 2 == 0 else ("sklearn", "mlwb")
        for who in order:
            if who == "mlwb":
                took, run = timed(lambda: mlwb_cv(data, "hgb"))
                mine.append(took)
            else:
                took, sk = timed(lambda: sklearn_cv(data, "hgb"))
                theirs.append(took)
            print(f"  {who} hgb CV: {took:.2f} s", file=sys.stderr)
    assert run is not None
    # info: a whole train() session of hgb alone (load, CV, storing the run)
    session_s, _ = timed(
        lambda: train(store, TrainSettings(models=["hgb"], cv=CV, seed=SEED_TRAIN))
    )
    return {
        "rows": OVERHEAD_ROWS,
        "csv_mb": csv.stat().st_size / 1e6,
        "columns": len(data.X.columns),
        "numeric": len(data.features.numeric),
        "categorical": len(data.features.categorical),
        "train_rows": len(data.y),
        "import_s": imported,
        "load_s": loaded,
        "mlwb_s": mine,
        "sklearn_s": theirs,
        "ratio": median(mine) / median(theirs),
        "metric_gap": metric_gap(run, sk),
        "mlwb_fit_s": sum(f.fit_seconds for f in run.folds),
        "mlwb_predict_s": sum(f.predict_seconds for f in run.folds),
        "mlwb_run_duration_s": run.duration,
        "model_bytes": run.model_bytes,
        "sklearn_fit_s": sum(sk["fit_time"]),
        "sklearn_score_s": sum(sk["score_time"]),
        "train_session_s": session_s,
        "roc_auc": run.mean.get("roc_auc"),
    }


# -- 2. the quick preset on adult ----------------------------------------------------------

_PYCARET_CHILD = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import os
os.environ.setdefault("PYCARET_CUSTOM_LOGGING_LEVEL", "CRITICAL")
csv, meta_path, variant = sys.argv[1], sys.argv[2], sys.argv[3]
import numpy as np
import pandas as pd
meta = json.load(open(meta_path))
target, numeric, categorical = meta["target"], meta["numeric"], meta["categorical"]
df = pd.read_csv(csv, dtype={c: str for c in categorical + [target]}, keep_default_na=False,
                 na_values={c: [""] for c in numeric})
saved = np.load(meta["folds"])
folds = [(saved[f"train{i}"], saved[f"valid{i}"]) for i in range(meta["k"])]

class SameFolds:
    # mlwb's fold indices, as a scikit-learn CV splitter
    def __init__(self, folds):
        self.folds = folds
    def split(self, X=None, y=None, groups=None):
        assert X is None or len(X) == meta["rows"], len(X)
        return iter([(a, b) for a, b in self.folds])
    def get_n_splits(self, X=None, y=None, groups=None):
        return len(self.folds)

from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from pycaret.classification import ClassificationExperiment
seed = meta["seed"]
if variant == "mlwb":
    rf = meta["rf"]
    include = [
        DummyClassifier(strategy="prior"),
        LogisticRegression(max_iter=1000, random_state=seed, **meta["logreg"]),
        RandomForestClassifier(bootstrap=True, n_jobs=-1, random_state=seed, **rf),
        HistGradientBoostingClassifier(early_stopping="auto", random_state=seed, **meta["hgb"]),
    ]
else:
    include = ["dummy", "lr", "rf", HistGradientBoostingClassifier(random_state=seed)]
start = time.perf_counter()
exp = ClassificationExperiment()
exp.setup(data=df, target=target, test_data=df.iloc[:500].copy(), fold_strategy=SameFolds(folds),
          fold=len(folds), session_id=seed, verbose=False, html=False, index=False,
          numeric_features=numeric, categorical_features=categorical)
setup_s = time.perf_counter() - start
X_train = exp.get_config("X_train")
assert len(X_train) == len(df), (len(X_train), len(df))
assert np.allclose(X_train[numeric[0]].to_numpy(dtype=float), df[numeric[0]].to_numpy(dtype=float),
                   equal_nan=True), "PyCaret reordered the training rows"
start = time.perf_counter()
exp.compare_models(include=include, sort="F1", n_select=1, verbose=False, errors="raise")
compare_s = time.perf_counter() - start
board = exp.pull()
rows = {str(r["Model"]): {k: (float(v) if isinstance(v, (int, float, np.floating)) else str(v))
                          for k, v in r.items()} for _, r in board.iterrows()}
import pycaret, sklearn
print(json.dumps({"setup_s": setup_s, "compare_s": compare_s, "rows": rows,
                  "pycaret": pycaret.__version__, "sklearn": sklearn.__version__,
                  "pandas": pd.__version__, "n_jobs": exp.get_config("n_jobs_param")}))
"""


def ensure_pycaret() -> str | None:
    """Create ``bench/out/pycaret-venv`` unless PyCaret already imports; None or why not."""
    check = [str(PYCARET_PYTHON), "-W", "ignore", "-c", "import pycaret.classification"]
    if PYCARET_PYTHON.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    print(f"creating {PYCARET_VENV} with {', '.join(PYCARET_PACKAGES)} ...", file=sys.stderr)
    try:
        if not PYCARET_PYTHON.exists():
            subprocess.run(
                [str(UV), "venv", str(PYCARET_VENV), "-p", "python3.11"], check=True, env=env
            )
        subprocess.run(
            [str(UV), "pip", "install", "-p", str(PYCARET_PYTHON), *PYCARET_PACKAGES],
            check=True,
            env=env,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"PyCaret did not install: {exc}"
    done = subprocess.run(check, capture_output=True, text=True)
    if done.returncode != 0:
        return f"PyCaret does not import: {done.stderr.strip().splitlines()[-1]}"
    return None


def pycaret_run(data: Any, work: Path, variant: str) -> dict[str, Any]:
    """PyCaret's setup + compare_models on mlwb's training rows and folds (child process)."""
    from app.domain.training import CANDIDATES

    csv = work / "adult-train.csv"
    meta = work / "adult-meta.json"
    if not csv.exists():
        frame = data.X.copy()
        frame[data.charter.target] = data.y
        frame.to_csv(csv, index=False)
        arrays = {}
        for i, (a, b) in enumerate(data.folds):
            arrays[f"train{i}"], arrays[f"valid{i}"] = a, b
        np.savez(work / "folds.npz", **arrays)
        rf = CANDIDATES["rf"].resolve(None)
        meta.write_text(
            json.dumps(
                {
                    "target": data.charter.target,
                    "numeric": data.features.numeric,
                    "categorical": data.features.categorical,
                    "folds": str(work / "folds.npz"),
                    "k": len(data.folds),
                    "rows": len(data.y),
                    "seed": SEED_TRAIN,
                    "logreg": CANDIDATES["logreg"].resolve(None),
                    "rf": rf,
                    "hgb": CANDIDATES["hgb"].resolve(None),
                }
            )
        )
    started = time.perf_counter()
    done = subprocess.run(
        [str(PYCARET_PYTHON), "-c", _PYCARET_CHILD, str(csv), str(meta), variant],
        capture_output=True,
        text=True,
        cwd=work,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"PyCaret ({variant}) failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def quick_preset(work: Path) -> dict[str, Any]:
    """mlwb's quick preset on adult against a plain scikit-learn loop and PyCaret."""
    from app.domain.metrics import TaskType
    from app.domain.training import TrainSettings, parse_models
    from app.services.training import leaderboard, load_training, train

    store, ref = adult_project(work / "adult")
    models = parse_models(QUICK_PRESET, TaskType.BINARY)
    settings = TrainSettings(models=models, cv=CV, seed=SEED_TRAIN)
    wall, _ = timed(lambda: train(store, settings))
    board = leaderboard(store)
    runs = {
        row.run.candidate: {
            "duration_s": row.run.duration,
            "accuracy": row.run.mean.get("accuracy"),
            "roc_auc": row.run.mean.get("roc_auc"),
            "f1": row.run.mean.get("f1"),
            "model_bytes": row.run.model_bytes,
        }
        for row in board.rows
    }
    print(f"quick preset on {ref}: mlwb train() {wall:.1f} s", file=sys.stderr)
    loaded, data = timed(lambda: load_training(store, CV, SEED_TRAIN))
    sk_runs: dict[str, Any] = {}
    sk_wall = 0.0
    for key in models:
        took, scores = timed(lambda key=key: sklearn_cv(data, key))
        sk_wall += took
        sk_runs[key] = {
            "seconds": took,
            "accuracy": float(np.mean(scores["accuracy"])),
            "roc_auc": float(np.mean(scores["roc_auc"])),
            "f1": float(np.mean(scores["f1"])),
        }
    print(f"quick preset: plain scikit-learn loop {sk_wall:.1f} s", file=sys.stderr)
    result: dict[str, Any] = {
        "ref": ref,
        "train_rows": len(data.y),
        "features": len(data.features.columns),
        "models": models,
        "mlwb_s": wall,
        "mlwb_runs": runs,
        "load_s": loaded,
        "sklearn_s": sk_wall,
        "sklearn_runs": sk_runs,
        "pycaret": {},
        "pycaret_error": None,
    }
    problem = ensure_pycaret() if PYCARET else "skipped (MLWB_BENCH_TRAIN_PYCARET=0)"
    if problem is None:
        for variant in ("mlwb", "defaults"):
            try:
                result["pycaret"][variant] = pycaret_run(data, work, variant)
            except RuntimeError as exc:
                problem = str(exc)
                break
            took = result["pycaret"][variant]
            print(
                f"quick preset: PyCaret ({variant}) setup {took['setup_s']:.1f} s + "
                f"compare_models {took['compare_s']:.1f} s",
                file=sys.stderr,
            )
    result["pycaret_error"] = problem
    return result


# -- 3. peak memory ------------------------------------------------------------------------

_MEMORY_CHILD = r"""
import json, sys, time
mode, project, models, cv = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
def hwm_mb():
    # VmHWM: this process's own high-water mark; ru_maxrss would include the parent's at exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
from pathlib import Path
from app.domain.training import TrainSettings
from app.services.training import leaderboard, train
from storage.db import ProjectStore
store = ProjectStore.open(Path(project))
out = {}
start = time.perf_counter()
if mode == "train":
    marks = {}
    def on_event(event):
        if event.kind == "start":
            marks["loaded"] = time.perf_counter() - start
    train(store, TrainSettings(models=models, cv=cv, seed=42), on_event=on_event)
    out["load_s"] = marks.get("loaded")
    out["runs"] = {r.run.candidate: {"duration_s": r.run.duration,
                                     "roc_auc": r.run.mean.get("roc_auc"),
                                     "n_train": r.run.folds[0].n_train}
                   for r in leaderboard(store).rows}
out["seconds"] = time.perf_counter() - start
out["maxrss_mb"] = hwm_mb()
print(json.dumps(out))
"""


def memory_child(project: Path, mode: str) -> dict[str, Any]:
    """Run the memory child (``train`` or ``baseline``); its report and the polled peak."""
    out, peak = run_polling_rss(
        [sys.executable, "-c", _MEMORY_CHILD, mode, str(project), ",".join(MEMORY_MODELS), str(CV)],
        ROOT,
        POLL_SECONDS,
    )
    result = json.loads(out.strip().splitlines()[-1])
    result["polled_mb"] = peak / 1e6
    return result


def memory(work: Path) -> dict[str, Any]:
    """Peak RSS of a child training dummy + hgb on MEMORY_ROWS rows."""
    csv = make_churn_csv(MEMORY_ROWS)
    warm_cache(csv)
    store, imported = churn_project(csv, work / "memory")
    del store
    print(f"memory: imported {csv.name} in {imported:.1f} s", file=sys.stderr)
    base = memory_child(work / "memory", "baseline")
    used = memory_child(work / "memory", "train")
    print(f"memory: train child {used['seconds']:.1f} s", file=sys.stderr)
    return {
        "rows": MEMORY_ROWS,
        "csv_mb": csv.stat().st_size / 1e6,
        "import_s": imported,
        "train": used,
        "baseline": base,
    }


# -- report --------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


Section = tuple[list[list[str]], list[str]]


def report_overhead(over: dict[str, Any]) -> Section:
    """Table rows and notes of measurement 1."""
    rows: list[list[str]] = []
    notes: list[str] = []
    mine, theirs = over["mlwb_s"], over["sklearn_s"]
    ratio = over["ratio"]
    rows.append(
        [
            f"1. hgb {CV}-fold CV, {over['rows']:,} rows ({over['train_rows']:,} after holdout)",
            "",
            "",
            "",
            "",
        ]
    )
    rows.append(
        [
            "  mlwb cross_validate_config",
            seconds(min(mine)),
            seconds(median(mine)),
            f"{ratio:.2f}x",
            f"<= {OVERHEAD_LIMIT:g}x {verdict(ratio <= OVERHEAD_LIMIT)}",
        ]
    )
    rows.append(
        [
            "  scikit-learn cross_validate, same pipeline + folds",
            seconds(min(theirs)),
            seconds(median(theirs)),
            "",
            "",
        ]
    )
    if over["metric_gap"] > 1e-9:
        rows.append(["  fold metrics differ from scikit-learn's!", "", "", "", "CHECK"])
    rows.append(
        ["  load_training (once, not in the CV times)", seconds(over["load_s"]), "", "", "info"]
    )
    rows.append(
        [
            "  mlwb train(['hgb']) session: load + CV + store",
            seconds(over["train_session_s"]),
            "",
            "",
            "info",
        ]
    )
    notes.append(
        f"1. {over['rows']:,} rows x {over['columns']} features ({over['numeric']} numeric, "
        f"{over['categorical']} categorical; {over['csv_mb']:.0f} MB CSV, import "
        f"{over['import_s']:.1f} s). Last mlwb run: fit {over['mlwb_fit_s']:.2f} s + predict "
        f"{over['mlwb_predict_s']:.2f} s of {over['mlwb_run_duration_s']:.2f} s (the rest: "
        f"metrics, row selection, model size); scikit-learn fit {over['sklearn_fit_s']:.2f} s + "
        f"score {over['sklearn_score_s']:.2f} s. Model {over['model_bytes'] / 1e6:.2f} MB, "
        f"ROC-AUC {_f(over['roc_auc'])}; largest fold-metric difference mlwb vs scikit-learn "
        f"{over['metric_gap']:.1e}. Runs (s): mlwb {[round(v, 2) for v in mine]}, "
        f"scikit-learn {[round(v, 2) for v in theirs]} (alternating order)."
    )
    return rows, notes


def report_preset(quick: dict[str, Any]) -> Section:
    """Table rows and notes of measurement 2."""
    rows: list[list[str]] = []
    notes: list[str] = []
    rows.append(
        [
            f"2. quick preset on {quick['ref']} ({quick['train_rows']:,} training rows, {CV}-fold)",
            "",
            "",
            "",
            "",
        ]
    )
    rows.append(
        ["  mlwb train() (load + 4 candidates + store)", seconds(quick["mlwb_s"]), "", "", "info"]
    )
    sk_ratio = quick["sklearn_s"] / quick["mlwb_s"]
    rows.append(
        [
            "  plain scikit-learn loop, same pipelines + folds",
            seconds(quick["sklearn_s"]),
            "",
            f"{sk_ratio:.2f}x",
            "info",
        ]
    )
    labels = {
        "mlwb": "PyCaret compare_models, mlwb's model settings",
        "defaults": "PyCaret compare_models, its default models",
    }
    for variant, res in quick["pycaret"].items():
        total = res["setup_s"] + res["compare_s"]
        rows.append(
            [
                f"  {labels[variant]}: setup + compare",
                seconds(total),
                seconds(res["compare_s"]),
                f"{total / quick['mlwb_s']:.2f}x",
                "info",
            ]
        )
    if quick["pycaret_error"]:
        rows.append(
            [f"  PyCaret: {quick['pycaret_error'].strip().splitlines()[-1][:100]}", "", "", "", ""]
        )
    side = []
    names = {"dummy": "Dummy", "logreg": "Logistic", "rf": "Random Forest", "hgb": "HistGradient"}
    for key in quick["models"]:
        m = quick["mlwb_runs"].get(key, {})
        s = quick["sklearn_runs"].get(key, {})
        part = (
            f"{key}: mlwb {m.get('duration_s', 0):.1f} s acc {_f(m.get('accuracy'))} "
            f"auc {_f(m.get('roc_auc'))} f1 {_f(m.get('f1'))} | sklearn {s.get('seconds', 0):.1f} s "
            f"acc {_f(s.get('accuracy'))} auc {_f(s.get('roc_auc'))} f1 {_f(s.get('f1'))}"
        )
        for variant, res in quick["pycaret"].items():
            found = next((r for n, r in res["rows"].items() if names[key] in n), None)
            if found:
                part += (
                    f" | PyCaret {variant} {found['TT (Sec)']:.1f} s/fold acc "
                    f"{found['Accuracy']:.3f} auc {found['AUC']:.3f} f1w {found['F1']:.3f}"
                )
        side.append(part)
    notes.append(
        f"2. mlwb load_training {quick['load_s']:.2f} s. Per candidate (mean over folds; "
        "PyCaret's TT is seconds per fold; its F1 column is the weighted average over both "
        "classes here, f1w, so only accuracy and AUC compare):\n   " + "\n   ".join(side)
    )
    for variant, res in quick["pycaret"].items():
        notes.append(
            f"   PyCaret {res['pycaret']} (scikit-learn {res['sklearn']}, pandas {res['pandas']}, "
            f"n_jobs {res['n_jobs']}) {variant}: setup {res['setup_s']:.1f} s, compare_models "
            f"{res['compare_s']:.1f} s, child process {res['process_s']:.1f} s with imports"
        )
    return rows, notes


def report_memory(mem: dict[str, Any]) -> Section:
    """Table rows and notes of measurement 3."""
    rows: list[list[str]] = []
    notes: list[str] = []
    used, base = mem["train"], mem["baseline"]
    peak = max(used["maxrss_mb"], used["polled_mb"])
    rows.append(
        [
            f"3. peak RSS, train({MEMORY_MODELS}) {CV}-fold on {mem['rows']:,} rows",
            "",
            "",
            "",
            "",
        ]
    )
    rows.append(
        [
            "  train child: VmHWM / polled / time",
            f"{used['maxrss_mb']:,.0f} MB",
            f"{used['polled_mb']:,.0f} MB",
            seconds(used["seconds"]),
            f"peak {peak:,.0f} MB",
        ]
    )
    rows.append(
        [
            "  baseline child (imports, open project)",
            f"{base['maxrss_mb']:,.0f} MB",
            f"{base['polled_mb']:,.0f} MB",
            "",
            "info",
        ]
    )
    runs = ", ".join(
        f"{k} {v['duration_s']:.1f} s (ROC-AUC {_f(v['roc_auc'])}, {v['n_train']:,} rows per fit)"
        for k, v in used.get("runs", {}).items()
    )
    notes.append(
        f"3. {mem['csv_mb']:.0f} MB CSV imported in {mem['import_s']:.1f} s (not measured); in "
        f"the child: load_training {used.get('load_s') or 0:.1f} s, then {runs}"
    )
    return rows, notes


def code_state() -> str:
    """The commit measured, with ``+changes`` when app/ or storage/ differ from it."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "app", "storage"], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main() -> None:
    """Run the three training measurements and print one table."""
    if THREADS:
        os.environ["OMP_NUM_THREADS"] = THREADS  # before scikit-learn loads OpenMP
    steps = {
        "overhead": (overhead, report_overhead),
        "preset": (quick_preset, report_preset),
        "memory": (memory, report_memory),
    }
    chosen = [k.strip() for k in ONLY.split(",") if k.strip()] or list(steps)
    unknown = [k for k in chosen if k not in steps]
    if unknown:
        sys.exit(f"MLWB_BENCH_TRAIN_ONLY: unknown {unknown}; choose from {', '.join(steps)}")
    results: dict[str, Any] = {
        "quick": QUICK,
        "threads": THREADS,
        "code": code_state(),
        "conditions": conditions(),
    }
    with tempfile.TemporaryDirectory(prefix="train-bench-", dir=OUT) as tmp:
        for key in chosen:
            results[key] = steps[key][0](Path(tmp))
    results["conditions_end"] = conditions()
    suffix = ("-quick" if QUICK else "") + ("-" + "-".join(chosen) if ONLY else "")
    suffix += f"-omp{THREADS}" if THREADS else ""
    name = f"train{suffix}.json"
    (OUT / name).write_text(json.dumps(results, indent=2, default=str))
    rows: list[list[str]] = []
    notes: list[str] = []
    for key in chosen:
        more_rows, more_notes = steps[key][1](results[key])
        rows += more_rows
        notes += more_notes
    text = "\n".join(
        [
            table(
                ["measurement", "best / a", "median / b", "ratio", "target"],
                rows,
                f"train: mlwb vs scikit-learn and PyCaret ({REPEATS_CV} CV runs each"
                f"{', quick sizes' if QUICK else ''}; OpenMP threads {THREADS or 'default'}; "
                f"code {results['code']}); "
                f"{results['conditions']} at the start, {results['conditions_end']} at the end",
            ),
            *notes,
        ]
    )
    print(text)
    (OUT / name).with_suffix(".txt").write_text(text + "\n")
    print(f"raw results: {OUT / name}, this report: {(OUT / name).with_suffix('.txt')}")


if __name__ == "__main__":
    main()
