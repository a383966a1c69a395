"""statsmodels Logit, OLS and GLM wrapped as scikit-learn estimators with plain fitted state.

They follow scikit-learn's contract (``clone``, tags, ``Pipeline``, ``cross_validate``) and
keep only numpy arrays and builtins after ``fit`` (no statsmodels results), so a skops file
needs only ``TRUSTED_TYPES`` and ``predict`` never imports statsmodels. ``coefficient_table``
and ``summary_text`` give the interpretable view for the run detail pane.

* Rank-deficient designs (one-hot block plus intercept, a column constant within a fold,
  ``education-num`` beside one-hot ``education``): OLS and GLM use statsmodels' pseudo-inverse,
  so aliased terms share their effect (minimum-norm). ``SMLogit`` does what R's ``glm`` does
  rather than fail on a singular Hessian: aliased columns (pivoted QR, tolerance 1e-7) are
  left out and reported with coefficient 0 and NaN statistics. ``rank_`` records it.
* Perfect or quasi-perfect separation (no Logit MLE; e.g. a rare category seen with one class
  only) raises ``ModelFitError`` (a ``ValueError``) naming features that separate on their own
  and suggesting ``alpha > 0`` (the L1 fit, intercept unpenalised, stays finite). The check is
  an exact linear program, run only if Newton has not converged in 35 iterations.

statsmodels' warnings are silenced during a fit and the outcome judged from the results; a
fit that does not converge sets ``converged_ = False`` and emits sklearn's ConvergenceWarning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from app.errors import MlwbError

#: skops types these estimators add to a model file; the model store trusts exactly these
#: (numpy arrays, numpy scalars and builtins inside them are trusted by skops by default).
TRUSTED_TYPES: list[str] = [
    "app.services.sm_estimators.SMGLM",
    "app.services.sm_estimators.SMLogit",
    "app.services.sm_estimators.SMOLS",
]

#: GLM families offered by ``SMGLM`` (gaussian: identity link; poisson and gamma: log link).
GLM_FAMILIES: tuple[str, ...] = ("gaussian", "poisson", "gamma")


class ModelFitError(MlwbError, ValueError):
    """A statsmodels model cannot be fitted to this data; ``hint`` says how to fix it."""

    def __str__(self) -> str:
        return self.one_line()

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the hint when joblib sends the error back from a worker process.
        return (type(self), (self.message, self.hint))


@contextmanager
def _quiet_fit() -> Iterator[None]:
    """Silence statsmodels' and numpy's warnings during a fit; the outcome is checked after."""
    import statsmodels.api  # noqa: F401  (its import adds "always" filters; import them first)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _design(X: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """The exog matrix; a leading column of ones is always added for an intercept, even if a
    feature is constant, so the parameter layout never depends on the data."""
    return np.column_stack([np.ones(X.shape[0]), X]) if fit_intercept else X


def _check_common_params(est: BaseEstimator) -> None:
    """Validate ``fit_intercept`` and (where present) ``maxiter`` at fit time, as sklearn does."""
    if not isinstance(est.fit_intercept, bool | np.bool_):
        raise ValueError(f"fit_intercept must be True or False, got {est.fit_intercept!r}")
    maxiter = getattr(est, "maxiter", 1)
    if isinstance(maxiter, bool) or not isinstance(maxiter, int | np.integer) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")


def _validated(est: BaseEstimator, X: Any, y: Any, **check: Any) -> tuple[np.ndarray, Any]:
    """Validate and densify the training data (sets ``n_features_in_``/``feature_names_in_``)."""
    X, y = validate_data(
        est, X, y, accept_sparse=True, dtype=np.float64, ensure_min_samples=2, **check
    )
    return np.asarray(X.toarray() if sparse.issparse(X) else X, dtype=np.float64), y


def _feature_names(est: BaseEstimator) -> list[str]:
    """``feature_names_in_`` when fitted on a DataFrame, else x0, x1, ..."""
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        return [f"x{j}" for j in range(est.n_features_in_)]
    return [str(n) for n in names]


def _store_inference(
    est: BaseEstimator, res: Any, *, rank: int, bic: float, kept: np.ndarray | None = None
) -> None:
    """Copy a statsmodels result's inference into plain attributes on ``est``; columns left
    out of the fit (``kept`` False) get coefficient 0 and NaN statistics."""
    fitted = {
        "bse_": res.bse,
        "tvalues_": res.tvalues,
        "pvalues_": res.pvalues,
        "conf_int_": np.asarray(res.conf_int()).reshape(-1, 2),
    }
    kept = np.ones(len(res.params), dtype=bool) if kept is None else kept
    for attr, value in fitted.items():
        full = np.full((len(kept), *np.shape(value)[1:]), np.nan)
        full[kept] = value
        setattr(est, attr, full)
    params = np.zeros(len(kept))
    params[kept] = res.params
    est.params_ = params
    est.llf_ = float(res.llf)
    est.aic_ = float(res.aic)
    est.bic_ = float(bic)
    est.nobs_ = int(res.nobs)
    est.rank_ = int(rank)
    if est.fit_intercept:
        est.intercept_ = float(params[0])
        est.coef_ = params[1:].copy()
    else:
        est.intercept_ = 0.0
        est.coef_ = params.copy()


def _linear_predictor(est: BaseEstimator, X: Any) -> np.ndarray:
    """``X @ coef_ + intercept_`` for validated input (sparse stays sparse)."""
    check_is_fitted(est, "coef_")
    X = validate_data(est, X, accept_sparse=True, dtype=np.float64, reset=False)
    return np.asarray(X @ est.coef_, dtype=np.float64).ravel() + est.intercept_


def _warn_not_converged(name: str, maxiter: int) -> None:
    message = f"{name} did not converge in {maxiter} iterations; raise maxiter or scale features"
    warnings.warn(message, ConvergenceWarning, stacklevel=3)


def _separating_columns(X: np.ndarray, y01: np.ndarray, *, strict: bool) -> list[int]:
    """Columns whose values alone split the two classes (``strict``: no tie at the boundary)."""
    neg, pos = X[y01 == 0], X[y01 == 1]
    below = np.less if strict else np.less_equal
    split = below(neg.max(axis=0), pos.min(axis=0)) | below(pos.max(axis=0), neg.min(axis=0))
    return [int(j) for j in np.flatnonzero(split & (np.ptp(X, axis=0) > 0))]


def _is_separated(exog: np.ndarray, y01: np.ndarray) -> bool:
    """Whether a linear rule classifies all rows, or some rows and none wrongly (no MLE then).

    Konis' linear-programming check (R's safeBinaryRegression / detectseparation): look for
    coefficients b with s_i * x_i @ b >= 0 for every row (s_i = +-1 for the class) and the sum
    as large as possible, with b boxed to [-1, 1]. A positive optimum means the likelihood
    keeps rising along b, i.e. (quasi-)complete separation. Columns are scaled to max |x| = 1
    so one tolerance fits all data.
    """
    from scipy.optimize import linprog

    scale = np.abs(exog).max(axis=0)
    scale[scale == 0] = 1.0
    signed = (exog / scale) * np.where(y01 == 1, 1.0, -1.0)[:, None]
    n_rows = signed.shape[0]
    found = linprog(-signed.sum(axis=0), A_ub=-signed, b_ub=np.zeros(n_rows), bounds=(-1, 1))
    return found.status == 0 and -found.fun > 1e-6 * n_rows


def _separation_error(X: np.ndarray, y01: np.ndarray, names: Sequence[str]) -> ModelFitError:
    """The error for separated data, naming the features that separate on their own."""
    strict = _separating_columns(X, y01, strict=True)
    columns = strict or _separating_columns(X, y01, strict=False)
    listed = ", ".join(repr(names[j]) for j in columns[:5]) + (" ..." if len(columns) > 5 else "")
    subject = (
        f"feature {listed} predicts" if len(columns) == 1 else f"features {listed} each predict"
    )
    if not columns:
        what = "perfect or quasi-perfect separation: a combination of features predicts the target"
    elif strict:
        what = f"perfect separation: {subject} the target exactly"
    else:
        what = f"quasi-perfect separation: {subject} the target exactly for some rows"
    return ModelFitError(
        f"{what}, so the logistic regression coefficients do not exist",
        "drop or merge such features (they may leak the target), or use alpha > 0 to keep "
        "coefficients finite",
    )


class _Separated(Exception):
    """Raised inside the Logit fit when the classes are (quasi-)separated."""


def _aliased_columns(exog: np.ndarray, intercept: bool) -> np.ndarray:
    """Columns (nearly) in the span of others, by pivoted QR of the unit-norm columns (R's glm
    tolerance, 1e-7). The constant is always kept: the other columns are centred first."""
    from scipy.linalg import qr

    norms = np.linalg.norm(exog, axis=0)
    block = (exog / np.where(norms > 0, norms, 1.0))[:, int(intercept) :]
    if intercept:
        block = block - block.mean(axis=0)
    r, pivots = qr(block, mode="r", pivoting=True)
    rank = int(np.sum(np.abs(np.diag(r)) > 1e-7))
    aliased = np.zeros(exog.shape[1], dtype=bool)
    aliased[int(intercept) + pivots[rank:]] = True
    return aliased


def _fit_logit(
    exog: np.ndarray, y01: np.ndarray, alpha: float, maxiter: int, intercept: bool
) -> tuple[Any, str, bool, np.ndarray]:
    """Fit the logit likelihood; returns (results, method, converged, kept columns).

    Aliased columns are left out. alpha > 0: L1 with the intercept unpenalised. Otherwise
    Newton (at most 35 iterations, statsmodels' default), then -- unless the data are
    separated, which raises ``_Separated`` -- BFGS from where Newton stopped.
    """
    import statsmodels.api as sm

    kept = np.ones(exog.shape[1], dtype=bool)
    model = sm.Logit(y01, exog)
    if int(round(model.df_model)) + 1 < exog.shape[1]:
        kept = ~_aliased_columns(exog, intercept)
        model = sm.Logit(y01, exog[:, kept], check_rank=False)  # full rank now
    if alpha > 0:
        penalty = np.full(int(kept.sum()), float(alpha))
        if intercept:
            penalty[0] = 0.0
        try:
            res = model.fit_regularized(method="l1", alpha=penalty, maxiter=maxiter, disp=0)
        except np.linalg.LinAlgError as exc:
            raise ModelFitError(
                "the penalised logistic regression has a singular Hessian, so standard errors "
                "cannot be computed",
                "increase alpha or drop features that (nearly) predict the target",
            ) from exc
        return res, "l1", bool(res.mle_retvals.get("converged", True)), kept
    newton = None
    try:
        newton = model.fit(method="newton", maxiter=min(maxiter, 35), disp=0)
        if newton.mle_retvals.get("converged", False):
            return newton, "newton", True, kept
    except np.linalg.LinAlgError:
        pass
    # Newton converges quickly whenever the MLE exists; when it did not, look for separation.
    if _is_separated(model.exog, y01):
        raise _Separated
    start = newton.params if newton is not None and np.isfinite(newton.params).all() else None
    bfgs = model.fit(method="bfgs", start_params=start, maxiter=maxiter, disp=0)
    converged = bool(bfgs.mle_retvals.get("converged", False))
    if converged or newton is None or bfgs.llf >= newton.llf:
        return bfgs, "bfgs", converged, kept
    return newton, "newton", False, kept


class SMLogit(ClassifierMixin, BaseEstimator):
    """Binary logistic regression fitted by ``statsmodels.api.Logit``.

    ``alpha`` is the L1 weight on statsmodels' scale (added to the negative log-likelihood):
    0 fits plain maximum likelihood (Newton, then BFGS); > 0 uses ``fit_regularized("l1")``
    without penalising the intercept, and zeroed coefficients get NaN standard errors.
    ``maxiter`` limits the optimiser; ``fit_intercept`` adds a ``const`` column. Any two labels work (strings too): ``classes_`` is ``np.unique(y)`` and the second class
    is the modelled event. Fitted attributes: ``classes_``, ``coef_`` (1-d), ``intercept_``,
    ``params_`` (intercept first), ``bse_``, ``tvalues_`` (z), ``pvalues_``, ``conf_int_``
    (k x 2, 95 %), ``llf_``, ``aic_``, ``bic_``, ``nobs_``, ``rank_``, ``converged_``,
    ``fit_method_`` ("newton", "bfgs" or "l1") and ``n_features_in_``. Aliased columns have
    coefficient 0 and NaN statistics.
    """

    def __init__(self, alpha: float = 0.0, maxiter: int = 100, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.maxiter = maxiter
        self.fit_intercept = fit_intercept

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any) -> SMLogit:
        """Fit the model; raises ``ModelFitError`` for one or 3+ classes or separation."""
        _check_common_params(self)
        alpha = self.alpha
        numeric = isinstance(alpha, int | float | np.number) and not isinstance(alpha, bool)
        if not numeric or not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        X, y = _validated(self, X, y)
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) != 2:
            found = "only one class" if len(classes) == 1 else f"{len(classes)} classes"
            raise ModelFitError(
                f"Only binary classification is supported: SMLogit needs exactly 2 classes, "
                f"the target has {found} ({', '.join(map(str, classes[:5]))})",
                "use a binary target with both classes in the training rows",
            )
        self.classes_ = classes
        y01 = y_index.astype(np.float64)
        exog = _design(X, self.fit_intercept)
        try:
            with _quiet_fit():
                res, method, converged, kept = _fit_logit(
                    exog, y01, alpha, self.maxiter, self.fit_intercept
                )
        except _Separated:
            raise _separation_error(X, y01, _feature_names(self)) from None
        _store_inference(self, res, rank=int(kept.sum()), bic=res.bic, kept=kept)
        self.converged_ = converged
        self.fit_method_ = method
        if not converged:
            _warn_not_converged("SMLogit", self.maxiter)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of ``classes_[1]``."""
        return _linear_predictor(self, X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]``, one row per sample."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """The more probable class (``classes_[1]`` when the log-odds are positive)."""
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(np.intp)]


class SMOLS(RegressorMixin, BaseEstimator):
    """Ordinary least squares fitted by ``statsmodels.api.OLS`` (pseudo-inverse).

    The pseudo-inverse makes collinear columns (a full one-hot block plus the intercept) work:
    aliased coefficients get the minimum-norm solution. Without an intercept statsmodels
    reports the uncentred R². Fitted attributes: ``coef_``, ``intercept_``, ``params_``,
    ``bse_``, ``tvalues_`` (t), ``pvalues_``, ``conf_int_``, ``rsquared_``, ``rsquared_adj_``,
    ``llf_``, ``aic_``, ``bic_``, ``nobs_``, ``rank_``, ``n_features_in_``.
    """

    def __init__(self, fit_intercept: bool = True) -> None:
        self.fit_intercept = fit_intercept

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X: Any, y: Any) -> SMOLS:
        """Fit by least squares."""
        import statsmodels.api as sm

        _check_common_params(self)
        X, y = _validated(self, X, y, y_numeric=True)
        exog = _design(X, self.fit_intercept)
        with _quiet_fit():
            res = sm.OLS(np.asarray(y, dtype=np.float64), exog).fit()
        _store_inference(self, res, rank=int(res.model.rank), bic=res.bic)
        self.rsquared_ = float(res.rsquared)
        self.rsquared_adj_ = float(res.rsquared_adj)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Fitted values ``X @ coef_ + intercept_``."""
        return _linear_predictor(self, X)


class SMGLM(RegressorMixin, BaseEstimator):
    """A generalised linear model fitted by ``statsmodels.api.GLM`` (IRLS).

    ``family``: "gaussian" (identity link), "poisson" (log link, y >= 0) or "gamma" (log link
    rather than statsmodels' default inverse link, as usual for costs and durations; y > 0).
    ``maxiter`` limits IRLS; ``fit_intercept`` adds a ``const`` column. ``predict`` returns
    the mean response. p-values use the normal distribution and the scale is statsmodels'
    default (Pearson chi² for gaussian and gamma, 1 for poisson). Fitted attributes: as
    ``SMOLS`` without R², plus ``deviance_``, ``scale_`` and ``converged_``.
    """

    def __init__(
        self, family: str = "gaussian", maxiter: int = 100, fit_intercept: bool = True
    ) -> None:
        self.family = family
        self.maxiter = maxiter
        self.fit_intercept = fit_intercept

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.positive_only = self.family in ("poisson", "gamma")
        return tags

    def fit(self, X: Any, y: Any) -> SMGLM:
        """Fit by iteratively reweighted least squares."""
        import statsmodels.api as sm

        families = {
            "gaussian": sm.families.Gaussian,
            "poisson": sm.families.Poisson,
            "gamma": lambda: sm.families.Gamma(link=sm.families.links.Log()),
        }
        if self.family not in GLM_FAMILIES:
            raise ValueError(
                f"family must be one of {', '.join(GLM_FAMILIES)}; got {self.family!r}"
            )
        _check_common_params(self)
        X, y = _validated(self, X, y, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        invalid = {"poisson": y < 0, "gamma": y <= 0}.get(self.family, np.zeros(0, dtype=bool))
        if invalid.any():
            bound = ">= 0" if self.family == "poisson" else "> 0"
            raise ModelFitError(
                f"the {self.family} family needs a target {bound}; {int(invalid.sum())} rows are not",
                "use family='gaussian' (or 'poisson' for counts with zeros)",
            )
        hint = "scale the features, drop extreme ones, or use family='gaussian'"
        try:
            with _quiet_fit():
                glm = sm.GLM(y, _design(X, self.fit_intercept), family=families[self.family]())
                res = glm.fit(maxiter=self.maxiter)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise ModelFitError(f"the {self.family} GLM could not be fitted: {exc}", hint) from exc
        if not np.all(np.isfinite(np.asarray(res.params, dtype=np.float64))):
            raise ModelFitError(f"the {self.family} GLM diverged (non-finite coefficients)", hint)
        _store_inference(self, res, rank=int(round(res.df_model)) + 1, bic=res.bic_llf)
        self.deviance_ = float(res.deviance)
        self.scale_ = float(res.scale)
        self.converged_ = bool(res.converged)
        if not self.converged_:
            _warn_not_converged("SMGLM", self.maxiter)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The mean response: the inverse link applied to ``X @ coef_ + intercept_``."""
        eta = _linear_predictor(self, X)
        return eta if self.family == "gaussian" else np.exp(eta)


def _unwrap(estimator: Any, feature_names: Sequence[str] | None) -> tuple[Any, list[str]]:
    """The fitted statsmodels wrapper and its term names (a Pipeline's last step is used)."""
    if hasattr(estimator, "steps"):
        if feature_names is None and len(estimator.steps) > 1:
            feature_names = list(estimator[:-1].get_feature_names_out())
        estimator = estimator.steps[-1][1]
    if not isinstance(estimator, SMLogit | SMOLS | SMGLM):
        raise TypeError(f"expected SMLogit, SMOLS or SMGLM, got {type(estimator).__name__}")
    check_is_fitted(estimator, "params_")
    names = _feature_names(estimator) if feature_names is None else list(map(str, feature_names))
    if len(names) != estimator.n_features_in_:
        raise ValueError(
            f"{len(names)} feature names given for a model with {estimator.n_features_in_} features"
        )
    return estimator, (["const", *names] if estimator.fit_intercept else names)


def coefficient_table(
    estimator: Any, feature_names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One row per term ("const" first): coef, std_err, z_or_t, p_value, ci_low, ci_high.

    ``feature_names`` defaults to ``feature_names_in_`` (or x0, x1, ...); a fitted Pipeline
    ending in one of these estimators is accepted and named by its preceding steps.
    """
    est, terms = _unwrap(estimator, feature_names)
    low, high = est.conf_int_.T
    columns = zip(est.params_, est.bse_, est.tvalues_, est.pvalues_, low, high, strict=True)
    keys = ("coef", "std_err", "z_or_t", "p_value", "ci_low", "ci_high")
    return [
        {"term": term, **{key: float(v) for key, v in zip(keys, values, strict=True)}}
        for term, values in zip(terms, columns, strict=True)
    ]


def _headline(est: Any) -> list[str]:
    """The model line and fit statistics above the coefficient table."""
    stats = f"log-likelihood {est.llf_:.4g} · AIC {est.aic_:.4g} · BIC {est.bic_:.4g}"
    if isinstance(est, SMOLS):
        title = f"OLS regression · n = {est.nobs_}"
        stats = f"R² {est.rsquared_:.4f} · adj. R² {est.rsquared_adj_:.4f} · {stats}"
    elif isinstance(est, SMLogit):
        title = f"Logit ({est.fit_method_}) · n = {est.nobs_} · event = {est.classes_[1]!s}"
        title += f" · L1 alpha = {est.alpha:g}" if est.alpha > 0 else ""
    else:
        link = "identity" if est.family == "gaussian" else "log"
        title = f"GLM {est.family} ({link} link) · n = {est.nobs_} · deviance {est.deviance_:.4g}"
    if not getattr(est, "converged_", True):
        stats += " · NOT CONVERGED"
    return [title, stats]


_COLUMNS = (("coef", 10, ".4g"), ("std_err", 10, ".4g"), ("z_or_t", 8, ".3f"))
_COLUMNS += (("p_value", 8, ".3f"), ("ci_low", 10, ".4g"), ("ci_high", 10, ".4g"))


def summary_text(estimator: Any, feature_names: Sequence[str] | None = None) -> str:
    """A fixed-width coefficient table with n and fit statistics, for a terminal pane."""
    est, _ = _unwrap(estimator, feature_names)
    rows = coefficient_table(estimator, feature_names)
    stat = "t" if isinstance(est, SMOLS) else "z"
    width = min(max([len(r["term"]) for r in rows] + [4]), 28)
    lines = _headline(est)
    if est.rank_ < len(rows):
        how = "left out (coef 0, no std err)" if isinstance(est, SMLogit) else "share their effect"
        lines.append(f"note: {len(rows) - est.rank_} aliased (collinear) column(s) {how}")
    titles = ("coef", "std err", stat, f"P>|{stat}|", "[0.025", "0.975]")
    header = " ".join(
        [f"{'term':<{width}}", *(f"{t:>{c[1]}}" for t, c in zip(titles, _COLUMNS, strict=True))]
    )
    lines += ["", header, "─" * len(header)]
    for r in rows:
        term = r["term"] if len(r["term"]) <= width else r["term"][: width - 1] + "…"
        cells = (
            f"{'—':>{w}}" if not math.isfinite(r[k]) else f"{r[k]:>{w}{spec}}"
            for k, w, spec in _COLUMNS
        )
        lines.append(" ".join([f"{term:<{width}}", *cells]))
    return "\n".join(lines)
