"""An installable predictor wheel from a bundle: ``mlwb deploy --wheel``, ``mlwb bundle wheel``.

``build_wheel`` writes ``<name>_predictor-<version>-py3-none-any.whl`` directly with ``zipfile``
(no build backend, no network): the bundle's files, a copy of mlwb's prediction runtime
(``app/runtime``) and the row-wise recipe steps as generated Polars code. Installed, it needs
only NumPy, pandas, scikit-learn, SciPy, skops and pydantic (plus Polars and PyArrow when the
bundle reads raw rows) — no Textual and no mlwb::

    import adult_predictor
    result = adult_predictor.predict(rows)   # pandas/Polars frame or list of dicts
    result.predictions, result.rejects       # as Bundle.predict returns them

    $ adult-predict new.csv scored.parquet   # rejects go to scored.rejects.csv

Layout of the package ``<name>_predictor``:

* ``__init__.py``: ``predict``, ``predict_row``, ``predict_file``, ``load``, ``metadata``,
  ``__version__``; ``__main__.py``: the console script ``<name>-predict INPUT OUTPUT``;
  ``_batch.py``: files in chunks (CSV, Parquet, NDJSON) like ``mlwb predict``.
* ``_runtime/``: ``app/runtime/*.py`` with their ``from app.runtime.x import`` lines made
  relative, plus ``sm_estimators.py`` (the statsmodels estimators predict with NumPy and SciPy
  only; statsmodels is imported only to fit). The model file names mlwb's module paths
  (``app.runtime.transformers.DateParts``); the vendored loader translates exactly those module
  names to this package's copies in the skops file's schema — after the manifest check, before
  the allow-list check — so no ``sys.modules`` entry is faked and an installed mlwb is never
  touched. The allow-list is mlwb's own with the same translation.
* ``_recipe.py``: ``prepare(frame, steps)``, the bundle's row-wise steps as the Polars code
  mlwb's recipe engine records for them (``trace_recipe``); it refuses steps other than the
  ones it was generated from.
* ``bundle/``: the bundle files as built; every load verifies them against the manifest.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import inspect
import json
import os
import re
import textwrap
import zipfile
from pathlib import Path
from typing import Any

from app.errors import MlwbError
from app.runtime import predictor as rt
from app.services.wheel_package import BATCH, INIT, MAIN

RUNTIME = Path(rt.__file__).resolve().parent
"""mlwb's prediction runtime, copied into every wheel."""
SM_ESTIMATORS = Path(__file__).resolve().with_name("sm_estimators.py")
EPOCH = (1980, 1, 1, 0, 0, 0)
"""The time stamp of every file in the wheel (the same bundle gives the same wheel bytes)."""
VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*$")


# -- names and versions -------------------------------------------------------------------------


def package_name(name: str) -> str:
    """``<slug>_predictor``: a Python identifier and a valid (PEP 503/427) distribution name."""
    slug = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
    if not slug:
        slug = "model"
    if slug[0].isdigit():
        slug = f"model_{slug}"
    return slug if slug.endswith("_predictor") else f"{slug}_predictor"


def script_name(package: str) -> str:
    """The console script: ``adult_predictor`` -> ``adult-predict``."""
    return package.removesuffix("_predictor").replace("_", "-") + "-predict"


def _plain_version(version: str) -> str:
    """``2.4.6`` from ``2.4.6+cpu`` / ``2.4.6rc1``: a lower bound every installer accepts."""
    match = re.match(r"[0-9]+(\.[0-9]+)*", version.strip())
    return match.group(0) if match else "0"


def requirements(metadata: Any, raw: Any) -> list[str]:
    """``Requires-Dist`` lines: the runtime's libraries, at least the versions the bundle was
    built with (its metadata lists them; Polars, PyArrow and pydantic: this environment's)."""
    import pydantic

    libraries = dict(metadata.libraries)
    found = {
        "numpy": libraries.get("numpy"),
        "pandas": libraries.get("pandas"),
        "scikit-learn": libraries.get("scikit-learn"),
        "scipy": libraries.get("scipy"),
        "skops": libraries.get("skops"),
        "pydantic": pydantic.__version__,
    }
    if raw.columns or raw.steps:
        # Raw rows are read and the recipe replayed with Polars; its to_pandas needs PyArrow.
        import polars
        import pyarrow

        found["polars"] = polars.__version__
        found["pyarrow"] = pyarrow.__version__
    out = []
    for name, version in found.items():
        if version is None:
            from importlib.metadata import version as installed

            version = installed(name)
        out.append(f"{name}>={_plain_version(version)}")
    return out


# -- vendoring ----------------------------------------------------------------------------------


def _vendored(source: str, where: str) -> str:
    """``source`` with its mlwb imports made relative to the vendored ``_runtime`` package;
    any other import of mlwb is refused (it would not exist where the wheel is installed)."""
    source = re.sub(
        r"^(\s*)from app\.runtime\.(\w+) import", r"\1from .\2 import", source, flags=re.M
    )
    source = re.sub(
        r"^(\s*)from app\.errors import MlwbError$",
        r"\1from .errors import MlwbError",
        source,
        flags=re.M,
    )
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        bad = [n for n in names if n == "app" or n.startswith("app.")]
        if bad:
            raise MlwbError(
                f"cannot build the predictor wheel: {where} imports {bad[0]}, "
                "which the installed predictor does not carry",
                hint="the prediction runtime must import only app.runtime modules",
            )
    return source


def model_modules(package: str) -> dict[str, str]:
    """mlwb module paths a model file may name -> their copies inside ``package``."""
    modules = {
        f"app.runtime.{p.stem}": f"{package}._runtime.{p.stem}"
        for p in sorted(RUNTIME.glob("*.py"))
        if p.stem != "__init__"
    }
    modules["app.services.features"] = f"{package}._runtime.transformers"  # DateParts, older name
    modules["app.services.sm_estimators"] = f"{package}._runtime.sm_estimators"
    return modules


def _trusted_renamed(source: str, modules: dict[str, str]) -> str:
    """``safe_load.py`` whose allow-list also names each mlwb type by its vendored module."""

    def both(match: re.Match[str]) -> str:
        indent, module, name = match.groups()
        if module not in modules:
            return match.group(0)
        return f'{match.group(0)}\n{indent}"{modules[module]}.{name}",'

    return re.sub(r'^(\s*)"([\w.]+)\.(\w+)",$', both, source, flags=re.M)


_NAMES = '''\
"""Type names of a model file saved by mlwb, translated to this package's copies.

skops finds a class by the module path stored in the file (``app.runtime.transformers``);
this package carries those modules under its own name. ``renamed`` rewrites exactly the
module paths in ``RENAMED`` in the file's schema (the arrays are copied unchanged); the
allow-list check then runs on the result. Written by ``mlwb deploy --wheel``.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from .errors import MlwbError

RENAMED: dict[str, str] = {renamed!r}
SCHEMA = "schema.json"


def _rename(node: Any) -> bool:
    changed = False
    if isinstance(node, dict):
        module = node.get("__module__")
        if isinstance(module, str) and module in RENAMED:
            node["__module__"] = RENAMED[module]
            changed = True
        for value in node.values():
            changed = _rename(value) or changed
    elif isinstance(node, list):
        for value in node:
            changed = _rename(value) or changed
    return changed


def renamed(data: bytes, where: str) -> bytes:
    """The skops bytes ``data`` with mlwb's module paths translated (unchanged if none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            schema = json.loads(source.read(SCHEMA))
            if not _rename(schema):
                return data
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w") as target:
                for info in source.infolist():
                    body = json.dumps(schema).encode() if info.filename == SCHEMA else None
                    target.writestr(info, body if body is not None else source.read(info))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise MlwbError(f"{{where}} is not a readable skops model file: {{exc}}") from exc
    return out.getvalue()
'''

_SAFE_LOAD_TAIL = '''

# -- added by `mlwb deploy --wheel`: the model file names mlwb's modules; see _model_names.
from ._model_names import renamed as _renamed  # noqa: E402

_load_as_named = load_skops


def load_skops(data: bytes, where: str) -> Any:  # noqa: F811
    """The object in skops bytes ``data``, its mlwb type names translated to this package."""
    return _load_as_named(_renamed(data, where), where)
'''


def runtime_files(package: str) -> dict[str, bytes]:
    """``_runtime/*.py`` of the predictor: mlwb's runtime, vendored."""
    modules = model_modules(package)
    out: dict[str, bytes] = {}
    for path in sorted(RUNTIME.glob("*.py")):
        source = _vendored(path.read_text(encoding="utf-8"), f"app/runtime/{path.name}")
        if path.name == "safe_load.py":
            if not re.search(r"^def load_skops\(", source, flags=re.M):
                raise MlwbError("cannot build the predictor wheel: safe_load has no load_skops")
            source = _trusted_renamed(source, modules) + _SAFE_LOAD_TAIL
        out[path.name] = source.encode()
    sm = _vendored(SM_ESTIMATORS.read_text(encoding="utf-8"), "app/services/sm_estimators.py")
    out["sm_estimators.py"] = sm.encode()
    out["_model_names.py"] = _NAMES.format(renamed=modules).encode()
    return out


# -- the recipe ---------------------------------------------------------------------------------


def steps_digest(steps: list[dict[str, Any]]) -> str:
    """A digest of the row-wise steps as stored in ``raw_input.json``."""
    return hashlib.sha256(json.dumps(steps, sort_keys=True).encode()).hexdigest()


_RECIPE = '''\
"""The bundle's row-wise recipe steps as Polars code: ``prepare(frame, steps)``.

Generated by mlwb from the bundle's raw_input.json (the same Polars code mlwb's recipe engine
runs for these steps). Steps:
{described}
"""

from __future__ import annotations

import datetime  # noqa: F401 - date values in the steps
from typing import Any

import polars as pl

from ._runtime.errors import MlwbError

STEPS_SHA256 = {digest!r}


{cast_failures}

def check_cast(lf: pl.LazyFrame, column: str, target: str, failed: pl.Expr) -> None:
    """Refuse the batch when a cast that rejects bad values meets some (as mlwb does)."""
    count, examples = cast_failures(lf, column, failed)
    if count:
        shown = ", ".join(repr(v) for v in examples)
        raise MlwbError(
            f"cannot cast {{count}} value{{'s' if count != 1 else ''}} of {{column!r}} to {{target}}: "
            + shown,
            hint="clean those values first (e.g. a marker step), or cast with on_error='null'",
        )


def prepare(frame: pl.DataFrame, steps: list[dict[str, Any]]) -> pl.DataFrame:
    """``frame`` (raw rows with the import's column types) after the row-wise steps."""
    import hashlib
    import json

    if hashlib.sha256(json.dumps(steps, sort_keys=True).encode()).hexdigest() != STEPS_SHA256:
        raise MlwbError(
            "the bundle's recipe steps are not the ones this predictor was generated from",
            hint="build the wheel again from the bundle (mlwb bundle wheel)",
        )
    lf = frame.lazy()
{body}
    return lf.collect()
'''


def recipe_source(raw: Any) -> str:
    """``_recipe.py``: the row-wise steps traced on the raw schema as Polars code."""
    import polars as pl

    from app.domain.recipe import parse_step
    from app.services.polars_code import cast_failures
    from app.services.recipe import trace_recipe

    steps = [parse_step(s) for s in raw.steps]
    schema = {name: rt._polars_type(kind) for name, kind in raw.columns.items()}
    # The runtime hands prepare an in-memory frame, as mlwb's replay gets one.
    traced = trace_recipe(steps, pl.LazyFrame(schema=schema), in_memory=True)
    body: list[str] = []
    bounds = [*traced.step_starts, len(traced.lines)]
    for index, step in enumerate(steps, 1):
        body.append(f"# {index}. {step.describe()}")
        body.extend(traced.lines[bounds[index - 1] : bounds[index]])
    described = "\n".join(f"  {i}. {s.describe()}" for i, s in enumerate(steps, 1))
    return _RECIPE.format(
        described=described or "  (none)",
        digest=steps_digest(raw.steps),
        cast_failures=inspect.getsource(cast_failures),
        body=textwrap.indent("\n".join(body), "    ") if body else "    pass",
    )


# -- the package --------------------------------------------------------------------------------


def package_files(
    bundle: Any, files: dict[str, bytes], package: str, version: str
) -> dict[str, bytes]:
    """Every file of the package ``package`` (paths inside the wheel): ``bundle`` loaded from
    the verified bundle ``files``."""
    m = bundle.metadata
    out: dict[str, bytes] = {}
    for name in sorted({*rt.FILES, *bundle.manifest.files, rt.MANIFEST}):
        out[f"{package}/bundle/{name}"] = files[name]
    for name, data in runtime_files(package).items():
        out[f"{package}/_runtime/{name}"] = data
    script = script_name(package)
    fields = {
        "dist": package,
        "package": package,
        "version": version,
        "project": m.project,
        "run_id": m.run_id,
        "candidate": m.candidate,
        "task": m.task,
        "target": m.target,
        "script": script,
        "replays": bundle.raw.replays,
        "metadata_json": m.model_dump_json(),
    }
    out[f"{package}/__init__.py"] = INIT.format(**fields).encode()
    out[f"{package}/__main__.py"] = MAIN.format(**fields).encode()
    out[f"{package}/_batch.py"] = BATCH.format(**fields).encode()
    if bundle.raw.replays:
        out[f"{package}/_recipe.py"] = recipe_source(bundle.raw).encode()
    return out


# -- the wheel ----------------------------------------------------------------------------------


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _metadata_file(package: str, version: str, bundle: Any, card: str) -> str:
    m = bundle.metadata
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {package}",
        f"Version: {version}",
        f"Summary: Predictor for mlwb project {m.project!r}, run {m.run_id} ({m.candidate})",
        "Requires-Python: >=3.11",
        *[f"Requires-Dist: {r}" for r in requirements(m, bundle.raw)],
        "Description-Content-Type: text/markdown",
    ]
    return "\n".join(lines) + "\n\n" + card


def build_wheel(
    bundle_path: str | Path,
    out_dir: str | Path | None = None,
    name: str | None = None,
    version: str | None = None,
) -> Path:
    """Write the predictor wheel of the bundle at ``bundle_path`` into ``out_dir`` (the
    bundle's folder's parent by default) and return its path.

    ``name`` (default: the project's name) gives the package ``<name>_predictor``;
    ``version`` defaults to ``1.0.<run id>``.
    """
    from app.services.bundle import load_bundle

    path = Path(bundle_path)
    files = rt.read_files(path)
    rt.verify(path, files)
    bundle = load_bundle(path)  # the model through the allow-list
    package = package_name(name if name else bundle.metadata.project)
    version = version or f"1.0.{bundle.metadata.run_id}"
    if not VERSION.match(version):
        raise MlwbError(f"{version!r} is not a wheel version", hint="use numbers and dots: 1.2.3")
    files = package_files(bundle, files, package, version)
    info = f"{package}-{version}.dist-info"
    card = files[f"{package}/bundle/{rt.CARD}"].decode()
    files[f"{info}/METADATA"] = _metadata_file(package, version, bundle, card).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: mlwb\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = (
        f"[console_scripts]\n{script_name(package)} = {package}.__main__:main\n"
    ).encode()
    files[f"{info}/top_level.txt"] = f"{package}\n".encode()
    record = [f"{n},{_record_hash(d)},{len(d)}" for n, d in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()

    out = Path(out_dir) if out_dir is not None else path.resolve().parent
    target = out / f"{package}-{version}-py3-none-any.whl"
    temp = out / f".tmp-{os.getpid()}-{target.name}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name_in, data in files.items():
                entry = zipfile.ZipInfo(name_in, date_time=EPOCH)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, data)
        os.replace(temp, target)
    except OSError as exc:
        raise MlwbError(f"cannot write the wheel to {out}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return target
