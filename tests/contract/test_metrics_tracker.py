"""The MetricsTracker contract (``hyperparameter_tuner.ports.MetricsTracker``), run on every adapter."""

from __future__ import annotations

import math
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from hyperparameter_tuner.aws.dynamodb import DynamoDBMetricsTracker
from hyperparameter_tuner.errors import StoreError
from hyperparameter_tuner.ports import MetricsTracker


def test_logged_metrics_round_trip_per_split(metrics_tracker: MetricsTracker) -> None:
    metrics_tracker.log_metrics("run-1", "exp-1", "validation", {"accuracy": 0.875, "f1_macro": 0.8125})
    metrics_tracker.log_metrics("run-1", "exp-1", "test", {"accuracy": 1.0, "neg_mean_squared_error": -2.5})

    assert metrics_tracker.get_metrics("run-1", "exp-1") == {
        "validation": {"accuracy": 0.875, "f1_macro": 0.8125},
        "test": {"accuracy": 1.0, "neg_mean_squared_error": -2.5},
    }


def test_cv_splits_round_trip_next_to_the_others(metrics_tracker: MetricsTracker) -> None:
    # "cv" is a prefix of "cv_std": each split keeps its own values on every adapter
    metrics_tracker.log_metrics("run-1", "exp-1", "cv", {"accuracy": 0.9, "f1_macro": 0.85})
    metrics_tracker.log_metrics("run-1", "exp-1", "cv_std", {"accuracy": 0.01, "f1_macro": 0.02})
    metrics_tracker.log_metrics("run-1", "exp-1", "test", {"accuracy": 1.0, "f1_macro": 1.0})
    metrics_tracker.log_metrics("run-1", "exp-1", "cv", {"accuracy": 0.95, "f1_macro": 0.9})  # a retry

    assert metrics_tracker.get_metrics("run-1", "exp-1") == {
        "cv": {"accuracy": 0.95, "f1_macro": 0.9},
        "cv_std": {"accuracy": 0.01, "f1_macro": 0.02},
        "test": {"accuracy": 1.0, "f1_macro": 1.0},
    }


def test_non_finite_values_round_trip(metrics_tracker: MetricsTracker) -> None:
    metrics_tracker.log_metrics("run-1", "exp-1", "test", {"r2": float("nan"), "hi": math.inf, "lo": -math.inf,
                                                           "ok": 0.5})

    stored = metrics_tracker.get_metrics("run-1", "exp-1")

    assert set(stored) == {"test"}
    assert set(stored["test"]) == {"r2", "hi", "lo", "ok"}
    assert math.isnan(stored["test"]["r2"])
    assert stored["test"]["hi"] == math.inf
    assert stored["test"]["lo"] == -math.inf
    assert stored["test"]["ok"] == 0.5


def test_logging_a_split_again_replaces_its_values(metrics_tracker: MetricsTracker) -> None:
    # Given logged values of two splits
    metrics_tracker.log_metrics("run-1", "exp-1", "test", {"accuracy": 0.5, "f1_macro": 0.25})
    metrics_tracker.log_metrics("run-1", "exp-1", "validation", {"accuracy": 0.125})

    # When one split is logged again (a retry) with new values
    metrics_tracker.log_metrics("run-1", "exp-1", "test", {"accuracy": 0.75, "f1_macro": float("nan")})

    # Then that split holds the new values and the other split is untouched
    stored = metrics_tracker.get_metrics("run-1", "exp-1")
    assert stored["test"]["accuracy"] == 0.75
    assert math.isnan(stored["test"]["f1_macro"])
    assert set(stored["test"]) == {"accuracy", "f1_macro"}
    assert stored["validation"] == {"accuracy": 0.125}


def test_metrics_are_kept_per_run_and_experiment(metrics_tracker: MetricsTracker) -> None:
    metrics_tracker.log_metrics("run-1", "exp-1", "test", {"accuracy": 0.5})
    metrics_tracker.log_metrics("run-1", "exp-10", "test", {"accuracy": 0.75})  # shares exp-1's key prefix
    metrics_tracker.log_metrics("run-2", "exp-1", "test", {"accuracy": 1.0})

    assert metrics_tracker.get_metrics("run-1", "exp-1") == {"test": {"accuracy": 0.5}}
    assert metrics_tracker.get_metrics("run-1", "exp-10") == {"test": {"accuracy": 0.75}}
    assert metrics_tracker.get_metrics("run-2", "exp-1") == {"test": {"accuracy": 1.0}}


def test_get_metrics_is_empty_when_nothing_was_logged(metrics_tracker: MetricsTracker) -> None:
    metrics_tracker.log_metrics("run-1", "exp-1", "test", {"accuracy": 0.5})

    assert metrics_tracker.get_metrics("run-1", "exp-2") == {}
    assert metrics_tracker.get_metrics("run-9", "exp-1") == {}


def test_a_garbled_metric_raises_store_error_naming_the_record(metrics_tracker: MetricsTracker,
                                                              metrics_faults: Any) -> None:
    # Given a logged split whose stored value was garbled
    metrics_tracker.log_metrics("run-1", "exp-1", "validation", {"accuracy": 0.9})
    metrics_faults("run-1", "exp-1", "validation")

    # Then reading it says the store is corrupt: never a wrong or non-float value
    with pytest.raises(StoreError, match="corrupt metrics .*exp-1"):
        metrics_tracker.get_metrics("run-1", "exp-1")


# DynamoDB only: the optional CloudWatch (EMF) side channel ----------------------------------------------------


def test_dynamodb_tracker_adds_finite_values_to_injected_powertools_metrics(dynamodb_table: str) -> None:
    import boto3

    sink = Metrics(namespace="HyperparameterTunerTest", service="contract")
    tracker = DynamoDBMetricsTracker(dynamodb_table, client=boto3.client("dynamodb"), metrics=sink)
    try:
        tracker.log_metrics("run-1", "exp-1", "validation", {"accuracy": 0.875, "r2": float("nan")})

        emf: dict[str, Any] = dict(sink.serialize_metric_set())
    finally:
        sink.clear_metrics()

    definitions = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert [d["Name"] for d in definitions] == ["validation_accuracy"]
    assert definitions[0]["Unit"] == "None"
    assert emf["validation_accuracy"] in (0.875, [0.875])
    assert tracker.get_metrics("run-1", "exp-1")["validation"]["accuracy"] == 0.875
