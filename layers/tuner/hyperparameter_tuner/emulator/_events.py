"""EventBridge events as AWS delivers them, and what a rule's target receives (matching is moto's)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from ._template import EmulatorError

__all__ = ["execution_status_change_event", "s3_object_created_event", "scheduled_event", "target_input"]

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


def _envelope(
    source: str, detail_type: str, resource: str, detail: dict[str, Any], region: str, account_id: str,
    when: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [resource],
        "detail": detail,
    }


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
    """What a rule target (as ``ListTargetsByRule`` describes it) receives: its ``Input``, ``InputPath`` or the event.

    >>> target_input({"InputPath": "$.detail.object"}, {"detail": {"object": {"key": "k"}}})
    {'key': 'k'}
    """
    if "InputTransformer" in target:
        raise EmulatorError("EventBridge InputTransformer is not supported by the emulator")
    if "Input" in target:
        return json.loads(target["Input"])
    if target.get("InputPath", "$") == "$":
        return dict(event)
    from jsonpath_ng import parse

    matches = parse(target["InputPath"]).find(event)
    return matches[0].value if matches else None
