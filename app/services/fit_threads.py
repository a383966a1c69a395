"""How many OpenMP threads a model fit may use, given the work other processes are doing now.

Histogram boosting splits every tree's work over OpenMP threads that spin while they wait for
each other. When other processes keep the cores busy, a waiting thread spins while its
partner is descheduled: on a 2-core machine with two other busy processes, a 100k-row fit
took 32.7 s on two threads and 1.4 s on one. On an idle machine two threads are 1.8x faster
than one, and making the threads sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``) was
2.5x slower, so no fixed setting is right.

``fit_threads`` therefore measures, just before a fit, how many cores the other processes
keep busy: the machine's busy CPU time (``/proc/stat``) minus this process's own
(``time.process_time``) over ``SAMPLE_SECONDS``. The load average would be simpler but lags
by a minute, so mlwb's own work just before (a profile, an earlier fit) would count as
someone else's. The fit gets the cores left free, at least one; where ``/proc/stat`` is not
available it is left alone.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

SAMPLE_SECONDS = 0.05
"""How long the other processes' CPU use is measured before a fit."""
OPENMP_MODELS = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")
"""Estimators whose fit runs on OpenMP threads (the only ones ``fit_threads`` limits)."""

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def busy_seconds(stat: Path = Path("/proc/stat")) -> float | None:
    """CPU seconds all cores have spent busy since boot (None where unknown)."""
    try:
        fields = stat.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait
    values = [int(v) for v in fields[1:]]
    busy = sum(values[:3]) + sum(values[5:8])
    return busy / _TICK


def threads_for_fit(cores: int, others: float) -> int | None:
    """The OpenMP threads a fit should use when other processes keep ``others`` cores busy:
    None (no limit) while less than half a core is taken, else the free cores, at least
    one."""
    if cores < 2 or others < 0.5:
        return None
    return max(1, min(cores, round(cores - others)))


def others_busy(
    busy: Callable[[], float | None] = busy_seconds, seconds: float = SAMPLE_SECONDS
) -> float | None:
    """Cores other processes kept busy over the next ``seconds`` (None where unknown)."""
    first, own, start = busy(), time.process_time(), time.monotonic()
    if first is None:
        return None
    time.sleep(seconds)
    last, own_used, span = busy(), time.process_time() - own, time.monotonic() - start
    if last is None or span <= 0:
        return None
    return max(0.0, (last - first - own_used) / span)


@contextlib.contextmanager
def fit_threads(
    model: object, others: Callable[[], float | None] = others_busy, cores: int | None = None
) -> Iterator[int | None]:
    """Limit OpenMP to ``threads_for_fit`` threads while ``model`` (a pipeline or an
    estimator) fits, when it runs on OpenMP; yields the limit (None: none)."""
    steps = getattr(model, "steps", None)
    estimator = steps[-1][1] if steps else model
    if type(estimator).__name__ not in OPENMP_MODELS:
        yield None
        return
    taken = others()
    limit = None if taken is None else threads_for_fit(cores or os.cpu_count() or 1, taken)
    if limit is None:
        yield None
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit, user_api="openmp"):
        yield limit
