"""From column roles and types to a scikit-learn Pipeline for each candidate.

The preprocessing is part of the pipeline, so cross-validation fits it on each training fold
only. Linear, distance and statsmodels models get median imputation with missing indicators,
scaling and a one-hot encoding capped by ``min_frequency`` and ``max_categories`` (unknown and
rare levels share one column); tree models get ordinal codes (unknown levels become missing)
and histogram gradient boosting uses them as native categories. Date and time columns become
year, month, day, weekday and hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from app.domain.dataset import ColumnRole
from app.domain.metrics import TaskType
from app.domain.training import CandidateSpec
from app.runtime.contract import MISSING_LEVEL
from app.runtime.transformers import DATE_PARTS, DateParts
from app.services.sm_estimators import SMGLM, SMOLS, SMLogit

ONE_HOT_MIN_FREQUENCY = 10
"""Levels seen in fewer training rows than this share the 'infrequent' column."""
ONE_HOT_MAX_CATEGORIES = 50
"""At most this many one-hot columns per categorical feature (the rest are 'infrequent')."""
ORDINAL_MAX_CATEGORIES = 250
"""Ordinal codes per categorical for trees; histogram boosting allows at most 255 bins."""
STATSMODELS_MIN_SHARE = 0.05
"""statsmodels models pool categorical levels seen in under this share of training rows."""
STATSMODELS_MAX_CATEGORIES = 10
"""At most this many columns per categorical for statsmodels (its coefficient table stays
readable and every column has enough rows for a standard error)."""

_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
_DATES = ("DATE", "TIMESTAMP")


@dataclass
class FeatureSet:
    """The columns a model sees, by kind, and the target."""

    target: str
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    """Columns left out and why (role, or all values missing/constant)."""

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FeatureSet:
        """The feature columns a stored model was fitted on (its ``models`` record)."""
        return cls(
            target=record["target"],
            numeric=list(record.get("numeric", [])),
            categorical=list(record.get("categorical", [])),
            dates=list(record.get("dates", [])),
        )

    @property
    def columns(self) -> list[str]:
        """Every feature column, numeric first."""
        return self.numeric + self.categorical + self.dates


def feature_set(
    columns: list[tuple[str, str]], roles: dict[str, ColumnRole], target: str
) -> FeatureSet:
    """Sort the table's ``(name, type)`` columns into feature kinds by role and type."""
    found = FeatureSet(target=target)
    for name, kind in columns:
        role = roles.get(name, ColumnRole.FEATURE)
        if name == target:
            continue
        if role is not ColumnRole.FEATURE:
            found.excluded[name] = f"role {role.value}"
            continue
        upper = kind.upper()
        if upper.startswith(_NUMERIC) or upper.startswith("DECIMAL") or upper == "BOOLEAN":
            found.numeric.append(name)
        elif upper.startswith(_DATES):
            found.dates.append(name)
        else:
            found.categorical.append(name)
    return found


def select_sql(features: FeatureSet, quote: Any, task_is_classification: bool) -> str:
    """The SELECT list that reads features as model-ready types (numbers as DOUBLE, text with
    missing values as ``(missing)``, dates as TIMESTAMP) and the target last (text for
    classification, DOUBLE for regression)."""
    parts = [f"CAST({quote(c)} AS DOUBLE) AS {quote(c)}" for c in features.numeric]
    parts += [
        f"COALESCE(CAST({quote(c)} AS VARCHAR), '{MISSING_LEVEL}') AS {quote(c)}"
        for c in features.categorical
    ]
    parts += [f"CAST({quote(c)} AS TIMESTAMP) AS {quote(c)}" for c in features.dates]
    kind = "VARCHAR" if task_is_classification else "DOUBLE"
    t = quote(features.target)
    parts.append(f"CAST({t} AS {kind}) AS {t}")
    return ", ".join(parts)


def _preprocessor(spec: CandidateSpec, features: FeatureSet) -> ColumnTransformer:
    scaled = spec.family in {"linear", "distance", "statsmodels", "bayes"}
    parts: list[tuple[str, Any, list[str]]] = []
    if features.numeric:
        if scaled:
            numeric: Any = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                    ("scale", StandardScaler()),
                ]
            )
        else:
            numeric = "passthrough"
        parts.append(("num", numeric, features.numeric))
    if features.categorical:
        if scaled:
            encoder: Any = OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                min_frequency=ONE_HOT_MIN_FREQUENCY,
                max_categories=ONE_HOT_MAX_CATEGORIES,
                sparse_output=spec.family in {"linear", "distance"},
            )
            if spec.family == "statsmodels":
                # Coefficients need each level to hold both outcomes: rare levels (under 5 %
                # of rows) are pooled, so they rarely separate the classes on their own.
                encoder.set_params(
                    drop="first",
                    min_frequency=STATSMODELS_MIN_SHARE,
                    max_categories=STATSMODELS_MAX_CATEGORIES,
                )
        else:
            encoder = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                min_frequency=ONE_HOT_MIN_FREQUENCY,
                max_categories=ORDINAL_MAX_CATEGORIES,
            )
        parts.append(("cat", encoder, features.categorical))
    if features.dates:
        steps: list[tuple[str, Any]] = [("parts", DateParts())]
        if scaled:
            steps += [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        parts.append(("date", Pipeline(steps), features.dates))
    dense = spec.family in {"bayes", "statsmodels", "baseline"}
    transformer = ColumnTransformer(parts, sparse_threshold=0.0 if dense else 0.3)
    if spec.family == "statsmodels":
        # Named columns reach the model, so its coefficient table and messages name features.
        transformer.set_output(transform="pandas")
    return transformer


def _categorical_mask(features: FeatureSet) -> list[bool] | None:
    if not features.categorical:
        return None
    return (
        [False] * len(features.numeric)
        + [True] * len(features.categorical)
        + [False] * (len(DATE_PARTS) * len(features.dates))
    )


def make_estimator(
    spec: CandidateSpec,
    params: dict[str, Any],
    task: TaskType,
    seed: int,
    features: FeatureSet,
) -> Any:
    """The bare estimator of ``spec`` with ``params`` for ``task``."""
    cls = task.is_classification
    p = dict(params)
    key = spec.key
    if key == "dummy":
        return DummyClassifier(strategy="prior") if cls else DummyRegressor(strategy="mean")
    if key == "logreg":
        return LogisticRegression(max_iter=1000, random_state=seed, **p)
    if key == "knn":
        return (KNeighborsClassifier if cls else KNeighborsRegressor)(**p)
    if key == "nb":
        return GaussianNB(**p)
    if key == "dt":
        return (DecisionTreeClassifier if cls else DecisionTreeRegressor)(random_state=seed, **p)
    if key in {"rf", "et"}:
        model = {
            ("rf", True): RandomForestClassifier,
            ("rf", False): RandomForestRegressor,
            ("et", True): ExtraTreesClassifier,
            ("et", False): ExtraTreesRegressor,
        }[(key, cls)]
        return model(bootstrap=True, n_jobs=-1, random_state=seed, **p)
    if key == "hgb":
        model = HistGradientBoostingClassifier if cls else HistGradientBoostingRegressor
        return model(
            categorical_features=_categorical_mask(features),
            early_stopping="auto",
            random_state=seed,
            **p,
        )
    if key == "svm":
        return LinearSVC(random_state=seed, **p)
    if key == "sm_logit":
        return SMLogit(**p)
    if key == "linreg":
        return LinearRegression()
    if key == "ridge":
        return Ridge(random_state=seed, **p)
    if key == "lasso":
        return Lasso(random_state=seed, max_iter=5000, **p)
    if key == "enet":
        return ElasticNet(random_state=seed, max_iter=5000, **p)
    if key == "sm_ols":
        return SMOLS()
    if key == "sm_glm":
        return SMGLM(**p)
    raise KeyError(key)


def build_pipeline(
    spec: CandidateSpec,
    params: dict[str, Any],
    task: TaskType,
    seed: int,
    features: FeatureSet,
) -> Pipeline:
    """Preprocessing for ``spec``'s family followed by its estimator."""
    if spec.family == "baseline":
        # The baseline ignores the features, so it skips the preprocessing cost.
        return Pipeline([("model", make_estimator(spec, params, task, seed, features))])
    return Pipeline(
        [
            ("prep", _preprocessor(spec, features)),
            ("model", make_estimator(spec, params, task, seed, features)),
        ]
    )


def feature_names(pipeline: Pipeline) -> list[str]:
    """Names of the columns the fitted model sees (after encoding)."""
    try:
        return [str(n) for n in pipeline[:-1].get_feature_names_out()]
    except Exception:  # a transformer without names: number them
        n = getattr(pipeline[-1], "n_features_in_", 0)
        return [f"x{i}" for i in range(int(n))]
