"""Loading a model file checks the trees' node arrays, not only the types they are made of.

scikit-learn walks a tree's nodes without bounds checks, so a model file edited to point a
split outside its tree, at a feature the model does not have, or at an unknown category
bitset must be refused when it is loaded, before any prediction reads outside the model.
Each case edits one node of a fitted model, saves it with skops, and loads it again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.tree import DecisionTreeRegressor

from app.runtime.errors import MlwbError
from app.runtime.safe_load import load_skops


def _data(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "c": rng.choice(["a", "b", "c", "d"], n),
        }
    )
    y = ((X["x1"] + (X["c"] == "b") + rng.normal(0, 0.3, n)) > 0.5).astype(int).to_numpy()
    return X, y


def boosting() -> Pipeline:
    """A pipeline like mlwb's histogram boosting: ordinal codes, categorical splits."""
    X, y = _data()
    prep = ColumnTransformer(
        [
            ("num", "passthrough", ["x1", "x2"]),
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                ["c"],
            ),
        ]
    )
    model = HistGradientBoostingClassifier(
        max_iter=5, categorical_features=[False, False, True], random_state=0
    )
    return Pipeline([("prep", prep), ("model", model)]).fit(X, y)


def _split(nodes: np.ndarray, categorical: bool | None = None) -> int:
    """The first split node (on a category when ``categorical`` says so)."""
    split = nodes["is_leaf"] == 0
    if categorical is not None:
        split &= (nodes["is_categorical"] != 0) == categorical
    return int(np.flatnonzero(split)[0])


def _tree_with_category_split(pipeline: Pipeline) -> Any:
    for iteration in pipeline[-1]._predictors:
        for predictor in iteration:
            if ((predictor.nodes["is_leaf"] == 0) & (predictor.nodes["is_categorical"] != 0)).any():
                return predictor
    raise AssertionError("no categorical split in the fitted model")


def test_a_sound_boosting_model_loads_and_predicts_the_same() -> None:
    pipeline = boosting()
    X, _ = _data(50)
    loaded = load_skops(sio.dumps(pipeline), "model.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipeline.predict_proba(X))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("left", lambda i: 10**6), "points outside it"),
        (("right", lambda i: i), "points outside it"),  # a loop
        (("left", lambda i: 0), "points outside it"),  # back to the root
        (("feature_idx", lambda i: 3), "points outside it"),
    ],
    ids=["child beyond the tree", "child is itself", "child before it", "no such feature"],
)
def test_a_boosting_node_pointing_outside_is_refused(edit: Any, message: str) -> None:
    pipeline = boosting()
    predictor = pipeline[-1]._predictors[1][0]
    node = _split(predictor.nodes)
    field, value = edit
    predictor.nodes[field][node] = value(node)
    with pytest.raises(MlwbError, match=f"tree 0 of iteration 1: node {node} {message}") as info:
        load_skops(sio.dumps(pipeline), "model.skops")
    assert "refusing to load model.skops" in str(info.value)


def test_a_category_split_on_an_unknown_bitset_or_a_numeric_feature_is_refused() -> None:
    pipeline = boosting()
    predictor = _tree_with_category_split(pipeline)
    node = _split(predictor.nodes, categorical=True)
    predictor.nodes["bitset_idx"][node] = 500
    with pytest.raises(MlwbError, match="splits on a category it does not know"):
        load_skops(sio.dumps(pipeline), "model.skops")
    pipeline = boosting()
    predictor = _tree_with_category_split(pipeline)
    node = _split(predictor.nodes, categorical=True)
    # The model's own encoder puts the category first: feature 2 is x2, a number.
    assert not pipeline[-1]._bin_mapper.is_categorical_[2]
    predictor.nodes["feature_idx"][node] = 2
    with pytest.raises(MlwbError, match="splits on a category it does not know"):
        load_skops(sio.dumps(pipeline), "model.skops")


def _edited(tree: Any, field: str, node: int, value: int) -> None:
    state = tree.__getstate__()
    state["nodes"][field][node] = value
    tree.__setstate__(state)


def test_decision_trees_and_forests_are_checked_too() -> None:
    X, y = _data()
    numbers = X[["x1", "x2"]].to_numpy()
    forest = RandomForestClassifier(n_estimators=3, max_depth=4, random_state=0).fit(numbers, y)
    loaded = load_skops(sio.dumps(forest), "forest.skops")
    np.testing.assert_array_equal(loaded.predict_proba(numbers), forest.predict_proba(numbers))
    _edited(forest.estimators_[2].tree_, "left_child", 0, 10**6)
    with pytest.raises(MlwbError, match="a decision tree's node 0 points outside the tree"):
        load_skops(sio.dumps(forest), "forest.skops")
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(numbers, y)
    _edited(tree.tree_, "feature", 0, 7)
    with pytest.raises(MlwbError, match="points outside the tree"):
        load_skops(sio.dumps(tree), "tree.skops")
