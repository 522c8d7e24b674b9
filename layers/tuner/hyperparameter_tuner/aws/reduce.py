"""The reducer step: record failed batches, pick the winner, close the run and publish the completion event."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..config import parse_config
from ..records import Experiment, ExperimentSpec, ExperimentStatus, Run, RunStatus, content_id, utcnow
from ..search import SampledCandidates
from .services import Services, _count

if TYPE_CHECKING:
    from .tuner import StepFunctionsTuner

__all__ = ["COMPLETION_DETAIL_TYPE", "COMPLETION_SOURCE", "ReduceResult", "iter_batch_failures", "reduce_run"]

COMPLETION_SOURCE = "hyperparameter-tuner"
COMPLETION_DETAIL_TYPE = "Tuning Run Completed"


class ReduceResult(BaseModel):
    """The closed run's summary (the reducer's reply and the ``Tuning Run Completed`` event's detail).

    ``winner``, ``value`` and ``model_uri`` are ``None`` unless the run SUCCEEDED: a FAILED run has no winner
    (its ``reason`` says why, and names the best candidate when one scored).
    """

    run_id: str
    status: str
    winner: str | None = None
    perf_metric: str
    value: float | None = None
    model_uri: str | None = None
    reason: str | None = None


def iter_batch_failures(services: Services, run_id: str) -> Iterator[dict[str, Any]]:
    """Yield the ``BATCHFAIL#`` items the state machine's Catch wrote for a run (paginated Query)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    paginator = services.dynamodb.get_paginator("query")
    for page in paginator.paginate(
        TableName=services.settings.table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":prefix": {"S": "BATCHFAIL#"}},
    ):
        for item in page.get("Items", []):
            yield {key: deserializer.deserialize(value) for key, value in item.items()}


def _record_batch_failures(services: Services, tuner: StepFunctionsTuner, run: Run) -> None:
    from .fan_out import BatchItem

    metadata = tuner.metadata_tracker
    grid = tuner.config.grid()
    for failure in iter_batch_failures(services, run.run_id):
        cause = _describe_failure(failure)
        # The item as the Map read it (with halving, its rung and candidates); a record written before the state
        # machine kept the item has its fields only.
        item = BatchItem.model_validate(json.loads(failure["item"]) if "item" in failure else failure)
        error = f"trainer batch {failure['batch']} failed: {cause}"
        if isinstance(grid, SampledCandidates):
            specs = _unsampled_specs(grid, run, item)
            error += "; its candidates are drawn in the trainer, so their parameters are unknown here"
        else:
            specs = item.specs(tuner, run)
        for spec in specs:
            if metadata.get_experiment(run.run_id, spec.experiment_id) is None:
                metadata.put_experiment(Experiment.from_spec(
                    spec, run.run_id, status=ExperimentStatus.FAILED, error_type="BatchFailed", error=error,
                    finished_at=utcnow(), final=True,
                ))


def _unsampled_specs(grid: SampledCandidates, run: Run, item: Any) -> list[ExperimentSpec]:
    """Stand-ins for a lost batch of drawn candidates: drawing needs scipy, which this light step does not carry.
    Each names its trainer and position, with empty params and an id of its own (never reused: it is FAILED)."""
    candidates = item.candidates if item.candidates is not None else list(range(item.start, item.stop))
    return [ExperimentSpec(experiment_id=content_id("lost", run.run_id, item.rung, candidate),
                           index=item.start + offset if item.rung is not None else candidate,
                           algo=grid.trainer_of(candidate), params={}, data_fingerprint=run.data_fingerprint,
                           rung=item.rung, n_resources=item.n_resources,
                           candidate=candidate if item.rung is not None else None)
            for offset, candidate in enumerate(candidates)]


def _describe_failure(failure: dict[str, Any]) -> str:
    error = str(failure.get("error") or "States.TaskFailed")
    cause = str(failure.get("cause") or "")
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = f"{parsed.get('errorType', '')}: {parsed['errorMessage']}".strip(": ")
    except ValueError:
        pass
    return f"{error} ({' '.join(cause.split())[:300]})" if cause else error


def reduce_run(run_id: str, services: Services) -> ReduceResult:
    """Record failed batches, pick the winner, close the run and publish the completion event.

    Idempotent: a run already closed is summarised again without new writes or a second event.
    """
    metadata = services.metadata()
    run = metadata.get_run(run_id)
    if run.status not in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        tuner = services.tuner(parse_config(run.config, f"run {run_id} config"))
        _record_batch_failures(services, tuner, run)
        run = tuner.finish_run(run_id)
        _publish(services, run, metadata)
        _count(services, f"Runs{run.status.value.title()}")
    else:
        _count(services, "ReductionsRepeated")  # a retried reducer: nothing written, nothing published
    return _summary(run, metadata)


def _summary(run: Run, metadata: Any) -> ReduceResult:
    value = model_uri = winner_id = None
    if run.status is RunStatus.SUCCEEDED and run.winner is not None:
        winner_id = run.winner
        winner = metadata.get_experiment(run.run_id, run.winner)
        if winner is not None:
            value = winner.metrics.get(run.perf_metric)
            model_uri = winner.artifact.uri if winner.artifact else None
    if value is not None and not math.isfinite(value):
        value = None  # the event is strict JSON: no NaN
    return ReduceResult(run_id=run.run_id, status=run.status.value, winner=winner_id, perf_metric=run.perf_metric,
                        value=value, model_uri=model_uri, reason=run.reason)


def _publish(services: Services, run: Run, metadata: Any) -> None:
    detail = _summary(run, metadata).model_dump(mode="json")
    services.events.put_events(Entries=[{
        "Source": COMPLETION_SOURCE, "DetailType": COMPLETION_DETAIL_TYPE,
        "Detail": json.dumps(detail, allow_nan=False),
        "EventBusName": services.settings.event_bus_name,
    }])

