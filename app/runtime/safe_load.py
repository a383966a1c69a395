"""Loading a skops model file through an explicit allow-list of types.

skops trusts scikit-learn's and NumPy's plain types by default; ``TRUSTED`` adds exactly the
types mlwb's own pipelines contain. A file naming any other type is refused, with the type in
the message, before anything in it is built.
"""

from __future__ import annotations

from typing import Any

from app.runtime.errors import MlwbError

TRUSTED: frozenset[str] = frozenset(
    {
        # mlwb's own estimators and transformers.
        "app.services.sm_estimators.SMGLM",
        "app.services.sm_estimators.SMLogit",
        "app.services.sm_estimators.SMOLS",
        "app.runtime.transformers.DateParts",
        "app.services.features.DateParts",
        # Types scikit-learn pipelines store that skops does not trust by default.
        "builtins.slice",
        # A partial is only loaded when the function it wraps is itself on this list.
        "functools.partial",
        "sklearn.utils.validation.check_array",
        "numpy.dtype",
        "scipy.sparse._csr.csr_matrix",
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "numpy.dtypes.Float64DType",
        "numpy.dtypes.Int64DType",
        "numpy.dtypes.ObjectDType",
        "numpy.dtypes.StrDType",
        "numpy.dtypes.BoolDType",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.utils._bunch.Bunch",
    }
)
"""Types beyond skops' defaults that mlwb's own pipelines contain."""


def load_skops(data: bytes, where: str) -> Any:
    """The object in skops bytes ``data`` (read from ``where``), if every type is trusted."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise MlwbError(f"{where} is not a readable skops model file: {exc}") from exc
    refused = [t for t in untrusted if t not in TRUSTED]
    if refused:
        raise MlwbError(
            f"refusing to load {where}: it contains type(s) outside the allow-list: "
            + ", ".join(refused),
            hint="only models saved by mlwb can be loaded",
        )
    return sio.loads(data, trusted=list(untrusted))
