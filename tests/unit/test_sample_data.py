"""The committed sample data is what its README says, and the batches match their script."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"


def test_adult_keeps_its_dirt() -> None:
    with (SAMPLE / "adult.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], [r for r in rows[1:] if r]
    assert len(header) == 15 and len(body) == 32561
    assert rows[-1] == [] or (SAMPLE / "adult.csv").read_bytes().endswith(b"\n\n")
    workclass = header.index("workclass")
    assert sum(r[workclass] == " ?" for r in body) == 1836
    assert len(body) - len({tuple(r) for r in body}) == 24
    assert sum(r[-1] == " >50K" for r in body) == 7841


def test_bike_batches_match_the_script(tmp_path: Path) -> None:
    copy = tmp_path / "sample_data"
    copy.mkdir()
    for name in ("bike_sharing_hour.csv", "make_bike_batches.py"):
        (copy / name).write_bytes((SAMPLE / name).read_bytes())
    subprocess.run([sys.executable, str(copy / "make_bike_batches.py")], check=True)
    made = sorted((copy / "bike_batches").iterdir())
    committed = sorted((SAMPLE / "bike_batches").iterdir())
    assert [p.name for p in made] == [p.name for p in committed]
    assert [p.name for p in made] == [f"bikes_2012-{m:02d}.csv" for m in range(1, 13)]
    for new, old in zip(made, committed, strict=True):
        assert (
            hashlib.sha256(new.read_bytes()).digest() == hashlib.sha256(old.read_bytes()).digest()
        )
    with (SAMPLE / "bike_sharing_hour.csv").open(newline="") as handle:
        in_2012 = sum(1 for row in csv.reader(handle) if row[1].startswith("2012-"))
    batch_rows = sum(len(p.read_bytes().splitlines()) - 1 for p in committed)
    assert batch_rows == in_2012 == 8734
    assert (SAMPLE / "bike_batches" / "bikes_2012-01.csv").read_bytes().count(b"\r\n") == 742
