"""Demo projects built from ``sample_data/``, so a newcomer sees every stage work at once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import app
from app.errors import MlwbError
from app.services import problem
from storage.db import ProjectStore, is_project

DEMOS = ("adult", "bikes")
DEMO_FILES = {"adult": "adult.csv", "bikes": "bike_sharing_hour.csv"}

DEMO_CHARTERS: dict[str, dict[str, Any]] = {
    "adult": {
        "name": "Adult income: who earns over 50K",
        "objective": "Find adults likely to earn more than 50K a year so a premium-card "
        "campaign reaches them without mailing everyone.",
        "stakeholders": ["Marketing lead", "Campaign analysts", "Compliance officer"],
        "decision": "Who receives the premium-card offer this quarter.",
        "task": "binary",
        "target": "income",
        "positive_class": ">50K",
        "primary_metric": "f1",
        "threshold": 0.65,
        "constraints": ["recall >= 0.6", "latency_p95_ms <= 50"],
        "explainable": True,
        "data_sources": [
            {
                "name": "adult.csv",
                "description": "UCI Adult census extract, 32,561 people (CC BY 4.0)",
                "limits": "US 1994 census only; capital-gain top-coded at 99999; '?' marks missing",
            }
        ],
        "budget": {"time_hours": 16, "cost": 0, "currency": "EUR"},
        "notes": "Sex and race are recorded; check metrics per segment before deploying.",
    },
    "bikes": {
        "name": "Bike rentals per hour",
        "objective": "Forecast hourly bike rentals so the operator can move bikes to "
        "stations before demand peaks.",
        "stakeholders": ["Operations manager", "Van drivers"],
        "decision": "How many bikes to reposition each hour.",
        "task": "regression",
        "target": "cnt",
        "time_column": "dteday",
        "primary_metric": "mae",
        "threshold": 60,
        "constraints": ["r2 >= 0.7", "latency_p95_ms <= 100"],
        "explainable": False,
        "data_sources": [
            {
                "name": "bike_sharing_hour.csv",
                "description": "UCI Bike Sharing, Washington D.C., hourly, 2011-2012 (CC BY 4.0)",
                "limits": "165 hours missing; casual + registered equals cnt (leakage)",
            }
        ],
        "budget": {"time_hours": 8},
        "notes": "Train on 2011; the 2012 months arrive as monitoring batches.",
    },
}


def sample_data_dir() -> Path:
    """The folder of sample files, installed with the package or beside the source tree."""
    here = Path(app.__file__).resolve().parent
    for candidate in (here / "sample_data", here.parent / "sample_data"):
        if (candidate / "adult.csv").is_file():
            return candidate
    raise MlwbError("the sample data is missing from this installation", hint="reinstall mlwb")


def default_demo_root() -> Path:
    """Where demo projects live: ``$MLWB_HOME`` or ``$XDG_DATA_HOME/mlwb`` or ``~/.local/share/mlwb``."""
    if os.environ.get("MLWB_HOME"):
        return Path(os.environ["MLWB_HOME"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "mlwb"


def demo_path(dataset: str, root: Path | None = None) -> Path:
    """The folder of one demo project."""
    return (root or default_demo_root()) / f"demo-{dataset}"


def ensure_demo(dataset: str, path: Path | None = None, reset: bool = False) -> ProjectStore:
    """Create the demo project once (or again with ``reset``) and return it opened."""
    if dataset not in DEMOS:
        raise MlwbError(f"unknown demo {dataset!r}", hint=f"choose one of {', '.join(DEMOS)}")
    target = Path(path) if path else demo_path(dataset)
    if reset and target.exists():
        if not is_project(target):
            raise MlwbError(
                f"{target} is not an mlwb project, so --reset will not delete it",
                hint="pass --path to an empty folder or a demo project",
            )
        shutil.rmtree(target)
    if is_project(target):
        store = ProjectStore.open(target)
    elif target.exists() and any(target.iterdir()):
        raise MlwbError(f"{target} exists and is not empty", hint="pass --path to an empty folder")
    else:
        sample_data_dir()
        store = ProjectStore.create(target, DEMO_CHARTERS[dataset]["name"])
    _complete(store, dataset)
    return store


def _complete(store: ProjectStore, dataset: str) -> None:
    """Add what a demo project lacks: the charter, then the raw data (never pre-cleaned)."""
    from app.services import browse, ingest

    if problem.current_charter(store) is None:
        problem.save_charter(store, DEMO_CHARTERS[dataset], note="demo charter")
    if browse.current_dataset(store) is None:
        ingest.import_file(store, sample_data_dir() / DEMO_FILES[dataset], name=dataset)
