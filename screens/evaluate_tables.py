"""The Evaluate screen's tables: metrics (with the live threshold column), segments and the
coefficients of statsmodels models."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from app.domain.evaluation import Evaluation
from screens.evaluate_format import (
    LABEL_METRICS,
    LOWER_IS_BETTER,
    coefficient_rows,
    metric_cells,
    num,
    segment_cells,
)

LIVE_COLUMN = "live"
"""Key of the metrics table's column that follows the threshold control."""


def fill_metrics(table: DataTable[object], e: Evaluation | None, live: bool) -> None:
    """One row per metric: model, 95% interval, baseline, difference and (``live``, binary)
    the value at the threshold being tried."""
    table.clear(columns=True)
    if e is None:
        return
    table.add_column("metric", key="metric")
    table.add_column("model", key="model")
    table.add_column("95% CI", key="ci")
    table.add_column("baseline", key="baseline")
    table.add_column("vs baseline", key="diff")
    if live:
        table.add_column("at T", key=LIVE_COLUMN)
    for m in e.metrics:
        cells: list[object] = [Text(c) for c in metric_cells(m)]
        if m.better:
            cells[4] = Text(str(cells[4]), style="bold")
        if live:
            cells.append(Text(num(m.model.value)))
        table.add_row(*cells, key=m.name)


def update_live(
    table: DataTable[object],
    e: Evaluation,
    values: dict[str, float] | None,
    colors: tuple[str, str],
) -> None:
    """Put the label metrics at the tried threshold in the live column: better than at the
    stored threshold in ``colors[0]``, worse in ``colors[1]``; '…' while scores load."""
    if LIVE_COLUMN not in table.columns:
        return
    for m in e.metrics:
        if m.name not in LABEL_METRICS:
            continue
        if values is None:
            table.update_cell(m.name, LIVE_COLUMN, Text("…"))
            continue
        value = values.get(m.name)
        style = ""
        if value is not None and m.model.value is not None and abs(value - m.model.value) > 5e-5:
            better = value < m.model.value if m.name in LOWER_IS_BETTER else value > m.model.value
            style = colors[0] if better else colors[1]
        table.update_cell(m.name, LIVE_COLUMN, Text(num(value), style=style))


def fill_segments(table: DataTable[object], e: Evaluation | None) -> None:
    """Segments worst first (as the service ordered them), with sizes and intervals."""
    table.clear(columns=True)
    if e is None or not e.segments:
        return
    for key, label in (
        ("column", "column"),
        ("value", "value"),
        ("rows", "rows"),
        ("metric", e.primary),
        ("ci", "95% CI"),
        ("gap", "vs all"),
    ):
        table.add_column(label, key=key)
    primary = e.metric(e.primary)
    overall = primary.model.value if primary is not None else None
    for i, s in enumerate(e.segments):
        cells = [Text(c) for c in segment_cells(s, overall)]
        for cell in cells[2:4]:
            cell.justify = "right"
        table.add_row(*cells, key=str(i))


def fill_coefficients(table: DataTable[object], e: Evaluation | None) -> bool:
    """The statsmodels coefficient table; False when the model has none."""
    table.clear(columns=True)
    if e is None or not e.coefficients:
        return False
    for label in ("term", "coef", "std err", "z/t", "p"):
        table.add_column(label, key=label)
    for row in coefficient_rows(e):
        table.add_row(*(Text(c) for c in row))
    return True
