"""Cleaning speed: an 8-step recipe in mlwb's engine against the same steps in pandas.

Issue 3 target: on the generated 1M-row CSV (``bench.datagen``) the recipe runs at least 3x
faster than the same steps written in pandas, timed in the same run.

The eight steps: null markers (every text column, spaces ignored), trim spaces (every text
column), merge spellings (``city``), cast text to float (``amount``, refusing bad values),
fill missing (``income``, median), clip outliers (``income``, IQR x1.5), derive a column
(``total = amount * quantity``) and drop duplicate rows (all columns). The fill value and the
clip bounds are frozen once, as the app does when a step is added; both sides then replay the
same frozen values.

* mlwb: ``apply_recipe(frame.lazy(), steps).collect()`` on the table as the app reads it from
  the project (DuckDB -> Arrow -> Polars). Reading the table is not timed.
* pandas: the same steps on ``pd.read_csv`` of the same file (only empty cells are missing,
  as in DuckDB's import; dates parsed). Reading the file is not timed.

Both results must agree: row count, a few column sums, the nulls and spellings of ``city``.
A per-step table (each step collected on its own) shows which step costs what, and an extra
line times the whole app path (``cleaning.apply_recipe_file``: read, run, write a version).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from bench.common import REPEATS, conditions, median, seconds, table, timed, verdict, warm_cache
from bench.datagen import CITY_VARIANTS, MARKERS, make_csv

ROWS = int(os.environ.get("MLWB_BENCH_ROWS", "1000000"))
TARGET = 3.0

STEP_SPECS: list[dict[str, Any]] = [
    {"kind": "null_markers", "markers": MARKERS},
    {"kind": "trim_whitespace"},
    {"kind": "merge_spellings", "column": "city", "groups": CITY_VARIANTS},
    {"kind": "cast", "column": "amount", "to": "float"},
    {"kind": "fill_missing", "column": "income", "method": "median"},
    {"kind": "clip_outliers", "column": "income", "method": "iqr"},
    {"kind": "derive_column", "name": "total", "expression": "amount * quantity"},
    {"kind": "drop_duplicates"},
]


def frozen_steps(raw: pl.DataFrame) -> list[Any]:
    """The eight steps, each frozen on the data as the steps before it leave it (as in the app)."""
    from app.domain.recipe import Recipe
    from app.services import recipe as engine

    recipe = Recipe()
    for spec in STEP_SPECS:
        recipe = engine.add_step(recipe, spec, raw)
    return list(recipe.steps)


# -- pandas ---------------------------------------------------------------------------------


def read_pandas(csv: Path) -> pd.DataFrame:
    """The CSV as a pandas user reads it, with DuckDB's missing-value rule (only empty cells)."""
    return pd.read_csv(
        csv, keep_default_na=False, na_values=[""], parse_dates=["signup_date", "last_seen"]
    )


def pandas_steps(text_columns: list[str], steps: list[Any]) -> list[tuple[str, Any]]:
    """The same eight steps as pandas functions ``frame -> frame`` (name, function)."""
    markers, _, merge, cast, fill, clip, new_column, _ = steps
    variants = merge.variant_map()

    def null_markers(df: pd.DataFrame) -> pd.DataFrame:
        for c in text_columns:
            s = df[c]
            df[c] = s.mask(s.str.strip().isin(markers.markers))
        return df

    def trim(df: pd.DataFrame) -> pd.DataFrame:
        for c in text_columns:
            df[c] = df[c].str.strip()
        return df

    def merge_spellings(df: pd.DataFrame) -> pd.DataFrame:
        df[merge.column] = df[merge.column].replace(variants)
        return df

    def cast_float(df: pd.DataFrame) -> pd.DataFrame:
        raw = df[cast.column]
        stripped = raw.str.strip()
        parsed = pd.to_numeric(stripped, errors="coerce")
        failed = raw.notna() & (stripped != "") & parsed.isna()
        if failed.any():
            raise ValueError(f"cannot cast {int(failed.sum())} values of {cast.column!r}")
        df[cast.column] = parsed.astype("float64")
        return df

    def fill_missing(df: pd.DataFrame) -> pd.DataFrame:
        df[fill.column] = df[fill.column].fillna(fill.value)
        return df

    def clip_outliers(df: pd.DataFrame) -> pd.DataFrame:
        df[clip.column] = df[clip.column].clip(clip.lower, clip.upper)
        return df

    def derive(df: pd.DataFrame) -> pd.DataFrame:
        df[new_column.name] = df["amount"] * df["quantity"]
        return df

    def drop_duplicates(df: pd.DataFrame) -> pd.DataFrame:
        return df.drop_duplicates(keep="first")

    return [
        ("null markers", null_markers),
        ("trim spaces", trim),
        ("merge spellings", merge_spellings),
        ("cast text -> float", cast_float),
        ("fill missing (median)", fill_missing),
        ("clip outliers (IQR)", clip_outliers),
        ("derive column", derive),
        ("drop duplicates", drop_duplicates),
    ]


def run_pandas(df: pd.DataFrame, funcs: list[tuple[str, Any]]) -> pd.DataFrame:
    """All pandas steps in order (they change ``df``: pass a copy)."""
    for _, func in funcs:
        df = func(df)
    return df


# -- checking -------------------------------------------------------------------------------


def _facts_polars(frame: pl.DataFrame) -> dict[str, float]:
    return {
        "rows": frame.height,
        "sum(income)": frame["income"].sum(),
        "sum(amount)": frame["amount"].sum(),
        "sum(total)": frame["total"].sum(),
        "nulls(city)": frame["city"].null_count(),
        "nulls(status)": frame["status"].null_count(),
        "distinct(city)": frame["city"].drop_nulls().n_unique(),
    }


def _facts_pandas(frame: pd.DataFrame) -> dict[str, float]:
    return {
        "rows": len(frame),
        "sum(income)": float(frame["income"].sum()),
        "sum(amount)": float(frame["amount"].sum()),
        "sum(total)": float(frame["total"].sum()),
        "nulls(city)": int(frame["city"].isna().sum()),
        "nulls(status)": int(frame["status"].isna().sum()),
        "distinct(city)": int(frame["city"].nunique()),
    }


def check_same(mlwb: pl.DataFrame, pandas: pd.DataFrame) -> dict[str, float]:
    """Assert both results agree; returns the facts compared."""
    a, b = _facts_polars(mlwb), _facts_pandas(pandas)
    for key in a:
        assert math.isclose(a[key], b[key], rel_tol=1e-9), f"{key}: mlwb {a[key]} pandas {b[key]}"
    return a


# -- main -----------------------------------------------------------------------------------


def main() -> None:
    """Time the recipe in mlwb and pandas; print the ratio, per-step times and the app path."""
    from app.services import cleaning
    from app.services import recipe as engine
    from app.services.ingest import import_file
    from storage.db import ProjectStore

    csv = make_csv(ROWS)
    warm_cache(csv)
    with tempfile.TemporaryDirectory(prefix="mlwb-bench-recipe-") as tmp:
        store = ProjectStore.create(Path(tmp) / "project", "bench")
        version = import_file(store, csv)
        with store.connect() as con:
            raw = cleaning.read_table(con, version.table_name)
        steps = frozen_steps(raw)
        text_columns = [c for c, t in raw.schema.items() if t == pl.String]
        df = read_pandas(csv)
        funcs = pandas_steps(text_columns, steps)

        mlwb_times, pandas_times = [], []
        result_pl = result_pd = None
        for _ in range(REPEATS):
            t, result_pl = timed(lambda: engine.apply_recipe(raw.lazy(), steps).collect())
            mlwb_times.append(t)
            fresh = df.copy()  # copied outside the timing
            t, result_pd = timed(lambda d=fresh: run_pandas(d, funcs))
            pandas_times.append(t)
        facts = check_same(result_pl, result_pd)

        # per step: each step applied and collected on the previous step's result
        per_step = []
        current_pl, current_pd = raw, df.copy()
        for step, (name, func) in zip(steps, funcs, strict=True):
            t_pl, current_pl = timed(
                lambda s=step, f=current_pl: engine.apply_step(f.lazy(), s).collect()
            )
            t_pd, current_pd = timed(lambda f=func, d=current_pd: f(d))
            per_step.append((name, t_pl, t_pd))

        app_times = []
        for _ in range(REPEATS):
            t, _ = timed(
                lambda: cleaning.apply_recipe_file(
                    store, version.name, [s.model_dump(mode="json") for s in steps]
                )
            )
            app_times.append(t)

    m, p = median(mlwb_times), median(pandas_times)
    speedup = p / m
    app = median(app_times)
    print(
        table(
            ["", "mlwb", "pandas", "pandas / mlwb", "target"],
            [
                [
                    "8-step recipe (median)",
                    seconds(m),
                    seconds(p),
                    f"{speedup:.2f}x",
                    f">= {TARGET:g}x {verdict(speedup >= TARGET)}",
                ],
                [
                    "8-step recipe (best)",
                    seconds(min(mlwb_times)),
                    seconds(min(pandas_times)),
                    "",
                    "",
                ],
                [
                    "app path: read + recipe + write version",
                    seconds(app),
                    seconds(p),
                    f"{p / app:.2f}x",
                    "info (pandas: steps only)",
                ],
            ],
            f"recipe: 8 steps on {ROWS:,} rows x 20 columns, median of {REPEATS}; {conditions()}",
        )
    )
    shown = ", ".join(
        f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in facts.items()
    )
    print(f"same results in both: {shown}")
    print()
    print(
        table(
            ["step (collected one by one)", "mlwb", "pandas", "pandas / mlwb"],
            [[n, seconds(a), seconds(b), f"{b / a:.1f}x"] for n, a, b in per_step],
        )
    )


if __name__ == "__main__":
    main()
