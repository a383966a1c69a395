"""PageGrid: a read-only grid for one page of rows that draws only what is on screen.

Built on Textual's Line API (``ScrollView.render_line``): each page's cells are fitted and
padded to their column width once, in ``set_page``; a repaint then joins the few visible,
pre-padded strings of each visible line, so a page costs far less than a ``DataTable``, which
renders every cell of every row through Rich. Cell text is never parsed as markup.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

MAX_WIDTH = 30
"""Widest a column gets, in cells; longer text ends with an ellipsis."""

_CONTROL = {code: " " for code in range(32)} | {10: "↵", 13: "↵", 127: " "}


def fit(text: str) -> tuple[str, int]:
    """The text as one line of at most ``MAX_WIDTH`` cells, and its width in cells."""
    if not text.isprintable():
        text = text.translate(_CONTROL)
    width = len(text) if text.isascii() else cell_len(text)
    if width > MAX_WIDTH:
        text, width = set_cell_size(text, MAX_WIDTH - 1) + "…", MAX_WIDTH
    return text, width


def _pad(text: str, width: int, column: int) -> str:
    return f" {text}{' ' * (column - width + 1)}"


class PageGrid(ScrollView, can_focus=True):
    """One page of rows under a fixed header, with fixed row labels and a cell cursor."""

    ALLOW_SELECT = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1, 0)", "Cursor up", show=False),
        Binding("down", "cursor(1, 0)", "Cursor down", show=False),
        Binding("left", "cursor(0, -1)", "Cursor left", show=False),
        Binding("right", "cursor(0, 1)", "Cursor right", show=False),
        Binding("pageup", "page_rows(-1)", "Rows up a screen", show=False),
        Binding("pagedown", "page_rows(1)", "Rows down a screen", show=False),
        Binding("home", "edge_column(0)", "First column", show=False),
        Binding("end", "edge_column(1)", "Last column", show=False),
        Binding("ctrl+home", "edge_row(0)", "First row", show=False),
        Binding("ctrl+end", "edge_row(1)", "Last row", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "page-grid--header",
        "page-grid--header-cursor",
        "page-grid--label",
        "page-grid--label-cursor",
        "page-grid--cursor",
        "page-grid--even-row",
        "page-grid--odd-row",
    }
    """Header row, the cursor column's header, row labels, the cursor row's label, the cursor
    cell, and the zebra stripes (row indices start at 0)."""

    class CellHighlighted(Message):
        """The cursor moved to another cell (or the page under it changed)."""

        def __init__(self, grid: PageGrid, row: int, column: int, value: str) -> None:
            super().__init__()
            self.grid = grid
            self.row = row
            self.column = column
            self.value = value

        @property
        def control(self) -> PageGrid:
            """The grid, so ``@on(PageGrid.CellHighlighted, "#id")`` works."""
            return self.grid

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._rows: list[list[str]] = []
        self._cells: list[list[str]] = []
        self._header: list[str] = []
        self._labels: list[str] = []
        self._names: list[str] = []
        self._widths: list[int] = []
        self._offsets: list[int] = [0]
        self._label_width = 0
        self._narrow = True
        self._cursor = (0, 0)

    # -- data -------------------------------------------------------------------------------

    def set_page(self, columns: list[str], rows: list[list[str]], labels: list[str]) -> None:
        """Show ``rows`` (one string per column) under ``columns``, labelled by ``labels``.

        Column widths fit the header and this page's cells; while the columns stay the same
        they (and the labels' width) only grow, so paging does not make them jump. The cursor
        keeps its column and goes to the first row, scrolled to the top.
        """
        header = [fit(name) for name in columns]
        fitted = [[fit(value) for value in row] for row in rows]
        same = columns == self._names
        widths = [max(w, self._widths[i]) if same else w for i, (_, w) in enumerate(header)]
        narrow = all(len(t) == w for t, w in header)
        for row in fitted:
            for index, (text, width) in enumerate(row):
                if width > widths[index]:
                    widths[index] = width
                if width != len(text):
                    narrow = False
        self._names, self._widths = list(columns), widths
        self._rows = [[text for text, _ in row] for row in fitted]
        self._header = [_pad(t, w, widths[i]) for i, (t, w) in enumerate(header)]
        self._cells = [[_pad(t, w, widths[i]) for i, (t, w) in enumerate(row)] for row in fitted]
        label_fits = [fit(label) for label in labels]
        label_width = max((w for _, w in label_fits), default=0)
        if same and labels:
            label_width = max(label_width, self._label_width - 2)
        self._labels = [f" {' ' * (label_width - w)}{t} " for t, w in label_fits]
        self._label_width = label_width + 2 if labels else 0
        self._narrow = narrow and all(len(t) == w for t, w in label_fits)
        self._offsets = [0]
        for width in widths:
            self._offsets.append(self._offsets[-1] + width + 2)
        self.virtual_size = Size(self._label_width + self._offsets[-1], 1 + len(rows))
        self.scroll_to(y=0, animate=False, force=True)
        self.move_cursor(row=0, column=self._cursor[1], announce=True)
        self.refresh()

    def clear(self) -> None:
        """Remove the columns and rows."""
        self.set_page([], [], [])

    @property
    def row_count(self) -> int:
        """Rows on the page."""
        return len(self._rows)

    @property
    def column_count(self) -> int:
        """Columns on the page."""
        return len(self._header)

    def get_row_at(self, index: int) -> list[str]:
        """The cells of row ``index`` as displayed."""
        return list(self._rows[index])

    # -- cursor -----------------------------------------------------------------------------

    @property
    def cursor_row(self) -> int:
        """The row index of the cursor."""
        return self._cursor[0]

    @property
    def cursor_column(self) -> int:
        """The column index of the cursor."""
        return self._cursor[1]

    def move_cursor(
        self, row: int | None = None, column: int | None = None, *, announce: bool = False
    ) -> None:
        """Put the cursor on a cell (clamped to the page) and scroll it into view."""
        old = self._cursor
        row = old[0] if row is None else row
        column = old[1] if column is None else column
        row = max(0, min(row, len(self._rows) - 1))
        column = max(0, min(column, len(self._header) - 1))
        self._cursor = (row, column)
        self._scroll_to_cursor()
        if self._cursor != old or announce:
            self.refresh()
            if self._rows and self._header:
                value = self._rows[row][column]
                self.post_message(self.CellHighlighted(self, row, column, value))

    def _scroll_to_cursor(self) -> None:
        width, height = self.scrollable_content_region.size
        if not width or not height or not self._header:
            return
        row, column = self._cursor
        x, y = round(self.scroll_x), round(self.scroll_y)
        shown_rows = max(1, height - 1)
        y = min(y, row) if row < y + shown_rows else row - shown_rows + 1
        left, right = self._offsets[column], self._offsets[column + 1]
        x = max(x, right - max(1, width - self._label_width))
        x = min(x, left)
        self.scroll_to(x, y, animate=False, force=True)

    def _shown_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor(self, rows: int, columns: int) -> None:
        """Move the cursor by rows and columns."""
        self.move_cursor(self.cursor_row + rows, self.cursor_column + columns)

    def action_page_rows(self, direction: int) -> None:
        """Move the cursor a screenful of rows up or down."""
        self.move_cursor(row=self.cursor_row + direction * self._shown_rows())

    def action_edge_column(self, last: int) -> None:
        """Move the cursor to the first or last column."""
        self.move_cursor(column=len(self._header) - 1 if last else 0)

    def action_edge_row(self, last: int) -> None:
        """Move the cursor to the first or last row."""
        self.move_cursor(row=len(self._rows) - 1 if last else 0)

    def on_click(self, event: events.Click) -> None:
        """Put the cursor on the clicked cell."""
        offset = event.get_content_offset(self)
        if offset is None or not self._header:
            return
        column: int | None = None
        if offset.x >= self._label_width:
            x = offset.x - self._label_width + round(self.scroll_x)
            if x < self._offsets[-1]:
                column = bisect_right(self._offsets, x) - 1
        row = None if offset.y == 0 else offset.y - 1 + round(self.scroll_y)
        if row is not None and row >= len(self._rows):
            return
        self.move_cursor(row, column)

    # -- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """The header (line 0, fixed) or the row under line ``y``, cropped to what is seen."""
        width = self.size.width
        style = self.get_component_rich_style
        cursor_row, cursor_column = self._cursor
        if y == 0:
            base = style("page-grid--header")
            cells, label, label_style = self._header, " " * self._label_width, base
            cursor_style = style("page-grid--header-cursor")
        else:
            row = y - 1 + round(self.scroll_y)
            if row >= len(self._cells):
                return Strip.blank(width, self.rich_style)
            base = style("page-grid--odd-row" if row % 2 else "page-grid--even-row")
            cells, label = self._cells[row], self._labels[row]
            on_cursor = row == cursor_row
            label_style = style("page-grid--label-cursor" if on_cursor else "page-grid--label")
            cursor_style = style("page-grid--cursor")
            if not on_cursor:
                cursor_column = -1
        return self._line(cells, label, label_style, base, cursor_style, cursor_column, width)

    def _line(
        self,
        cells: list[str],
        label: str,
        label_style: Style,
        base: Style,
        cursor_style: Style,
        cursor_column: int,
        width: int,
    ) -> Strip:
        scroll_x = round(self.scroll_x)
        data_width = max(0, width - self._label_width)
        offsets = self._offsets
        first = max(0, bisect_right(offsets, scroll_x) - 1)
        last = min(len(cells), bisect_left(offsets, scroll_x + data_width))
        start, end = scroll_x - offsets[first], scroll_x + data_width
        segments = [Segment(label, label_style)] if label else []
        if not self._narrow:  # wide characters: let Rich crop by cells
            cropped = Strip(
                Segment(cells[index], cursor_style if index == cursor_column else base)
                for index in range(first, last)
            ).crop(start, start + data_width)
            return Strip([*segments, *cropped]).adjust_cell_length(width, base)
        used = len(label)
        for index in range(first, last):  # one character is one cell: slice the strings
            text = cells[index]
            cut = offsets[index + 1] - end
            text = text[start if index == first else 0 : len(text) - cut if cut > 0 else None]
            used += len(text)
            segments.append(Segment(text, cursor_style if index == cursor_column else base))
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        elif used > width:
            return Strip(segments).adjust_cell_length(width, base)
        return Strip(segments, width)
