"""The prediction server: ``make_app`` through FastAPI's TestClient, and ``BackgroundServer``.

The bundle is a real one: histogram gradient boosting trained on 1,500 adult rows and bundled
from the project. Every answer of ``/predict`` is compared with ``Bundle.predict`` on the same
rows (the batch path, which ``mlwb predict`` uses); the prediction log is read back from its
Parquet files and compared with what was sent and answered.

Decisions checked here: a row that breaks the contract ("abc" for a number, infinity where
training had no missing value) is a 200 with ``errors`` for that row; a body that cannot be
used (malformed JSON, ``NaN``/``Infinity`` literals, a wrong shape, no rows, a missing column)
is a 422 with field-level ``detail``; a body above the limit is a 413, also when it is streamed
without a ``Content-Length``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from threadpoolctl import threadpool_limits
from train_fixtures import adult_frame, charter, make_project, train_and_choose

from app.errors import MlwbError
from app.runtime.predictor import MODEL, Bundle
from app.services import evaluation as ev
from app.services.bundle import build_bundle, load_bundle
from app.services.prediction_log import PredictionLog, log_directory, read_log, read_rows
from app.services.serve import BackgroundServer, make_app


@pytest.fixture(autouse=True, scope="module")
def _fast() -> Iterator[None]:
    with threadpool_limits(limits=1), pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "LATENCY_CALLS", 10)
        yield


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A histogram gradient boosting bundle, built outside the project folder."""
    root = tmp_path_factory.mktemp("serve")
    store = make_project(
        root, "adult", adult_frame(1500), charter("adult", threshold=0.3, constraints=[])
    )
    run_id = train_and_choose(store, model="hgb")
    ev.evaluate(store, run_id, resamples=100, importance=False)
    return build_bundle(store, run_id, root / "bundles", override_reason="test")


@pytest.fixture(scope="module")
def bundle(bundle_path: Path) -> Bundle:
    return load_bundle(bundle_path)


@pytest.fixture()
def log(tmp_path: Path, bundle: Bundle) -> Iterator[PredictionLog]:
    """A log without a background thread that writes only when flushed."""
    log = PredictionLog(tmp_path / "log", bundle, flush_rows=1_000_000, flush_seconds=0)
    yield log
    log.close()


@pytest.fixture()
def client(bundle: Bundle, log: PredictionLog) -> TestClient:
    return TestClient(make_app(bundle, log, max_body_bytes=64 * 1024))


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """60 adult rows (the target dropped) with one unseen category and one out-of-range age,
    and two rows that break the contract."""
    rows = adult_frame(1560).tail(60).drop("income").to_dicts()
    rows[3]["workclass"] = "Space-agency"
    rows[7]["age"] = 130
    rows[11]["age"] = "abc"
    rows[19]["hours-per-week"] = None
    return rows


def expected(bundle: Bundle, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the batch path says for each row, in the server's per-row shape."""
    got = bundle.predict(records)
    out: dict[int, dict[str, Any]] = {}
    for row in got.predictions.to_dict("records"):
        i = int(row.pop("row"))
        flags = row.pop("flags")
        out[i] = {"row": i, **row, "flags": flags.split("; ") if flags else []}
    for i, reason in zip(got.rejects["row"], got.rejects["reason"], strict=True):
        out[int(i)] = {"row": int(i), "errors": reason.split("; ")}
    return [out[i] for i in range(len(records))]


def post(client: TestClient, body: Any) -> httpx.Response:
    return client.post("/predict", content=json.dumps(body))


def detail(response: httpx.Response) -> dict[str, Any]:
    (entry,) = response.json()["detail"]
    return entry


# -- predictions equal the batch path -------------------------------------------------------


def test_one_row_equals_batch(
    client: TestClient, bundle: Bundle, records: list[dict[str, Any]]
) -> None:
    for i in (0, 3, 7, 11, 19, 25):
        response = post(client, [records[i]])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == expected(bundle, [records[i]])
        assert body["rows"] == 1
    assert post(client, [records[3]]).json()["predictions"][0]["flags"] == [
        "workclass='Space-agency' not seen in training"
    ]
    assert post(client, [records[7]]).json()["predictions"][0]["flags"] == [
        "age=130 above training max 90"
    ]
    (bad,) = post(client, [records[11]]).json()["predictions"]
    assert bad["row"] == 0 and set(bad) == {"row", "errors"}
    assert bad["errors"][0] == "age: 'abc' is not a number"


def test_many_rows_as_records_and_columns_equal_batch(
    client: TestClient, bundle: Bundle, records: list[dict[str, Any]]
) -> None:
    want = expected(bundle, records)
    assert sum("errors" in r for r in want) == 2
    as_list = post(client, records)
    as_records = post(client, {"records": records})
    columns = {name: [r[name] for r in records] for name in records[0]}
    as_columns = post(client, {"columns": columns})
    for response in (as_list, as_records, as_columns):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == want
        assert (body["rows"], body["scored"], body["rejected"]) == (60, 58, 2)
    # The probabilities are the model's own (independent of the bundle's code).
    scored = [r for r in want if "errors" not in r]
    import pandas as pd

    rows = [records[r["row"]] for r in scored]
    proba = bundle.model.predict_proba(
        pd.DataFrame(rows)[[c.name for c in bundle.contract.columns]]
    )
    positive = list(bundle.model.classes_).index(bundle.metadata.positive_class)
    np.testing.assert_array_equal([r["probability"] for r in scored], proba[:, positive])


def test_infinity_and_huge_numbers_are_row_errors(client: TestClient, bundle: Bundle) -> None:
    row = adult_frame(1).drop("income").to_dicts()[0]
    # 1e999 is valid JSON that Python reads as infinity: the contract treats it as missing.
    body = json.dumps([row]).replace('"age": 39', '"age": 1e999')
    assert "1e999" in body
    response = client.post("/predict", content=body)
    assert response.status_code == 200
    assert response.json()["predictions"][0]["errors"] == [
        "age: missing (null, NaN or inf) but training had no missing values"
    ]


# -- bodies that cannot be used ---------------------------------------------------------------


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/predict", content=b'[{"age": 39,')
    assert response.status_code == 422
    entry = detail(response)
    assert entry["type"] == "json_invalid"
    assert entry["msg"].startswith("the body is not valid JSON")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_422(
    client: TestClient, records: list[dict[str, Any]], literal: str
) -> None:
    body = json.dumps([records[0]]).replace('"fnlwgt": ', f'"fnlwgt": {literal}, "x": ', 1)
    response = client.post("/predict", content=body)
    assert response.status_code == 422
    assert f"{literal} is not valid JSON; send null" in detail(response)["msg"]


@pytest.mark.parametrize(
    ("body", "loc", "fragment"),
    [
        (42, ["body"], "expected a list of row objects"),
        ({"rows": []}, ["body"], "expected a list of row objects"),
        ([], ["body", "records"], "there are no rows"),
        ({"records": {"age": 1}}, ["body", "records"], "records must be a list"),
        ([1, 2], ["body", "records", 0], "each row must be an object"),
        ({"columns": [1]}, ["body", "columns"], "columns must be an object"),
        ({"columns": {"age": 1}}, ["body", "columns", "age"], "each column must be a list"),
        ({"columns": {"age": [1, 2], "sex": ["Male"]}}, ["body", "columns"], "different lengths"),
    ],
)
def test_wrong_shapes_are_422(client: TestClient, body: Any, loc: list[Any], fragment: str) -> None:
    response = post(client, body)
    assert response.status_code == 422, response.text
    entry = detail(response)
    assert entry["loc"] == loc
    assert fragment in entry["msg"]


def test_nested_value_is_422_naming_the_field(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    rows = [dict(records[0]), dict(records[1])]
    rows[1]["age"] = {"value": 3}
    entry = detail(post(client, rows))
    assert entry["loc"] == ["body", "records", 1, "age"]
    assert "must be a number, a string" in entry["msg"]


def test_missing_column_is_422_naming_it(client: TestClient, records: list[dict[str, Any]]) -> None:
    one = {k: v for k, v in records[0].items() if k != "occupation"}
    entry = detail(post(client, [one]))
    assert entry == {
        "loc": ["body", "records", 0, "occupation"],
        "msg": "missing column 'occupation'",
        "type": "missing",
    }
    # In a batch, the first row lacking it is named (not silently read as missing).
    many = [dict(r) for r in records[:5]]
    del many[2]["sex"]
    assert detail(post(client, many))["loc"] == ["body", "records", 2, "sex"]
    columns = {name: [r[name] for r in records[:3]] for name in records[0] if name != "age"}
    assert detail(post(client, {"columns": columns}))["loc"] == ["body", "columns", "age"]


def test_oversize_body_is_413_without_reading_it(client: TestClient) -> None:
    big = b"[" + b" " * (200 * 1024) + b"]"
    response = client.post("/predict", content=big)
    assert response.status_code == 413
    assert "larger than the limit of 65,536 bytes" in detail(response)["msg"]

    # Streamed without a Content-Length: the bytes are counted as they arrive (ASGI level).
    app = client.app
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b" " * 4096, "more_body": len(received) < 1_000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    assert sent[0]["status"] == 413
    assert len(received) == 17  # 16 chunks of 4 KiB fit in 64 KiB; the 17th is one too many


# -- the other endpoints ----------------------------------------------------------------------


def test_contract_metadata_health_docs(client: TestClient, bundle: Bundle) -> None:
    assert client.get("/contract").json() == bundle.contract.json_schema()
    meta = client.get("/metadata").json()
    assert meta["run_id"] == bundle.metadata.run_id
    assert meta["model_sha256"] == bundle.manifest.files[MODEL]
    assert meta["threshold"] == bundle.metadata.threshold
    health = client.get("/health").json()
    assert health == {"status": "ok", "bundle": bundle.path.name, "run_id": bundle.metadata.run_id}
    openapi = client.get("/openapi.json").json()
    body = openapi["paths"]["/predict"]["post"]["requestBody"]
    assert len(body["content"]["application/json"]["schema"]["oneOf"]) == 3
    assert client.get("/docs").status_code == 200


def test_metrics_count_requests_rows_rejects_errors(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    post(client, [records[0]])
    post(client, records[:20])  # rows 11 and 19 break the contract
    post(client, [records[11]])
    client.post("/predict", content=b"{")
    m = client.get("/metrics").json()
    assert (m["requests"], m["rows"], m["scored"], m["rejects"], m["errors"]) == (4, 22, 19, 3, 1)
    assert m["latency_ms"]["window"] == 4
    p = m["latency_ms"]
    assert 0 < p["p50"] <= p["p90"] <= p["p99"]


# -- the prediction log -----------------------------------------------------------------------


def test_log_records_every_request(
    client: TestClient, log: PredictionLog, bundle: Bundle, records: list[dict[str, Any]]
) -> None:
    post(client, [records[0]])
    post(client, {"records": records[:20]})
    post(client, "not rows")  # a 422 is not a prediction: not logged
    assert read_log(log.directory).height == 0  # buffered, nothing written yet
    assert log.flush() == 2
    entries = read_log(log.directory)
    assert entries["source"].to_list() == ["serve", "serve"]
    assert entries["rows"].to_list() == [1, 20]
    assert entries["scored"].to_list() == [1, 18]
    assert entries["rejected"].to_list() == [0, 2]
    assert set(entries["run_id"].to_list()) == {bundle.metadata.run_id}
    assert set(entries["model_sha256"].to_list()) == {bundle.manifest.files[MODEL]}
    assert entries["bundle_created_at"][0] == bundle.metadata.created_at
    assert (entries["latency_ms"] > 0).all()
    summary = json.loads(entries["summary"][1])
    want = expected(bundle, records[:20])
    scored = [r for r in want if "errors" not in r]
    labels = [r["prediction"] for r in scored]
    assert summary["predictions"]["classes"] == {k: labels.count(k) for k in sorted(set(labels))}
    assert summary["predictions"]["probability"]["mean"] == pytest.approx(
        np.mean([r["probability"] for r in scored])
    )
    ages = [r["age"] for r in records[:20] if isinstance(r["age"], int)]
    assert summary["inputs"]["age"]["mean"] == pytest.approx(np.mean(ages))
    assert summary["inputs"]["hours-per-week"]["missing"] == 1

    rows = read_rows(log.directory)
    assert rows.height == 21
    assert rows["entry"].to_list() == [entries["entry"][0]] + [entries["entry"][1]] * 20
    assert rows["row"].to_list() == [0, *range(20)]
    batch = rows.filter(rows["entry"] == entries["entry"][1])
    assert batch["prediction"].to_list() == [r.get("prediction") for r in want]
    assert batch["probability"].to_list() == [r.get("probability") for r in want]
    assert batch["errors"][11].startswith("age: 'abc' is not a number")
    assert batch["age"][11] is None  # "abc" is not a number: logged as null
    assert batch["occupation"].to_list() == [r["occupation"] for r in records[:20]]
    assert batch["fnlwgt"].to_list() == [float(r["fnlwgt"]) for r in records[:20]]
    assert batch["flags"][3] == "workclass='Space-agency' not seen in training"


def test_log_next_to_the_bundle_without_a_project(bundle_path: Path, bundle: Bundle) -> None:
    directory = log_directory(None, bundle_path)
    assert directory == bundle_path.parent / f"{bundle_path.name}.log"
    zipped = bundle_path.parent / f"{bundle_path.name}.zip"
    assert log_directory(None, zipped) == directory
    server = BackgroundServer(zipped, port=0)
    assert server.log_dir == directory


# -- the background server --------------------------------------------------------------------


def test_background_server_serves_and_flushes_on_stop(
    bundle: Bundle, tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    server = BackgroundServer(bundle, port=0, log_dir=tmp_path / "log", flush_seconds=3600)
    server.start()
    try:
        assert server.running
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/health").json()["status"] == "ok"
            one = http.post("/predict", json=[records[0]]).json()
            many = http.post("/predict", json={"records": records[:20]}).json()
        assert one["predictions"] == expected(bundle, [records[0]])
        assert many["predictions"] == expected(bundle, records[:20])
        stats = server.stats()
        assert (stats["requests"], stats["rows"], stats["rejects"]) == (2, 21, 2)
        assert stats["p99_ms"] > 0
        assert read_log(tmp_path / "log").height == 0
    finally:
        server.stop()
    assert not server.running
    entries = read_log(tmp_path / "log")
    assert entries["rows"].to_list() == [1, 20]
    assert read_rows(tmp_path / "log").height == 21


def test_background_server_port_in_use(bundle: Bundle, tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        server = BackgroundServer(bundle, port=port, log_dir=tmp_path / "log")
        with pytest.raises(MlwbError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start()
        assert not server.running
    finally:
        taken.close()
