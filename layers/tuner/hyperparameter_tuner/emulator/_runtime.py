"""What the emulated services hand a function and its callers: the events EventBridge delivers (and what a rule's
target receives; matching is moto's), the Lambda context object, the record of each call, and fault hooks."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from ._template import EmulatorError

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


def _envelope(
    source: str, detail_type: str, resource: str, detail: dict[str, Any], region: str, account_id: str,
    when: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    time_ = (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source, "account": account_id,
        "time": time_, "region": region, "resources": [resource], "detail": detail,
    }  # fmt: skip


def s3_object_created_event(
    bucket: str, key: str, version_id: str | None, etag: str, size: int, *,
    region: str = "us-east-1", account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:  # fmt: skip
    """The EventBridge "Object Created" event S3 sends for an object ``PutObject`` wrote. The key is form-encoded
    as S3 encodes it (``quote_plus``, ``/`` kept); ``version_id`` is omitted when ``None``; the ETag loses its quotes.

    Examples
    --------
    >>> event = s3_object_created_event("data", "datasets/iris.npz", "v1", '"abc"', 10)
    >>> event["detail-type"], event["detail"]["object"]["etag"], event["detail"]["object"]["version-id"]
    ('Object Created', 'abc', 'v1')
    """
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "etag": etag.strip('"')}
    if version_id is not None:
        obj["version-id"] = version_id
    obj["sequencer"] = f"{int(datetime.now(UTC).timestamp() * 1_000_000):016X}"
    detail = {
        "version": "0", "bucket": {"name": bucket}, "object": obj, "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account_id, "source-ip-address": "127.0.0.1", "reason": "PutObject",
    }  # fmt: skip
    return _envelope("aws.s3", "Object Created", f"arn:aws:s3:::{bucket}", detail, region, account_id)


def scheduled_event(rule_arn: str, *, region: str = "us-east-1", account_id: str = DEFAULT_ACCOUNT_ID) -> dict:
    """The "Scheduled Event" EventBridge sends to a scheduled rule's target that has no ``Input``."""
    return _envelope("aws.events", "Scheduled Event", rule_arn, {}, region, account_id)


def execution_status_change_event(
    execution: Mapping[str, Any], *, region: str = "us-east-1", account_id: str = DEFAULT_ACCOUNT_ID
) -> dict[str, Any]:
    """The "Step Functions Execution Status Change" event of a ``DescribeExecution`` reply (dates in epoch ms).

    Examples
    --------
    >>> event = execution_status_change_event({"executionArn": "arn:aws:states:us-east-1:1:execution:sm:run-1",
    ...     "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:sm", "name": "run-1", "status": "ABORTED"})
    >>> event["source"], event["detail-type"], event["detail"]["status"]
    ('aws.states', 'Step Functions Execution Status Change', 'ABORTED')
    """
    dates = {key: execution.get(key) for key in ("startDate", "stopDate")}
    detail = {key: execution.get(key) for key in ("executionArn", "stateMachineArn", "name", "status")}
    detail.update({key: int(value.timestamp() * 1000) if isinstance(value, datetime) else None
                   for key, value in dates.items()})  # fmt: skip
    detail.update({key: execution.get(key) for key in ("input", "output")})
    detail["inputDetails"] = {"included": True}
    detail["outputDetails"] = {"included": True} if execution.get("output") is not None else None
    detail.update({key: execution.get(key) for key in ("error", "cause")})
    stopped = dates["stopDate"] if isinstance(dates["stopDate"], datetime) else None
    kind = "Step Functions Execution Status Change"
    return _envelope("aws.states", kind, execution["executionArn"], detail, region, account_id, stopped)


def target_input(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """What a rule target (as moto holds it) receives: its ``Input``, what its ``InputPath`` selects, or the event."""
    if "InputTransformer" in target:
        raise EmulatorError("EventBridge InputTransformer is not supported by the emulator")
    if "Input" in target:
        return json.loads(target["Input"])
    from jsonpath_ng import parse

    matches = parse(target.get("InputPath", "$")).find(event)
    return matches[0].value if matches else None


FaultHook = Callable[[str, Any], None]
"""Called as ``hook(function_logical_id, event)`` before each invocation; raising injects a fault: a moto
``JsonRESTError`` (see :func:`lambda_service_error`) is a Lambda service error, anything else a handler error."""


@dataclass(frozen=True)
class FunctionSpec:
    """One deployed ``AWS::Serverless::Function``, as Lambda holds it, and its ``CodeUri`` folder."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    memory_mb: int
    timeout_s: float
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class LambdaContext:
    """The subset of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: float
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or f"emulator/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One call that reached an emulated function: ``function`` (logical id), the decoded ``event``, ``error`` (None
    on success, else the handler exception's class or the service error's code), ``result`` (return value or error
    payload), and ``time.monotonic()`` when it ``started`` and ``finished``."""

    function: str
    event: Any
    error: str | None
    result: Any
    started: float
    finished: float


class FunctionInvocationError(EmulatorError):
    """A direct :meth:`Emulator.invoke` returned a function error (``payload``: ``errorType``, ``errorMessage``...)."""

    def __init__(self, function: str, payload: dict[str, Any]) -> None:
        self.function, self.payload = function, payload
        super().__init__(f"{function} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")


def lambda_service_error(
    code: str = "TooManyRequestsException", message: str = "Rate exceeded", status: int = 429
) -> Exception:
    """A Lambda service error (a moto ``JsonRESTError``) for a :data:`FaultHook` to raise: moto returns it instead of
    running the handler; Step Functions reports it as ``Lambda.<code>`` (what the state machine's ``Retry`` matches)."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(code, message)
    error.code = status
    return error


def throttle(times: int, *, function: str | None = None, when: Callable[[Any], bool] | None = None) -> FaultHook:
    """A fault hook (for :meth:`Emulator.add_fault`) that fails the first ``times`` invocations of ``function`` (a
    logical id; any when None) whose event satisfies ``when`` (any when None) with ``TooManyRequestsException``."""
    matched = itertools.count()  # next() on it is atomic: concurrent invocations each get their own number

    def hook(function_id: str, event: Any) -> None:
        if function in (None, function_id) and (when is None or when(event)) and next(matched) < times:
            raise lambda_service_error()

    return hook
