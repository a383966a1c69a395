"""The Train stage as data: candidate models, their hyperparameters and search spaces, the
settings of a training session, the locked holdout split, and the record of every run.

Nothing here imports scikit-learn: the service (``app.services.candidates``) turns a
``CandidateSpec`` and a parameter dict into an estimator. Keeping the catalogue as data lets
the CLI and the TUI list, validate and edit hyperparameters the same way.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.domain.metrics import TaskType

ParamValue = int | float | str | bool | None


class ParamKind(StrEnum):
    """How a hyperparameter is typed and sampled."""

    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"
    BOOL = "bool"


class ParamSpec(BaseModel, frozen=True):
    """One hyperparameter: its default, valid range and how random search samples it."""

    name: str
    kind: ParamKind
    default: ParamValue
    low: float | None = None
    high: float | None = None
    log: bool = False
    """Sample on a log scale (for scales like C or alpha spanning decades)."""
    choices: tuple[ParamValue, ...] = ()
    search: bool = True
    """Whether random search varies it (False for modelling choices such as a GLM family)."""
    help: str = ""

    def range_text(self) -> str:
        """The valid values in words, e.g. ``int in [1, 100]`` or ``one of sqrt, log2``."""
        if self.kind is ParamKind.CHOICE:
            return "one of " + ", ".join(_show(c) for c in self.choices)
        if self.kind is ParamKind.BOOL:
            return "true or false"
        scale = ", log scale" if self.log else ""
        return f"{self.kind.value} in [{_show(self.low)}, {_show(self.high)}]{scale}"

    def parse(self, raw: Any) -> ParamValue:
        """``raw`` (from TOML, JSON, a CLI flag or a text box) as a valid value, or ValueError."""
        text = raw.strip() if isinstance(raw, str) else raw
        if self.kind is ParamKind.CHOICE:
            for choice in self.choices:
                if text == choice or (isinstance(text, str) and text == _show(choice)):
                    return choice
            raise ValueError(f"{self.name} must be {self.range_text()}, not {raw!r}")
        if self.kind is ParamKind.BOOL:
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in {"true", "yes", "1", "on"}:
                return True
            if lowered in {"false", "no", "0", "off"}:
                return False
            raise ValueError(f"{self.name} must be true or false, not {raw!r}")
        try:
            number = float(text)
        except (TypeError, ValueError):
            raise ValueError(
                f"{self.name} must be a number ({self.range_text()}), not {raw!r}"
            ) from None
        if math.isnan(number):
            raise ValueError(f"{self.name} must be a number, not NaN")
        if self.kind is ParamKind.INT:
            if number != int(number):
                raise ValueError(f"{self.name} must be a whole number, not {raw!r}")
            number = int(number)
        assert self.low is not None and self.high is not None
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.name} must be {self.range_text()}; {raw!r} is outside it")
        return number

    def sample(self, rng: random.Random) -> ParamValue:
        """A random value from the search space (uniform, or log-uniform when ``log``)."""
        if not self.search:
            return self.default
        if self.kind is ParamKind.CHOICE:
            return rng.choice(self.choices)
        if self.kind is ParamKind.BOOL:
            return rng.random() < 0.5
        assert self.low is not None and self.high is not None
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.kind is ParamKind.INT:
            return int(min(self.high, max(self.low, round(value))))
        return float(f"{value:.4g}")


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


Family = Literal["baseline", "linear", "distance", "bayes", "tree", "boosting", "statsmodels"]


class CandidateSpec(BaseModel, frozen=True):
    """A model the leaderboard can train: what it is, which tasks it fits, its parameters."""

    key: str
    label: str
    tasks: frozenset[TaskType]
    family: Family
    params: tuple[ParamSpec, ...] = ()
    row_limit: int | None = None
    """Above this many training rows the model is fitted on a seeded subsample of this size."""
    interpretable: bool = False
    description: str = ""

    def param(self, name: str) -> ParamSpec:
        """The named parameter, or KeyError."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, ParamValue]:
        """Every parameter at its default."""
        return {p.name: p.default for p in self.params}

    def searchable(self) -> bool:
        """Whether random search has anything to vary."""
        return any(p.search for p in self.params)

    def resolve(self, overrides: dict[str, Any] | None) -> dict[str, ParamValue]:
        """Defaults updated with validated ``overrides``; ValueError names every bad one."""
        values = self.defaults()
        problems: list[str] = []
        for name, raw in (overrides or {}).items():
            try:
                values[name] = self.param(name).parse(raw)
            except KeyError:
                known = ", ".join(p.name for p in self.params) or "none"
                problems.append(f"{self.key} has no parameter {name!r} (it has: {known})")
            except ValueError as exc:
                problems.append(f"{self.key}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return values


_CLS = frozenset({TaskType.BINARY, TaskType.MULTICLASS})
_BIN = frozenset({TaskType.BINARY})
_REG = frozenset({TaskType.REGRESSION})
_ALL = frozenset(TaskType)


def _int(name: str, default: int, low: int, high: int, help: str, log: bool = False) -> ParamSpec:
    return ParamSpec(
        name=name, kind=ParamKind.INT, default=default, low=low, high=high, log=log, help=help
    )


def _float(
    name: str, default: float, low: float, high: float, help: str, log: bool = False
) -> ParamSpec:
    return ParamSpec(
        name=name, kind=ParamKind.FLOAT, default=default, low=low, high=high, log=log, help=help
    )


def _choice(
    name: str, default: ParamValue, choices: tuple[ParamValue, ...], help: str, search: bool = True
) -> ParamSpec:
    return ParamSpec(
        name=name,
        kind=ParamKind.CHOICE,
        default=default,
        choices=choices,
        help=help,
        search=search,
    )


_FOREST = (
    _int("n_estimators", 100, 10, 500, "trees in the forest; more is steadier and slower"),
    _int("max_depth", 10, 2, 40, "depth cap; keeps each tree (and the model file) small"),
    _int("min_samples_leaf", 5, 1, 200, "rows a leaf needs; larger smooths and shrinks the model"),
    _float("max_samples", 0.3, 0.05, 1.0, "share of rows each tree sees (bootstrap)"),
    _choice("max_features", "sqrt", ("sqrt", "log2", 0.5, 1.0), "features tried at each split"),
)
_TREE = (
    _int("max_depth", 8, 1, 40, "depth cap"),
    _int("min_samples_leaf", 20, 1, 500, "rows a leaf needs"),
)
_HGB = (
    _float("learning_rate", 0.1, 0.01, 0.5, "shrinkage of each boosting step", log=True),
    _int("max_iter", 200, 20, 1000, "boosting rounds (early stopping may stop sooner)"),
    _int("max_leaf_nodes", 31, 4, 255, "leaves per tree"),
    _int("min_samples_leaf", 20, 1, 500, "rows a leaf needs"),
    _float("l2_regularization", 0.0, 0.0, 10.0, "L2 penalty on leaf values"),
)
_KNN = (
    _int("n_neighbors", 15, 1, 200, "neighbours that vote"),
    _choice("weights", "uniform", ("uniform", "distance"), "whether nearer neighbours count more"),
)

CANDIDATES: dict[str, CandidateSpec] = {
    c.key: c
    for c in [
        CandidateSpec(
            key="dummy",
            label="Baseline (dummy)",
            tasks=_ALL,
            family="baseline",
            description="Predicts the class shares (or the mean) ignoring the features; "
            "every model must beat it.",
        ),
        CandidateSpec(
            key="logreg",
            label="Logistic regression",
            tasks=_CLS,
            family="linear",
            params=(
                _float("C", 1.0, 1e-4, 1e3, "inverse L2 penalty; smaller is simpler", log=True),
                _choice("class_weight", None, (None, "balanced"), "reweight classes by frequency"),
            ),
            description="Linear model of the log-odds on scaled numbers and one-hot categories.",
        ),
        CandidateSpec(
            key="knn",
            label="k-nearest neighbours",
            tasks=_ALL,
            family="distance",
            params=_KNN,
            row_limit=20_000,
            description="Predicts from the most similar training rows; slow to predict on "
            "big data, so it is fitted on a subsample above 20,000 rows.",
        ),
        CandidateSpec(
            key="nb",
            label="Naive Bayes (Gaussian)",
            tasks=_CLS,
            family="bayes",
            params=(
                _float(
                    "var_smoothing", 1e-9, 1e-12, 1e-1, "variance added for stability", log=True
                ),
            ),
            description="Treats features as independent normal variables per class; fast.",
        ),
        CandidateSpec(
            key="dt",
            label="Decision tree",
            tasks=_ALL,
            family="tree",
            params=_TREE,
            interpretable=True,
            description="One tree of if/then splits; easy to read, prone to overfit.",
        ),
        CandidateSpec(
            key="rf",
            label="Random forest",
            tasks=_ALL,
            family="tree",
            params=_FOREST,
            description="Averages many bootstrapped trees; defaults cap depth and rows per tree "
            "so the model stays small and fits fast.",
        ),
        CandidateSpec(
            key="et",
            label="Extra trees",
            tasks=_ALL,
            family="tree",
            params=_FOREST,
            description="Like a random forest with random split points; faster to fit.",
        ),
        CandidateSpec(
            key="hgb",
            label="Histogram gradient boosting",
            tasks=_ALL,
            family="boosting",
            params=_HGB,
            description="Boosted trees on binned features with native categories and missing "
            "values; usually the strongest on tabular data.",
        ),
        CandidateSpec(
            key="svm",
            label="Linear SVM",
            tasks=_CLS,
            family="linear",
            params=(_float("C", 1.0, 1e-4, 1e2, "inverse penalty", log=True),),
            row_limit=50_000,
            description="Maximum-margin linear classifier; no probabilities (log loss is "
            "not available), fitted on a subsample above 50,000 rows.",
        ),
        CandidateSpec(
            key="sm_logit",
            label="Logit (statsmodels)",
            tasks=_BIN,
            family="statsmodels",
            params=(_float("alpha", 0.0, 0.0, 100.0, "L1 penalty; 0 is the plain MLE fit"),),
            row_limit=50_000,
            interpretable=True,
            description="Logistic regression with coefficients, standard errors and p-values.",
        ),
        CandidateSpec(
            key="linreg",
            label="Linear regression",
            tasks=_REG,
            family="linear",
            description="Ordinary least squares on scaled numbers and one-hot categories.",
        ),
        CandidateSpec(
            key="ridge",
            label="Ridge",
            tasks=_REG,
            family="linear",
            params=(_float("alpha", 1.0, 1e-4, 1e4, "L2 penalty", log=True),),
            description="Linear regression with an L2 penalty; stable with correlated features.",
        ),
        CandidateSpec(
            key="lasso",
            label="Lasso",
            tasks=_REG,
            family="linear",
            params=(_float("alpha", 0.1, 1e-5, 1e2, "L1 penalty", log=True),),
            description="Linear regression with an L1 penalty; sets weak coefficients to 0.",
        ),
        CandidateSpec(
            key="enet",
            label="Elastic net",
            tasks=_REG,
            family="linear",
            params=(
                _float("alpha", 0.1, 1e-5, 1e2, "overall penalty", log=True),
                _float("l1_ratio", 0.5, 0.0, 1.0, "share of L1 in the penalty"),
            ),
            description="Linear regression with mixed L1 and L2 penalties.",
        ),
        CandidateSpec(
            key="sm_ols",
            label="OLS (statsmodels)",
            tasks=_REG,
            family="statsmodels",
            row_limit=50_000,
            interpretable=True,
            description="Least squares with coefficients, standard errors and p-values.",
        ),
        CandidateSpec(
            key="sm_glm",
            label="GLM (statsmodels)",
            tasks=_REG,
            family="statsmodels",
            params=(
                _choice(
                    "family",
                    "poisson",
                    ("gaussian", "poisson", "gamma"),
                    "error distribution: poisson for counts, gamma for positive skewed values",
                    search=False,
                ),
            ),
            row_limit=50_000,
            interpretable=True,
            description="Generalised linear model (Poisson for counts by default) with "
            "coefficients, standard errors and p-values.",
        ),
    ]
}

PRESETS: dict[str, dict[TaskType, tuple[str, ...]]] = {
    "quick": {
        TaskType.BINARY: ("dummy", "logreg", "rf", "hgb"),
        TaskType.MULTICLASS: ("dummy", "logreg", "rf", "hgb"),
        TaskType.REGRESSION: ("dummy", "ridge", "rf", "hgb"),
    },
    "thorough": {
        task: tuple(k for k, c in CANDIDATES.items() if task in c.tasks) for task in TaskType
    },
}
"""Candidate lists by preset and task; the baseline is always part of a session."""


def candidates_for(task: TaskType) -> list[CandidateSpec]:
    """Every candidate that fits ``task``, in catalogue order."""
    return [c for c in CANDIDATES.values() if task in c.tasks]


def parse_models(text: str | list[str], task: TaskType) -> list[str]:
    """Model keys from ``logreg,hgb`` or a preset name; the baseline is added first."""
    items = text if isinstance(text, list) else [p.strip() for p in text.split(",")]
    keys: list[str] = []
    problems: list[str] = []
    for item in (i.strip().lower() for i in items if i and i.strip()):
        if item in PRESETS:
            keys.extend(PRESETS[item][task])
            continue
        spec = CANDIDATES.get(item)
        if spec is None:
            known = ", ".join(c.key for c in candidates_for(task))
            problems.append(f"unknown model {item!r}; models for {task.label}: {known}")
        elif task not in spec.tasks:
            problems.append(f"{item} ({spec.label}) does not fit {task.label}")
        else:
            keys.append(item)
    if problems:
        raise ValueError("; ".join(problems))
    ordered = ["dummy"] + [k for k in dict.fromkeys(keys) if k != "dummy"]
    return ordered


SearchKind = Literal["none", "random", "halving"]


class TrainSettings(BaseModel):
    """What one training session does."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1)
    cv: int = Field(default=5, ge=2, le=20)
    search: SearchKind = "none"
    budget_iterations: int | None = Field(default=None, ge=1, le=10_000)
    """Random-search trials per candidate (with ``search``); the default config is trial 0."""
    budget_seconds: float | None = Field(default=None, gt=0)
    """Search time per candidate; search stops starting trials after it."""
    time_limit_seconds: float | None = Field(default=None, gt=0)
    """A candidate stops after the fold that crosses this limit (recorded as failed)."""
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-candidate hyperparameter overrides of the defaults."""

    @field_validator("models")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown model(s): {', '.join(unknown)}")
        return value

    def trials(self, spec: CandidateSpec) -> int:
        """How many configurations the search tries for ``spec`` (1 without search)."""
        if self.search == "none" or not spec.searchable():
            return 1
        if self.budget_iterations:
            return self.budget_iterations
        return 10_000 if self.budget_seconds else 10


HOLDOUT_SHARE = 0.2
"""Share of rows held out once per dataset version for the Evaluate stage."""


class Split(BaseModel):
    """The locked holdout of one dataset version: how it was drawn and its size."""

    dataset: str
    version: int
    fingerprint: str
    kind: Literal["stratified", "random", "time"]
    test_size: float
    seed: int
    target: str
    time_column: str | None = None
    n_train: int
    n_holdout: int
    cutoff: str | None = None
    """For a time split, the first time value of the holdout."""
    created_at: datetime | None = None

    def text(self) -> str:
        """One line describing the split."""
        how = {
            "stratified": f"stratified on {self.target!r}, seed {self.seed}",
            "random": f"random, seed {self.seed}",
            "time": f"time-ordered on {self.time_column!r}, holdout from {self.cutoff}",
        }[self.kind]
        return (
            f"{self.n_train:,} training rows, {self.n_holdout:,} holdout rows "
            f"({self.test_size:.0%}, {how})"
        )


class RunStatus(StrEnum):
    """How a run ended."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FoldResult(BaseModel):
    """One fold of a run: its metrics and timings."""

    fold: int
    n_train: int
    n_valid: int
    metrics: dict[str, float | None]
    fit_seconds: float
    predict_seconds: float


class Run(BaseModel):
    """One candidate configuration cross-validated: everything needed to trust or redo it."""

    id: int = 0
    session: int
    candidate: str
    params: dict[str, Any]
    trial: int = 0
    status: RunStatus
    error: str | None = None
    folds: list[FoldResult] = Field(default_factory=list)
    mean: dict[str, float | None] = Field(default_factory=dict)
    std: dict[str, float | None] = Field(default_factory=dict)
    fit_seconds: float = 0.0
    """Mean fit time per fold."""
    predict_ms_per_1k: float | None = None
    model_bytes: int | None = None
    subsample: int | None = None
    """Training rows per fold when the candidate's row limit applied."""
    dataset: str
    version: int
    fingerprint: str
    seed: int
    cv: int
    cv_kind: Literal["stratified", "kfold", "time"]
    split: str
    libraries: dict[str, str] = Field(default_factory=dict)
    started_at: datetime | None = None
    duration: float = 0.0
    rerun_of: int | None = None
    charter_version: int | None = None
    """The charter version the run was trained under."""
    features: list[str] = Field(default_factory=list)
    """The input columns the model saw (runs on other columns are not compared)."""
    notes: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        """The candidate's display name."""
        spec = CANDIDATES.get(self.candidate)
        return spec.label if spec else self.candidate

    def fold_values(self, metric: str) -> list[float | None]:
        """``metric`` in each fold, in fold order."""
        return [f.metrics.get(metric) for f in self.folds]


class LeaderboardRow(BaseModel):
    """The best run of one candidate, with its comparison to the leader."""

    rank: int
    run: Run
    trials: int
    p_value: float | None = None
    """Nadeau–Bengio corrected resampled t-test against the leader (None for the leader)."""
    tied: bool = False
    """Statistically indistinguishable from the leader at the 5 % level."""


class Session(BaseModel):
    """A training session: its settings, planned candidates and how it ended."""

    id: int
    dataset: str
    version: int
    settings: TrainSettings
    status: Literal["running", "done", "cancelled", "failed"]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pid: int | None = None
