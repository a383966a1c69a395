"""A histogram boosting fit gets the cores other processes leave free."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_info

from app.services import fit_threads as ft


@pytest.mark.parametrize(
    ("cores", "others", "want"),
    [
        (2, 0.0, None),  # idle: no limit
        (2, 0.4, None),  # less than half a core taken
        (2, 0.9, 1),  # one other busy process on two cores
        (2, 2.0, 1),  # both cores taken: still one
        (8, 3.0, 5),  # five of eight free
        (1, 5.0, None),  # one core: nothing to limit
    ],
)
def test_threads_for_a_fit(cores: int, others: float, want: int | None) -> None:
    assert ft.threads_for_fit(cores, others) == want


def test_busy_seconds_reads_the_first_line_of_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal: busy = 100+2+30+0+1+4 ticks
    stat.write_text("cpu  100 2 30 5000 70 0 1 4 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert ft.busy_seconds(stat) == pytest.approx(137 / ft._TICK)
    assert ft.busy_seconds(tmp_path / "absent") is None


def test_others_busy_subtracts_this_process() -> None:
    ticks = iter([10.0, 10.0 + 2 * ft.SAMPLE_SECONDS])  # two cores busy over the sample
    got = ft.others_busy(busy=lambda: next(ticks))
    assert got is not None and 1.0 < got <= 2.0  # what this process used is not others'
    assert ft.others_busy(busy=lambda: None) is None


def _openmp_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]


def test_only_openmp_models_are_limited_and_only_while_they_fit() -> None:
    boosting = Pipeline([("model", HistGradientBoostingClassifier(max_iter=3))])
    X = np.random.default_rng(0).normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    boosting.fit(X, y)  # the OpenMP runtime is loaded
    before = _openmp_threads()
    assert before
    with ft.fit_threads(boosting, others=lambda: 2.0, cores=2) as limit:
        assert limit == 1 and set(_openmp_threads()) == {1}
        boosting.fit(X, y)
    assert _openmp_threads() == before
    with ft.fit_threads(boosting, others=lambda: 0.1, cores=2) as limit:
        assert limit is None and _openmp_threads() == before
    with ft.fit_threads(LogisticRegression(), others=lambda: 2.0, cores=2) as limit:
        assert limit is None and _openmp_threads() == before
