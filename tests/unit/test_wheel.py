"""The predictor wheel: built from a bundle, installed into a fresh virtual environment without
an index, it scores a raw file exactly like mlwb, without importing mlwb or Textual.

The project is the one of ``test_bundle_recipe`` (adult.csv as imported, cleaned with row-wise
steps). The fresh environment sees only the wheel's declared dependencies and theirs (linked
from this environment's site-packages through a ``.pth`` file), so a missing requirement fails
the install or the scoring; ``pip install --no-index`` never asks an index.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata as im
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from packaging.requirements import Requirement

from app.errors import MlwbError
from app.services import bundle as bd
from app.services import cleaning
from app.services import wheel as wh
from tests.unit.train_fixtures import SAMPLE, charter, make_project, train_and_choose

RAW_ROWS = 1200
PACKAGE = "adult_predictor"
SCRIPT = "adult-predict"
QUIET = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pl.DataFrame]:
    """(bundle folder, wheel, raw rows of adult.csv)."""
    from app.services import evaluation as ev

    root = tmp_path_factory.mktemp("wheel")
    raw = pl.read_csv(SAMPLE / "adult.csv").head(RAW_ROWS)
    store = make_project(root, "adult", raw, charter("adult", threshold=0.3, constraints=[]))
    for step in (
        {"kind": "trim_whitespace"},
        {"kind": "null_markers", "markers": ["?"]},
        {"kind": "drop_duplicates"},
        {"kind": "derive_column", "name": "hours_x_age", "expression": '"hours-per-week" * age'},
        {"kind": "rename", "mapping": {"education-num": "education_years"}},
        {"kind": "drop_columns", "columns": ["fnlwgt"]},
    ):
        cleaning.add_step(store, "adult", step)
    run_id = train_and_choose(store, model="hgb")
    ev.evaluate(store, run_id, resamples=100, importance=False)
    path = bd.build_bundle(store, run_id, override_reason="test bundle")
    return path, wh.build_wheel(path, root / "dist"), raw


def _closure(requirements: list[str]) -> list[im.Distribution]:
    """The installed distributions ``requirements`` need, with everything they need."""
    seen: dict[str, im.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = im.distribution(req.name)
        seen[key] = dist
        todo.extend(Requirement(r) for r in dist.requires or [])
    return list(seen.values())


def _link_dependencies(requirements: list[str], into: Path) -> None:
    """Link the installed files of the dependency closure (and their .dist-info) into ``into``."""
    into.mkdir()
    for dist in _closure(requirements):
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)


@pytest.fixture(scope="module")
def venv(built: tuple[Path, Path, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory):
    """A fresh virtual environment with the wheel installed (no index); its python and bin."""
    _, wheel, _ = built
    root = tmp_path_factory.mktemp("venv")
    base = Path(sys.base_prefix) / "bin" / "python3"
    subprocess.run([str(base), "-m", "venv", str(root / "env")], check=True, timeout=300)
    python = root / "env" / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    requires = im.Distribution.at(_dist_info(wheel, root / "meta")).requires or []
    _link_dependencies(list(requires), root / "deps")
    (site / "deps.pth").write_text(str(root / "deps") + "\n")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", "--no-cache-dir", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python, site, root


def _dist_info(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if ".dist-info/" in n]
        archive.extractall(into, members=names)
    return next(into.glob("*.dist-info"))


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, env={**clean, **QUIET, **env}, timeout=300
    )


def _raw_file(raw: pl.DataFrame, where: Path) -> tuple[Path, pl.DataFrame]:
    """300 raw rows (two of them broken) written as CSV, and the rows as read back."""
    rows = raw.drop("income").head(300).with_columns(pl.col("age").cast(pl.String))
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.lit("abc"))
        .when(pl.int_range(pl.len()) == 42)
        .then(pl.lit("4x"))
        .otherwise(pl.col("age"))
        .alias("age")
    )
    path = where / "new.csv"
    rows.write_csv(path)
    return path, pl.read_csv(path, schema_overrides={"age": pl.String})


# -- the wheel file -----------------------------------------------------------------------------


def test_the_wheel_names_its_files_with_their_sha256(built):
    bundle_path, wheel, _ = built
    assert wheel.name == f"{PACKAGE}-1.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"{PACKAGE}-1.0.1.dist-info"
        record = archive.read(f"{info}/RECORD").decode().splitlines()
        listed = {}
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            listed[name] = (digest, size)
        assert set(listed) == names
        assert listed[f"{info}/RECORD"] == ("", "")
        for name, (digest, size) in listed.items():
            if name.endswith("RECORD"):
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode(), name
            assert int(size) == len(data)
        # The bundle as built, byte for byte.
        for file in bundle_path.iterdir():
            assert archive.read(f"{PACKAGE}/bundle/{file.name}") == file.read_bytes()
        assert {
            f"{PACKAGE}/__init__.py",
            f"{PACKAGE}/__main__.py",
            f"{PACKAGE}/_recipe.py",
            f"{PACKAGE}/_runtime/predictor.py",
            f"{PACKAGE}/_runtime/sm_estimators.py",
        } <= names
        entry = archive.read(f"{info}/entry_points.txt").decode()
        assert f"{SCRIPT} = {PACKAGE}.__main__:main" in entry
        meta = archive.read(f"{info}/METADATA").decode()
        wheel_info = archive.read(f"{info}/WHEEL").decode()
        # No file of the package imports mlwb.
        for name in names:
            if name.endswith(".py"):
                tree = ast.parse(archive.read(name))
                for node in ast.walk(tree):
                    if isinstance(node, ast.ImportFrom) and node.level == 0:
                        assert not (node.module or "").startswith("app"), (name, node.module)
                    if isinstance(node, ast.Import):
                        assert not any(a.name.startswith("app") for a in node.names), name
    assert "Root-Is-Purelib: true" in wheel_info and "Tag: py3-none-any" in wheel_info
    libraries = json.loads((bundle_path / "metadata.json").read_text())["libraries"]
    requires = [
        line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Requires-")
    ]
    for name in ("numpy", "pandas", "scikit-learn", "skops", "scipy"):
        assert f"{name}>={libraries[name]}" in requires
    assert {r.split(">=")[0] for r in requires} >= {"pydantic", "polars", "pyarrow"}
    assert not any(r.startswith(("textual", "mlwb", "statsmodels", "duckdb")) for r in requires)


def test_the_same_bundle_gives_the_same_wheel(built, tmp_path):
    bundle_path, wheel, _ = built
    again = wh.build_wheel(bundle_path, tmp_path)
    assert again.read_bytes() == wheel.read_bytes()


def test_names_are_valid_package_and_script_names():
    assert wh.package_name("Q3 churn!") == "q3_churn_predictor"
    assert wh.package_name("2024-sales") == "model_2024_sales_predictor"
    assert wh.package_name("---") == "model_predictor"
    assert wh.script_name("q3_churn_predictor") == "q3-churn-predict"


def test_a_tampered_bundle_is_not_packaged(built, tmp_path):
    bundle_path, _, _ = built
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_path, copy)
    (copy / "contract.json").write_text("{}")
    with pytest.raises(MlwbError, match="SHA-256"):
        wh.build_wheel(copy, tmp_path)
    with pytest.raises(MlwbError, match="not a wheel version"):
        wh.build_wheel(bundle_path, tmp_path, version="1.0-beta")


# -- installed ----------------------------------------------------------------------------------


def test_the_console_script_scores_a_file_like_mlwb(built, venv, tmp_path):
    bundle_path, _, raw = built
    python, _, _ = venv
    source, rows = _raw_file(raw, tmp_path)
    out = tmp_path / "scored.parquet"
    result = _run([str(python.parent / SCRIPT), str(source), str(out)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scored 298 of 300 rows" in result.stdout and "2 rejected" in result.stdout

    expected = bd.load_bundle(bundle_path).predict(rows)
    got = pl.read_parquet(out).to_pandas()
    want = expected.predictions
    assert got["row"].tolist() == (want["row"] + 1).tolist()
    assert got["prediction"].tolist() == want["prediction"].tolist()
    np.testing.assert_array_equal(got["probability"].to_numpy(), want["probability"].to_numpy())
    assert got["threshold"].tolist() == want["threshold"].tolist()
    assert got["flags"].tolist() == want["flags"].tolist()

    rejects = pl.read_csv(tmp_path / "scored.rejects.csv")
    assert rejects["row"].to_list() == [8, 43]
    assert rejects["reason"].to_list() == expected.rejects["reason"].tolist()
    assert "age: 'abc' is not a number" in rejects["reason"][0]


def test_chunks_stream_to_the_same_output_with_the_id_column(built, venv, tmp_path):
    """Scored in chunks of 37 rows (each written as it is scored), the CSV output and the
    rejects carry the ``id`` column and equal one whole-file prediction, and no part file
    is left behind."""
    bundle_path, _, raw = built
    python, _, _ = venv
    source, rows = _raw_file(raw, tmp_path)
    with_id = tmp_path / "with_id.csv"
    rows.with_columns((pl.int_range(pl.len()) * 10 + 5).alias("id")).write_csv(with_id)
    out = tmp_path / "scored.csv"
    args = [str(python.parent / SCRIPT), str(with_id), str(out), "--chunk-rows", "37"]
    result = _run(args, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scored 298 of 300 rows" in result.stdout and "2 rejected" in result.stdout
    expected = bd.load_bundle(bundle_path).predict(rows)
    got = pl.read_csv(out)
    want = expected.predictions
    assert got.columns[:2] == ["row", "id"]
    assert got["row"].to_list() == (want["row"] + 1).tolist()
    assert got["id"].to_list() == (want["row"] * 10 + 5).tolist()
    assert got["prediction"].to_list() == want["prediction"].tolist()
    np.testing.assert_allclose(got["probability"].to_numpy(), want["probability"].to_numpy())
    rejects = pl.read_csv(tmp_path / "scored.rejects.csv")
    assert rejects["row"].to_list() == [8, 43] and rejects["id"].to_list() == [75, 425]
    assert rejects["reason"].to_list() == expected.rejects["reason"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")) == []


def test_the_installed_predictor_imports_neither_mlwb_nor_textual(built, venv, tmp_path):
    bundle_path, _, raw = built
    python, site, _ = venv
    rows = raw.drop("income").head(50)
    rows.write_ndjson(tmp_path / "rows.ndjson")
    code = f"""
import json, sys
import polars as pl
import {PACKAGE} as p
got = p.predict(pl.read_ndjson("rows.ndjson"))
one = p.predict_row(pl.read_ndjson("rows.ndjson").row(0, named=True))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("app", "textual", "storage", "screens"))
try:
    import app
    mlwb = app.__file__
except ImportError:
    mlwb = None
print(json.dumps({{
    "loaded": loaded, "mlwb": mlwb, "file": p.__file__, "version": p.__version__,
    "run": p.metadata["run_id"], "probability": got.predictions["probability"].tolist(),
    "one": one["probability"], "statsmodels": "statsmodels" in sys.modules,
    "model_module": type(p.load().model).__module__,
}}))
"""
    result = _run([str(python), "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["loaded"] == [] and found["mlwb"] is None and not found["statsmodels"]
    assert Path(found["file"]).is_relative_to(site)
    assert found["version"] == "1.0.1" and found["run"] == 1
    expected = bd.load_bundle(bundle_path).predict(rows).predictions["probability"].tolist()
    assert found["probability"] == expected
    assert found["one"] == expected[0]


def test_a_tampered_file_in_the_installed_package_is_refused(built, venv, tmp_path):
    _, _, raw = built
    python, site, _ = venv
    # Tamper with a copy of the installed package, put first on the path.
    shutil.copytree(site / PACKAGE, tmp_path / "lib" / PACKAGE)
    model = tmp_path / "lib" / PACKAGE / "bundle" / "contract.json"
    model.write_text(model.read_text().replace('"nullable": false', '"nullable": true', 1))
    source, _ = _raw_file(raw, tmp_path)
    result = _run(
        [str(python), "-m", PACKAGE, str(source), str(tmp_path / "out.csv")],
        tmp_path,
        PYTHONPATH=str(tmp_path / "lib"),
    )
    assert result.returncode == 1
    assert "SHA-256 mismatch" in result.stderr and "contract.json" in result.stderr
    assert str(tmp_path / "lib") in result.stderr
    assert not (tmp_path / "out.csv").exists()


# -- model type names ---------------------------------------------------------------------------


class Untrusted:
    """A type no allow-list names."""


def test_mlwb_type_names_load_as_the_vendored_classes(built, tmp_path, monkeypatch):
    import importlib

    import pandas as pd
    import skops.io as sio

    from app.runtime.transformers import DateParts
    from app.services.sm_estimators import SMLogit

    _, wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "lib")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    safe = importlib.import_module(f"{PACKAGE}._runtime.safe_load")

    dates = pd.DataFrame({"d": pd.to_datetime(["2024-01-05 10:00", "2023-06-30 23:00"])})
    parts = DateParts().fit(dates)
    loaded = safe.load_skops(sio.dumps(parts), "parts.skops")
    assert type(loaded).__module__ == f"{PACKAGE}._runtime.transformers"
    np.testing.assert_array_equal(loaded.transform(dates), parts.transform(dates))

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + rng.normal(size=200) > 0).astype(int)
    logit = SMLogit().fit(X, y)
    loaded = safe.load_skops(sio.dumps(logit), "logit.skops")
    assert type(loaded).__module__ == f"{PACKAGE}._runtime.sm_estimators"
    np.testing.assert_array_equal(loaded.predict_proba(X), logit.predict_proba(X))

    errors = importlib.import_module(f"{PACKAGE}._runtime.errors")
    with pytest.raises(errors.MlwbError, match=r"outside the allow-list: \S*Untrusted"):
        safe.load_skops(sio.dumps(Untrusted()), "evil.skops")
