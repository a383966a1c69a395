"""The one wrapper around textual-plotext: the services compute bins, this only draws them."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot


def _words_not_axis_glyphs() -> None:
    """plotext marks each legend entry with ``L`` / ``⅃`` (left / right axis) once labelled
    series use both y axes: cryptic in a terminal. The plots here say the axis in the label
    ("drifted % (right axis)"), so every side maps to the one glyph plotext leaves out."""
    from plotext import _utility

    symbols = getattr(_utility, "side_symbols", None)
    if isinstance(symbols, dict):
        for side in symbols:
            symbols[side] = "L"


_words_not_axis_glyphs()


class ChartPlot(PlotextPlot):
    """Histograms, bar charts and series from precomputed aggregates."""

    def _start(self, title: str) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(title)

    def histogram(self, edges: Sequence[float], counts: Sequence[int], title: str) -> None:
        """Bars over bin centres (bins come from the profile, never from raw rows)."""
        self._start(title)
        if counts:
            centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
            # plotext's width is a fraction of the spacing between bars, not data units
            self.plt.bar(centres, list(counts), width=0.9)
        self.refresh()

    def bars(self, labels: Sequence[str], values: Sequence[float], title: str) -> None:
        """Horizontal bars for categories (labels cut to fit)."""
        self._start(title)
        if labels:
            shown = [label if len(label) <= 18 else label[:17] + "…" for label in labels]
            self.plt.bar(list(reversed(shown)), list(reversed(values)), orientation="horizontal")
        self.refresh()

    def series(self, labels: Sequence[str], values: Sequence[float], title: str) -> None:
        """A line over ordered buckets (time series)."""
        self._start(title)
        if values:
            xs = list(range(len(values)))
            self.plt.plot(xs, list(values), marker="braille")
            step = max(1, len(labels) // 6)
            ticks = xs[::step]
            self.plt.xticks(ticks, [labels[i] for i in ticks])
        self.refresh()

    def message(self, text: str) -> None:
        """An empty plot with a title saying why there is nothing to draw."""
        self._start(text)
        self.refresh()
