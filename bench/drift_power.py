"""Detection power and false alarms of the drift rule, by simulation from a stored baseline.

For a standard-normal numeric feature and a 10-level categorical feature (training: 100,000
rows, baselines built as bundles build them), draws seeded batches of several sizes and
reports the share of batches flagged: with no drift (false alarms, configured at most 1 %),
with a mean shift of 0.2 and 0.5 standard deviations, and with a new category taking 5 % of
the rows. ``MLWB_BENCH_POWER_TRIALS`` batches per cell (default 200).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import conditions, table

TRIALS = int(os.environ.get("MLWB_BENCH_POWER_TRIALS", "200"))
SIZES = (100, 1_000, 10_000, 100_000)
OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    from app.runtime.contract import FeatureBaseline
    from app.services.baseline_stats import numeric_baseline
    from app.services.drift import feature_drift

    rng = np.random.default_rng(20240607)
    numeric = numeric_baseline("x", "numeric", rng.normal(size=100_000))
    levels = [f"level{i}" for i in range(10)]
    weights = np.linspace(1, 3, 10)
    weights /= weights.sum()
    train = rng.choice(levels, size=100_000, p=weights)
    counts = pd.Series(train).value_counts()
    categorical = FeatureBaseline(
        name="c",
        kind="categorical",
        n_rows=100_000,
        missing=0,
        missing_rate=0.0,
        frequencies={str(k): int(v) for k, v in counts.items()},
    )

    def numeric_batch(n: int, shift: float) -> np.ndarray:
        return rng.normal(loc=shift, size=n)

    def categorical_batch(n: int, new_share: float) -> np.ndarray:
        out = rng.choice(levels, size=n, p=weights).astype(object)
        out[rng.random(n) < new_share] = "brand-new"
        return out

    cases = [
        ("numeric, no drift", lambda n: feature_drift(numeric, numeric_batch(n, 0.0))),
        ("numeric, mean +0.2 sd", lambda n: feature_drift(numeric, numeric_batch(n, 0.2))),
        ("numeric, mean +0.5 sd", lambda n: feature_drift(numeric, numeric_batch(n, 0.5))),
        ("categorical, no drift", lambda n: feature_drift(categorical, categorical_batch(n, 0))),
        (
            "categorical, new level at 5 %",
            lambda n: feature_drift(categorical, categorical_batch(n, 0.05)),
        ),
    ]
    rows = []
    data: dict[str, dict[str, float]] = {}
    for name, run in cases:
        shares = {}
        for n in SIZES:
            trials = TRIALS if n < 100_000 else max(TRIALS // 4, 20)
            flagged = sum(run(n).drifted for _ in range(trials))
            shares[str(n)] = flagged / trials
        data[name] = shares
        rows.append([name, *(f"{shares[str(n)]:.1%}" for n in SIZES)])
    text = "\n".join(
        [
            table(
                ["batches flagged", *(f"n={n:,}" for n in SIZES)],
                rows,
                title=f"Drift rule: share of seeded batches flagged ({TRIALS} per size; "
                "25 % of that at 100,000 rows)",
            ),
            conditions(),
        ]
    )
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "drift_power.txt").write_text(text + "\n")
    (OUT / "drift_power.json").write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
