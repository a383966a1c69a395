"""The bundle: build from an evaluated run, verify on load, predict against the contract.

Predictions are checked against the stored model reloaded independently (skops + the
allow-list) and scored with ``predict_proba`` and the bundle's threshold; baseline bins and
quantiles against NumPy on the training part read again from the store. Bad input: tampered,
missing and unknown files, a newer bundle format, an untrusted type inside model.skops, rows
that break the contract, a failed gate without an override.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from threadpoolctl import threadpool_limits
from train_fixtures import (
    POSITIVE,
    passed_project,
)

from app.domain.evaluation import GateOutcome
from app.domain.metrics import TaskType
from app.errors import MlwbError
from app.runtime.contract import BUNDLE_FORMAT, InputContract
from app.services import browse
from app.services import bundle as bd
from app.services import evaluation as ev
from app.services import models as model_service
from app.services import training as tr
from app.services.features import FeatureSet
from storage import training as store_runs
from storage.db import ProjectStore


def _not_allowed(x: Any) -> Any:
    """A custom function: a model holding it must not load from a bundle."""
    return x


@pytest.fixture(autouse=True, scope="module")
def _fast() -> Iterator[None]:
    with threadpool_limits(limits=1), pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "LATENCY_CALLS", 10)
        yield


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, int]:
    return passed_project(tmp_path_factory.mktemp("adult"))


@pytest.fixture(scope="module")
def built(adult: tuple[ProjectStore, int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    store, run_id = adult
    return bd.build_bundle(store, run_id, tmp_path_factory.mktemp("bundles"))


@pytest.fixture(scope="module")
def loaded(built: Path) -> bd.Bundle:
    return bd.load_bundle(built)


def parts(
    store: ProjectStore, run_id: int
) -> tuple[Any, dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Stored model (reloaded independently), its record, the holdout and training features."""
    with store.connect() as con:
        record = store_runs.get_model(con, run_id)
        run = store_runs.get_run(con, run_id)
    assert record is not None and run is not None
    model = model_service.load_model(store.root / record["path"], record["sha256"])
    features = FeatureSet(
        target=record["target"],
        numeric=record["numeric"],
        categorical=record["categorical"],
        dates=record["dates"],
    )
    version = browse.get_version(store, run.dataset, run.version)
    task = TaskType(record["task"])
    holdout, _ = tr.load_part(store, version, features, task, holdout=True)
    train, _ = tr.load_part(store, version, features, task, holdout=False)
    return model, record, holdout, train


def copy_of(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / built.name
    shutil.copytree(built, target)
    return target


def fix_manifest(folder: Path, **changes: Any) -> None:
    """Recompute the manifest after an edit, so only the check under test can refuse it."""
    manifest = json.loads((folder / bd.MANIFEST).read_text())
    for name in manifest["files"]:
        manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    manifest.update(changes)
    (folder / bd.MANIFEST).write_text(json.dumps(manifest))


# -- building -------------------------------------------------------------------------------


def test_bundle_layout_and_zip(built: Path, adult: tuple[ProjectStore, int]) -> None:
    store, run_id = adult
    assert built.name.endswith(f"-run{run_id}-v1")
    assert re.fullmatch(r"[a-z0-9.-]+", built.name), built.name  # a plain file name
    names = {p.name for p in built.iterdir()}
    assert names == {*bd.FILES, bd.MANIFEST}
    archive = built.with_name(built.name + ".zip")
    with zipfile.ZipFile(archive) as z:
        assert {n.rsplit("/", 1)[-1] for n in z.namelist()} == names
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".tmp-")]
    # The model file is a byte copy of the stored one.
    with store.connect() as con:
        record = store_runs.get_model(con, run_id)
    assert record is not None
    assert (built / bd.MODEL).read_bytes() == (store.root / record["path"]).read_bytes()


def test_metadata(loaded: bd.Bundle, adult: tuple[ProjectStore, int]) -> None:
    store, run_id = adult
    m = loaded.metadata
    evaluation = ev.latest(store, run_id)
    assert evaluation is not None
    assert m.bundle_format == BUNDLE_FORMAT
    assert m.run_id == run_id and m.candidate == "logreg"
    assert m.dataset == "adult@1" and m.task == "binary" and m.positive_class == POSITIVE
    assert m.gate == "pass" and m.override_reason is None
    assert m.threshold == (evaluation.threshold if evaluation.threshold is not None else 0.5)
    f1 = next(x for x in evaluation.metrics if x.name == "f1")
    assert m.metrics["f1"].value == f1.model.value and m.metrics["f1"].low == f1.model.low
    assert {"scikit-learn", "numpy", "skops", "mlwb"} <= set(m.libraries)
    assert loaded.card.startswith("# Model card")


def test_zip_loads_the_same(built: Path, loaded: bd.Bundle) -> None:
    from_zip = bd.load_bundle(built.with_name(built.name + ".zip"))
    assert from_zip.metadata == loaded.metadata
    assert from_zip.contract == loaded.contract


def test_round_trip_predicts_like_the_stored_model(
    loaded: bd.Bundle, adult: tuple[ProjectStore, int]
) -> None:
    store, run_id = adult
    model, _, holdout, _ = parts(store, run_id)
    result = loaded.predict(holdout)
    assert result.rejects.empty and result.ignored_columns == []
    assert len(result.predictions) == len(holdout)
    column = list(np.asarray(model.classes_).astype(str)).index(POSITIVE)
    p = model.predict_proba(holdout)[:, column]
    t = loaded.metadata.threshold
    assert t is not None
    np.testing.assert_allclose(result.predictions["probability"], p, rtol=0, atol=1e-12)
    expected = np.where(p >= t, POSITIVE, "<=50K")
    assert list(result.predictions["prediction"]) == list(expected)
    assert (result.predictions["threshold"] == t).all()
    assert list(result.predictions["row"]) == list(range(len(holdout)))
    # Polars and a list of dicts give the same answer.
    small = holdout.head(20)
    again = loaded.predict(pl.from_pandas(small)).predictions
    records = loaded.predict(small.to_dict("records")).predictions
    np.testing.assert_allclose(again["probability"], p[:20])
    np.testing.assert_allclose(records["probability"], p[:20])


def test_baseline_matches_numpy(loaded: bd.Bundle, adult: tuple[ProjectStore, int]) -> None:
    store, run_id = adult
    _, record, _, train = parts(store, run_id)
    assert loaded.baseline.n_rows == len(train)
    for f in loaded.baseline.features:
        assert f.n_rows == len(train)
        if f.kind == "numeric":
            values = train[f.name].to_numpy(dtype=float)
            present = values[~np.isnan(values)]
            assert sum(f.counts) + f.missing == len(train)
            assert len(f.counts) == 12 and f.counts[0] == 0 and f.counts[-1] == 0
            np.testing.assert_array_equal(f.edges, np.quantile(present, np.linspace(0, 1, 11)))
            assert f.quantiles["q50"] == np.quantile(present, 0.5)
            assert f.mean == pytest.approx(present.mean())
        else:
            assert sum(f.frequencies.values()) + f.other + f.missing == len(train)
    kinds = {f.name: f.kind for f in loaded.baseline.features}
    assert set(record["numeric"]) == {n for n, k in kinds.items() if k == "numeric"}


def test_bin_counts_open_ended() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    counts = bd.bin_counts(np.array([-5.0, 0.0, 0.5, 1.0, 2.0, 9.0]), edges)
    assert list(counts) == [1, 2, 2, 1]


# -- the contract ---------------------------------------------------------------------------


def _valid(schema: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """A tiny JSON Schema check (type, enum, required) — jsonschema is not installed."""
    kinds = {"number": (int, float), "string": (str,), "null": (type(None),)}
    errors = [f"{n} required" for n in schema["required"] if n not in row]
    for name, value in row.items():
        prop = schema["properties"].get(name)
        if prop is None:
            continue
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        if not any(isinstance(value, kinds[t]) and not isinstance(value, bool) for t in types):
            errors.append(f"{name}: wrong type")
        if "enum" in prop and value not in prop["enum"]:
            errors.append(f"{name}: not allowed")
    return errors


def test_contract_schema(loaded: bd.Bundle, built: Path, adult: tuple[ProjectStore, int]) -> None:
    store, run_id = adult
    _, record, _, train = parts(store, run_id)
    contract = loaded.contract
    assert InputContract.model_validate_json((built / bd.CONTRACT).read_bytes()) == contract
    schema = json.loads((built / bd.SCHEMA).read_text())
    assert schema == contract.json_schema()
    age = contract.column("age")
    assert age.kind == "numeric" and age.min == train["age"].min() and age.max == train["age"].max()
    assert schema["properties"]["age"]["type"] in ("number", ["number", "null"])
    assert "description" in schema["properties"]["age"]
    workclass = contract.column("workclass")
    assert workclass.kind == "categorical" and not workclass.more_categories
    assert set(workclass.categories) == set(train["workclass"])
    row = train.head(1).to_dict("records")[0]
    assert _valid(schema, row) == []
    assert _valid(schema, {**row, "age": "abc"}) == ["age: wrong type"]
    assert _valid(schema, {k: v for k, v in row.items() if k != "age"}) == ["age required"]


def test_category_cap() -> None:
    frame = pd.DataFrame({"c": [f"v{i % 1500}" for i in range(3000)]})
    contract = bd.contract_of(frame, FeatureSet(target="y", categorical=["c"]), "binary")
    c = contract.column("c")
    assert c.more_categories and len(c.categories) == 1000
    assert "enum" not in contract.json_schema()["properties"]["c"]


# -- predicting with bad input --------------------------------------------------------------


def test_predict_bad_input(loaded: bd.Bundle, adult: tuple[ProjectStore, int]) -> None:
    store, run_id = adult
    _, _, holdout, _ = parts(store, run_id)
    rows = holdout.head(4).astype(object).to_dict("records")
    with pytest.raises(MlwbError, match="missing column.*age"):
        loaded.predict([{k: v for k, v in r.items() if k != "age"} for r in rows])
    age_max = loaded.contract.column("age").max
    assert age_max is not None
    rows[0]["age"] = "abc"
    rows[1]["workclass"] = "Space-agency"
    rows[2]["age"] = age_max + 50
    rows[3]["extra"] = 1
    result = loaded.predict(rows)
    assert list(result.rejects["row"]) == [0]
    assert "age" in result.rejects["reason"][0] and "'abc'" in result.rejects["reason"][0]
    assert result.ignored_columns == ["extra"]
    flags = dict(zip(result.predictions["row"], result.predictions["flags"], strict=True))
    assert set(flags) == {1, 2, 3}
    assert "Space-agency" in flags[1] and "not seen" in flags[1]
    assert "above training max" in flags[2]
    assert flags[3] == ""
    assert result.predictions["probability"].notna().all()


def test_predict_missing_and_inf(loaded: bd.Bundle, adult: tuple[ProjectStore, int]) -> None:
    store, run_id = adult
    _, _, holdout, _ = parts(store, run_id)
    frame = holdout.head(3).copy()
    frame.loc[0, "age"] = np.inf
    frame.loc[1, "age"] = np.nan
    result = loaded.predict(frame)
    if loaded.contract.column("age").nullable:
        assert result.rejects.empty
    else:
        assert list(result.rejects["row"]) == [0, 1]
        assert all("missing" in r for r in result.rejects["reason"])
        assert list(result.predictions["row"]) == [2]


def test_predict_empty(loaded: bd.Bundle, adult: tuple[ProjectStore, int]) -> None:
    store, run_id = adult
    _, _, holdout, _ = parts(store, run_id)
    for empty in ([], holdout.head(0)):
        result = loaded.predict(empty)
        assert result.predictions.empty and result.rejects.empty
        assert {"row", "prediction", "probability", "threshold", "flags"} <= set(
            result.predictions.columns
        )


# -- refusing bad bundles -------------------------------------------------------------------


def test_tampered_file_refused(built: Path, tmp_path: Path) -> None:
    folder = copy_of(built, tmp_path)
    data = bytearray((folder / bd.MODEL).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / bd.MODEL).write_bytes(bytes(data))
    with pytest.raises(MlwbError, match=r"changed.*model\.skops"):
        bd.load_bundle(folder)
    (folder / bd.MODEL).write_bytes((built / bd.MODEL).read_bytes())
    text = (folder / bd.METADATA).read_text().replace('"threshold": ', '"threshold": 0.01, "x": ')
    (folder / bd.METADATA).write_text(text)
    with pytest.raises(MlwbError, match=r"metadata\.json"):
        bd.load_bundle(folder)


def test_missing_file_refused(built: Path, tmp_path: Path) -> None:
    folder = copy_of(built, tmp_path)
    (folder / bd.BASELINE).unlink()
    with pytest.raises(MlwbError, match=r"missing.*baseline\.json"):
        bd.load_bundle(folder)
    (folder / bd.MANIFEST).unlink()
    with pytest.raises(MlwbError, match=r"manifest\.json is missing"):
        bd.load_bundle(folder)
    with pytest.raises(MlwbError, match="no bundle"):
        bd.load_bundle(tmp_path / "nothing")


def test_newer_format_refused(built: Path, tmp_path: Path) -> None:
    folder = copy_of(built, tmp_path)
    fix_manifest(folder, bundle_format=BUNDLE_FORMAT + 1)
    with pytest.raises(MlwbError, match=f"format {BUNDLE_FORMAT + 1}.*format {BUNDLE_FORMAT}"):
        bd.load_bundle(folder)
    folder2 = copy_of(built, tmp_path / "b")
    meta = json.loads((folder2 / bd.METADATA).read_text())
    meta["bundle_format"] = BUNDLE_FORMAT + 1
    (folder2 / bd.METADATA).write_text(json.dumps(meta))
    fix_manifest(folder2)
    with pytest.raises(MlwbError, match=f"format {BUNDLE_FORMAT + 1}"):
        bd.load_bundle(folder2)


def test_untrusted_type_refused(built: Path, tmp_path: Path) -> None:
    folder = copy_of(built, tmp_path)
    X = np.arange(20, dtype=float).reshape(10, 2)
    evil = Pipeline([("f", FunctionTransformer(_not_allowed)), ("m", LogisticRegression())]).fit(
        X, np.arange(10) % 2
    )
    (folder / bd.MODEL).write_bytes(sio.dumps(evil))
    fix_manifest(folder)
    with pytest.raises(MlwbError, match=r"allow-list.*_not_allowed") as info:
        bd.load_bundle(folder)
    assert "model.skops" in info.value.message


# -- the gate -------------------------------------------------------------------------------


def test_gate_refusal_and_override(
    adult: tuple[ProjectStore, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = adult
    real = ev.latest(store, run_id)
    assert real is not None
    failed = real.model_copy(deep=True)
    failed.gate.outcome = GateOutcome.FAIL
    monkeypatch.setattr(bd.ev, "latest", lambda *_a, **_k: failed)
    with pytest.raises(MlwbError, match="did not pass the gate") as info:
        bd.build_bundle(store, run_id, tmp_path)
    assert "--override-gate" in info.value.hint
    assert not list(tmp_path.iterdir())
    path = bd.build_bundle(store, run_id, tmp_path, override_reason="pilot for one region")
    meta = bd.load_bundle(path).metadata
    assert meta.gate == "fail" and meta.override_reason == "pilot for one region"


def test_no_stored_model_refused(adult: tuple[ProjectStore, int], tmp_path: Path) -> None:
    store, _ = adult
    with pytest.raises(MlwbError, match="no run 999"):
        bd.build_bundle(store, 999, tmp_path)
    with store.connect() as con:
        runs = store_runs.list_runs(con)
    extra = runs[0].model_copy(update={"id": 0})
    with store.transaction() as con:
        new_id = store_runs.insert_run(con, extra)
    with pytest.raises(MlwbError, match="no stored model") as info:
        bd.build_bundle(store, new_id, tmp_path)
    assert "--choose" in info.value.hint
