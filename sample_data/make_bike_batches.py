"""Split bike_sharing_hour.csv into one CSV per month of 2012, for monitoring demos.

Deterministic: rows keep their original order and bytes-level format (CRLF, same columns).
The 2011 rows are the training period; each 2012 month is a new batch that arrives later.
Run from anywhere: ``python sample_data/make_bike_batches.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "bike_sharing_hour.csv"
OUT = HERE / "bike_batches"


def main() -> None:
    """Write ``bike_batches/bikes_2012-MM.csv`` for every month of 2012."""
    OUT.mkdir(exist_ok=True)
    with SOURCE.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        months: dict[str, list[list[str]]] = {}
        for row in reader:
            day = row[1]
            if day.startswith("2012-"):
                months.setdefault(day[:7], []).append(row)
    for month, rows in sorted(months.items()):
        with (OUT / f"bikes_{month}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows(rows)


if __name__ == "__main__":
    main()
