"""Per-column statistics of one DuckDB table in four batched passes; no rows reach Python.

* Pass A, one ``SELECT`` per batch of columns: counts, HyperLogLog distinct estimates,
  min/max/sum, zeros, negatives, NaN and infinities, true counts, date ranges.
* Pass B (``profile_groups``), a ``UNION ALL`` of small ``GROUP BY`` s: the value counts of
  every column with a manageable number of values, each value with its holdout rows and the
  target's rate or mean. Numeric and text columns whose counts are complete get every other
  statistic from that table (``profile_counts``), exactly, with no further scan.
* Pass C, one ``SELECT`` per batch, for the other columns: quantiles (exact ``quantile_cont``
  up to ``exact_quantile_rows`` rows, else ``approx_quantile``, a t-digest), central moments
  about the pass-A mean (skewness and kurtosis, two-pass for accuracy) and text lengths.
* Pass D (``profile_groups``), ``GROUP BY`` s again: histogram bins (with IQR and z-score
  outlier counts and the target per bin), time buckets, and exact counts of the top-value
  candidates of very-high-cardinality columns of big tables (the most frequent values of the
  seeded sample).

Float statistics use finite values only: NaN counts as missing, ±inf is counted apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.domain.dataset import ColumnRole
from app.domain.profile import QUANTILES, ProfileSettings, TextStats
from storage.datasets import quote_ident

BATCH_COLUMNS = 64
"""Columns per scalar SELECT: 2,000 columns take 32 scans, not 2,000."""
FULL_COUNTS_LIMIT = 2_000
"""Columns with at most this many distinct values get every value's count: exact statistics,
and the detectors of markers, spellings and unseen categories; others get top values only."""
VALUE_COUNT_LIMIT = 20_000
"""Above ``exact_rows`` rows, columns with more (estimated) distinct values are not grouped:
their distinct count stays a HyperLogLog estimate."""
NEARLY_UNIQUE_SHARE = 0.8
"""Above ``exact_rows`` rows, columns whose estimated distinct count exceeds this share of their
values get no top values at all (nearly every value occurs once)."""
MAX_BUCKETS = 120
"""Time series use the smallest calendar unit giving at most this many buckets."""
GAP_MAX_DISTINCT = 200_000
"""Gap analysis runs on time columns with at most this many (estimated) distinct values."""

INT_TYPES = (
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"),
    *("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"),
)
FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")
TIME_UNITS = (
    ("second", 1.0),
    ("minute", 60.0),
    ("hour", 3600.0),
    ("day", 86400.0),
    ("week", 604800.0),
    ("month", 2629746.0),
    ("quarter", 7889238.0),
    ("year", 31556952.0),
)


def type_family(dtype: str) -> str:
    """int, float, decimal, bool, date, timestamp, string or other, from a DuckDB type name."""
    upper = dtype.upper()
    if upper in INT_TYPES:
        return "int"
    if upper in FLOAT_TYPES:
        return "float"
    if upper.startswith("DECIMAL"):
        return "decimal"
    if upper == "BOOLEAN":
        return "bool"
    if upper == "DATE":
        return "date"
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    if upper == "VARCHAR" or upper.startswith("ENUM") or upper == "UUID":
        return "string"
    return "other"


@dataclass(slots=True)
class Group:
    """One group of a GROUP BY pass: its key as text, rows, holdout rows, rows with a target,
    the target measures and up to three extra counts (outliers, for bins)."""

    key: str
    n: int
    holdout: int = 0
    with_target: int = 0
    target: Sequence[float | None] = ()
    extras: Sequence[int] = ()


@dataclass
class ColumnWork:
    """A column's raw numbers as the passes fill them in."""

    index: int
    name: str
    dtype: str
    family: str
    role: ColumnRole = ColumnRole.FEATURE
    # pass A
    present: int = 0
    approx_distinct: int | None = None
    nans: int = 0
    infinities: int = 0
    finite: int = 0
    zeros: int = 0
    negatives: int = 0
    min: float | None = None
    max: float | None = None
    total: float | None = None
    true_count: int | None = None
    date_min: str | None = None
    date_max: str | None = None
    epoch_min: float | None = None
    epoch_max: float | None = None
    # pass B (value counts)
    values_mode: str = ""
    values: list[Group] = field(default_factory=list)
    values_complete: bool = False
    exact_distinct: int | None = None
    unseen: int = 0
    unseen_rows: int = 0
    # pass C, or derived from complete counts
    quantiles: list[float | None] = field(default_factory=list)
    m2: float | None = None
    m3: float | None = None
    m4: float | None = None
    text: TextStats | None = None
    candidates: list[Any] | None = None
    """Likely top values (from the sample) of a column too varied to group whole."""
    # pass D, or derived from complete counts
    lower_fence: float | None = None
    upper_fence: float | None = None
    below: int = 0
    above: int = 0
    z_count: int = 0
    bins: list[Group] = field(default_factory=list)
    bin_low: float = 0.0
    bin_width: float = 1.0
    n_bins: int = 0
    bin_rule: str = ""
    buckets: list[Group] = field(default_factory=list)
    bucket_unit: str | None = None

    @property
    def q(self) -> str:
        """The quoted identifier."""
        return quote_ident(self.name)

    @property
    def numeric(self) -> bool:
        """Stored as a number (integer, float or decimal)."""
        return self.family in ("int", "float", "decimal")

    @property
    def temporal(self) -> bool:
        """Stored as a date or timestamp."""
        return self.family in ("date", "timestamp")

    @property
    def count(self) -> int:
        """Values that are not null and not NaN."""
        return self.present - self.nans

    @property
    def mean(self) -> float | None:
        """Mean of the finite values."""
        return self.total / self.finite if self.finite and self.total is not None else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation (n - 1) of the finite values, from the central sum."""
        if self.m2 is None or self.finite < 2:
            return None
        return math.sqrt(max(self.m2, 0.0) / (self.finite - 1))

    @property
    def distinct(self) -> int | None:
        """Exact distinct count when the values were grouped, else the estimate."""
        return self.exact_distinct if self.exact_distinct is not None else self.approx_distinct

    @property
    def from_counts(self) -> bool:
        """Whether the statistics come from the complete value counts (no pass C/D)."""
        return self.values_complete and self.values_mode == "all"

    def quantile(self, level: float) -> float | None:
        """The quantile at ``level`` once known."""
        if len(self.quantiles) != len(QUANTILES):
            return None
        return self.quantiles[QUANTILES.index(level)]

    def finite_filter(self) -> str:
        """SQL condition selecting the values statistics use."""
        return f"isfinite({self.q})" if self.family == "float" else f"{self.q} IS NOT NULL"

    def as_double(self) -> str:
        """The column as DOUBLE."""
        return self.q if self.family == "float" else f"{self.q}::DOUBLE"

    @property
    def finite_sql(self) -> str:
        """The column's finite values as DOUBLE (null otherwise), for aggregates.

        Float columns read the projection ``finite_projection`` adds (an aggregate's FILTER
        clause is several times slower in DuckDB); other numbers are cast.
        """
        return (
            quote_ident(f"__mlwb_finite_{self.index}")
            if self.family == "float"
            else self.as_double()
        )

    def finite_projection(self) -> str | None:
        """``CASE WHEN isfinite(x) THEN x END AS <finite>`` for float columns, else None."""
        if self.family != "float":
            return None
        return f"CASE WHEN isfinite({self.q}) THEN {self.q} END AS {self.finite_sql}"


Query = Callable[[str], list[tuple[Any, ...]]]


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def number(value: Any) -> float | None:
    """A finite float, or None."""
    if value is None:
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _scalar_pass(
    query: Query,
    table: str,
    columns: Sequence[ColumnWork],
    parts: Callable[[ColumnWork], list[tuple[str, str]]],
    store: Callable[[ColumnWork, dict[str, Any]], None],
) -> Iterator[int]:
    """One SELECT of many aggregates per batch of columns; yields columns done."""
    done = 0
    for batch in batches(columns, BATCH_COLUMNS):
        plan = [(c, key, sql) for c in batch for key, sql in parts(c)]
        found: dict[int, dict[str, Any]] = {}
        if plan:
            select = ", ".join(f"{sql} AS a{i}" for i, (_, _, sql) in enumerate(plan))
            row = query(f"SELECT {select} FROM {source(table, batch)}")[0]
            for (c, key, _), value in zip(plan, row, strict=True):
                found.setdefault(c.index, {})[key] = value
        for c in batch:
            if c.index in found:
                store(c, found[c.index])
        done += len(batch)
        yield done


def source(table: str, columns: Sequence[ColumnWork]) -> str:
    """The table plus the finite-value projections of its float columns among ``columns``."""
    extra = [p for c in columns if (p := c.finite_projection()) is not None]
    if not extra:
        return quote_ident(table)
    return f"(SELECT *, {', '.join(extra)} FROM {quote_ident(table)})"


# -- pass A ---------------------------------------------------------------------------------


def _basic_parts(c: ColumnWork) -> list[tuple[str, str]]:
    q = c.q
    parts = [("present", f"count({q})")]
    if c.family != "other":
        parts.append(("approx_distinct", f"approx_count_distinct({q})"))
    if c.family == "float":
        f = c.finite_sql
        parts += [
            ("nans", f"count_if(isnan({q}))"),
            ("infinities", f"count_if(isinf({q}))"),
            ("finite", f"count({f})"),
            ("min", f"min({f})"),
            ("max", f"max({f})"),
            ("total", f"sum({f})"),
        ]
    elif c.numeric:
        parts += [
            ("min", f"min({q})::DOUBLE"),
            ("max", f"max({q})::DOUBLE"),
            ("total", f"sum({q}::DOUBLE)"),
        ]
    if c.numeric:
        parts += [("zeros", f"count_if({q} = 0)"), ("negatives", f"count_if({q} < 0)")]
    elif c.family == "bool":
        parts.append(("true_count", f"count_if({q})"))
    elif c.temporal:
        parts += [
            ("date_min", f"min({q})::VARCHAR"),
            ("date_max", f"max({q})::VARCHAR"),
            ("epoch_min", f"epoch(min({q})::TIMESTAMP)"),
            ("epoch_max", f"epoch(max({q})::TIMESTAMP)"),
        ]
    return parts


def _store_basics(c: ColumnWork, got: dict[str, Any]) -> None:
    c.present = int(got.get("present") or 0)
    distinct = got.get("approx_distinct")
    c.approx_distinct = None if distinct is None else min(int(distinct), c.present)
    for key in ("nans", "infinities", "zeros", "negatives"):
        setattr(c, key, int(got.get(key) or 0))
    c.finite = int(got["finite"] or 0) if "finite" in got else c.present
    c.min, c.max, c.total = number(got.get("min")), number(got.get("max")), number(got.get("total"))
    if "true_count" in got:
        c.true_count = int(got["true_count"] or 0)
    if c.temporal:
        c.date_min, c.date_max = got.get("date_min"), got.get("date_max")
        c.epoch_min, c.epoch_max = number(got.get("epoch_min")), number(got.get("epoch_max"))


def pass_a(query: Query, table: str, columns: Sequence[ColumnWork]) -> Iterator[int]:
    """Counts, distinct estimates, ranges, sums, zeros, negatives, NaN, inf, true counts."""
    return _scalar_pass(query, table, columns, _basic_parts, _store_basics)


def choose_values_mode(c: ColumnWork, n_rows: int, settings: ProfileSettings) -> str:
    """How a column's values are counted: 'all', 'top', 'candidates' or '' (not at all)."""
    if c.family == "other" or not c.present:
        return ""
    distinct = c.approx_distinct or 0
    if n_rows <= settings.exact_rows or distinct <= VALUE_COUNT_LIMIT:
        return "all" if distinct <= FULL_COUNTS_LIMIT * 1.1 else "top"
    if distinct >= NEARLY_UNIQUE_SHARE * c.present:
        return ""
    return "candidates"


# -- pass C ---------------------------------------------------------------------------------


def _detail_parts(c: ColumnWork, quantile_function: str) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    if c.numeric and not c.from_counts and c.finite and c.mean is not None:
        v = c.finite_sql
        levels = ", ".join(f"{p:g}" for p in QUANTILES)
        d = f"({v} - {c.mean!r})"
        parts += [
            ("quantiles", f"{quantile_function}({v}, [{levels}])"),
            ("m2", f"sum({d} * {d})"),
            ("m3", f"sum({d} * {d} * {d})"),
            ("m4", f"sum({d} * {d} * {d} * {d})"),
        ]
    if c.family == "string" and not c.from_counts and c.present:
        s = f"{c.q}::VARCHAR"
        parts += [
            ("min_length", f"min(length({s}))"),
            ("mean_length", f"avg(length({s}))"),
            ("max_length", f"max(length({s}))"),
            # trim() only where a value starts with a space: CASE evaluates its branches on
            # the rows that reach them, while AND/OR inside an aggregate evaluate both sides
            ("empty", f"count_if(CASE WHEN {s} LIKE ' %' THEN trim({s}) = '' ELSE {s} = '' END)"),
            ("padded", f"count_if({s} LIKE ' %' OR {s} LIKE '% ')"),
        ]
    return parts


def _store_details(c: ColumnWork, got: dict[str, Any]) -> None:
    if "quantiles" in got:
        c.quantiles = [number(v) for v in got["quantiles"] or []]
        c.m2, c.m3, c.m4 = number(got["m2"]), number(got["m3"]), number(got["m4"])
    if "padded" in got:
        mean_length = got.get("mean_length")
        c.text = TextStats(
            min_length=got.get("min_length"),
            mean_length=None if mean_length is None else round(float(mean_length), 4),
            max_length=got.get("max_length"),
            empty=int(got.get("empty") or 0),
            padded=int(got.get("padded") or 0),
        )


def pass_c(
    query: Query, table: str, columns: Sequence[ColumnWork], exact_quantiles: bool
) -> Iterator[int]:
    """Quantiles, central moments and text lengths where value counts were not complete."""
    function = "quantile_cont" if exact_quantiles else "approx_quantile"
    return _scalar_pass(query, table, columns, lambda c: _detail_parts(c, function), _store_details)


# -- planning bins and buckets ----------------------------------------------------------------


def fences(c: ColumnWork, factor: float) -> tuple[float, float] | None:
    """Tukey's fences (Q1 - factor·IQR, Q3 + factor·IQR), or None without quartiles."""
    q1, q3 = c.quantile(0.25), c.quantile(0.75)
    if q1 is None or q3 is None:
        return None
    return q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)


def plan_bins(c: ColumnWork, max_bins: int) -> None:
    """Equal-width bins by the Freedman-Diaconis rule (width 2·IQR/n^(1/3)), at most
    ``max_bins``; Sturges' rule when the IQR is 0; integer columns get whole-number widths."""
    if c.min is None or c.max is None or not c.finite:
        return
    span = c.max - c.min
    q1, q3 = c.quantile(0.25), c.quantile(0.75)
    iqr = None if q1 is None or q3 is None else q3 - q1
    integer = c.family == "int"
    if span <= 0:
        c.bin_low, c.bin_width, c.n_bins, c.bin_rule = c.min, 1.0, 1, "one value"
        return
    rule = "Freedman-Diaconis (width 2·IQR/n^(1/3))"
    if iqr and iqr > 0:
        width = 2.0 * iqr / c.finite ** (1 / 3)
    else:
        width = span / (math.ceil(math.log2(c.finite)) + 1)
        rule = "Sturges (the IQR is 0)"
    if integer:
        width = float(max(1, math.ceil(width)))
        bins = int(span // width) + 1
        if bins > max_bins:
            width = float(math.ceil((span + 1) / max_bins))
            bins = int(span // width) + 1
            rule += f", capped at {max_bins} bins"
        rule += ", whole-number widths"
    else:
        bins = max(1, math.ceil(span / width))
        if bins > max_bins:
            bins, width = max_bins, span / max_bins
            rule += f", capped at {max_bins} bins"
    c.bin_low, c.bin_width, c.n_bins, c.bin_rule = c.min, width, bins, rule


def plan_buckets(c: ColumnWork) -> None:
    """The calendar unit of a time column's series: the smallest giving <= MAX_BUCKETS."""
    if c.epoch_min is None or c.epoch_max is None:
        return
    span = max(0.0, c.epoch_max - c.epoch_min)
    c.bucket_unit = next((u for u, s in TIME_UNITS if span / s <= MAX_BUCKETS), "year")


# -- time gaps, duplicates, sample ------------------------------------------------------------


def time_gaps_sql(c: ColumnWork, table: str) -> str:
    """One query giving a time column's usual step and its gaps (epoch milliseconds)."""
    return f"""
        WITH d AS (SELECT DISTINCT epoch_ms({c.q}::TIMESTAMP) AS t FROM {quote_ident(table)}
                   WHERE {c.q} IS NOT NULL),
        s AS (SELECT t, t - lag(t) OVER (ORDER BY t) AS step FROM d),
        m AS (SELECT step AS usual FROM s WHERE step IS NOT NULL
              GROUP BY step ORDER BY count(*) DESC, step LIMIT 1)
        SELECT usual, count(*), count_if(step = usual), count_if(step > usual),
               sum(CASE WHEN step > usual THEN round(step / usual) - 1 ELSE 0 END),
               arg_max(t - step, step), max(step)
        FROM s, m WHERE step IS NOT NULL GROUP BY usual"""


def duplicates_sql(table: str, columns: list[str], exact: bool, prefilter: bool = False) -> str:
    """Rows minus distinct rows: exact (DISTINCT *) or by a 64-bit hash of the whole row.

    With ``prefilter`` the exact count compares whole rows only among the rows whose hash
    another row shares: equal rows hash alike (DuckDB's ``hash`` treats NULLs, NaN and
    -0.0 as DISTINCT does), so a row with a hash of its own repeats no row, and the
    duplicates are the candidates minus their distinct rows. It needs ``rowid`` to be the
    table's own (no column of that name) and columns whose type ``hash`` takes.
    """
    t = quote_ident(table)
    if exact and prefilter and columns:
        row = ", ".join(quote_ident(c) for c in columns)
        return (
            f"WITH x AS MATERIALIZED (SELECT rowid AS r, hash({row}) AS k FROM {t}), "
            "d AS MATERIALIZED (SELECT r FROM x "
            "WHERE k IN (SELECT k FROM x GROUP BY k HAVING count(*) > 1)) "
            "SELECT (SELECT count(*) FROM d) - (SELECT count(*) FROM "
            f"(SELECT DISTINCT * FROM {t} WHERE rowid IN (SELECT r FROM d)))"
        )
    if exact or not columns:
        return (
            f"SELECT (SELECT count(*) FROM {t}) - "
            f"(SELECT count(*) FROM (SELECT DISTINCT * FROM {t}))"
        )
    row = ", ".join(quote_ident(c) for c in columns)
    return f"SELECT count(*) - count(DISTINCT hash({row})) FROM {t}"


def sample_sql(table: str, columns: list[str], n_rows: int, size: int, seed: int) -> str:
    """A seeded sample of about ``size`` rows (all rows when the table is smaller).

    A row is kept when ``hash(rowid, seed) mod 1,000,000`` falls below ``size / n_rows``
    of the range: Bernoulli sampling that is repeatable for the same table and seed.
    """
    cols = ", ".join(quote_ident(c) for c in columns)
    base = f"SELECT {cols} FROM {quote_ident(table)}"
    if n_rows <= size:
        return base
    cut = math.ceil(1_000_000 * size / n_rows)
    return f"{base} WHERE hash(rowid, {int(seed)}) % 1000000 < {cut}"


def random_holdout_sql(seed: int) -> str:
    """SQL condition putting about 20 % of rows in a seeded random holdout."""
    return f"hash(rowid, {int(seed) + 1}) % 5 = 0"
