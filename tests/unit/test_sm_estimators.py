"""The statsmodels wrappers against statsmodels itself, scikit-learn's contract and skops."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import skops.io as sio
import statsmodels.api as sm
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor
from sklearn.model_selection import (
    KFold,
    StratifiedKFold,
    check_cv,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import estimator_checks_generator

from app.errors import MlwbError
from app.services.sm_estimators import (
    SMGLM,
    SMOLS,
    TRUSTED_TYPES,
    ModelFitError,
    SMLogit,
    coefficient_table,
    summary_text,
)

ROOT = Path(__file__).resolve().parents[2]
TIGHT = {"rtol": 1e-9, "atol": 1e-12}
CANCER_COLUMNS = ["mean radius", "mean texture", "mean smoothness", "mean symmetry"]


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    """Four scaled breast-cancer features (not separable) and the 0/1 target."""
    data = load_breast_cancer(as_frame=True)
    X = data.frame[CANCER_COLUMNS]
    scaled = pd.DataFrame(StandardScaler().fit_transform(X), columns=CANCER_COLUMNS)
    return scaled, data.target.to_numpy()


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_diabetes(as_frame=True)
    return data.data, data.target.to_numpy()


@pytest.fixture(scope="module")
def counts() -> tuple[np.ndarray, np.ndarray]:
    """A Poisson sample with a known log-linear mean."""
    rng = np.random.default_rng(20240611)
    X = rng.normal(size=(400, 3))
    y = rng.poisson(np.exp(0.4 + X @ np.array([0.5, -0.3, 0.0])))
    return X, y.astype(float)


def assert_inference_matches(est: Any, ref: Any) -> None:
    """Every plain fitted statistic equals the statsmodels results object's."""
    np.testing.assert_allclose(est.params_, ref.params, **TIGHT)
    np.testing.assert_allclose(est.bse_, ref.bse, **TIGHT)
    np.testing.assert_allclose(est.tvalues_, ref.tvalues, **TIGHT)
    np.testing.assert_allclose(est.pvalues_, ref.pvalues, rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(est.conf_int_, ref.conf_int(), **TIGHT)
    np.testing.assert_allclose(est.llf_, ref.llf, **TIGHT)
    np.testing.assert_allclose(est.aic_, ref.aic, **TIGHT)
    assert est.nobs_ == int(ref.nobs)
    np.testing.assert_allclose(est.intercept_, ref.params[0], **TIGHT)
    np.testing.assert_allclose(est.coef_, ref.params[1:], **TIGHT)


# ---------------------------------------------------------------------------------- Logit


def test_logit_matches_statsmodels_on_breast_cancer(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    est = SMLogit().fit(X, y)
    ref = sm.Logit(y, sm.add_constant(X.to_numpy())).fit(disp=0)

    assert_inference_matches(est, ref)
    np.testing.assert_allclose(est.bic_, ref.bic, **TIGHT)
    assert est.coef_.ndim == 1 and est.conf_int_.shape == (5, 2)
    assert (est.fit_method_, est.converged_, est.rank_, est.n_features_in_) == (
        "newton",
        True,
        5,
        4,
    )
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], ref.predict(sm.add_constant(X.to_numpy())), **TIGHT)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(est.decision_function(X), ref.fittedvalues, **TIGHT)
    np.testing.assert_array_equal(est.predict(X), (proba[:, 1] > 0.5).astype(int))
    sk = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)  # independent MLE
    np.testing.assert_allclose(est.coef_, sk.coef_[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(est.intercept_, sk.intercept_[0], rtol=0, atol=1e-6)


def test_logit_without_intercept_and_sparse_input(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    dense = X.to_numpy()
    est = SMLogit(fit_intercept=False).fit(sp.csr_matrix(dense), y)
    ref = sm.Logit(y, dense).fit(disp=0)

    np.testing.assert_allclose(est.params_, ref.params, **TIGHT)
    np.testing.assert_allclose(est.bse_, ref.bse, **TIGHT)
    assert est.intercept_ == 0.0
    np.testing.assert_allclose(est.predict_proba(sp.csr_matrix(dense))[:, 1], ref.predict(dense))


def test_logit_string_labels(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    labels = np.where(y == 1, "benign", "malignant")  # 'benign' sorts first: it is class 0
    est = SMLogit().fit(X, labels)
    ref = sm.Logit((labels == "malignant").astype(float), sm.add_constant(X.to_numpy())).fit(disp=0)

    assert est.classes_.tolist() == ["benign", "malignant"]
    np.testing.assert_allclose(est.params_, ref.params, **TIGHT)
    expected = np.where(ref.predict(sm.add_constant(X.to_numpy())) > 0.5, "malignant", "benign")
    np.testing.assert_array_equal(est.predict(X), expected)


def test_logit_l1_matches_statsmodels_fit_regularized(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    alpha = 60.0
    est = SMLogit(alpha=alpha).fit(X, y)
    ref = sm.Logit(y, sm.add_constant(X.to_numpy())).fit_regularized(
        method="l1", alpha=np.array([0.0, alpha, alpha, alpha, alpha]), disp=0
    )

    assert est.fit_method_ == "l1"
    np.testing.assert_allclose(est.params_, ref.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.bse_, ref.bse, rtol=1e-9, atol=1e-12)
    zeroed = est.params_ == 0
    assert zeroed[1:].any() and not zeroed[0]  # some slopes dropped, the intercept never
    assert np.isnan(est.bse_[zeroed]).all()


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (np.repeat(["a", "b", "c"], 10), "Only binary classification is supported"),
        (np.repeat(["a"], 30), "only one class"),
    ],
)
def test_logit_needs_two_classes(target: np.ndarray, expected: str) -> None:
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match=expected) as caught:
        SMLogit().fit(X, target)
    assert isinstance(caught.value, MlwbError) and caught.value.hint
    copied = pickle.loads(pickle.dumps(caught.value))  # as joblib returns it from a worker
    assert (copied.message, copied.hint) == (caught.value.message, caught.value.hint)


def test_perfect_separation_is_a_clear_error() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"noise": rng.normal(size=80), "leak": rng.normal(size=80)})
    y = (X["leak"] > 0.1).to_numpy()
    with pytest.raises(ModelFitError) as caught:
        SMLogit().fit(X, y)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert message.startswith("perfect separation: feature 'leak' predicts the target exactly")
    assert "alpha > 0" in message

    penalised = SMLogit(alpha=1.0).fit(X, y)  # the advertised fix
    assert penalised.score(X, y) == 1.0 and np.isfinite(penalised.params_).all()


def test_quasi_separation_by_a_binary_flag_and_by_a_combination() -> None:
    rng = np.random.default_rng(2)
    flag = (rng.random(200) < 0.2).astype(float)
    y = (rng.random(200) < 0.4) | (flag == 1)  # the flag only ever occurs with y = True
    with pytest.raises(ModelFitError, match="quasi-perfect separation: feature 'x0'"):
        SMLogit().fit(np.column_stack([flag, rng.normal(size=200)]), y)

    a, b = rng.normal(size=(2, 200))
    with pytest.raises(ModelFitError, match="a combination of features predicts the target"):
        SMLogit().fit(np.column_stack([a, b]), a + b > 0)


def test_aliased_columns_are_left_out_like_r_glm() -> None:
    """A full one-hot block plus the intercept is rank-deficient: one level is aliased
    (coefficient 0, NaN statistics) and the rest equal statsmodels' Logit without it."""
    rng = np.random.default_rng(3)
    colour = rng.choice(["red", "green", "blue"], size=300)
    x = rng.normal(size=300)
    eta = 0.5 * x + np.select([colour == "red", colour == "green"], [0.8, -0.4], 0.0)
    y = rng.random(300) < 1 / (1 + np.exp(-eta))
    one_hot = OneHotEncoder(sparse_output=False).fit_transform(colour.reshape(-1, 1))
    X = np.column_stack([one_hot, x, np.zeros(300)])  # plus a column constant in this fold

    est = SMLogit().fit(X, y)
    aliased = np.isnan(est.bse_)
    assert (est.fit_method_, est.rank_, aliased.sum()) == ("newton", 4, 2)
    assert aliased[-1] and aliased[1:4].sum() == 1 and not aliased[0]
    ref = sm.Logit(y.astype(float), sm.add_constant(X)[:, ~aliased]).fit(disp=0)
    np.testing.assert_allclose(est.params_[~aliased], ref.params, **TIGHT)
    np.testing.assert_allclose(est.bse_[~aliased], ref.bse, **TIGHT)
    np.testing.assert_array_equal(est.params_[aliased], 0.0)
    assert np.isnan(est.pvalues_[aliased]).all() and np.isnan(est.conf_int_[aliased]).all()
    np.testing.assert_allclose(est.llf_, ref.llf, **TIGHT)
    np.testing.assert_allclose(est.aic_, ref.aic, **TIGHT)
    np.testing.assert_allclose(
        est.predict_proba(X)[:, 1], ref.predict(sm.add_constant(X)[:, ~aliased]), **TIGHT
    )
    assert "aliased" in summary_text(est) or "collinear" in summary_text(est)


def test_not_converged_warns_and_is_recorded(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 iterations"):
        est = SMLogit(maxiter=1).fit(X, y)
    assert est.converged_ is False


@pytest.mark.parametrize(
    "params",
    [{"alpha": -1.0}, {"alpha": float("nan")}, {"maxiter": 0}, {"fit_intercept": "yes"}],
)
def test_invalid_parameters_are_rejected_at_fit(params: dict[str, Any]) -> None:
    est = SMLogit(**params)  # construction never validates (sklearn convention)
    with pytest.raises(ValueError, match=next(iter(params))):
        est.fit(np.eye(4), [0, 1, 0, 1])


# ---------------------------------------------------------------------------------- OLS, GLM


def test_ols_matches_statsmodels_and_sklearn_on_diabetes(
    diabetes: tuple[pd.DataFrame, Any],
) -> None:
    X, y = diabetes
    est = SMOLS().fit(X, y)
    exog = sm.add_constant(X.to_numpy())
    ref = sm.OLS(y, exog).fit()

    assert_inference_matches(est, ref)
    np.testing.assert_allclose(est.bic_, ref.bic, **TIGHT)
    np.testing.assert_allclose(est.rsquared_, ref.rsquared, **TIGHT)
    np.testing.assert_allclose(est.rsquared_adj_, ref.rsquared_adj, **TIGHT)
    np.testing.assert_allclose(est.predict(X), ref.predict(exog), **TIGHT)
    sk = LinearRegression().fit(X, y)  # a second, independent implementation
    np.testing.assert_allclose(est.coef_, sk.coef_, rtol=1e-8)
    np.testing.assert_allclose(est.intercept_, sk.intercept_, rtol=1e-8)
    np.testing.assert_allclose(est.score(X, y), ref.rsquared, **TIGHT)


def test_ols_collinear_one_hot_uses_pinv() -> None:
    rng = np.random.default_rng(4)
    colour = rng.choice(["red", "green", "blue"], size=200)
    y = rng.normal(size=200) + (colour == "red") * 2.0
    one_hot = OneHotEncoder(sparse_output=False).fit_transform(colour.reshape(-1, 1))

    est = SMOLS().fit(one_hot, y)
    assert est.rank_ == 3 and len(est.params_) == 4
    group_means = {c: y[colour == c].mean() for c in ("blue", "green", "red")}
    np.testing.assert_allclose(est.predict(one_hot), [group_means[c] for c in colour], rtol=1e-10)


def test_glm_poisson_matches_statsmodels(counts: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = counts
    est = SMGLM(family="poisson").fit(X, y)
    exog = sm.add_constant(X)
    ref = sm.GLM(y, exog, family=sm.families.Poisson()).fit()

    assert_inference_matches(est, ref)
    np.testing.assert_allclose(est.bic_, ref.bic_llf, **TIGHT)
    np.testing.assert_allclose(est.deviance_, ref.deviance, **TIGHT)
    np.testing.assert_allclose(est.predict(X), ref.predict(exog), **TIGHT)
    assert est.converged_ and est.scale_ == 1.0
    np.testing.assert_allclose(est.params_, [0.4, 0.5, -0.3, 0.0], atol=0.1)  # the truth
    sk = PoissonRegressor(alpha=0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(est.coef_, sk.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(est.intercept_, sk.intercept_, rtol=0, atol=1e-10)


def test_glm_gamma_uses_log_link_and_gaussian_equals_ols(
    counts: tuple[np.ndarray, np.ndarray], diabetes: tuple[pd.DataFrame, Any]
) -> None:
    X, y = counts
    positive = y + 0.5
    est = SMGLM(family="gamma").fit(X, positive)
    family = sm.families.Gamma(link=sm.families.links.Log())
    ref = sm.GLM(positive, sm.add_constant(X), family=family).fit()
    assert_inference_matches(est, ref)
    np.testing.assert_allclose(est.predict(X), ref.predict(sm.add_constant(X)), **TIGHT)

    Xd, yd = diabetes
    np.testing.assert_allclose(SMGLM().fit(Xd, yd).params_, SMOLS().fit(Xd, yd).params_, rtol=1e-8)


@pytest.mark.parametrize(
    ("family", "target", "match"),
    [
        ("poisson", [1.0, -1.0, 2.0, 0.0], "poisson family needs a target >= 0; 1 rows"),
        ("gamma", [1.0, 0.0, 2.0, 3.0], "gamma family needs a target > 0; 1 rows"),
        ("binomial", [1.0, 0.0, 2.0, 3.0], "family must be one of gaussian, poisson, gamma"),
    ],
)
def test_glm_rejects_targets_outside_the_family(
    family: str, target: list[float], match: str
) -> None:
    X = np.random.default_rng(5).normal(size=(4, 1))
    with pytest.raises(ValueError, match=match):
        SMGLM(family=family).fit(X, target)


# ---------------------------------------------------------------------------------- sklearn


def _check_name(check: Any) -> str:
    return getattr(getattr(check, "func", check), "__name__", str(check))


# Unpenalised Logit refuses sklearn's separable toy data by design; alpha > 0 keeps it finite.
# The array-API checks only run with SCIPY_ARRAY_API set (they would skip), so they are left out.
_CHECKS = [
    (estimator, check)
    for base in [
        SMLogit(alpha=1.0),
        SMOLS(),
        SMGLM(),
        SMGLM(family="poisson"),
        SMGLM(family="gamma"),
    ]
    for estimator, check in estimator_checks_generator(base)
    if "array_api" not in _check_name(check)
]


@pytest.mark.filterwarnings("ignore:Can't check dok sparse matrix:UserWarning")
@pytest.mark.parametrize(
    ("estimator", "check"),
    _CHECKS,
    ids=[f"{type(e).__name__}-{getattr(e, 'family', '')}-{_check_name(c)}" for e, c in _CHECKS],
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_tags_clone_and_params() -> None:
    assert is_classifier(SMLogit()) and not is_regressor(SMLogit())
    assert is_regressor(SMOLS()) and is_regressor(SMGLM())
    assert SMLogit().__sklearn_tags__().input_tags.sparse
    est = SMGLM(family="poisson", maxiter=50)
    assert est.get_params() == {"family": "poisson", "maxiter": 50, "fit_intercept": True}
    copy = clone(est).set_params(family="gamma")
    assert copy.get_params()["family"] == "gamma" and est.family == "poisson"


def test_cross_validation_stratifies_the_classifier(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    assert isinstance(check_cv(5, y, classifier=is_classifier(SMLogit())), StratifiedKFold)
    pipe = make_pipeline(StandardScaler(), SMLogit())
    scores = cross_val_score(pipe, X, y, cv=5)
    np.testing.assert_array_equal(scores, cross_val_score(pipe, X, y, cv=StratifiedKFold(5)))
    assert not np.array_equal(scores, cross_val_score(pipe, X, y, cv=KFold(5)))

    result = cross_validate(pipe, X, y, cv=5, scoring=["roc_auc", "neg_log_loss"])
    assert np.isfinite(result["test_roc_auc"]).all() and result["test_roc_auc"].min() > 0.85


def test_regressors_cross_validate(diabetes: tuple[pd.DataFrame, Any]) -> None:
    X, y = diabetes
    folds = KFold(5, shuffle=True, random_state=0)
    ols = cross_validate(SMOLS(), X, y, cv=folds, scoring="r2")["test_score"]
    sk = cross_validate(LinearRegression(), X, y, cv=folds, scoring="r2")["test_score"]
    np.testing.assert_allclose(ols, sk, rtol=1e-8)
    glm = cross_validate(SMGLM(), X, y, cv=folds, scoring="r2")["test_score"]
    np.testing.assert_allclose(glm, sk, rtol=1e-7)


# ---------------------------------------------------------------------------------- persistence


def fitted_models(cancer: Any, diabetes: Any, counts: Any) -> list[tuple[Any, Any]]:
    Xc, yc = cancer
    labels = np.where(yc == 1, "benign", "malignant")
    Xd, yd = diabetes
    Xp, yp = counts
    return [
        (SMLogit().fit(Xc, labels), Xc),
        (make_pipeline(StandardScaler(), SMLogit(alpha=5.0)).fit(Xc, labels), Xc),
        (SMOLS().fit(Xd, yd), Xd),
        (SMGLM(family="poisson").fit(Xp, yp), Xp),
        (make_pipeline(StandardScaler(), SMGLM(family="gamma")).fit(Xp, yp + 1), Xp),
    ]


def test_fitted_state_is_plain(cancer: Any, diabetes: Any, counts: Any) -> None:
    plain = (np.ndarray, float, int, bool, str)
    for model, _ in fitted_models(cancer, diabetes, counts):
        est = model[-1] if hasattr(model, "steps") else model
        for name, value in vars(est).items():
            assert isinstance(value, plain), f"{type(est).__name__}.{name} is {type(value)}"
            if isinstance(value, np.ndarray) and name not in ("classes_", "feature_names_in_"):
                assert value.dtype == np.float64, name


def test_skops_round_trip_needs_only_trusted_types(cancer: Any, diabetes: Any, counts: Any) -> None:
    for model, X in fitted_models(cancer, diabetes, counts):
        data = sio.dumps(model)
        untrusted = sio.get_untrusted_types(data=data)
        assert untrusted and set(untrusted) <= set(TRUSTED_TYPES)
        loaded = sio.loads(data, trusted=TRUSTED_TYPES)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        if hasattr(model, "predict_proba"):
            np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
            sio.loads(data, trusted=[])


def test_predicting_needs_no_statsmodels_and_fits_stay_quiet(cancer: Any, tmp_path: Path) -> None:
    """In a fresh process: a loaded model predicts without importing statsmodels, and a fit
    (the first to import statsmodels) emits only its own warning, none of statsmodels'."""
    X, y = cancer
    path = tmp_path / "logit.skops"
    sio.dump(SMLogit().fit(X, y), path)
    code = (
        "import json, sys, warnings, numpy as np, skops.io as sio\n"
        "from app.services.sm_estimators import TRUSTED_TYPES, SMLogit\n"
        f"model = sio.load({str(path)!r}, trusted=TRUSTED_TYPES)\n"
        "p = model.predict_proba(np.zeros((1, 4)))[0, 1]\n"
        "imported = 'statsmodels' in sys.modules\n"
        "rng = np.random.default_rng(0)\n"
        "X, y = rng.normal(size=(50, 2)), rng.random(50) < 0.5\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    SMLogit(maxiter=1).fit(np.column_stack([X, X[:, 0]]), y)\n"
        "print(json.dumps([p, imported, [str(w.message) for w in caught]]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore::UserWarning", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    probability, imported, caught = json.loads(out.stdout)
    assert imported is False
    assert caught == ["SMLogit did not converge in 1 iterations; raise maxiter or scale features"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names on the zeros row
        expected = SMLogit().fit(X, y).predict_proba(np.zeros((1, 4)))[0, 1]
    np.testing.assert_allclose(probability, expected, **TIGHT)


# ---------------------------------------------------------------------------------- tables


def test_coefficient_table_matches_statsmodels(cancer: tuple[pd.DataFrame, Any]) -> None:
    X, y = cancer
    ref = sm.Logit(y, sm.add_constant(X.to_numpy())).fit(disp=0)
    rows = coefficient_table(SMLogit().fit(X, y))
    assert [r["term"] for r in rows] == ["const", *CANCER_COLUMNS]
    assert set(rows[0]) == {"term", "coef", "std_err", "z_or_t", "p_value", "ci_low", "ci_high"}
    ci = ref.conf_int()
    for i, row in enumerate(rows):
        expected = [ref.params[i], ref.bse[i], ref.tvalues[i], ref.pvalues[i], *ci[i]]
        got = [row[k] for k in ("coef", "std_err", "z_or_t", "p_value", "ci_low", "ci_high")]
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-300)
        assert all(type(v) is float for v in got)


def test_coefficient_table_names_from_a_pipeline_and_explicit_names(diabetes: Any) -> None:
    X, y = diabetes
    pipe = make_pipeline(StandardScaler(), SMOLS()).fit(X, y)
    assert [r["term"] for r in coefficient_table(pipe)] == ["const", *X.columns]
    bare = SMOLS(fit_intercept=False).fit(X.to_numpy(), y)
    assert [r["term"] for r in coefficient_table(bare)] == [f"x{j}" for j in range(10)]
    named = coefficient_table(bare, [f"f{j}" for j in range(10)])
    assert named[0]["term"] == "f0"
    with pytest.raises(ValueError, match="2 feature names given for a model with 10 features"):
        coefficient_table(bare, ["a", "b"])


def test_summary_text_is_a_fixed_width_table(cancer: Any, diabetes: Any, counts: Any) -> None:
    Xc, yc = cancer
    logit = SMLogit().fit(Xc, yc)
    text = summary_text(logit)
    assert "n = 569" in text and f"AIC {logit.aic_:.4g}" in text
    assert f"log-likelihood {logit.llf_:.4g}" in text
    table = text.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["term", "coef", "std", "err", "z", "P>|z|", "[0.025", "0.975]"]
    assert len({len(line) for line in table}) == 1  # every row the same width
    assert table[2].startswith("const ")

    Xd, yd = diabetes
    ols = SMOLS().fit(Xd, yd)
    assert f"R² {ols.rsquared_:.4f}" in summary_text(ols) and "P>|t|" in summary_text(ols)
    Xp, yp = counts
    glm_text = summary_text(SMGLM(family="poisson").fit(Xp, yp), ["a", "b", "c"])
    assert "GLM poisson (log link)" in glm_text and "\nc " in glm_text
