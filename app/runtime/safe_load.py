"""Loading a skops model file through an explicit allow-list of types.

skops trusts scikit-learn's and NumPy's plain types by default; ``TRUSTED`` adds exactly the
types mlwb's own pipelines contain. A file naming any other type is refused, with the type in
the message, before anything in it is built.

Trusting a type is not trusting its values: scikit-learn walks a tree's node arrays without
bounds checks, so a file whose nodes point outside the tree (or at a feature the model does
not have) would read memory outside the model, or loop forever, at the first prediction.
``check_trees`` refuses such a model when it is loaded: every split's children come after it
and inside the tree, and every split reads a feature (and a category bitset) that exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
    model = sio.loads(data, trusted=list(untrusted))
    check_trees(model, where)
    return model


def check_trees(model: Any, where: str) -> None:
    """``MlwbError`` when a tree in ``model`` (scikit-learn's ``Tree`` of decision trees and
    forests, histogram boosting's ``TreePredictor``) has a node pointing outside itself."""
    for owner in _objects(model):
        predictors = getattr(owner, "_predictors", None)
        if isinstance(predictors, list) and hasattr(owner, "_bin_mapper"):
            _check_boosting(owner, where)
        kind = type(owner)
        if kind.__name__ == "Tree" and kind.__module__.startswith("sklearn.tree"):
            _check_tree(owner, where)


def _objects(root: Any, depth: int = 8) -> list[Any]:
    """``root`` and the scikit-learn/mlwb objects it holds (attributes, lists, dicts), each
    once."""
    seen: set[int] = set()
    found: list[Any] = []
    stack = [(root, 0)]
    while stack:
        obj, level = stack.pop()
        if id(obj) in seen or level > depth:
            continue
        seen.add(id(obj))
        if isinstance(obj, list | tuple):
            stack += [(o, level + 1) for o in obj]
        elif isinstance(obj, dict):
            stack += [(o, level + 1) for o in obj.values()]
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack += [(o, level + 1) for o in obj.ravel()]
        elif type(obj).__module__.split(".")[0] in ("sklearn", "app"):
            found.append(obj)
            if hasattr(obj, "__dict__"):
                stack += [(o, level + 1) for o in vars(obj).values()]
    return found


def _refuse(where: str, what: str) -> MlwbError:
    return MlwbError(
        f"refusing to load {where}: {what}",
        hint="the model file is damaged or was altered; build the bundle again from its run",
    )


def _split_problem(
    left: np.ndarray, right: np.ndarray, feature: np.ndarray, split: np.ndarray, n_features: int
) -> int | None:
    """The first split node whose children are not after it and inside the tree, or whose
    feature is not one of the model's ``n_features``; None when all are sound."""
    n = len(left)
    at = np.flatnonzero(split)
    lo, hi = left[at].astype(np.int64), right[at].astype(np.int64)
    f = feature[at].astype(np.int64)
    bad = (lo <= at) | (lo >= n) | (hi <= at) | (hi >= n) | (f < 0) | (f >= n_features)
    return int(at[np.argmax(bad)]) if bad.any() else None


def _check_tree(tree: Any, where: str) -> None:
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    split = left != -1
    node = _split_problem(left, right, np.asarray(tree.feature), split, int(tree.n_features))
    if node is not None or bool(((right == -1) != ~split).any()):
        raise _refuse(where, f"a decision tree's node {node} points outside the tree")


def _check_boosting(model: Any, where: str) -> None:
    n_features = int(getattr(model, "n_features_in_", 0))
    mapper = model._bin_mapper
    categorical = np.asarray(getattr(mapper, "is_categorical_", np.zeros(0, bool)), dtype=bool)
    for i, iteration in enumerate(model._predictors):
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            name = f"tree {k} of iteration {i}"
            if not len(nodes):
                raise _refuse(where, f"the boosting model's {name} has no nodes")
            split = nodes["is_leaf"] == 0
            node = _split_problem(
                nodes["left"], nodes["right"], nodes["feature_idx"], split, n_features
            )
            if node is not None:
                raise _refuse(where, f"the boosting model's {name}: node {node} points outside it")
            on_category = np.flatnonzero(split & (nodes["is_categorical"] != 0))
            if len(on_category):
                bitsets = min(
                    len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets)
                )
                features = nodes["feature_idx"][on_category].astype(np.int64)
                sets = nodes["bitset_idx"][on_category].astype(np.int64)
                # features < n_features already holds (checked above)
                known = len(categorical) == n_features and bool(categorical[features].all())
                if not (known and ((sets >= 0) & (sets < bitsets)).all()):
                    raise _refuse(
                        where, f"the boosting model's {name} splits on a category it does not know"
                    )
