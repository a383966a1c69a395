"""Grid paging: time to fetch and show one page of a 5M-row table.

Issue 3 target: the p95 time to fetch and render one page of a 5M-row table is under 100 ms.

The 5M-row CSV (``bench.datagen``) is imported once into ``bench/out/grid-project-<rows>``
(reused by later runs). Pages of ``screens.data.PAGE`` rows are then read at seeded random
offsets spread over the whole table, exactly as the Data screen does it
(``browse.row_count`` + ``browse.page``, each opening the project), in three ways:

1. fetch only;
2. fetch + the cell strings (``screens.data._cell`` for every value of the page);
3. fetch + render: the page goes into a Textual ``DataTable`` inside a headless
   ``App.run_test()`` (``clear()``, ``add_row`` per row with a label, as the screen does),
   then ``await pilot.pause()`` lets Textual process the updates and refresh, and the table's
   visible region is rendered to strips with ``render_lines`` so the paint is really done.

The target applies to (3). Sorted pages (``ORDER BY`` a column) and raw DuckDB on an open
connection are shown for reference.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from collections.abc import Callable
from typing import Any

from bench.common import conditions, median, seconds, table, verdict
from bench.datagen import OUT, make_csv

ROWS = int(os.environ.get("MLWB_BENCH_GRID_ROWS", "5000000"))
SAMPLES = int(os.environ.get("MLWB_BENCH_GRID_SAMPLES", "60"))
SORTED_SAMPLES = 8
TARGET_MS = 100.0
SIZE = (160, 50)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def project(rows: int) -> tuple[Any, str]:
    """The store and dataset name of the cached project holding the ``rows``-row table."""
    from app.services.ingest import import_file
    from storage.db import ProjectStore

    root = OUT / f"grid-project-{rows}"
    marker = root / "bench-dataset.txt"
    if marker.exists():
        try:
            from app.services import browse

            store = ProjectStore.open(root)
            name = marker.read_text().strip()
            if browse.get_version(store, name).n_rows == rows:
                return store, name
        except Exception as exc:  # a stale cache from an older schema: rebuild it
            print(f"rebuilding {root.name}: {exc}")
    shutil.rmtree(root, ignore_errors=True)
    csv = make_csv(rows)
    store = ProjectStore.create(root, "bench-grid")
    started = time.perf_counter()
    version = import_file(store, csv)
    print(f"imported {rows:,} rows into {root} in {time.perf_counter() - started:.1f} s")
    marker.write_text(version.name)
    return store, version.name


def offsets(total: int, page: int, n: int) -> list[int]:
    """Seeded page offsets over the whole table, including the first and last page."""
    rng = random.Random(42)
    last = (total - 1) // page * page
    chosen = [0, last] + [rng.randrange(0, total // page) * page for _ in range(n - 2)]
    rng.shuffle(chosen)
    return chosen


def fetch(store: Any, name: str, offset: int, limit: int, order_by: str | None = None) -> Any:
    """What the Data screen's worker does for one page."""
    from app.services import browse

    browse.row_count(store, name, None)
    return browse.page(store, name, None, offset=offset, limit=limit, order_by=order_by)


def time_each(func: Callable[[int], Any], where: list[int]) -> list[float]:
    """Seconds ``func(offset)`` took, per offset."""
    out = []
    for offset in where:
        start = time.perf_counter()
        func(offset)
        out.append(time.perf_counter() - start)
    return out


async def render_pages(store: Any, name: str, where: list[int], page: int) -> list[float]:
    """Fetch + show each page in a DataTable of a headless app; seconds per page."""
    from textual.app import App, ComposeResult
    from textual.geometry import Region
    from textual.widgets import DataTable

    from app.services import browse
    from screens.data import _cell

    columns = [c for c in fetch(store, name, 0, 1).columns]

    class GridApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="grid", zebra_stripes=True)

    times: list[float] = []
    app = GridApp()
    async with app.run_test(size=SIZE) as pilot:
        grid = app.query_one("#grid", DataTable)
        for column in columns:
            grid.add_column(column, key=column)
        await pilot.pause()
        for offset in [0, *where]:  # the first page warms Textual up and is not counted
            start = time.perf_counter()
            browse.row_count(store, name, None)
            frame = browse.page(store, name, None, offset=offset, limit=page)
            grid.clear()
            for number, row in enumerate(frame.iter_rows(), start=offset + 1):
                grid.add_row(*[_cell(value) for value in row], label=str(number))
            await pilot.pause()
            lines = grid.render_lines(Region(0, 0, grid.size.width, grid.size.height))
            elapsed = time.perf_counter() - start
            assert len(lines) == grid.size.height and grid.row_count == frame.height
            times.append(elapsed)
    return times[1:]


def main() -> None:
    """Time page fetches and renders on the 5M-row table."""
    import duckdb

    from app.services import browse
    from screens.data import PAGE, _cell

    store, name = project(ROWS)
    version = browse.get_version(store, name)
    where = offsets(version.n_rows, PAGE, SAMPLES)
    fetch(store, name, 0, PAGE)  # warm the file cache

    fetch_only = time_each(lambda o: fetch(store, name, o, PAGE), where)

    def fetch_strings(offset: int) -> None:
        frame = fetch(store, name, offset, PAGE)
        rows = [[_cell(v) for v in row] for row in frame.iter_rows()]
        assert len(rows) == frame.height

    with_strings = time_each(fetch_strings, where)
    rendered = asyncio.run(render_pages(store, name, where, PAGE))
    sort_where = where[:SORTED_SAMPLES]
    sorted_pages = time_each(lambda o: fetch(store, name, o, PAGE, order_by="income"), sort_where)

    con = duckdb.connect(str(store.db_path), read_only=True)
    try:
        quoted = '"' + version.table_name.replace('"', '""') + '"'
        raw = time_each(
            lambda o: con.sql(f"SELECT * FROM {quoted} LIMIT {PAGE} OFFSET {o}").pl(), where
        )
    finally:
        con.close()

    def row(label: str, values: list[float], target: bool = False) -> list[str]:
        p95 = _p95(values)
        shown = f"< {TARGET_MS:g} ms {verdict(p95 * 1000 < TARGET_MS)}" if target else "info"
        return [
            label,
            str(len(values)),
            seconds(median(values)),
            seconds(p95),
            seconds(max(values)),
            shown,
        ]

    print(
        table(
            ["one page of 100 rows", "pages", "median", "p95", "max", "target (p95)"],
            [
                row("fetch + render in a DataTable (run_test)", rendered, target=True),
                row("fetch + cell strings", with_strings),
                row("fetch only (row_count + browse.page)", fetch_only),
                row("sorted by income: fetch only", sorted_pages),
                row("raw DuckDB, open connection, LIMIT/OFFSET", raw),
            ],
            f"grid: {version.n_rows:,}-row x {version.n_cols}-column table, pages at random "
            f"offsets, {SIZE[0]}x{SIZE[1]} terminal; {conditions()}",
        )
    )


if __name__ == "__main__":
    main()
