"""Layering: storage, domain and services never import Textual; the TUI starts without ML libs."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def modules(package: str) -> list[str]:
    path = ROOT / package.replace(".", "/")
    return [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(path)])]


def imported_after(names: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("package", ["storage", "app.domain", "app.services"])
def test_core_layers_do_not_import_textual(package: str) -> None:
    names = modules(package)
    assert names, f"no modules found in {package}"
    loaded = imported_after(names)
    assert "textual" not in loaded
    assert "screens" not in loaded
    assert "app.tui" not in loaded


def test_tui_and_cli_start_without_heavy_ml_libraries() -> None:
    loaded = imported_after(["app.cli", "app.tui"])
    for heavy in ("sklearn", "statsmodels", "skops", "scipy"):
        assert heavy not in loaded, f"{heavy} is imported at start-up"


def test_package_inits_are_empty() -> None:
    for init in [*ROOT.glob("*/__init__.py"), *ROOT.glob("*/*/__init__.py")]:
        if init.parts[-2] in {"app", "storage", "screens", "domain", "services", "widgets"}:
            assert init.read_text().strip() == "", f"{init} should stay empty"
