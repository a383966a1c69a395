"""The local prediction server: a FastAPI app over a loaded bundle, and a background runner.

``POST /predict`` takes rows as records (``[{...}, ...]`` or ``{"records": [...]}``) or as
columns (``{"columns": {"age": [39, 50], ...}}``) and answers ``{"predictions": [...]}`` with
one result per input row, in order: ``row`` plus ``prediction`` (and ``probability``,
``threshold``, class probabilities), ``flags`` (scored, but out of the training range or an
unseen category) — or ``row`` plus ``errors`` when the row breaks the contract.

Status codes:

- 200: the body had the right shape. A row that breaks the contract (``"abc"`` for a number,
  a missing value where training had none, infinity) is a per-row ``errors`` entry, so one bad
  row never fails the others — the same as ``mlwb predict``'s rejects.
- 413: the body is larger than ``max_body_bytes`` (checked on ``Content-Length`` first, then
  on the bytes actually received, so a huge body is never read whole or parsed).
- 422: the body cannot be used at all, with FastAPI-style field-level ``detail``
  (``loc``/``msg``/``type``): malformed JSON, non-standard JSON constants (``NaN``,
  ``Infinity``: send ``null`` for a missing value), a wrong shape (not a list of objects, unequal
  column lengths, nested values), no rows, or a row missing a column the model needs (named).

One-row requests go through ``Bundle.predict_row`` (the lean path: plain checks, the encoders
compiled to lookups, no DataFrame); more rows through ``Bundle.predict``. Both give the same
result for a row. The body is read raw and parsed with ``json`` (no pydantic per row); the
OpenAPI document still describes the body and responses (``/docs``).

``BackgroundServer`` runs the app with uvicorn in a daemon thread (the TUI's Deploy screen);
``mlwb serve`` runs it in the foreground.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from app.errors import MlwbError
from app.runtime.predictor import MODEL, Bundle
from app.services.prediction_log import SERVE, PredictionLog, log_directory

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
LATENCY_WINDOW = 10_000
"""Latencies kept for the percentiles of ``/metrics`` (the most recent requests)."""
THREADPOOL_ROWS = 64
"""Requests with more rows are scored in a worker thread so the event loop stays responsive."""
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class BodyProblem(Exception):
    """A body that cannot be used: the status code and FastAPI-style ``detail`` entries."""

    def __init__(self, status: int, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail[0]["msg"] if detail else "")
        self.status = status
        self.detail = detail


def _problem(loc: list[Any], msg: str, kind: str, status: int = 422) -> BodyProblem:
    return BodyProblem(status, [{"loc": ["body", *loc], "msg": msg, "type": kind}])


# -- metrics ------------------------------------------------------------------------------------


class ServerMetrics:
    """Request, row, reject and error counts and a window of latencies (thread-safe enough:
    one event loop writes, readers copy)."""

    def __init__(self, window: int = LATENCY_WINDOW) -> None:
        self.started = time.time()
        self.requests = 0
        self.rows = 0
        self.scored = 0
        self.rejects = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=window)

    def observe(self, rows: int, scored: int, latency: float) -> None:
        self.requests += 1
        self.rows += rows
        self.scored += scored
        self.rejects += rows - scored
        self.latencies.append(latency)

    def failed(self, latency: float) -> None:
        self.requests += 1
        self.errors += 1
        self.latencies.append(latency)

    def snapshot(self) -> dict[str, Any]:
        """Counts and latency percentiles (ms) over the last ``window`` requests."""
        values = sorted(self.latencies)
        return {
            "requests": self.requests,
            "rows": self.rows,
            "scored": self.scored,
            "rejects": self.rejects,
            "errors": self.errors,
            "uptime_seconds": round(time.time() - self.started, 3),
            "latency_ms": {
                "window": len(values),
                "p50": _percentile(values, 0.50),
                "p90": _percentile(values, 0.90),
                "p99": _percentile(values, 0.99),
            },
        }


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(q * len(values)))
    return round(values[rank - 1], 4)


# -- parsing ------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; send null for a missing value")


def parse_rows(body: bytes, required: list[str]) -> list[dict[str, Any]]:
    """The rows of a ``/predict`` body, or ``BodyProblem`` (422) saying what is wrong."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _problem([], f"the body is not valid JSON: {exc}", "json_invalid") from exc
    if isinstance(data, list):
        records, where = data, ["records"]
    elif isinstance(data, dict) and "records" in data:
        records, where = data["records"], ["records"]
        if not isinstance(records, list):
            raise _problem(where, "records must be a list of objects", "list_type")
    elif isinstance(data, dict) and "columns" in data:
        records = _columns_to_records(data["columns"])
        where = ["columns"]
    else:
        raise _problem(
            [],
            'expected a list of row objects, {"records": [...]} or {"columns": {name: [...]}}',
            "model_attributes_type",
        )
    if not records:
        raise _problem(where, "there are no rows to score", "too_short")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise _problem(
                [*where, i], "each row must be an object of column -> value", "dict_type"
            )
        for name in required:
            if name not in record:
                loc = [*where, name] if where == ["columns"] else [*where, i, name]
                raise _problem(loc, f"missing column {name!r}", "missing")
        for name, value in record.items():
            if isinstance(value, dict | list):
                loc = [*where, name] if where == ["columns"] else [*where, i, name]
                raise _problem(
                    loc, "a value must be a number, a string, true/false or null", "scalar_type"
                )
    return records


def _columns_to_records(columns: Any) -> list[dict[str, Any]]:
    if not isinstance(columns, dict):
        raise _problem(["columns"], "columns must be an object of name -> list", "dict_type")
    lengths = set()
    for name, values in columns.items():
        if not isinstance(values, list):
            raise _problem(["columns", name], "each column must be a list of values", "list_type")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise _problem(
            ["columns"],
            "columns have different lengths: " + ", ".join(f"{n}" for n in sorted(lengths)),
            "value_error",
        )
    n = lengths.pop() if lengths else 0
    names = list(columns)
    lists = [columns[k] for k in names]
    return [dict(zip(names, (values[i] for values in lists), strict=True)) for i in range(n)]


def required_columns(bundle: Bundle) -> list[str]:
    """Columns every input row must name: the raw columns some feature needs when the bundle
    reads raw rows, else the contract's columns."""
    if bundle.raw.columns:
        return list(bundle.raw.required)
    return [c.name for c in bundle.contract.columns]


def score(bundle: Bundle, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per record, in order: ``row`` plus the prediction (and ``flags``), or
    ``row`` plus ``errors``. One record takes the lean path."""
    if len(records) == 1:
        return [{"row": 0, **bundle.predict_row(records[0])}]
    got = bundle.predict(records)
    out: list[dict[str, Any] | None] = [None] * len(records)
    frame = got.predictions
    columns = [c for c in frame.columns if c not in ("row", "flags")]
    values = {c: frame[c].tolist() for c in columns}
    for k, (row, flags) in enumerate(
        zip(frame["row"].tolist(), frame["flags"].tolist(), strict=True)
    ):
        result: dict[str, Any] = {"row": int(row)}
        for c in columns:
            result[c] = values[c][k]
        result["flags"] = flags.split("; ") if flags else []
        out[int(row)] = result
    for row, reason in zip(
        got.rejects["row"].tolist(), got.rejects["reason"].tolist(), strict=True
    ):
        out[int(row)] = {"row": int(row), "errors": str(reason).split("; ")}
    return [r if r is not None else {"row": i, "errors": ["not scored"]} for i, r in enumerate(out)]


# -- the app ------------------------------------------------------------------------------------

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            'Rows as records (a list, or {"records": [...]}) or as columns '
            '({"columns": {name: [values]}}). GET /contract has the JSON Schema of one row.'
        ),
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "object"}},
                        {
                            "type": "object",
                            "properties": {
                                "records": {"type": "array", "items": {"type": "object"}}
                            },
                            "required": ["records"],
                        },
                        {
                            "type": "object",
                            "properties": {
                                "columns": {
                                    "type": "object",
                                    "additionalProperties": {"type": "array"},
                                }
                            },
                            "required": ["columns"],
                        },
                    ]
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "One result per row, in input order: prediction (and probability, "
            "threshold, flags) or errors when the row breaks the contract",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "predictions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "row": {"type": "integer"},
                                        "prediction": {},
                                        "probability": {"type": "number"},
                                        "threshold": {"type": "number"},
                                        "flags": {"type": "array", "items": {"type": "string"}},
                                        "errors": {"type": "array", "items": {"type": "string"}},
                                    },
                                },
                            },
                            "rows": {"type": "integer"},
                            "scored": {"type": "integer"},
                            "rejected": {"type": "integer"},
                        },
                    }
                }
            },
        },
        "413": {"description": "The body is larger than the server's limit"},
        "422": {"description": "Malformed JSON, a wrong shape or a missing column (detail)"},
    },
}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, or ``BodyProblem`` (413) as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    too_big = _problem(
        [], f"the body is larger than the limit of {limit:,} bytes", "too_large", status=413
    )
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_big
        except ValueError:
            raise _problem([], "Content-Length is not a number", "value_error") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def make_app(
    bundle: Bundle,
    log: PredictionLog | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The FastAPI app serving ``bundle``; every ``/predict`` request is recorded in ``log``.

    ``app.state.metrics`` holds the ``ServerMetrics``.
    """
    from starlette.concurrency import run_in_threadpool

    name = bundle.path.name
    app = FastAPI(
        title=f"mlwb predictor: {name}",
        version=str(bundle.metadata.run_id),
        description=(
            f"Predictions of run {bundle.metadata.run_id} ({bundle.metadata.candidate}) of "
            f"project {bundle.metadata.project!r}; task {bundle.metadata.task}, target "
            f"{bundle.metadata.target!r}. POST rows to /predict; GET /contract for the row schema."
        ),
    )
    metrics = ServerMetrics()
    app.state.metrics = metrics
    app.state.bundle = bundle
    required = required_columns(bundle)
    schema = bundle.contract.json_schema()
    metadata = bundle.metadata.model_dump(mode="json") | {
        "bundle": str(bundle.path),
        "model_sha256": bundle.manifest.files.get(MODEL, ""),
    }

    @app.post("/predict", openapi_extra=_BODY_DOC, summary="Score one or many rows")
    async def predict(request: Request) -> Response:
        start = time.perf_counter()
        try:
            body = await _read_body(request, max_body_bytes)
            records = parse_rows(body, required)
            if len(records) > THREADPOOL_ROWS:
                results = await run_in_threadpool(score, bundle, records)
            else:
                results = score(bundle, records)
        except BodyProblem as problem:
            metrics.failed((time.perf_counter() - start) * 1000.0)
            return JSONResponse({"detail": problem.detail}, status_code=problem.status)
        except MlwbError as exc:  # e.g. a column the recipe needs, found only when replaying
            metrics.failed((time.perf_counter() - start) * 1000.0)
            return JSONResponse(
                {"detail": [{"loc": ["body"], "msg": exc.one_line(), "type": "value_error"}]},
                status_code=422,
            )
        rejected = sum(1 for r in results if "errors" in r)
        payload = json.dumps(
            {
                "predictions": results,
                "rows": len(results),
                "scored": len(results) - rejected,
                "rejected": rejected,
            },
            default=_plain,
        ).encode()
        elapsed = (time.perf_counter() - start) * 1000.0
        metrics.observe(len(results), len(results) - rejected, elapsed)
        if log is not None:
            log.record(SERVE, records, results, rejected, elapsed)
        return Response(payload, media_type="application/json")

    @app.get("/health", summary="Liveness and the bundle served")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "bundle": name, "run_id": bundle.metadata.run_id}

    @app.get("/contract", summary="JSON Schema of one input row")
    async def contract() -> dict[str, Any]:
        return schema

    @app.get("/metadata", summary="Where the bundle came from and how it decides")
    async def get_metadata() -> dict[str, Any]:
        return metadata

    @app.get("/metrics", summary="Requests, rows, rejects, errors and latency percentiles")
    async def get_metrics() -> dict[str, Any]:
        return metrics.snapshot()

    return app


def _plain(value: Any) -> Any:
    """JSON for NumPy scalars and anything else ``json`` does not know."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# -- running ------------------------------------------------------------------------------------


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a clear ``MlwbError`` when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # socket says it is TCP; without it Nagle's algorithm meets delayed ACKs (~40 ms a request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise MlwbError(
                f"port {port} on {host} is already in use",
                hint="stop the other server or choose another port with --port",
            ) from exc
        raise MlwbError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="check the --host address (127.0.0.1 serves this machine only)",
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    """True when ``host`` only serves this machine."""
    return host in LOOPBACK or host.startswith("127.")


class BackgroundServer:
    """``mlwb serve`` in a daemon thread: ``start()``, ``url``, ``stats()``, ``stop()``.

    ``bundle`` is a loaded bundle or a bundle path (loaded and verified here). The prediction
    log goes to ``log_dir`` (default: ``<bundle folder>.log`` next to the bundle). ``port=0``
    picks a free port (see ``url`` after ``start``).
    """

    def __init__(
        self,
        bundle: Bundle | str | Path,
        host: str = "127.0.0.1",
        port: int = 8000,
        log_dir: str | Path | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        flush_rows: int = 1_000,
        flush_seconds: float = 5.0,
    ) -> None:
        if not isinstance(bundle, Bundle):
            from app.services.bundle import load_bundle

            bundle = load_bundle(Path(bundle))
        self.bundle = bundle
        self.host = host
        self.port = port
        self.log_dir = Path(log_dir) if log_dir is not None else log_directory(None, bundle.path)
        self.max_body_bytes = max_body_bytes
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.log: PredictionLog | None = None
        self.app: FastAPI | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` (the bound port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop`` while the server thread lives."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Bind (``MlwbError`` if the port is in use), start serving and wait until ready."""
        import uvicorn

        if self.running:
            return
        sock = bind(self.host, self.port)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self.log = PredictionLog(
            self.log_dir, self.bundle, flush_rows=self.flush_rows, flush_seconds=self.flush_seconds
        )
        self.app = make_app(self.bundle, self.log, self.max_body_bytes)
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._failure = None

        def run() -> None:
            try:
                self._server.run(sockets=[sock])
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self._failure = exc

        self._thread = threading.Thread(target=run, name="mlwb-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise MlwbError(
                    f"the server did not start on {self.url}"
                    + (f": {self._failure}" if self._failure else ""),
                )
            time.sleep(0.01)

    def stats(self) -> dict[str, Any]:
        """Requests, rows, rejects, errors and latency p50/p90/p99 (ms) so far."""
        if self.app is None:
            return ServerMetrics().snapshot()
        snap: dict[str, Any] = self.app.state.metrics.snapshot()
        snap["p99_ms"] = snap["latency_ms"]["p99"]
        return snap

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, wait for the thread and flush the prediction log."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self.log is not None:
            self.log.close()
