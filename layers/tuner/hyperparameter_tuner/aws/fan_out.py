"""The fan-out step: validate the config and the split, write the manifest, record the run, start its execution;
and close the run of an execution that ended without closing it.

Nothing large travels through Step Functions: the manifest (index ranges into the grid) goes to S3 and the
execution gets its key; trainers rebuild every experiment from its grid index.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, TypeAdapter

from ..config import TuningConfig, load_config_text
from ..errors import ConfigError, DataError, NotFoundError, TunerError
from ..records import ExperimentSpec, Run, RunStatus, content_id, utcnow
from ..search import Rung
from ._common import error_code
from .events import (
    CONFIG_NAMES,
    DATASETS_PREFIX,
    ENDED_WITHOUT_SUCCESS,
    ExecutionEnded,
    RunRequest,
    dataset_name,
    dataset_of,
    execution_failure_reason,
)
from .reduce import _publish
from .s3data import FetchedSplit, fetch_split, latest_split, read_text, split_identity, split_objects
from .services import Services, _count

if TYPE_CHECKING:
    from ..base import BaseHyperparameterTuner

__all__ = [
    "MAX_BATCH",
    "BatchItem",
    "FanOutResult",
    "close_ended_run",
    "RungState",
    "fan_out",
    "manifest_key",
    "plan_batches",
    "put_manifest",
    "reject_event",
    "rung_manifest",
]

MAX_BATCH = 100


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
    """One manifest item: experiments ``[start, stop)`` of a run's grid, or with halving, positions
    ``[start, stop)`` of rung ``rung``, whose candidates (indices into the config's candidates) it lists."""

    run_id: str
    batch: int
    start: int
    stop: int
    rung: int | None = None
    n_resources: int | None = None
    candidates: list[int] | None = None

    def specs(self, tuner: BaseHyperparameterTuner, run: Run) -> list[ExperimentSpec]:
        """The experiments of this item: grid indices ``[start, stop)``, or a halving rung's candidates.

        Raises
        ------
        TunerError
            When the item names a rung the run does not have.
        """
        if self.rung is None:
            return list(tuner.iter_specs(run.data_fingerprint, self.start, self.stop))
        if self.rung >= len(run.rungs) or self.candidates is None:
            raise TunerError(f"batch {self.batch}: rung {self.rung} is not one of run {run.run_id}'s rungs")
        return tuner.rung_specs(Rung(**run.rungs[self.rung]), self.candidates, run.data_fingerprint,
                                offset=self.start)


def rung_manifest(run_id: str, rung: Rung, candidates: list[int], config: TuningConfig,
                  first_batch: int) -> list[BatchItem]:
    """The manifest items of one halving rung: its candidates, in the rung's order, in batches numbered from
    ``first_batch`` (batch numbers are unique across a run's rungs)."""
    return [BatchItem(run_id=run_id, batch=first_batch + i, start=a, stop=b, rung=rung.rung,
                      n_resources=rung.n_resources, candidates=candidates[a:b])
            for i, (a, b) in enumerate(plan_batches(len(candidates), config))]


def manifest_key(run_id: str, rung: int | None = None) -> str:
    """Where a run's manifest lives: ``runs/<run_id>/manifest.json``, or rung ``i`` > 0's ``rung-<i>.json``."""
    return f"runs/{run_id}/manifest.json" if not rung else f"runs/{run_id}/rung-{rung}.json"


def put_manifest(services: Services, bucket: str, key: str, items: list[BatchItem]) -> None:
    """Write manifest items as the JSON array the Distributed Map's ItemReader reads."""
    body = json.dumps([item.model_dump(exclude_none=True) for item in items]).encode()
    services.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


class RungState(BaseModel):
    """The state machine's state between rungs: what the next Map reads, and whether it is the last rung.

    The fan-out's execution input has this shape (``rung`` 0); without halving ``last_rung`` is true at once.
    """

    run_id: str
    bucket: str
    manifest_key: str
    max_concurrency: int
    rung: int = 0
    last_rung: bool = True


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
    try:
        rungs = _rungs(config, fetched, data_uri)
    except ConfigError as exc:
        return _record_input_failure(services, run_id, data_uri, str(exc), config)
    if rungs:  # halving: rung 0 now, the promote step writes each next rung's manifest
        items = rung_manifest(run_id, rungs[0], list(range(len(config.grid()))), config, 0)
        batches = sum(len(plan_batches(rung.n_candidates, config)) for rung in rungs)
    else:
        items = [BatchItem(run_id=run_id, batch=i, start=a, stop=b)
                 for i, (a, b) in enumerate(plan_batches(len(config.grid()), config))]
        batches = len(items)
    key = manifest_key(run_id)
    put_manifest(services, bucket, key, items)
    run = tuner.new_run(run_id, data_uri, fetched.fingerprint, rungs, status=RunStatus.RUNNING,
                        data_versions=fetched.versions, batches=batches,
                        dataset=request.dataset or dataset_name(config.name or "adhoc"))
    metadata.create_run(run)
    concurrency = config.max_concurrency
    if settings.trainer_concurrency:
        concurrency = min(concurrency, settings.trainer_concurrency)
    state = RungState(run_id=run_id, bucket=bucket, manifest_key=key, max_concurrency=concurrency,
                      last_rung=len(rungs) <= 1)
    execution_arn = _start_execution(services, run_id, state.model_dump())
    metadata.update_run(run_id, execution_arn=execution_arn)
    _count(services, "ExperimentsPlanned", run.total)
    return FanOutResult(status="STARTED", run_id=run_id, execution_arn=execution_arn, total=run.total,
                        batches=batches)


def _rungs(config: TuningConfig, fetched: FetchedSplit, data_uri: str) -> list[Rung]:
    """The halving schedule on the fetched split, from its headers (rows of X_train, classes of y_train)."""
    if config.search.strategy != "halving":
        return []
    rows = fetched.shapes.get("X_train", (0,))[0]
    summary = fetched.labels.get("y_train")
    try:
        return config.halving_rungs(rows, len(summary.classes) if summary is not None else 0)
    except ConfigError as exc:
        raise ConfigError(f"{data_uri}: {exc}") from None


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
