"""Charter validation: every rule names the field and says what is allowed."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.charter import Constraint, DataFacts, parse_charter, problems_against_data
from app.domain.metrics import LATENCY_METRIC, METRICS, TaskType, metrics_for
from app.errors import ValidationFailed


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        parse_charter(data)
    return dict(info.value.problems)


def test_valid_charter_round_trips(charter_data: dict[str, Any]) -> None:
    charter = parse_charter(charter_data)
    assert charter.task is TaskType.BINARY
    assert charter.primary_text() == "f1 >= 0.65"
    assert [c.text() for c in charter.constraints] == ["recall >= 0.6", "latency_p95_ms <= 50"]
    assert parse_charter(charter.model_dump(mode="json")) == charter


def test_threshold_outside_metric_range(charter_data: dict[str, Any]) -> None:
    charter_data["threshold"] = 7
    problems = problems_of(charter_data)
    assert problems == {"threshold": "7 is outside the range of F1 [0, 1]"}


def test_metric_that_does_not_fit_task(charter_data: dict[str, Any]) -> None:
    charter_data["primary_metric"] = "rmse"
    problems = problems_of(charter_data)
    assert problems["primary_metric"].startswith("RMSE does not fit binary classification")
    assert "f1" in problems["primary_metric"]


def test_unknown_metric_lists_the_fitting_ones(charter_data: dict[str, Any]) -> None:
    charter_data["primary_metric"] = "f2"
    problems = problems_of(charter_data)
    expected = ", ".join(m.name for m in metrics_for(TaskType.BINARY))
    assert (
        problems["primary_metric"]
        == f"unknown metric 'f2'; for binary classification use one of {expected}"
    )


def test_latency_is_a_constraint_not_a_primary_metric(charter_data: dict[str, Any]) -> None:
    charter_data["primary_metric"] = LATENCY_METRIC
    assert "primary_metric" in problems_of(charter_data)


def test_missing_target_and_positive_class(charter_data: dict[str, Any]) -> None:
    del charter_data["target"]
    charter_data["positive_class"] = "  "
    problems = problems_of(charter_data)
    assert problems["target"] == "name the target column the model will predict"
    assert problems["positive_class"].startswith("binary classification needs the positive class")


def test_required_fields_and_unknown_fields() -> None:
    problems = problems_of({"objective": "x", "colour": "red"})
    assert problems["name"] == "is required"
    assert problems["task"] == "is required"
    assert problems["threshold"] == "is required"
    assert problems["colour"] == "is not a charter field (check the spelling)"
    assert problems["target"] == "name the target column the model will predict"
    assert "objective" not in problems


def test_positive_class_only_for_binary(charter_data: dict[str, Any]) -> None:
    charter_data.update(task="regression", primary_metric="mae", threshold=10, constraints=[])
    problems = problems_of(charter_data)
    assert problems == {
        "positive_class": "a positive class only applies to binary classification, not regression"
    }


def test_constraints_are_checked(charter_data: dict[str, Any]) -> None:
    charter_data["constraints"] = ["recall >= 1.5", "rmse <= 3", "foo >= 1", "recall >= 0.2"]
    problems = problems_of(charter_data)
    assert problems["constraints[0]"] == "1.5 is outside the range of Recall [0, 1]"
    assert problems["constraints[1]"] == "RMSE does not fit binary classification"
    assert problems["constraints[2]"].startswith("unknown metric 'foo'")
    assert problems["constraints[3]"] == "recall >= is given twice"


def test_constraint_text_forms() -> None:
    assert Constraint.model_validate("recall>=0.6").model_dump() == {
        "metric": "recall",
        "bound": ">=",
        "value": 0.6,
    }
    assert Constraint.model_validate(" latency_p95_ms <= 1e2 ").value == 100
    with pytest.raises(ValueError, match="write it as 'metric >= value'"):
        Constraint.model_validate("recall > 0.6")


def test_time_column_cannot_be_target(charter_data: dict[str, Any]) -> None:
    charter_data["time_column"] = "income"
    assert problems_of(charter_data) == {"time_column": "the time column cannot also be the target"}


def test_markup_and_unicode_text_is_kept_literally(charter_data: dict[str, Any]) -> None:
    charter_data["name"] = '[bold]Q3 "churn" — über'
    assert parse_charter(charter_data).name == '[bold]Q3 "churn" — über'


@given(
    metric=st.sampled_from(sorted(m for m in METRICS if m != LATENCY_METRIC)),
    value=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
def test_threshold_accepted_exactly_when_in_range(metric: str, value: float) -> None:
    spec = METRICS[metric]
    task = sorted(spec.tasks)[0]
    data = {
        "name": "p",
        "objective": "o",
        "task": task.value,
        "target": "y",
        "primary_metric": metric,
        "threshold": value,
    }
    if task is TaskType.BINARY:
        data["positive_class"] = "1"
    in_range = spec.lower <= value <= spec.upper
    try:
        parse_charter(data)
        accepted = True
    except ValidationFailed:
        accepted = False
    assert accepted == in_range


def test_metric_catalogue_ranges() -> None:
    assert METRICS["r2"].lower == -math.inf and METRICS["r2"].upper == 1
    assert METRICS["r2"].range_text() == "(-∞, 1]"
    assert METRICS["mae"].range_text() == "[0, ∞)"
    assert {m.name for m in metrics_for(TaskType.REGRESSION)} == {
        "mae",
        "rmse",
        "r2",
        "mape",
        "median_ae",
    }
    assert "pr_auc" not in {m.name for m in metrics_for(TaskType.MULTICLASS)}


def test_against_data_suggests_close_column(charter_data: dict[str, Any]) -> None:
    charter = parse_charter(charter_data | {"target": "incom"})
    facts = DataFacts(columns={"age": "BIGINT", "income": "VARCHAR"}, target_values=None)
    assert problems_against_data(charter, facts) == [
        ("target", "'incom' is not a column of the current dataset; did you mean 'income'?")
    ]


def test_against_data_checks_values_and_types(charter_data: dict[str, Any]) -> None:
    charter = parse_charter(charter_data)
    facts = DataFacts(columns={"income": "VARCHAR"}, target_values=[" <=50K", " >50K", "x"])
    problems = dict(problems_against_data(charter, facts))
    assert problems["positive_class"].startswith("'>50K' is not a value of 'income'")
    assert problems["task"] == "binary classification needs 2 classes; 'income' has 3"
    reg = parse_charter(
        charter_data
        | {
            "task": "regression",
            "primary_metric": "mae",
            "threshold": 1,
            "positive_class": None,
            "constraints": [],
        }
    )
    assert problems_against_data(reg, DataFacts(columns={"income": "VARCHAR"})) == [
        ("target", "regression needs a numeric target; 'income' is VARCHAR")
    ]
    assert problems_against_data(reg, DataFacts(columns={"income": "DECIMAL(10,2)"})) == []
