"""Deterministic synthetic CSVs for the data benchmarks (``python -m bench.datagen [ROWS]``).

``make_csv(rows, seed)`` writes ``bench/out/synthetic_<rows>_s<seed>.csv`` once (later calls
reuse it) with 20 columns: integers, floats (with outliers), categories (with variant
spellings, padding spaces and missing-value markers), a number stored as text, dates and
timestamps, a boolean and free text. Every column has about 5% empty cells, and 1% of the rows
are exact copies of the row before them, so every step of the benchmark recipe has work to do.
The values come from NumPy's seeded generator and are written by Polars: no Python loop over
rows.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

OUT = Path(__file__).resolve().parent / "out"
SEED = 20_240_611
MISSING = 0.05
DUPLICATE_EVERY = 100
"""Row i is a copy of row i-1 when i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1."""

CITIES = [
    "New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio",
    "San Diego", "Dallas", "San Jose", "Austin", "Jacksonville", "Fort Worth", "Columbus",
    "Charlotte", "San Francisco", "Indianapolis", "Seattle", "Denver", "Washington", "Boston",
    "El Paso", "Nashville", "Detroit", "Oklahoma City", "Portland", "Las Vegas", "Memphis",
    "Louisville", "Baltimore", "Milwaukee", "Albuquerque", "Tucson", "Fresno", "Sacramento",
    "Kansas City", "Mesa", "Atlanta", "Omaha", "Raleigh",
]  # fmt: skip
CITY_VARIANTS = {
    "New York": ["new york", "NYC", "New york"],
    "Los Angeles": ["LA", "los angeles"],
    "San Francisco": ["SF", "san francisco"],
}
"""Canonical spelling -> variants written into ``city`` (the recipe merges them back)."""
MARKERS = ["?", "NA", "n/a"]
"""Missing-value markers sprinkled into the text columns (the recipe nulls them)."""
SEGMENTS = ["consumer", "corporate", "home office", "small business", "government"]
STATUSES = ["active", "inactive", "pending", "closed"]
CHANNELS = ["web", "store", "phone", "partner", "email", "social"]
REGIONS = ["north", "south", "east", "west", "central"]
PRODUCTS = [f"P-{i:04d}" for i in range(200)]
DATE_COLUMNS = ["signup_date"]
TIMESTAMP_COLUMNS = ["last_seen"]


def _pick(rng: np.random.Generator, values: list[str], n: int) -> pl.Series:
    return pl.Series(values).gather(rng.integers(0, len(values), n))


def _dirty(
    rng: np.random.Generator, s: pl.Series, pad: float = 0.0, marker: float = 0.0
) -> pl.Series:
    """Pad some values with spaces and replace some by a missing-value marker."""
    n = len(s)
    frame = pl.DataFrame(
        {
            "v": s,
            "pad": rng.random(n) < pad,
            "mark": rng.random(n) < marker,
            "m": _pick(rng, MARKERS, n),
            "lead": rng.random(n) < 0.5,
        }
    )
    padded = pl.when(pl.col("lead")).then(" " + pl.col("v")).otherwise(pl.col("v") + "  ")
    value = (
        pl.when(pl.col("mark"))
        .then(pl.col("m"))
        .when(pl.col("pad"))
        .then(padded)
        .otherwise(pl.col("v"))
    )
    return frame.select(value.alias(s.name)).to_series()


def synthetic_frame(rows: int, seed: int = SEED) -> pl.DataFrame:
    """The benchmark table as a Polars frame (before it is written as CSV)."""
    rng = np.random.default_rng(seed)
    n = rows
    city = _pick(rng, CITIES, n).alias("city")
    # 40% of each merged city's rows use one of its variant spellings
    for canonical, variants in CITY_VARIANTS.items():
        use = pl.Series(rng.random(n) < 0.4) & (city == canonical)
        city = pl.select(
            pl.when(use).then(_pick(rng, variants, n)).otherwise(city).alias("city")
        ).to_series()

    income = rng.lognormal(10.8, 0.6, n)
    income[rng.random(n) < 0.002] *= 25  # outliers for the clip step
    amount = np.round(rng.gamma(2.0, 60.0, n), 2)
    epoch = np.datetime64("2015-01-01")
    signup = epoch + rng.integers(0, 3650, n).astype("timedelta64[D]")
    last_seen = np.datetime64("2020-01-01T00:00:00", "us") + 1_000_000 * rng.integers(
        0, 5 * 365 * 86400, n
    ).astype("timedelta64[us]")

    frame = pl.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "age": rng.integers(18, 91, n),
            "income": np.round(income, 2),
            "score": np.round(rng.normal(50, 15, n), 3),
            "balance": np.round(rng.normal(1000, 2500, n), 2),
            "n_items": rng.poisson(3, n),
            "rate": np.round(rng.random(n), 4),
            "city": _dirty(rng, city.alias("city"), pad=0.05, marker=0.02),
            "segment": _dirty(rng, _pick(rng, SEGMENTS, n).alias("segment"), pad=0.03),
            "status": _dirty(rng, _pick(rng, STATUSES, n).alias("status"), marker=0.01),
            "channel": _pick(rng, CHANNELS, n).alias("channel"),
            "product": _pick(rng, PRODUCTS, n).alias("product"),
            "signup_date": pl.Series(signup).cast(pl.Date),
            "last_seen": pl.Series(last_seen).cast(pl.Datetime("us")),
            "amount": _dirty(
                rng, pl.Series("amount", amount).cast(pl.String), pad=0.01, marker=0.02
            ),
            "flag": rng.random(n) < 0.3,
            "quantity": rng.integers(1, 20, n),
            "discount": np.round(rng.beta(2, 8, n), 3),
            "region": _pick(rng, REGIONS, n).alias("region"),
            "note": (
                "order "
                + pl.Series(rng.integers(0, 1_000_000, n)).cast(pl.String)
                + " / "
                + _pick(rng, ["ok", "late", "returned", "gift", "priority"], n)
            ).alias("note"),
        }
    )
    # about 5% empty cells in every column but the id
    frame = frame.with_columns(
        pl.when(pl.Series(rng.random(n) < MISSING)).then(None).otherwise(pl.col(c)).alias(c)
        for c in frame.columns
        if c != "id"
    )
    # exact duplicate rows for the dedupe step
    source = np.arange(n)
    source[DUPLICATE_EVERY - 1 :: DUPLICATE_EVERY] -= 1
    return frame[source]


def make_csv(rows: int, seed: int = SEED, out: Path = OUT) -> Path:
    """Write (once) and return the benchmark CSV with ``rows`` rows."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"synthetic_{rows}_s{seed}.csv"
    if path.exists():
        return path
    started = time.perf_counter()
    frame = synthetic_frame(rows, seed)
    partial = path.with_suffix(f".csv.part-{os.getpid()}")
    frame.write_csv(partial, datetime_format="%Y-%m-%d %H:%M:%S", date_format="%Y-%m-%d")
    partial.replace(path)
    size = path.stat().st_size / 1e6
    print(
        f"generated {path.name}: {rows:,} rows x {frame.width} columns, {size:,.0f} MB "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return path


def main() -> None:
    """Generate the 1M- and 5M-row files (or the sizes given on the command line)."""
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000]
    for rows in sizes:
        print(make_csv(rows))


if __name__ == "__main__":
    main()
