"""The Monitor screen's plots: the primary metric and drift share over batches, and a
feature's baseline vs batch distribution in the baseline's bins.

Every number comes from the stored batch reports; this module only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from screens.monitor_data import overlay_shares
from screens.widgets.plot import ChartPlot

if TYPE_CHECKING:
    from app.domain.drift import FeatureDrift
    from app.domain.monitor import MonitorBatch

LABEL_WIDTH = 7


def _short(label: str, numeric: bool) -> str:
    """A bin's tick: a numeric bin by its lower edge (``1390 – 2779`` -> ``1390``)."""
    if numeric:
        label = label.split(" – ")[0]
    return label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1] + "…"


def _ticks(n: int, most: int) -> list[int]:
    step = max(1, -(-n // most))
    return list(range(0, n, step))


def _near(threshold: float, values: list[float]) -> bool:
    """Whether a threshold line fits next to the values without squashing them flat."""
    low, high = min(values), max(values)
    span = max(high - low, abs(high) * 0.1, 1e-12)
    return low - 3 * span <= threshold <= high + 3 * span


class MonitorPlot(ChartPlot):
    """Trends over batches and distribution overlays."""

    def trend(self, batches: Sequence[MonitorBatch]) -> None:
        """Drift share (right axis) and the primary metric (left axis, with its interval and
        the charter's threshold) per batch, oldest first."""
        if not batches:
            self.message("No batches yet")
            return
        xs = list(range(1, len(batches) + 1))
        perf = [(x, b.report.performance) for x, b in zip(xs, batches, strict=True)]
        labelled = [(x, p) for x, p in perf if p is not None and p.value is not None]
        first = labelled[0][1] if labelled else None
        if first is None:
            title = "Drifted share per batch"
        else:
            sign = "≥" if first.higher_is_better else "≤"
            title = f"{first.metric} (95% CI; charter {sign} {first.threshold:g}) and drifted %"
        self._start(title)
        plt = self.plt
        shares = [(x, b.drifted_share) for x, b in zip(xs, batches, strict=True)]
        shown = [(x, s) for x, s in shares if s is not None]
        if first is not None:
            mx = [x for x, _ in labelled]
            values = [p.value for _, p in labelled]
            bounds = [(x, p.low, p.high) for x, p in labelled if p.low is not None]
            axis = " (left axis)" if shown else ""
            for side in (1, 2):  # the interval first, so the metric's line stays on top
                if bounds:
                    plt.plot(
                        [b[0] for b in bounds],
                        [b[side] for b in bounds],
                        marker="·",  # dotted: apart from the two lines without colour
                        color="gray",
                        label="95% CI bounds" if side == 1 else None,
                    )
            plt.plot(mx, values, marker="hd", label=f"{first.metric}{axis}")
            if _near(first.threshold, [v for v in values if v is not None]):
                plt.hline(first.threshold)
        if shown:
            plt.plot(
                [x for x, _ in shown],
                [100 * s for _, s in shown],
                marker="braille",
                label="drifted % (right axis)" if labelled else "drifted %",
                yside="right" if labelled else "left",
            )
            plt.ylim(0, 100, yside="right" if labelled else "left")
        ticks = _ticks(len(batches), 8)
        plt.xticks([xs[i] for i in ticks], [str(batches[i].id) for i in ticks])
        plt.xlabel("batch")
        if len(xs) == 1:
            plt.xlim(0.5, 1.5)
        self.refresh()

    def overlay(self, feature: FeatureDrift | None) -> None:
        """Baseline and batch shares side by side in the baseline's bins."""
        if feature is None:
            self.message("Pick a feature")
            return
        shares = overlay_shares(feature)
        if shares is None:
            self.message(f"{feature.name}: no distribution to compare")
            return
        labels, base, batch = shares
        self._start(f"{feature.name}: % of rows per training bin")
        xs = list(range(len(labels)))
        self.plt.multiple_bar(xs, [base, batch], labels=["training", "batch"])
        ticks = _ticks(len(labels), 6)
        self.plt.xticks(ticks, [_short(labels[i], feature.kind != "categorical") for i in ticks])
        self.refresh()
