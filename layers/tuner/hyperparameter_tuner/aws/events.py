"""The fan-out's three triggers, parsed into one :class:`RunRequest`.

* **upload**: S3 "Object Created" delivered by EventBridge (the template's wiring). A split is an ``.npz``
  object under ``datasets/<dataset>/``, or a folder of CSV files under it completed by a ``_SUCCESS`` marker
  written last. Keys in S3 events are form-encoded (a space arrives as ``+``, a ``+`` as ``%2B``), so they are
  decoded with ``unquote_plus``.
* **schedule**: ``{"kind": "schedule", "dataset": "<dataset>"}``, the EventBridge rule's constant input; the
  run tunes the dataset's latest split.
* **direct**: ``{"kind": "direct", "config_key": ..., "data_key": ..., "data_version": ...}`` from
  ``hpt submit`` or ``sam local invoke``.

One more event is not a trigger: Step Functions' "Execution Status Change" for a run's execution that ended
FAILED, TIMED_OUT or ABORTED, parsed into :class:`ExecutionEnded`, so the fan-out closes a run that its execution
can no longer close (stopped by hand, timed out, or failed outside the state machine's ``Catch``).
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError

__all__ = [
    "CONFIG_NAMES",
    "DATASETS_PREFIX",
    "BadEventError",
    "DirectEvent",
    "ExecutionEnded",
    "RunRequest",
    "ScheduleEvent",
    "dataset_name",
    "dataset_of",
    "execution_failure_reason",
    "parse_fan_out_event",
    "split_of_key",
]

DATASETS_PREFIX = "datasets/"
CONFIG_NAMES = ("tuning.yaml", "tuning.yml", "tuning.json")
SUCCESS_MARKER = "_SUCCESS"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
ENDED_WITHOUT_SUCCESS = ("FAILED", "TIMED_OUT", "ABORTED")
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,127}$")
"""What a dataset (a ``datasets/<dataset>/`` folder) may be called."""


class BadEventError(ConfigError):
    """The event is malformed or does not name a split: no run can start from it."""


class ScheduleEvent(BaseModel):
    """The scheduled rule's input."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["schedule"]
    dataset: str = Field(pattern=DATASET_NAME.pattern)


class DirectEvent(BaseModel):
    """A direct invocation naming a config object and a split (an ``.npz`` key or a CSV folder prefix)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["direct"]
    config_key: str = Field(min_length=1, max_length=1024)
    data_key: str = Field(min_length=1, max_length=1024)
    data_version: str | None = None


class RunRequest(BaseModel):
    """What the fan-out needs to start a run, whatever the trigger."""

    model_config = ConfigDict(frozen=True)

    trigger: Literal["upload", "schedule", "direct"]
    dataset: str | None
    bucket: str | None = None
    config_key: str | None = None
    data_key: str | None = None
    """``.npz`` key, or CSV folder prefix ending in ``/``; ``None`` for a schedule (latest split)."""
    data_version: str | None = None
    """Version id of the ``.npz`` (or of the ``_SUCCESS`` marker of a CSV folder); ``None`` when unversioned."""
    data_etag: str | None = None
    """ETag of the uploaded object: tells two uploads apart when the bucket is not versioned."""


class ExecutionEnded(BaseModel):
    """A Step Functions "Execution Status Change" event: an execution of the tuning state machine has ended."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    execution_arn: str = Field(alias="executionArn", min_length=1)
    state_machine_arn: str = Field(alias="stateMachineArn", min_length=1)
    name: str = Field(min_length=1)
    """The execution's name: the run id for a run's own execution."""
    status: str
    error: str | None = None
    cause: str | None = None


def execution_failure_reason(execution: Any) -> str:
    """One line for a run whose execution ended without closing it, from a ``DescribeExecution`` reply or the
    detail of an "Execution Status Change" event (``status``, ``error``, ``cause``).

    Examples
    --------
    >>> execution_failure_reason({"status": "ABORTED", "error": "Operator", "cause": "stopped by  hand"})
    'execution ABORTED: Operator: stopped by hand'
    >>> execution_failure_reason({"status": "TIMED_OUT"})
    'execution TIMED_OUT'
    """
    detail = ": ".join(" ".join(str(execution[key]).split()) for key in ("error", "cause") if execution.get(key))
    reason = f"execution {execution.get('status', 'ENDED')}"
    return f"{reason}: {detail[:300]}" if detail else reason


def dataset_name(text: str) -> str:
    """A valid dataset folder name made from free text (a config's ``name``, a file stem).

    Examples
    --------
    >>> dataset_name("iris classification / v2")
    'iris-classification---v2'
    """
    name = re.sub(r"[^A-Za-z0-9._=-]", "-", text).strip("-.")[:128]
    return name or "dataset"


def dataset_of(key: str) -> str:
    """Return the dataset name of a key under ``datasets/<dataset>/``.

    Raises
    ------
    BadEventError
        When the key is not under the datasets prefix or the dataset name is invalid.
    """
    if not key.startswith(DATASETS_PREFIX):
        raise BadEventError(f"s3 key {key!r} is not under {DATASETS_PREFIX}")
    parts = key[len(DATASETS_PREFIX) :].split("/")
    if len(parts) < 2 or not parts[0]:
        raise BadEventError(f"s3 key {key!r}: expected {DATASETS_PREFIX}<dataset>/<split>")
    if not DATASET_NAME.match(parts[0]):
        raise BadEventError(f"s3 key {key!r}: dataset name {parts[0]!r} must match {DATASET_NAME.pattern}")
    return parts[0]


def split_of_key(key: str) -> str:
    """Return the split an uploaded key stands for: the ``.npz`` key itself or the CSV folder prefix.

    Raises
    ------
    BadEventError
        When the key is neither an ``.npz`` object nor a ``_SUCCESS`` marker.

    Examples
    --------
    >>> split_of_key("datasets/iris/2026-11-28/_SUCCESS")
    'datasets/iris/2026-11-28/'
    """
    dataset_of(key)
    if key.endswith(".npz"):
        return key
    if key.endswith("/" + SUCCESS_MARKER):
        return key[: -len(SUCCESS_MARKER)]
    raise BadEventError(f"s3 key {key!r} is not a split (an .npz file or a CSV folder's {SUCCESS_MARKER} marker)")


def _first_error(exc: ValidationError, what: str) -> BadEventError:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or what
    return BadEventError(f"{what} event: {where}: {error['msg']}")


def _from_upload(event: dict[str, Any]) -> RunRequest:
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

    try:
        parsed = S3EventNotificationEventBridgeModel.model_validate(event)
    except ValidationError as exc:
        raise _first_error(exc, "S3 upload") from None
    key = unquote_plus(parsed.detail.object.key)
    data_key = split_of_key(key)
    return RunRequest(
        trigger="upload", dataset=dataset_of(key), bucket=parsed.detail.bucket.name, data_key=data_key,
        data_version=parsed.detail.object.version_id if parsed.detail.object.version_id != "null" else None,
        data_etag=parsed.detail.object.etag or None,
    )


def parse_fan_out_event(event: Any) -> RunRequest | ExecutionEnded:
    """Parse any of the fan-out's triggers into a :class:`RunRequest`, or an execution's status change into
    :class:`ExecutionEnded`.

    Raises
    ------
    BadEventError
        One line naming what is wrong with the event.
    """
    if not isinstance(event, dict):
        raise BadEventError(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("source") == "aws.states" and event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        try:
            return ExecutionEnded.model_validate(event.get("detail"))
        except ValidationError as exc:
            raise _first_error(exc, "execution status change") from None
    if event.get("source") == "aws.s3" or "detail-type" in event:
        return _from_upload(event)
    kind = event.get("kind")
    try:
        if kind == "schedule":
            schedule = ScheduleEvent.model_validate(event)
            return RunRequest(trigger="schedule", dataset=schedule.dataset)
        if kind == "direct":
            direct = DirectEvent.model_validate(event)
            data_key = direct.data_key
            if not data_key.endswith(".npz") and not data_key.endswith("/"):
                data_key += "/"
            return RunRequest(trigger="direct", dataset=None, config_key=direct.config_key, data_key=data_key,
                              data_version=direct.data_version)
    except ValidationError as exc:
        raise _first_error(exc, str(kind)) from None
    raise BadEventError(
        "event is not an S3 upload (source aws.s3), a schedule ({\"kind\": \"schedule\"}) or a direct invocation"
        " ({\"kind\": \"direct\"})"
    )
