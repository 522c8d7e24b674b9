"""The trainer Lambda under its limits: ``experiment_timeout`` and the invocation's own remaining time.

An experiment over ``experiment_timeout`` is its own failure (a FAILED record, the batch goes on); running out of
the invocation's time is not: the batch fails with ``TimeBudgetError`` (retried by the state machine), records
only what finished, and a retry continues from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from _trainers import register
from test_handlers import (  # noqa: F401 - fixtures of the handler tests
    CONFIG,
    LoadEvent,
    LoadHandler,
    aws,
    experiments,
    iris_upload,
    load_handler,
    upload,
)

from hyperparameter_tuner.aws.workflow import BatchItem, TimeBudgetError
from hyperparameter_tuner.records import ExperimentStatus


@pytest.fixture(autouse=True)
def _registered() -> None:
    register()


def _start(load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any,  # noqa: F811
           training_params: dict[str, Any], **options: Any) -> str:
    config = {**CONFIG, "training_params": training_params, "max_concurrency": 1, **options}
    started: dict[str, Any] = load_handler("fan_out").lambda_handler(iris_upload(config), lambda_context)
    assert started["status"] == "STARTED", started
    return str(started["run_id"])


def test_an_experiment_over_experiment_timeout_is_failed_and_the_batch_goes_on(
    aws: Any, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]],  # noqa: F811
    load_event: LoadEvent, lambda_context: Any,
) -> None:
    # Given a batch whose first experiment would fit for an hour, with a 10 s experiment_timeout (far above the
    # LogisticRegression fit, even on a loaded machine)
    run_id = _start(load_handler, iris_upload, lambda_context,
                    {"Sleeper": {"tag": [1]}, "LogisticRegression": {"C": [1.0]}}, experiment_timeout=10)
    event = {**load_event("trainer_batch"), "run_id": run_id, "start": 0, "stop": 2}

    # When
    result = load_handler("trainer").lambda_handler(event, lambda_context)

    # Then
    assert (result["succeeded"], result["failed"]) == (1, 1)
    sleeper, logistic = experiments(aws, run_id)
    assert sleeper.status is ExperimentStatus.FAILED
    assert sleeper.error == "timed out after 10 s (experiment_timeout)"
    assert logistic.status is ExperimentStatus.SUCCEEDED


def test_out_of_invocation_time_fails_the_batch_without_blaming_an_experiment(
    aws: Any, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]],  # noqa: F811
    lambda_context: Any,
) -> None:
    # Given a batch whose only experiment would fit for an hour, and one second of invocation time left
    run_id = _start(load_handler, iris_upload, lambda_context, {"Sleeper": {"tag": [1]}})
    trainer = load_handler("trainer")
    item = BatchItem(run_id=run_id, batch=0, start=0, stop=1)

    # When / Then: the batch fails for the state machine to retry, and no record blames the experiment
    with pytest.raises(TimeBudgetError, match="time ran out during experiment"):
        trainer.train_batch(item, trainer.services, deadline=time.monotonic() + 1)
    assert experiments(aws, run_id) == []


def test_a_retry_continues_where_the_invocation_ran_out_of_time(
    aws: Any, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]],  # noqa: F811
    lambda_context: Any,
) -> None:
    # Given a batch that started after its invocation's time was already up
    run_id = _start(load_handler, iris_upload, lambda_context, {"LogisticRegression": {"C": [0.1, 1.0]}})
    trainer = load_handler("trainer")
    item = BatchItem(run_id=run_id, batch=0, start=0, stop=2)
    with pytest.raises(TimeBudgetError, match="2 experiments left"):
        trainer.train_batch(item, trainer.services, deadline=time.monotonic() - 1)

    # When the state machine retries it with time to spare
    result = trainer.train_batch(item, trainer.services)

    # Then it trains both
    assert (result.succeeded, result.failed) == (2, 0)
    assert [e.status for e in experiments(aws, run_id)] == [ExperimentStatus.SUCCEEDED] * 2
