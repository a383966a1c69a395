"""The Explore stage: profile a dataset version, cache it in the project, read its alerts.

``profile_dataset`` works column batch by column batch in DuckDB (``profile_stats``), takes a
seeded sample into Polars only for correlations, mutual information and leakage screening
(``correlations``), then ranks alerts (``alerts``). The result is stored per dataset version
and settings, so opening the stage again is instant; a new version has no profile until it is
profiled. Cancelling (``should_stop``) raises ``ProfileCancelled`` and stores nothing.

On tables of up to ``SIDE_MAX_ROWS`` rows, work that pass B does not need runs beside it on
one helper thread with a cursor of its own: the duplicate-row count, the sample and the
correlations on it for the column types pass A suggests (Python work, while this thread waits
on DuckDB in pass B; kept when pass B confirms the columns), passes C and D's histograms (they
need only pass A, for the columns pass B will not count in full; on copies of the columns,
taken back afterwards) and the time gaps. Queued work the helper has not begun when this
thread needs it is done here instead (``_Task``). DuckDB scans a table of up to ~120,000 rows
(one row group) on one thread, so the passes leave a core free for it. Every result is the
same as when run one after the other.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import duckdb
import polars as pl

from app.domain.dataset import ColumnRole, DatasetVersion
from app.domain.profile import (
    Correlations,
    Feature,
    Profile,
    ProfileSettings,
    ScatterSample,
    SemanticType,
    TargetBoxes,
)
from app.errors import MlwbError
from app.services import browse
from app.services import profile_boxes as boxes
from app.services import profile_groups as groups
from app.services import profile_stats as stats
from app.services import profile_target as targeting
from app.services.alerts import AlertContext, finish_alerts, table_alerts
from app.services.correlations import compute_correlations
from app.services.eda_thresholds import read_thresholds, reset_thresholds, set_thresholds
from app.services.profile_columns import TargetSpec, column_profile, semantic_type, time_gaps
from app.services.profile_target import ProfileContext
from storage import datasets as ds
from storage import profiles as cache
from storage import repositories as repo
from storage.db import ProjectStore

__all__ = [
    "ProfileCancelled",
    "cached_profile",
    "profile_dataset",
    "read_thresholds",
    "reset_thresholds",
    "scatter_sample",
    "set_thresholds",
]

Progress = Callable[[float, str], None]
Stop = Callable[[], bool]
T = TypeVar("T")

POLL_SECONDS = 0.05
SCATTER_POINTS = 2_000
"""Points a scatter plot gets by default: plenty for a terminal, cheap to draw."""
SIDE_MAX_ROWS = 2_000_000
"""Tables with more rows run the helper thread's work in turn on the calling thread instead:
their scans use every core already, and concurrent hash tables would add to the peak memory."""
EARLY_SAMPLE_COLUMNS = 64
"""Tables with at most this many columns take their sample beside pass B (every column it
may need); wider ones take it after pass B (only the columns it needs)."""


class ProfileCancelled(MlwbError):
    """The user stopped profiling; nothing was stored."""


def _nothing(fraction: float, text: str) -> None:
    """A progress callback that ignores reports."""


def _never() -> bool:
    return False


def cached_profile(
    store: ProjectStore,
    name: str,
    version: int | None = None,
    settings: ProfileSettings | None = None,
) -> Profile | None:
    """The stored profile of a version under these settings (default ones), or None; never
    computes, so a screen can show a stored profile at once."""
    found = browse.get_version(store, name, version)
    settings = settings or ProfileSettings()
    with store.connect() as con:
        context = ProfileContext(con, found, settings)
        return cache.get_profile(con, found.name, found.version, context.hash, found.fingerprint)


# -- the profile ----------------------------------------------------------------------------


class _Interrupter:
    """Interrupts the running DuckDB queries as soon as ``should_stop`` turns true."""

    def __init__(self, con: duckdb.DuckDBPyConnection, should_stop: Stop) -> None:
        self.cons, self.should_stop, self.fired = [con], should_stop, False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="mlwb-profile-stop", daemon=True)

    def watch(self, con: duckdb.DuckDBPyConnection) -> None:
        """Interrupt ``con`` (a cursor) too."""
        self.cons.append(con)
        if self.fired:
            con.interrupt()

    def _watch(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            if self.should_stop():
                self.fired = True
                for con in list(self.cons):
                    con.interrupt()
                return

    def __enter__(self) -> _Interrupter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def profile_dataset(
    store: ProjectStore,
    name: str,
    version: int | None = None,
    on_progress: Progress | None = None,
    should_stop: Stop | None = None,
    refresh: bool = False,
    settings: ProfileSettings | None = None,
) -> Profile:
    """The profile of ``name`` (its current version, or ``version``): cached, or computed now.

    ``refresh`` recomputes even when a stored profile exists. ``on_progress(fraction, text)``
    is called from the calling thread after each batch of columns; ``should_stop`` is also
    polled from a helper thread, which interrupts the running DuckDB query. Cancelling raises
    ``ProfileCancelled`` and leaves the project unchanged (no profile, no event).
    """
    report = on_progress or _nothing
    stop = should_stop or _never
    settings = settings or ProfileSettings()
    started = time.perf_counter()
    # One connection for the whole job: reopening the file costs ~20 ms each time.
    with store.connect() as con:
        found = browse.require_version(con, name, version)
        report(0.0, f"profiling {found.ref}")
        context = ProfileContext(con, found, settings)
        if not refresh:
            hit = cache.get_profile(con, found.name, found.version, context.hash, found.fingerprint)
            if hit is not None:
                report(1.0, f"{found.ref}: stored profile")
                return hit
        with _Interrupter(con, stop) as guard:
            run = _Runner(con, found, report, stop, guard, found.n_rows <= SIDE_MAX_ROWS)
            try:
                try:
                    profile = _compute(run, found, context, settings, started)
                except BaseException:
                    run.close(failed=True)
                    raise
                run.close(failed=False)
            except duckdb.InterruptException as exc:
                raise _cancelled(found) from exc
            except duckdb.Error as exc:
                if guard.fired or stop():
                    raise _cancelled(found) from exc
                raise MlwbError(
                    f"profiling {found.ref} failed: {ds.duckdb_message(exc)}",
                    hint="rerun with --debug and report it; the project was not changed",
                ) from exc
        if guard.fired or stop():
            raise _cancelled(found)
        _store_profile(store, con, found, profile, settings)
    report(1.0, f"{found.ref}: profiled in {profile.seconds:.2f} s")
    return profile


def _store_profile(
    store: ProjectStore,
    con: duckdb.DuckDBPyConnection,
    found: DatasetVersion,
    profile: Profile,
    settings: ProfileSettings,
) -> None:
    """Keep the profile and its event in one transaction on the open connection."""
    with store.transaction_on(con):
        cache.put_profile(con, profile)
        repo.record_event(
            con,
            "explore",
            "profile_computed",
            f"{found.ref}: profiled {found.n_cols} column(s) in {profile.seconds:.2f} s; "
            f"{len(profile.alerts)} alert(s)",
            {
                "dataset": found.name,
                "version": found.version,
                "settings_hash": profile.settings_hash,
                "seconds": profile.seconds,
                "alerts": len(profile.alerts),
                "seed": settings.seed,
                "sample_size": profile.sample_size,
            },
        )


def _cancelled(found: DatasetVersion) -> ProfileCancelled:
    return ProfileCancelled(
        f"profiling {found.ref} cancelled; nothing was stored", hint="start it again when ready"
    )


class _Runner:
    """Runs the profile's SQL on one connection: counts queries, checks for cancel, reports.

    ``side`` runs work on one helper thread (in submission order) beside the main passes;
    ``side_query`` runs a query there on a cursor of its own. ``close`` waits for it.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        found: DatasetVersion,
        report: Progress,
        stop: Stop,
        guard: _Interrupter | None = None,
        concurrent: bool = False,
    ) -> None:
        self.con, self.found, self.report, self.stop = con, found, report, stop
        self.guard, self.concurrent = guard, concurrent
        self.queries = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._cursor: duckdb.DuckDBPyConnection | None = None

    def _count(self) -> None:
        with self._lock:
            self.queries += 1

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        self._count()
        return self.con.execute(sql).fetchall()

    def frame(self, sql: str) -> pl.DataFrame:
        """``sql``'s result as a Polars frame."""
        self._count()
        return self.con.sql(sql).pl()

    def side(self, work: Callable[[], Any]) -> Future[Any]:
        """Run ``work`` on the helper thread; its result (or error) comes with the future.
        Without ``concurrent``, run it now."""
        if not self.concurrent:
            done: Future[Any] = Future()
            try:
                done.set_result(work())
            except Exception as exc:
                done.set_exception(exc)
            return done
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlwb-profile")
        return self._pool.submit(work)

    def task(self, there: Callable[[], T], here: Callable[[], T]) -> _Task[T]:
        """``there`` queued on the helper thread; whoever wants the result first runs it: the
        helper thread (``there``), or the caller of ``_Task.result`` (``here``, the same work
        on the calling thread's connection) if the helper has not started it yet."""
        return _Task(self.side(there), here)

    def side_cursor(self) -> duckdb.DuckDBPyConnection:
        """The helper thread's cursor (use it only from work passed to ``side``)."""
        if self._cursor is None:
            self._cursor = self.con.cursor()
            if self.guard is not None:
                self.guard.watch(self._cursor)
        return self._cursor

    def side_query(self, sql: str) -> Future[list[tuple[Any, ...]]]:
        """Run ``sql`` on the helper thread's cursor."""
        cursor = self.side_cursor()

        def work() -> list[tuple[Any, ...]]:
            self._count()
            return cursor.execute(sql).fetchall()

        return self.side(work)

    def side_execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` now on the helper thread's cursor (call it from the helper thread)."""
        self._count()
        return self.side_cursor().execute(sql).fetchall()

    def side_frame(self, sql: str) -> pl.DataFrame:
        """``sql``'s result as a Polars frame, on the helper thread's cursor (from there)."""
        self._count()
        return self.side_cursor().sql(sql).pl()

    def close(self, failed: bool) -> None:
        """Wait for the helper thread; after a failure, stop its query and skip queued work."""
        if self._pool is not None:
            if failed and self._cursor is not None:
                self._cursor.interrupt()
            self._pool.shutdown(wait=True, cancel_futures=failed)
            self._pool = None
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def check(self) -> None:
        if self.stop():
            raise _cancelled(self.found)

    def follow(
        self, steps: Iterator[int], span: tuple[float, float], total: int, what: str
    ) -> None:
        """Run a pass batch by batch, reporting progress within ``span``, checking for cancel."""
        start, end = span
        for done in steps:
            self.check()
            self.report(
                start + (end - start) * done / max(total, 1), f"{what}: {done:,} of {total:,}"
            )


class _Task(Generic[T]):
    """Work queued on the helper thread that the calling thread takes over (see
    ``_Runner.task``) rather than wait while the helper finishes earlier work."""

    def __init__(self, future: Future[T], here: Callable[[], T]) -> None:
        self.future, self.here = future, here

    def result(self) -> T:
        """The result; computed now, on the calling thread, if the helper has not begun."""
        if self.future.cancel():
            return self.here()
        return self.future.result()


@dataclass
class _Columns:
    works: list[stats.ColumnWork]
    spec: TargetSpec | None
    split: str
    exact_quantiles: bool
    agg: groups.TargetAggregates
    gaps: dict[str, _Task[list[tuple[Any, ...]]] | str]
    """Per time column: its gap query (queued on the helper thread), or why there is none."""
    details: _Task[list[stats.ColumnWork]]
    """Passes C and D's histograms (queued on the helper thread) of copies of the columns
    whose values are not all counted."""
    sample: _Task[tuple[list[str], pl.DataFrame | None]] | None
    """The sample of every column it may need (queued on the helper thread while pass B
    runs)."""
    guess: Future[tuple[tuple[list[str], list[str]], _Relations] | None] | None = None
    """The correlations on that sample for the columns' types as pass A suggests them
    (helper thread, beside pass B); used when pass B confirms those columns."""


@dataclass
class _Relations:
    sample: pl.DataFrame | None = None
    correlations: Correlations = field(
        default_factory=lambda: Correlations(note="no columns to correlate")
    )
    ranked: list[Feature] = field(default_factory=list)
    mi_rows: int = 0


def _take_sample(
    run: _Runner,
    found: DatasetVersion,
    columns: list[str],
    settings: ProfileSettings,
    early: _Task[tuple[list[str], pl.DataFrame | None]] | None = None,
) -> pl.DataFrame | None:
    """The seeded sample of the columns the correlations, features and detectors need: the
    early sample's columns when it has them all (the same rows: the seeded condition depends
    on the row only), else a query now."""
    if not found.n_rows or not columns:
        return None
    if early is not None:
        taken, frame = early.result()
        if frame is not None and set(columns) <= set(taken):
            return frame.select(columns)
    sql = stats.sample_sql(
        found.table_name, columns, found.n_rows, settings.sample_size, settings.seed
    )
    return run.frame(sql)


def _sample_superset(works: list[stats.ColumnWork], target: str | None) -> list[str]:
    """Every column the sample may need once pass B is done (see ``sample_columns``): numbers
    and booleans that are not ids or ignored, text, the target, candidates' columns."""
    keep = []
    for w in works:
        if w.name == target or w.values_mode == "candidates":
            keep.append(w.name)
        elif not w.count or w.temporal or w.family == "other":
            continue
        elif w.family == "string" or w.role not in (ColumnRole.ID, ColumnRole.IGNORE):
            keep.append(w.name)
    return keep


def _early_sample(
    run: _Runner,
    found: DatasetVersion,
    works: list[stats.ColumnWork],
    context: ProfileContext,
    settings: ProfileSettings,
) -> _Task[tuple[list[str], pl.DataFrame | None]] | None:
    """Queue taking the sample on the helper thread, for narrow tables only (a wide table's
    sample keeps to the columns it needs)."""
    if not run.concurrent or not found.n_rows or len(works) > EARLY_SAMPLE_COLUMNS:
        return None
    columns = _sample_superset(works, context.target)
    if not columns:
        return None
    sql = stats.sample_sql(
        found.table_name, columns, found.n_rows, settings.sample_size, settings.seed
    )
    return run.task(lambda: (columns, run.side_frame(sql)), lambda: (columns, run.frame(sql)))


def _guess_relations(
    run: _Runner,
    found: DatasetVersion,
    works: list[stats.ColumnWork],
    sample: _Task[tuple[list[str], pl.DataFrame | None]] | None,
    spec: TargetSpec | None,
    context: ProfileContext,
    settings: ProfileSettings,
) -> Future[tuple[tuple[list[str], list[str]], _Relations] | None] | None:
    """Queue the correlations on the early sample for the columns pass A's figures make
    numeric and categorical (distinct counts estimated; pass B rarely changes a type). They
    are kept only if pass B's exact figures choose the same columns (``_compute``); the
    sample's rows are the same whatever its columns."""
    if sample is None:
        return None
    n_rows = found.n_rows
    early = {w.name: semantic_type(w, n_rows, context.thresholds) for w in works}
    numeric, categorical, _ = targeting.sample_columns(works, early, context, settings)
    extra = [context.target] if context.target else []
    wanted = (numeric, categorical, extra)

    def work() -> tuple[tuple[list[str], list[str]], _Relations] | None:
        try:
            columns, frame = sample.future.result()
        except CancelledError:
            return None
        keep = list(dict.fromkeys(c for part in wanted for c in part))
        if frame is None or not set(keep) <= set(columns):
            return None
        chosen = frame.select(keep)
        return (numeric, categorical), _relate(chosen, n_rows, wanted, spec, context, settings)

    return run.side(work)


def _relate(
    sample: pl.DataFrame | None,
    n_rows: int,
    wanted: tuple[list[str], list[str], list[str]],
    spec: TargetSpec | None,
    context: ProfileContext,
    settings: ProfileSettings,
) -> _Relations:
    """The correlations on the sample and the target's mutual information."""
    numeric, categorical, _ = wanted
    if sample is None or not (numeric or categorical):
        return _Relations(sample=sample)
    note = (
        f"on {sample.height:,} of {n_rows:,} rows (seeded sample, seed {settings.seed})"
        if sample.height < n_rows
        else f"on all {n_rows:,} rows"
    )
    correlations = compute_correlations(
        sample, numeric, categorical, context.target, settings, note
    )
    ranked, used = targeting.rank_features(sample, numeric, categorical, spec, context, settings)
    return _Relations(sample, correlations, ranked, used)


def _confirmed(
    guess: Future[tuple[tuple[list[str], list[str]], _Relations] | None] | None,
    wanted: tuple[list[str], list[str], list[str]],
) -> Future[_Relations] | None:
    """The guessed correlations if they were computed for the columns now ``wanted`` (waiting
    if they are under way), else None."""
    if guess is None:
        return None
    try:
        found = guess.result()
    except Exception:  # the columns computed now decide; a guess's failure is not theirs
        return None
    if found is None or found[0] != (wanted[0], wanted[1]):
        return None
    done: Future[_Relations] = Future()
    done.set_result(found[1])
    return done


def _candidates(works: list[stats.ColumnWork], sample: pl.DataFrame | None, top_k: int) -> None:
    """Top-value candidates of very varied columns: their most frequent values in the sample
    (a value among the top of the table is among the frequent of a 100,000-row sample)."""
    for w in works:
        if w.values_mode == "candidates" and sample is not None and w.name in sample.columns:
            counts = sample[w.name].drop_nulls().value_counts(sort=True, name="__mlwb_n")
            counts = counts.filter(pl.col("__mlwb_n") > 1).head(2 * top_k)
            w.candidates = counts.to_series(0).to_list()


def _scan_columns(
    run: _Runner, found: DatasetVersion, context: ProfileContext, settings: ProfileSettings
) -> _Columns:
    """Passes A and B over the table (see ``profile_stats``), and what follows from them."""
    table, n_rows, t = found.table_name, found.n_rows, context.thresholds
    works = [
        stats.ColumnWork(
            index=i, name=c, dtype=d, family=stats.type_family(d), role=context.roles[c]
        )
        for i, (c, d) in enumerate(context.columns)
    ]
    total = len(works)
    exact_quantiles = n_rows <= settings.exact_quantile_rows
    run.follow(stats.pass_a(run.query, table, works), (0.02, 0.2), total, "column counts")
    for w in works:
        w.values_mode = stats.choose_values_mode(w, n_rows, settings)
    by_name = {w.name: w for w in works}
    target_work = by_name.get(context.target) if context.target else None
    spec = targeting.target_spec(run.query, table, target_work, context)
    holdout, split = targeting.holdout(run.query, table, by_name, context, settings)
    agg = groups.TargetAggregates(
        sql=spec.sql if spec else [], count_sql=spec.count_sql if spec else "0", holdout=holdout
    )
    # the helper thread's queue: the sample and the correlations on it (Python, that runs
    # while this thread waits on DuckDB), then passes C and D and the time gaps, which this
    # thread takes over after pass B if the helper has not got to them
    sample = _early_sample(run, found, works, context, settings)
    guess = _guess_relations(run, found, works, sample, spec, context, settings)
    details = _side_details(run, table, works, agg, exact_quantiles, context, settings)
    gaps = _time_gaps(run, table, works)
    counted = [w for w in works if w.values_mode == "all"]
    if n_rows <= groups.UNPIVOT_MAX_ROWS and len(counted) >= groups.UNPIVOT_MIN_COLUMNS:
        target_sql = target_work.q if target_work is not None and spec is not None else None
        run.follow(
            groups.unpivot_counts(run.query, counted, table, agg, target_sql),
            (0.2, 0.35),
            len(counted),
            "value counts",
        )
    uncounted = [w for w in works if w.exact_distinct is None]
    branches = groups.value_branches(uncounted, table, agg, settings.top_k)
    # time series need only pass A: their GROUP BYs join pass B's query
    for w in works:
        if w.temporal:
            stats.plan_buckets(w)
    kinds = ("buckets",)
    branches += groups.detail_branches(works, table, agg, settings.top_k, 0, 0, kinds)
    run.follow(
        groups.run_branches(run.query, branches, len(agg.sql)),
        (0.35, 0.4),
        len(branches),
        "value counts",
    )
    for w in works:
        groups.derive_from_counts(w, settings.max_bins, t.iqr_factor, t.z_limit)
    return _Columns(works, spec, split, exact_quantiles, agg, gaps, details, sample, guess)


DETAIL_FIELDS = (
    *("quantiles", "m2", "m3", "m4", "text", "lower_fence", "upper_fence", "below", "above"),
    *("z_count", "bins", "bin_low", "bin_width", "n_bins", "bin_rule"),
)
"""What passes C and D's histograms find out about a column."""


def _side_details(
    run: _Runner,
    table: str,
    works: list[stats.ColumnWork],
    agg: groups.TargetAggregates,
    exact_quantiles: bool,
    context: ProfileContext,
    settings: ProfileSettings,
) -> _Task[list[stats.ColumnWork]]:
    """Passes C and D's histograms need only pass A: they cover the columns whose values pass
    B will not count in full, so they are queued on the helper thread beside pass B, on
    copies of the columns; ``_scan_details`` takes the results (``DETAIL_FIELDS``)."""
    detailed = [copy.copy(w) for w in works if w.values_mode != "all"]
    t = context.thresholds

    def work(query: stats.Query) -> list[stats.ColumnWork]:
        _drain(stats.pass_c(query, table, detailed, exact_quantiles))
        for w in detailed:
            if w.numeric:
                stats.plan_bins(w, settings.max_bins)
        branches = groups.detail_branches(
            detailed, table, agg, settings.top_k, t.iqr_factor, t.z_limit, ("bins",)
        )
        _drain(groups.run_branches(query, branches, len(agg.sql)))
        return detailed

    return run.task(lambda: work(run.side_execute), lambda: work(run.query))


def _drain(steps: Iterator[int]) -> None:
    for _ in steps:
        pass


def _time_gaps(
    run: _Runner, table: str, works: list[stats.ColumnWork]
) -> dict[str, _Task[list[tuple[Any, ...]]] | str]:
    """Queue each time column's gap query on the helper thread (it needs only pass A)."""
    gaps: dict[str, _Task[list[tuple[Any, ...]]] | str] = {}
    for w in works:
        if w.temporal and w.count:
            if (w.approx_distinct or 0) <= stats.GAP_MAX_DISTINCT:
                sql = stats.time_gaps_sql(w, table)
                gaps[w.name] = run.task(
                    lambda sql=sql: run.side_execute(sql), lambda sql=sql: run.query(sql)
                )
            else:
                gaps[w.name] = f"over {stats.GAP_MAX_DISTINCT:,} distinct times: gaps not analysed"
    return gaps


def _scan_details(
    run: _Runner,
    found: DatasetVersion,
    context: ProfileContext,
    settings: ProfileSettings,
    scanned: _Columns,
) -> None:
    """Passes C and D for the columns whose value counts were not complete."""
    table, t, works, agg = found.table_name, context.thresholds, scanned.works, scanned.agg
    for done in scanned.details.result():
        w = works[done.index]
        for name in DETAIL_FIELDS:
            setattr(w, name, getattr(done, name))
    run.check()
    run.report(0.55, f"quantiles and moments: {len(works):,} of {len(works):,}")
    kinds = ("candidates",)
    branches = groups.detail_branches(
        works, table, agg, settings.top_k, t.iqr_factor, t.z_limit, kinds
    )
    run.follow(
        groups.run_branches(run.query, branches, len(agg.sql)),
        (0.55, 0.7),
        len(branches),
        "histograms and time series",
    )


def _target_boxes(
    run: _Runner,
    found: DatasetVersion,
    scanned: _Columns,
    semantics: dict[str, SemanticType],
    iqr_factor: float,
) -> dict[str, TargetBoxes]:
    """Box plots of the numeric features by target class (or target quartile bin)."""
    spec = scanned.spec
    target = next((w for w in scanned.works if spec and w.name == spec.column), None)
    group = boxes.grouping(spec, target)
    result: dict[str, TargetBoxes] = {}
    if group is None or not found.n_rows:
        return result
    columns = boxes.box_columns(scanned.works, semantics, group.target)
    run.follow(
        boxes.box_pass(
            run.query,
            found.table_name,
            columns,
            group,
            scanned.exact_quantiles,
            iqr_factor,
            result,
        ),
        (0.7, 0.72),
        len(columns),
        f"box plots by {group.target}",
    )
    return result


def _compute(
    run: _Runner,
    found: DatasetVersion,
    context: ProfileContext,
    settings: ProfileSettings,
    started: float,
) -> Profile:
    """Scan the columns, then sample, correlate, rank features and raise alerts."""
    table, n_rows, t = found.table_name, found.n_rows, context.thresholds
    exact_dups = n_rows <= settings.exact_rows
    names = [c for c, _ in context.columns]
    prefilter = all(
        stats.type_family(d) != "other" and c.lower() != "rowid" for c, d in context.columns
    )
    counted = run.side_query(stats.duplicates_sql(table, names, exact_dups, prefilter))
    scanned = _scan_columns(run, found, context, settings)
    works, spec = scanned.works, scanned.spec
    run.report(0.4, "sampling rows")
    early = {w.name: semantic_type(w, n_rows, t) for w in works}
    wanted = targeting.sample_columns(works, early, context, settings)
    varied = [w.name for w in works if w.values_mode == "candidates"]
    needed = [c for part in (*wanted, varied) for c in part]
    sample = _take_sample(run, found, list(dict.fromkeys(needed)), settings, scanned.sample)
    _candidates(works, sample, settings.top_k)
    # the correlations need only the sample and the columns' types: those guessed after pass A
    # (on the helper thread beside pass B) if pass B confirms the columns, else computed on
    # the helper thread while this one finishes the columns; first this thread takes over
    # the time gaps and passes C and D if the helper has not got to them
    guess = scanned.guess
    if guess is not None and guess.cancel():
        guess = None
    related = (
        None
        if guess is not None
        else run.side(lambda: _relate(sample, n_rows, wanted, spec, context, settings))
    )
    gap_rows = {
        name: task if isinstance(task, str) else task.result()
        for name, task in scanned.gaps.items()
    }
    _scan_details(run, found, context, settings, scanned)
    if related is None:
        related = _confirmed(guess, wanted) or run.side(
            lambda: _relate(sample, n_rows, wanted, spec, context, settings)
        )
    semantics = {w.name: semantic_type(w, n_rows, t) for w in works}
    target_boxes = _target_boxes(run, found, scanned, semantics, t.iqr_factor)
    run.report(0.72, "duplicates and time gaps")
    duplicates = int(counted.result()[0][0] or 0)
    columns = []
    for w in works:
        gaps, note = None, ""
        found_gaps = gap_rows.get(w.name)
        if isinstance(found_gaps, str):
            note = found_gaps
        elif found_gaps is not None:
            gaps = time_gaps(found_gaps[0] if found_gaps else None)
        columns.append(
            column_profile(
                w,
                n_rows,
                semantics[w.name],
                spec,
                t,
                settings.top_k,
                scanned.exact_quantiles,
                gaps,
                note,
                target_boxes.get(w.name),
            )
        )
    run.check()
    run.report(0.8, "correlations and mutual information")
    # the column rules need neither the correlations nor the target summary: they run here
    # while the helper thread finishes those
    ctx = AlertContext(
        n_rows=n_rows,
        columns=columns,
        works={w.name: w for w in works},
        thresholds=t,
        duplicates=duplicates,
        sample=sample,
        split=scanned.split,
        seed=settings.seed,
        target_column=spec.column if spec else None,
    )
    found_alerts = table_alerts(ctx)
    relations = related.result()
    run.check()
    target = targeting.target_summary(spec, columns, relations.ranked, relations.mi_rows, settings)
    run.report(0.97, "alerts")
    ctx.target, ctx.correlations = target, relations.correlations
    alerts = finish_alerts(ctx, found_alerts)
    return Profile(
        dataset=found.name,
        version=found.version,
        fingerprint=found.fingerprint,
        settings_hash=context.hash,
        settings=settings,
        n_rows=n_rows,
        n_cols=len(works),
        duplicate_rows=duplicates,
        columns=columns,
        correlations=relations.correlations,
        target=target,
        time_column=context.time_column,
        alerts=alerts,
        sample_size=sample.height if sample is not None else 0,
        thresholds=t.model_dump(),
        methods=_methods(n_rows, settings, scanned.exact_quantiles, exact_dups, scanned.split),
        queries=run.queries,
        computed_at=datetime.now(UTC),
        seconds=round(time.perf_counter() - started, 4),
    )


def scatter_sample(
    store: ProjectStore,
    name: str,
    x: str,
    y: str,
    version: int | None = None,
    size: int = SCATTER_POINTS,
    seed: int = 0,
) -> ScatterSample:
    """Up to ``size`` (x, y) points of two numeric columns: a seeded Bernoulli sample in DuckDB
    (``hash(rowid, seed)``), never the whole table."""
    found = browse.get_version(store, name, version)
    with store.connect() as con:
        types = dict(ds.table_columns(con, found.table_name))
        for column in (x, y):
            if column not in types:
                raise MlwbError(
                    f"{column!r} is not a column of {found.ref}", hint="choose an existing column"
                )
            if stats.type_family(types[column]) not in ("int", "float", "decimal"):
                raise MlwbError(
                    f"{column!r} is not numeric ({types[column]})",
                    hint="a scatter plot needs two numeric columns",
                )
        qx, qy, table = ds.quote_ident(x), ds.quote_ident(y), ds.quote_ident(found.table_name)
        both = f"isfinite({qx}::DOUBLE) AND isfinite({qy}::DOUBLE)"
        rows = int(con.execute(f"SELECT count(*) FROM {table} WHERE {both}").fetchall()[0][0])
        cut = 1_000_000 if rows <= size else math.ceil(1_000_000 * size / rows)
        points = con.execute(
            f"SELECT {qx}::DOUBLE, {qy}::DOUBLE FROM {table} WHERE {both} "
            f"AND hash(rowid, {int(seed)}) % 1000000 < {cut} LIMIT {int(size)}"
        ).fetchall()
    return ScatterSample(x=x, y=y, points=[(a, b) for a, b in points], rows=rows, seed=seed)


def _methods(
    n_rows: int, settings: ProfileSettings, exact_quantiles: bool, exact_dups: bool, split: str
) -> dict[str, str]:
    return {
        "quantiles": "exact (DuckDB quantile_cont, linear interpolation)"
        if exact_quantiles
        else "approximate (DuckDB approx_quantile, a t-digest; rank error about 1 %)",
        "distinct": "exact where values were counted (all columns up to "
        f"{settings.exact_rows:,} rows, else columns with at most "
        f"{stats.VALUE_COUNT_LIMIT:,} estimated values); otherwise DuckDB "
        "approx_count_distinct (HyperLogLog, about 2 % error)",
        "moments": "mean, std (n - 1), skewness (adjusted Fisher-Pearson) and excess kurtosis "
        "(bias-corrected), two-pass over finite values; NaN counts as missing",
        "histograms": "equal-width bins, Freedman-Diaconis width capped at "
        f"{settings.max_bins} bins (Sturges when the IQR is 0)",
        "correlations": f"on a seeded sample of up to {settings.sample_size:,} rows: Pearson and "
        "Spearman (pairwise complete), bias-corrected Cramér's V, correlation ratio",
        "mutual_information": f"scikit-learn k-NN estimator on up to {settings.mi_sample_size:,} "
        "rows of the sample",
        "duplicates": "exact (DISTINCT *)"
        if exact_dups
        else "by a 64-bit hash of each whole row (collisions are negligible)",
        "split": split,
        "rows": f"{n_rows:,}",
    }
