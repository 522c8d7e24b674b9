"""The AWS workflow's three steps as domain functions: fan out, train a batch, reduce.

Handlers parse their event and call one of these with a :class:`Services` built once at cold start. Nothing
large travels through Step Functions: the fan-out writes the manifest (index ranges into the grid) to S3 and
passes its key; trainers rebuild every experiment from its grid index.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, TypeAdapter

from .._workers import WorkerPool, can_fork
from ..config import TuningConfig, load_config_text, parse_config
from ..data import DEFAULT_MAX_DATA_BYTES, SplitData, load_split
from ..errors import ConfigError, DataError, NotFoundError, TunerError
from ..records import Experiment, ExperimentStatus, Run, RunStatus, content_id, utcnow
from ._common import error_code, parse_s3_uri
from .events import (
    CONFIG_NAMES,
    DATASETS_PREFIX,
    ENDED_WITHOUT_SUCCESS,
    ExecutionEnded,
    RunRequest,
    dataset_of,
    execution_failure_reason,
)
from .s3data import fetch_split, latest_split, read_text, split_identity, split_objects
from .settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

    from .tuner import StepFunctionsTuner

__all__ = [
    "COMPLETION_DETAIL_TYPE",
    "COMPLETION_SOURCE",
    "BatchItem",
    "BatchResult",
    "FanOutResult",
    "ReduceResult",
    "Services",
    "TimeBudgetError",
    "close_ended_run",
    "fan_out",
    "iter_batch_failures",
    "reject_event",
    "plan_batches",
    "reduce_run",
    "train_batch",
]

MAX_BATCH = 100
COMPLETION_SOURCE = "hyperparameter-tuner"
COMPLETION_DETAIL_TYPE = "Tuning Run Completed"


class TimeBudgetError(TunerError):
    """A trainer invocation ran out of time before its batch was done (not an experiment's failure)."""


class Services:
    """Settings, AWS clients and caches shared by the warm invocations of one Lambda container.

    Clients are injected (tests, the emulator) or created on first use, so an invocation pays only for the
    clients its path needs and a cold start imports no more than the handler module.
    """

    def __init__(self, settings: Settings, s3: S3Client | None = None, dynamodb: DynamoDBClient | None = None,
                 sfn: SFNClient | None = None, events: EventBridgeClient | None = None,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._clients: dict[str, Any] = {"s3": s3, "dynamodb": dynamodb, "stepfunctions": sfn, "events": events}
        self._clients_lock = threading.Lock()
        self._data: dict[str, SplitData] = {}
        self._data_lock = threading.Lock()

    @classmethod
    def create(cls, settings: Settings, metrics: Metrics | None = None) -> Services:
        """Services for a handler (call once, at module level); clients are created when first used."""
        return cls(settings, metrics=metrics)

    def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            with self._clients_lock:  # boto3's default session is not thread-safe
                client = self._clients.get(service)
                if client is None:
                    import boto3

                    client = self._clients[service] = boto3.client(service)  # type: ignore[call-overload]
        return client

    @property
    def s3(self) -> S3Client:
        """The S3 client."""
        client: S3Client = self._client("s3")
        return client

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client."""
        client: DynamoDBClient = self._client("dynamodb")
        return client

    @property
    def sfn(self) -> SFNClient:
        """The Step Functions client."""
        client: SFNClient = self._client("stepfunctions")
        return client

    @property
    def events(self) -> EventBridgeClient:
        """The EventBridge client."""
        client: EventBridgeClient = self._client("events")
        return client

    def tuner(self, config: TuningConfig) -> StepFunctionsTuner:
        """A tuner on this deployment's table and bucket, for ``config``."""
        from .tuner import StackResources, StepFunctionsTuner

        resources = StackResources(bucket=self.settings.bucket_name, table=self.settings.table_name,
                                   state_machine_arn=self.settings.state_machine_arn)
        return StepFunctionsTuner(config=config, resources=resources, s3=self.s3, dynamodb=self.dynamodb,
                                  metrics_sink=self.metrics, max_experiments=self.settings.max_experiments)

    def metadata(self) -> Any:
        """The run/experiment tracker on this deployment's table."""
        from .dynamodb import DynamoDBMetadataTracker

        return DynamoDBMetadataTracker(self.settings.table_name, client=self.dynamodb)

    def load_data(self, run: Run, target: str, max_data_bytes: int | None = DEFAULT_MAX_DATA_BYTES) -> SplitData:
        """Load a run's split, cached in memory and in ``/tmp`` across warm invocations, checked against the
        fingerprint the fan-out recorded (and against the config's ``max_data_bytes``)."""
        with self._data_lock:  # one download per container, even when invocations share it (the emulator)
            return self._load_data(run, target, max_data_bytes)

    def _load_data(self, run: Run, target: str, max_data_bytes: int | None) -> SplitData:
        cached = self._data.get(run.data_fingerprint)
        if cached is not None:
            return cached
        dest = Path(self.settings.data_cache_dir) / run.data_fingerprint
        bucket, data_key = parse_s3_uri(run.data_uri)
        fetched = fetch_split(self.s3, bucket, data_key, dest, versions=run.data_versions, target=target,
                              max_data_bytes=max_data_bytes)
        if fetched.fingerprint != run.data_fingerprint:
            shutil.rmtree(dest, ignore_errors=True)
            raise DataError(f"{run.data_uri}: the data changed since the run started (fingerprint mismatch)")
        split = load_split(fetched.path, target, max_data_bytes)
        split.source, split.fingerprint = run.data_uri, run.data_fingerprint
        self._data.clear()  # one split per container is plenty; don't grow /tmp-backed memory without bound
        self._data[run.data_fingerprint] = split
        return split


# -- fan-out ---------------------------------------------------------------------------------------------------


class FanOutResult(BaseModel):
    """What the fan-out did: ``STARTED`` a run, found a ``DUPLICATE``, recorded a ``FAILED`` run for bad input,
    ``REJECTED`` an event that names no run; for an execution that ended: ``CLOSED`` its run as FAILED, found it
    already closed (``DUPLICATE``), or ``IGNORED`` an execution that is no run's own."""

    status: Literal["STARTED", "DUPLICATE", "FAILED", "REJECTED", "CLOSED", "IGNORED"]
    run_id: str | None = None
    execution_arn: str | None = None
    total: int | None = None
    batches: int | None = None
    reason: str | None = None


class BatchItem(BaseModel):
    """One manifest item: experiments ``[start, stop)`` of a run's grid."""

    run_id: str
    batch: int
    start: int
    stop: int


def plan_batches(total: int, config: TuningConfig) -> list[tuple[int, int]]:
    """Split ``total`` experiments into ``[start, stop)`` ranges.

    ``batch_size`` from the config, else the grid spread evenly over ``max_concurrency`` batches with at most
    ``MAX_BATCH`` experiments each, so many fast fits share one invocation.

    Examples
    --------
    >>> from hyperparameter_tuner.config import parse_config
    >>> cfg = parse_config({"training_params": {"Ridge": {"alpha": [1, 2, 3]}}, "metrics": ["r2"],
    ...                     "perf_metric": "r2", "max_concurrency": 2})
    >>> plan_batches(3, cfg)
    [(0, 2), (2, 3)]
    """
    size = config.batch_size or max(1, min(MAX_BATCH, math.ceil(total / config.max_concurrency)))
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def _find_config(services: Services, bucket: str, dataset: str) -> tuple[str, str]:
    for name in CONFIG_NAMES:
        key = f"{DATASETS_PREFIX}{dataset}/{name}"
        text = read_text(services.s3, bucket, key)
        if text is not None:
            return key, text
    raise ConfigError(f"s3://{bucket}/{DATASETS_PREFIX}{dataset}/: no {' or '.join(CONFIG_NAMES)} for this dataset")


def _failed_run(run_id: str, data_uri: str, reason: str, config: TuningConfig | None) -> Run:
    return Run(
        run_id=run_id, name=config.name if config else None, status=RunStatus.FAILED,
        config=config.model_dump(mode="json") if config else {}, perf_metric=config.perf_metric if config else "",
        direction=config.resolved_direction if config else "", data_uri=data_uri, data_fingerprint="", total=0,
        reason=reason, input_error=True, finished_at=utcnow(),
    )


def _count(services: Services, name: str, value: float = 1) -> None:
    """Emit one CloudWatch metric (EMF) when the handler gave us a Powertools ``Metrics``."""
    if services.metrics is not None:
        from aws_lambda_powertools.metrics import MetricUnit

        services.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def fan_out(request: RunRequest | ExecutionEnded, services: Services) -> FanOutResult:
    """Validate the config and the split, write the manifest, record the run and start its execution.

    For an :class:`~hyperparameter_tuner.aws.events.ExecutionEnded` event instead: close the run of an execution
    that ended FAILED, TIMED_OUT or ABORTED while the run is still open (see :func:`close_ended_run`).

    One split yields one run: the run id is derived from the split's key, the version id and ETag of each of its
    objects (the ``.npz``, or every CSV file of a folder) and the config's bytes, and it names the execution, so a
    duplicate event starts nothing new and a split rewritten in place is a new run. Bad input (config or data) is
    recorded as a FAILED run with the reason, and no execution starts. Emits ``Runs<Status>`` (e.g. ``RunsStarted``).
    """
    result = close_ended_run(request, services) if isinstance(request, ExecutionEnded) else _fan_out(request, services)
    _count(services, f"Runs{result.status.title()}")
    return result


def close_ended_run(event: ExecutionEnded, services: Services) -> FanOutResult:
    """Close the run of an execution that ended without closing it: FAILED, with the execution's status, error
    and cause as the reason, no winner, and the completion event published.

    Only a run's own execution counts (this state machine, named after an existing run, the ARN the run records);
    the write is conditional on the run being open, so a run the reducer or the state machine's ``Catch`` closed
    is left as it is (``DUPLICATE``). Idempotent.
    """
    from botocore.exceptions import ClientError

    arn = services.settings.state_machine_arn
    run_id = event.name
    if event.status not in ENDED_WITHOUT_SUCCESS:
        return FanOutResult(status="IGNORED", run_id=run_id, reason=f"execution {event.status}")
    if arn is None or event.execution_arn != f"{arn.replace(':stateMachine:', ':execution:')}:{run_id}":
        return FanOutResult(status="IGNORED", execution_arn=event.execution_arn,
                            reason="not a run's execution of this state machine")
    metadata = services.metadata()
    try:
        run: Run = metadata.get_run(run_id)
    except NotFoundError:
        return FanOutResult(status="IGNORED", run_id=run_id, reason=f"no run {run_id!r}")
    reason = execution_failure_reason(event.model_dump())
    try:
        services.dynamodb.update_item(
            TableName=services.settings.table_name,
            Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}},
            UpdateExpression="SET #status = :failed, #reason = :reason, #finished = :now REMOVE #winner",
            ConditionExpression="#status IN (:pending, :running) AND (attribute_not_exists(#arn) OR #arn = :arn)",
            ExpressionAttributeNames={"#status": "status", "#reason": "reason", "#finished": "finished_at",
                                      "#winner": "winner", "#arn": "execution_arn"},
            ExpressionAttributeValues={
                ":failed": {"S": RunStatus.FAILED.value}, ":reason": {"S": reason},
                ":now": {"S": TypeAdapter(datetime).dump_python(utcnow(), mode="json")},
                ":pending": {"S": RunStatus.PENDING.value}, ":running": {"S": RunStatus.RUNNING.value},
                ":arn": {"S": event.execution_arn},
            },
        )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        run = metadata.get_run(run_id)
        return FanOutResult(status="DUPLICATE", run_id=run_id, execution_arn=run.execution_arn,
                            reason=f"run is {run.status.value}")
    run = metadata.get_run(run_id)
    _publish(services, run, metadata)
    return FanOutResult(status="CLOSED", run_id=run_id, execution_arn=event.execution_arn, total=run.total,
                        batches=run.batches, reason=reason)


def _fan_out(request: RunRequest, services: Services) -> FanOutResult:
    settings = services.settings
    bucket = request.bucket or settings.bucket_name
    if bucket != settings.bucket_name:
        reason = f"event for bucket {bucket!r}, not {settings.bucket_name!r}"
        return _reject(request.model_dump(mode="json"), reason, services)
    data_key, version = request.data_key, request.data_version
    if data_key is None:
        assert request.dataset is not None, "a schedule names its dataset"
        try:
            data_key, version = latest_split(services.s3, bucket, request.dataset)
        except NotFoundError as exc:
            return _reject(request.model_dump(mode="json"), str(exc), services)
    data_uri = f"s3://{bucket}/{data_key}"
    # The run id covers the split's objects as stored (each one's version id and ETag: a CSV file rewritten in
    # place is a new run, whatever triggered) and the config's bytes: a duplicate delivery maps to the same run.
    # The objects are then read pinned to exactly those versions and ETags.
    objects = split_objects(services.s3, bucket, data_key, version=version)
    identity = split_identity(objects)
    config_key = request.config_key
    try:
        if config_key is None:
            config_key, config_text = _find_config(services, bucket, request.dataset or dataset_of(data_key))
        else:
            text = read_text(services.s3, bucket, config_key)
            if text is None:
                raise ConfigError(f"s3://{bucket}/{config_key}: no such config object")
            config_text = text
    except ConfigError as exc:
        run_id = content_id("run", bucket, data_key, identity, None)
        return _record_input_failure(services, run_id, data_uri, str(exc), None)
    config_digest = hashlib.sha256(config_text.encode()).hexdigest()
    run_id = content_id("run", bucket, data_key, identity, config_digest)
    metadata = services.metadata()
    try:
        existing: Run | None = metadata.get_run(run_id)
    except NotFoundError:
        existing = None
    if existing is not None and (existing.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
                                 or existing.execution_arn is not None):
        return FanOutResult(status="DUPLICATE", run_id=run_id, execution_arn=existing.execution_arn,
                            total=existing.total, batches=existing.batches, reason=f"run is {existing.status.value}")
    config: TuningConfig | None = None
    try:
        config = load_config_text(config_text, f"s3://{bucket}/{config_key}")
        tuner = services.tuner(config)
        dest = Path(settings.data_cache_dir) / f"fan-out-{run_id}"
        try:
            fetched = fetch_split(services.s3, bucket, data_key, dest, version=version, target=config.target,
                                  versions={obj.key: obj.version for obj in objects if obj.version},
                                  etags={obj.key: obj.etag for obj in objects},
                                  max_data_bytes=config.max_data_bytes)
        finally:
            shutil.rmtree(dest, ignore_errors=True)
        config.check_labels(fetched.labels, data_uri)  # what the local path checks, from the labels' summaries
    except (ConfigError, DataError) as exc:
        return _record_input_failure(services, run_id, data_uri, str(exc), config)
    total = len(config.grid())
    ranges = plan_batches(total, config)
    manifest_key = f"runs/{run_id}/manifest.json"
    manifest = [BatchItem(run_id=run_id, batch=i, start=a, stop=b).model_dump() for i, (a, b) in enumerate(ranges)]
    services.s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode(),
                           ContentType="application/json")
    run = tuner.new_run(run_id, data_uri, fetched.fingerprint, status=RunStatus.RUNNING,
                        data_versions=fetched.versions, batches=len(ranges))
    metadata.create_run(run)
    concurrency = config.max_concurrency
    if settings.trainer_concurrency:
        concurrency = min(concurrency, settings.trainer_concurrency)
    execution_arn = _start_execution(services, run_id, {
        "run_id": run_id, "bucket": bucket, "manifest_key": manifest_key, "max_concurrency": concurrency,
    })
    metadata.update_run(run_id, execution_arn=execution_arn)
    _count(services, "ExperimentsPlanned", total)
    return FanOutResult(status="STARTED", run_id=run_id, execution_arn=execution_arn, total=total,
                        batches=len(ranges))


def reject_event(event: Any, reason: str, services: Services) -> FanOutResult:
    """Record an event that names no valid run as a FAILED run (id derived from the event), start nothing."""
    _count(services, "RunsRejected")
    return _reject(event, reason, services)


def _reject(event: Any, reason: str, services: Services) -> FanOutResult:
    run_id = content_id("rejected-event", event, reason)
    return _record_input_failure(services, run_id, "", f"rejected event: {reason}", None).model_copy(
        update={"status": "REJECTED"}
    )


def _record_input_failure(services: Services, run_id: str, data_uri: str, reason: str,
                          config: TuningConfig | None) -> FanOutResult:
    services.metadata().create_run(_failed_run(run_id, data_uri, reason, config))
    return FanOutResult(status="FAILED", run_id=run_id, reason=reason)


def _start_execution(services: Services, run_id: str, payload: dict[str, Any]) -> str:
    from botocore.exceptions import ClientError

    assert services.settings.state_machine_arn, "the fan-out has a state machine"
    arn = services.settings.state_machine_arn
    try:
        return services.sfn.start_execution(stateMachineArn=arn, name=run_id, input=json.dumps(payload))[
            "executionArn"
        ]
    except ClientError as exc:
        if error_code(exc) != "ExecutionAlreadyExists":
            raise
    # Same name: the execution of this very run already exists (an earlier delivery started it).
    return arn.replace(":stateMachine:", ":execution:") + f":{run_id}"


# -- trainer ---------------------------------------------------------------------------------------------------


class BatchResult(BaseModel):
    """Counts for one batch (small: it goes back to Step Functions and is discarded)."""

    run_id: str
    batch: int
    succeeded: int = 0
    failed: int = 0
    reused: int = 0
    skipped: int = 0
    """Experiments not looked at because the run had already closed (a late retry)."""


def train_batch(item: BatchItem, services: Services, deadline: float | None = None) -> BatchResult:
    """Run experiments ``[start, stop)`` of a run: build and save each model, write each record.

    Experiments already finished in this run (a retried invocation) or SUCCEEDED in an earlier run on the same
    data, whose model version is still in the bucket intact, are not trained again. Fits run in a forked worker,
    stopped after ``experiment_timeout`` (a FAILED record, "timed out after N s"). A failing fit is a FAILED
    record, not an error. A failure of the store (S3 or DynamoDB: :class:`~hyperparameter_tuner.errors.StoreError`)
    is not the experiment's: no record is left for it, and it fails the whole batch, which the state machine
    retries (``StoreError`` in the task's ``Retry``) and, if it persists, records with its ``Catch``; so does any
    other error here (data unreadable).

    Parameters
    ----------
    deadline : float, optional
        ``time.monotonic()`` instant by which the invocation must return (the Lambda's remaining time minus a
        margin). Work left when it comes raises :class:`TimeBudgetError`: a retry continues where this stopped.

    Raises
    ------
    StoreError
        When a model cannot be saved or a record written or read.
    """
    metadata = services.metadata()
    run = metadata.get_run(item.run_id)
    result = BatchResult(run_id=item.run_id, batch=item.batch)
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        result.skipped = item.stop - item.start  # a late retry of a closed run: its records are final
        _count(services, "BatchesSkipped")
        return result
    config = parse_config(run.config, f"run {run.run_id} config")
    tuner = services.tuner(config)
    tuner.warm_up()
    data = services.load_data(run, config.target, config.max_data_bytes)
    pending = []
    for spec in tuner.iter_specs(run.data_fingerprint, item.start, item.stop):
        current = metadata.get_experiment(run.run_id, spec.experiment_id)
        if current is not None and current.status is not ExperimentStatus.RUNNING:
            # Finished by an earlier attempt of this batch: a fit's failure is deterministic, never retried.
            result.reused += current.status is ExperimentStatus.SUCCEEDED
            result.failed += current.status is ExperimentStatus.FAILED
        elif tuner.reuse(spec, run.run_id) is not None:
            result.reused += 1
        else:
            pending.append(spec)

    def record(experiment: Experiment) -> None:
        if experiment.status is ExperimentStatus.SUCCEEDED:
            result.succeeded += 1
        else:
            result.failed += 1

    try:
        if not can_fork():
            for spec in pending:
                record(tuner.run_one(data, spec, run.run_id))
        else:
            with WorkerPool(partial(tuner.fit_candidate, data), 1, config.experiment_timeout,
                            deadline=deadline) as pool:
                for spec, outcome in pool.map(pending):
                    if outcome.kind == "budget":
                        raise TimeBudgetError(f"batch {item.batch}: the invocation's time ran out during "
                                              f"experiment {spec.experiment_id}; a retry continues from there")
                    record(tuner.record_outcome(spec, run.run_id, outcome, data.eval_split))
                if pool.unstarted:
                    raise TimeBudgetError(f"batch {item.batch}: the invocation's time ran out with "
                                          f"{len(pool.unstarted)} experiments left; a retry continues from there")
    finally:
        _count(services, "ExperimentsSucceeded", result.succeeded)
        _count(services, "ExperimentsFailed", result.failed)
        _count(services, "ExperimentsReused", result.reused)
    return result


# -- reducer ---------------------------------------------------------------------------------------------------


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
    metadata = tuner.metadata_tracker
    for failure in iter_batch_failures(services, run.run_id):
        cause = _describe_failure(failure)
        for spec in tuner.iter_specs(run.data_fingerprint, int(failure["start"]), int(failure["stop"])):
            if metadata.get_experiment(run.run_id, spec.experiment_id) is None:
                metadata.put_experiment(Experiment.from_spec(
                    spec, run.run_id, status=ExperimentStatus.FAILED, error_type="BatchFailed",
                    error=f"trainer batch {failure['batch']} failed: {cause}", finished_at=utcnow(), final=True,
                ))


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

