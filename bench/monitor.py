"""Drift monitoring speed and memory: mlwb's ``batch_drift`` against Evidently's data drift
preset, same data, same run.

Targets (issue 8, the Monitor stage, "Benchmarks"):

1. Speed: the drift of a 1M-row x 20-column batch against the stored baseline
   (``app.services.drift.batch_drift``: every per-feature statistic, noise thresholds
   included) at least 50x faster than Evidently's ``DataDriftPreset`` on the same reference
   and current data. The mlwb baseline is built once from the reference
   (``app.services.bundle.baseline_of``: stored statistics only, timed apart); only the
   per-batch drift is timed. Evidently is timed from its ``Dataset`` objects to the finished
   snapshot (reading the files is not timed on either side).
2. Memory: the peak RSS of a child process doing one batch, each side (mlwb: read the stored
   baseline and the batch, measure; Evidently: read reference and batch, run the preset).
   Goal: mlwb under a quarter of Evidently's.
3. Verdicts: how many features each flags on a no-drift 1M-row batch (drawn from the
   reference's distribution with another seed) and on a drifted one (some features shifted),
   and a cross-check of Evidently's per-feature values (Wasserstein/std for numeric columns,
   Jensen–Shannon for categorical ones, drift at >= 0.1) against mlwb's, which come from
   10 quantile bins (numeric) or the top 50 levels plus ``(other)`` (categorical).

The data: 12 numeric columns (integers, normal, log-normal, gamma, beta, exponential,
Student t, uniform; 5 % missing each) and 8 categorical columns (3 to 200 levels with
Zipf-like frequencies, 5 % ``(missing)``), model-ready as mlwb's contract expects (numeric
float64, categorical text with ``(missing)``), seeded, written once as Parquet under
``bench/out/monitor_<rows>_s<seed>/``. ``MLWB_BENCH_MONITOR_ROWS`` sets the rows of each table
(default 1,000,000).

Evidently must not enter the product's environment, so it lives in its own virtualenv,
``bench/out/evidently-venv``, made with uv on first use (``EVIDENTLY_PACKAGES``: Evidently
0.7.23 imports a pandas helper that pandas 3 removed, hence ``pandas<3`` there). If it cannot
be installed or run, only mlwb's numbers are reported. Timings: mlwb's best and median of
``MLWB_BENCH_REPEATS`` calls (default 3) per batch; Evidently's of
``MLWB_BENCH_EVIDENTLY_REPEATS`` runs (default 1: about a minute each). Results: a table on
stdout, ``bench/out/monitor.json`` and ``bench/out/monitor.txt`` (``monitor-<rows>.*`` for
other sizes).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import REPEATS, conditions, median, seconds, table, timed, verdict, warm_cache
from bench.datagen import OUT

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"
EVIDENTLY_VENV = OUT / "evidently-venv"
EVIDENTLY_PYTHON = EVIDENTLY_VENV / "bin" / "python"
EVIDENTLY_PACKAGES = ["evidently==0.7.23", "pandas<3"]
"""The version installed from PyPI for this benchmark; 0.7.23 fails to import under pandas 3."""

ROWS = int(os.environ.get("MLWB_BENCH_MONITOR_ROWS", "1000000"))
EVIDENTLY_REPEATS = int(os.environ.get("MLWB_BENCH_EVIDENTLY_REPEATS", "1"))
EVIDENTLY = os.environ.get("MLWB_BENCH_MONITOR_EVIDENTLY", "1") == "1"
SEED = 20_240_620
SPEED_FACTOR = 50.0
MEMORY_SHARE = 0.25
THRESHOLD = 0.1
"""Evidently's default drift threshold for both Wasserstein/std and Jensen–Shannon."""
POLL_SECONDS = 0.005
LN2_ROOT = math.sqrt(math.log(2))
"""Evidently's Jensen–Shannon uses the natural log: base-2 distance = its value / sqrt(ln 2)."""

NUMERIC = [
    "age", "income", "score", "balance", "n_items", "rate",
    "amount", "quantity", "discount", "tenure", "latency", "ratio",
]  # fmt: skip
CARDINALITY = {
    "city": 40, "segment": 5, "status": 4, "channel": 6,
    "product": 200, "region": 5, "plan": 3, "device": 8,
}  # fmt: skip
CATEGORICAL = list(CARDINALITY)
MISSING = 0.05
MISSING_LEVEL = "(missing)"
DRIFTED = {
    "score": "mean + 0.25 sd",
    "income": "x 1.2",
    "tenure": "x 1.15",
    "latency": "missing 5 % -> 15 % (values unchanged)",
    "channel": "20 % of rows moved to the first level",
    "plan": "level frequencies reversed",
    "city": "3 % of rows at an unseen level",
}
"""The features shifted in the drifted batch, and how."""

# -- data ---------------------------------------------------------------------------------------


def _levels(name: str, rng: np.random.Generator, n: int, reverse: bool = False) -> np.ndarray:
    k = CARDINALITY[name]
    weights = 1.0 / np.arange(1, k + 1) ** 0.8
    if reverse:
        weights = weights[::-1]
    return rng.choice(k, n, p=weights / weights.sum())


def frame(rows: int, seed: int, drifted: bool = False) -> pd.DataFrame:
    """One model-ready table: 12 numeric (float64, NaN missing) and 8 categorical columns
    (text, ``(missing)``); ``drifted`` shifts the features in ``DRIFTED``."""
    rng = np.random.default_rng(seed)
    n = rows
    num: dict[str, np.ndarray] = {
        "age": rng.integers(18, 91, n).astype(np.float64),
        "income": np.round(rng.lognormal(10.8, 0.6, n), 2),
        "score": rng.normal(50, 15, n),
        "balance": rng.normal(1000, 2500, n),
        "n_items": rng.poisson(3, n).astype(np.float64),
        "rate": rng.random(n),
        "amount": np.round(rng.gamma(2.0, 60.0, n), 2),
        "quantity": rng.integers(1, 20, n).astype(np.float64),
        "discount": rng.beta(2, 8, n),
        "tenure": rng.exponential(24, n),
        "latency": rng.standard_t(5, n) * 10 + 100,
        "ratio": rng.uniform(-1, 1, n),
    }
    codes = {c: _levels(c, rng, n, reverse=drifted and c == "plan") for c in CATEGORICAL}
    if drifted:
        num["score"] += 0.25 * 15
        num["income"] *= 1.2
        num["tenure"] *= 1.15
        codes["channel"][rng.random(n) < 0.2] = 0
    for name, values in num.items():
        rate = 0.15 if drifted and name == "latency" else MISSING
        values[rng.random(n) < rate] = np.nan
    out = pd.DataFrame(num)
    for name, code in codes.items():
        k = CARDINALITY[name]
        labels = np.array([f"{name}_{i:03d}" for i in range(k)] + [MISSING_LEVEL, "Atlantis"])
        code[rng.random(n) < MISSING] = k
        if drifted and name == "city":
            code[rng.random(n) < 0.03] = k + 1
        out[name] = labels[code]
    return out


def data_dir(rows: int = ROWS) -> Path:
    """Write (once) the reference, no-drift and drifted tables as Parquet; their folder."""
    folder = OUT / f"monitor_{rows}_s{SEED}"
    if (folder / "drifted.parquet").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for name, seed, drifted in [
        ("reference", SEED, False),
        ("current", SEED + 1, False),
        ("drifted", SEED + 2, True),
    ]:
        part = folder / f"{name}.parquet.part-{os.getpid()}"
        frame(rows, seed, drifted).to_parquet(part, index=False)
        part.replace(folder / f"{name}.parquet")
    print(
        f"generated {folder.name}: 3 x {rows:,} rows x 20 columns in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return folder


# -- peak memory of a child (psutil when installed, else /proc) ---------------------------------


def _tree_rss(pid: int) -> int:
    """RSS (bytes) of ``pid`` and its descendants, from /proc."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as handle:
                total += int(handle.read().split()[1]) * page
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as handle:
                    todo.extend(int(c) for c in handle.read().split())
        except (OSError, ValueError):
            pass
    return total


def run_polling_rss(args: list[str], cwd: Path) -> tuple[str, int]:
    """:func:`bench.common.run_polling_rss` (stdout, peak RSS of the child and its children);
    the product's environment lacks psutil (it is in the ``bench`` group), so /proc is read
    directly then."""
    try:
        import psutil  # noqa: F401

        from bench.common import run_polling_rss as common

        return common(args, cwd, POLL_SECONDS)
    except ImportError:
        pass
    child = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss(child.pid))
        time.sleep(POLL_SECONDS)
    out, err = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1] + args[3:5])} failed:\n{err[-4000:]}")
    return out, peak


def _last_json(out: str) -> dict[str, Any]:
    line = out.strip().splitlines()[-1]
    return json.loads(line[line.index("{") :])


_HWM = r"""
def hwm_mb(field="VmHWM:"):
    # VmHWM: this process's own high-water mark; ru_maxrss would include the parent's at exec
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024 / 1e6
"""

_MLWB_CHILD = (
    _HWM
    + r"""
import json, sys, time
from pathlib import Path
import polars as pl
from app.runtime.contract import Baseline
from app.services.drift import batch_drift
baseline = Baseline.model_validate_json(Path(sys.argv[1]).read_text())
batch = pl.read_parquet(sys.argv[2])
loaded = hwm_mb("VmRSS:")
start, cpu = time.perf_counter(), time.process_time()
result = batch_drift(baseline, batch)
took, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": took, "cpu_seconds": cpu, "loaded_mb": loaded, "maxrss_mb": hwm_mb(),
                  "drifted": result.n_drifted}))
"""
)

_EVIDENTLY_CHILD = (
    _HWM
    + r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
reference_path, current_path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
numeric, categorical = json.loads(sys.argv[4]), json.loads(sys.argv[5])
import pandas as pd
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(reference_path)
current = pd.read_parquet(current_path)
loaded = hwm_mb("VmRSS:")
times, dataset_s, cpu_s = [], [], []
for _ in range(repeats):
    start, cpu = time.perf_counter(), time.process_time()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    cur = Dataset.from_pandas(current, data_definition=definition)
    dataset_s.append(time.perf_counter() - start)
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    times.append(time.perf_counter() - start)
    cpu_s.append(time.process_time() - cpu)
columns, count = {}, None
for metric in snapshot.dict()["metrics"]:
    config = metric["config"]
    if config["type"].endswith("ValueDrift"):
        columns[config["column"]] = {"method": config["method"], "value": metric["value"],
                                     "threshold": config["threshold"]}
    elif config["type"].endswith("DriftedColumnsCount"):
        count = metric["value"]["count"]
print(json.dumps({"seconds": times, "cpu_seconds": cpu_s, "dataset_seconds": dataset_s,
                  "loaded_mb": loaded,
                  "maxrss_mb": hwm_mb(), "columns": columns, "drifted_count": count,
                  "version": evidently.__version__, "pandas": pd.__version__}))
"""
)


# -- Evidently in its own virtualenv ------------------------------------------------------------


def ensure_evidently() -> str | None:
    """Create ``bench/out/evidently-venv`` unless Evidently already imports there; the reason
    when it cannot be installed (``None`` when it is ready)."""
    check = [str(EVIDENTLY_PYTHON), "-W", "ignore", "-c", "from evidently.presets import *"]
    if EVIDENTLY_PYTHON.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    print(f"creating {EVIDENTLY_VENV} with {', '.join(EVIDENTLY_PACKAGES)} ...", file=sys.stderr)
    try:
        if not EVIDENTLY_PYTHON.exists():
            subprocess.run(
                [str(UV), "venv", str(EVIDENTLY_VENV), "-p", "python3.11"], check=True, env=env
            )
        subprocess.run(
            [str(UV), "pip", "install", "-p", str(EVIDENTLY_PYTHON), *EVIDENTLY_PACKAGES],
            check=True,
            env=env,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"Evidently could not be installed: {exc}"
    done = subprocess.run(check, capture_output=True, text=True)
    return None if done.returncode == 0 else f"Evidently does not import: {done.stderr[-800:]}"


def evidently(folder: Path, batch: str, repeats: int) -> dict[str, Any]:
    """Run the data drift preset on reference vs ``batch`` in a child; times, values, RSS."""
    out, peak = run_polling_rss(
        [
            str(EVIDENTLY_PYTHON),
            "-c",
            _EVIDENTLY_CHILD,
            str(folder / "reference.parquet"),
            str(folder / f"{batch}.parquet"),
            str(repeats),
            json.dumps(NUMERIC),
            json.dumps(CATEGORICAL),
        ],
        OUT,
    )
    result = _last_json(out)
    result["polled_mb"] = peak / 1e6
    return result


# -- mlwb ---------------------------------------------------------------------------------------


def mlwb_baseline(folder: Path) -> tuple[Any, float, Path]:
    """The baseline of the reference (built once, timed), stored as JSON next to the data."""
    from app.services.bundle import baseline_of, contract_of
    from app.services.features import FeatureSet

    reference = pd.read_parquet(folder / "reference.parquet")
    features = FeatureSet(target="churn", numeric=list(NUMERIC), categorical=list(CATEGORICAL))

    def build() -> Any:
        return baseline_of(reference, contract_of(reference, features, "binary"))

    took, baseline = timed(build)
    path = folder / "baseline.json"
    path.write_text(baseline.model_dump_json())
    return baseline, took, path


def mlwb_batch(baseline: Any, folder: Path, batch: str) -> tuple[list[float], list[float], Any]:
    """Time ``batch_drift`` on one batch REPEATS times (each call simulates its noise anew);
    wall and CPU seconds, and the last result."""
    import polars as pl

    from app.services.drift import batch_drift

    frame_ = pl.read_parquet(folder / f"{batch}.parquet")
    times: list[float] = []
    cpu: list[float] = []
    result = None
    for _ in range(REPEATS):
        started = time.process_time()
        took, result = timed(lambda: batch_drift(baseline, frame_))
        cpu.append(time.process_time() - started)
        times.append(took)
    return times, cpu, result


def mlwb_memory(baseline_path: Path, folder: Path, batch: str) -> dict[str, Any]:
    """Peak RSS of a child that reads the stored baseline and one batch and measures drift."""
    out, peak = run_polling_rss(
        [
            sys.executable,
            "-c",
            _MLWB_CHILD,
            str(baseline_path),
            str(folder / f"{batch}.parquet"),
        ],
        ROOT,
    )
    result = _last_json(out)
    result["polled_mb"] = peak / 1e6
    return result


# -- cross-check ---------------------------------------------------------------------------------


def compare(result: Any, theirs: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per feature: mlwb's Wasserstein/std or JS (base 2) and verdict; Evidently's value (its
    JS also in base 2) and verdict (value >= its threshold)."""
    rows = []
    for f in sorted(result.features, key=lambda f: [*NUMERIC, *CATEGORICAL].index(f.name)):
        stat = "js" if f.kind == "categorical" else "wasserstein"
        row: dict[str, Any] = {
            "feature": f.name,
            "kind": f.kind,
            "statistic": stat,
            "mlwb": f.value(stat),
            "mlwb_flagged": f.drifted,
            "mlwb_reasons": [s.name for s in f.statistics.values() if s.exceeded],
        }
        if theirs is not None and f.name in theirs["columns"]:
            col = theirs["columns"][f.name]
            value = col["value"]
            row["evidently_method"] = col["method"]
            row["evidently"] = value
            row["evidently_flagged"] = value >= col["threshold"]
            row["evidently_base2"] = (
                value / LN2_ROOT if col["method"].startswith("Jensen") else value
            )
            if row["mlwb"] is not None:
                row["difference"] = row["mlwb"] - row["evidently_base2"]
        rows.append(row)
    return rows


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _check_table(label: str, rows: list[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        body.append(
            [
                r["feature"],
                "W/std" if r["statistic"] == "wasserstein" else "JS",
                _num(r["mlwb"]),
                _num(r.get("evidently")),
                _num(r.get("evidently_base2")),
                _num(r.get("difference"), 4),
                ("yes: " + ",".join(r["mlwb_reasons"])) if r["mlwb_flagged"] else "no",
                {True: "yes", False: "no", None: "-"}[r.get("evidently_flagged")],
            ]
        )
    return table(
        [
            "feature",
            "stat",
            "mlwb",
            "Evidently",
            "Evid. base 2",
            "mlwb - Evid.",
            "mlwb flags",
            "Evid. flags",
        ],
        body,
        label,
    )


# -- report --------------------------------------------------------------------------------------


def main() -> None:
    """Run both sides on the no-drift and the drifted batch; print and store the report."""
    folder = data_dir(ROWS)
    for name in ("reference", "current", "drifted"):
        warm_cache(folder / f"{name}.parquet")
    load_start = conditions()
    baseline, built, baseline_path = mlwb_baseline(folder)
    print(f"mlwb baseline built in {built:.2f} s", file=sys.stderr)

    results: dict[str, Any] = {
        "rows": ROWS,
        "columns": len(NUMERIC) + len(CATEGORICAL),
        "repeats": REPEATS,
        "evidently_repeats": EVIDENTLY_REPEATS,
        "drifted_features": DRIFTED,
        "baseline_seconds": built,
        "baseline_json_bytes": baseline_path.stat().st_size,
        "conditions_start": load_start,
        "batches": {},
    }
    problem = ensure_evidently() if EVIDENTLY else "skipped (MLWB_BENCH_MONITOR_EVIDENTLY=0)"
    results["evidently_problem"] = problem
    for batch in ("current", "drifted"):
        times, cpu, result = mlwb_batch(baseline, folder, batch)
        print(f"mlwb {batch}: {[round(t, 3) for t in times]}", file=sys.stderr)
        memory = mlwb_memory(baseline_path, folder, batch)
        theirs: dict[str, Any] | None = None
        if problem is None:
            try:
                theirs = evidently(folder, batch, EVIDENTLY_REPEATS)
                print(f"Evidently {batch}: {theirs['seconds']}", file=sys.stderr)
            except RuntimeError as exc:
                problem = f"Evidently failed: {str(exc)[-800:]}"
                results["evidently_problem"] = problem
        results["batches"][batch] = {
            "mlwb_seconds": times,
            "mlwb_cpu_seconds": cpu,
            "mlwb_flagged": result.n_drifted,
            "mlwb_flagged_features": result.drifted_features,
            "mlwb_memory": memory,
            "evidently": theirs,
            "features": compare(result, theirs),
        }
    results["conditions_end"] = conditions()
    text = report(results)
    print(text)
    stem = "monitor" if ROWS == 1_000_000 else f"monitor-{ROWS}"
    (OUT / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / f"{stem}.txt").write_text(text + "\n")
    print(f"raw results: {OUT / stem}.json, this report: {OUT / stem}.txt")


def report(results: dict[str, Any]) -> str:
    """The summary table, the cross-check tables and notes, as text."""
    rows: list[list[str]] = []
    notes: list[str] = []
    version = None
    for batch, label in (("current", "no-drift batch"), ("drifted", "drifted batch")):
        got = results["batches"][batch]
        mine = got["mlwb_seconds"]
        memory = got["mlwb_memory"]
        mine_peak = max(memory["maxrss_mb"], memory["polled_mb"])
        theirs = got["evidently"]
        rows.append([f"{label} ({results['rows']:,} rows x {results['columns']} cols)", "", ""])
        rows.append(
            ["  mlwb batch_drift: best / median", seconds(min(mine)), seconds(median(mine))]
        )
        if theirs is not None:
            version = theirs["version"]
            ratio = median(theirs["seconds"]) / median(mine)
            their_peak = max(theirs["maxrss_mb"], theirs["polled_mb"])
            share = mine_peak / their_peak
            rows.append(
                [
                    "  Evidently DataDriftPreset (Dataset + Report.run): best / median",
                    seconds(min(theirs["seconds"])),
                    seconds(median(theirs["seconds"])),
                ]
            )
            rows.append(
                [
                    "  speed ratio Evidently / mlwb (medians)",
                    f"{ratio:.0f}x",
                    f">= {SPEED_FACTOR:g}x {verdict(ratio >= SPEED_FACTOR)}",
                ]
            )
            rows.append(
                [
                    "  CPU seconds (median): mlwb / Evidently (wall > CPU: waiting for a core)",
                    seconds(median(got["mlwb_cpu_seconds"])),
                    seconds(median(theirs["cpu_seconds"])),
                ]
            )
        rows.append(
            [
                "  mlwb child peak RSS (VmHWM / polled); after reading baseline + batch",
                f"{memory['maxrss_mb']:,.0f} / {memory['polled_mb']:,.0f} MB",
                f"{memory['loaded_mb']:,.0f} MB",
            ]
        )
        if theirs is not None:
            rows.append(
                [
                    "  Evidently child peak RSS (VmHWM / polled); after reading both tables",
                    f"{theirs['maxrss_mb']:,.0f} / {theirs['polled_mb']:,.0f} MB",
                    f"{theirs['loaded_mb']:,.0f} MB",
                ]
            )
            rows.append(
                [
                    "  added by the measurement itself (peak - after reading): mlwb / Evidently",
                    f"{memory['maxrss_mb'] - memory['loaded_mb']:,.0f} MB",
                    f"{theirs['maxrss_mb'] - theirs['loaded_mb']:,.0f} MB",
                ]
            )
            rows.append(
                [
                    "  peak memory mlwb / Evidently",
                    f"{share:.2f}",
                    f"< {MEMORY_SHARE:g} {verdict(share < MEMORY_SHARE)}",
                ]
            )
        their_flags = "-" if theirs is None else f"{theirs['drifted_count']:.0f}"
        rows.append(
            [
                "  features flagged: mlwb / Evidently (of 20)",
                str(got["mlwb_flagged"]),
                their_flags,
            ]
        )
        notes.append(
            f"mlwb flags on the {label}: {', '.join(got['mlwb_flagged_features']) or 'none'}"
        )
        if theirs is not None:
            flagged = [r["feature"] for r in got["features"] if r.get("evidently_flagged")]
            notes.append(f"Evidently flags on the {label}: {', '.join(flagged) or 'none'}")
    title = (
        f"monitor: mlwb batch_drift vs Evidently {version or '(not run)'} "
        f"({results['repeats']} mlwb runs, {results['evidently_repeats']} Evidently run(s) per "
        f"batch); start: {results['conditions_start']}; end: {results['conditions_end']}"
    )
    parts = [table(["measurement", "a", "b"], rows, title)]
    parts.append(
        f"mlwb baseline of the reference (built once, stored statistics only): "
        f"{results['baseline_seconds']:.2f} s, {results['baseline_json_bytes'] / 1e3:,.0f} kB "
        "JSON; not part of the per-batch time."
    )
    if results["evidently_problem"]:
        parts.append(f"Evidently: {results['evidently_problem']}")
    parts.append(
        "drifted batch shifts: "
        + "; ".join(f"{k} {v}" for k, v in results["drifted_features"].items())
    )
    parts.extend(notes)
    for batch, label in (("current", "no-drift batch"), ("drifted", "drifted batch")):
        parts.append("")
        parts.append(_check_table(f"cross-check, {label}", results["batches"][batch]["features"]))
    parts.append(
        "mlwb's Wasserstein/std puts each of its 10 quantile bins' mass at one point (plus two "
        "open outer bins) and divides by the training std of the non-missing values; "
        "Evidently's is SciPy's exact wasserstein_distance on the raw non-missing values / "
        "np.std(reference). mlwb's JS is base 2 over the top 50 training levels + (other), with "
        "missing values left out (the missing rate is its own statistic); Evidently's is "
        "SciPy's jensenshannon in natural log over every level seen, '(missing)' included "
        "(base 2 = its value / sqrt(ln 2)). mlwb flags a statistic only above max(min effect, "
        "simulated noise); Evidently at >= 0.1 on its one statistic."
    )
    return "\n".join(parts)


if __name__ == "__main__":
    main()
