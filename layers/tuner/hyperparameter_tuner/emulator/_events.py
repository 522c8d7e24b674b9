"""EventBridge events as AWS delivers them, and what a rule's target receives (matching is moto's)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from ._template import EmulatorError

__all__ = [
    "execution_status_change_event",
    "matches_pattern",
    "s3_object_created_event",
    "scheduled_event",
    "target_input",
]

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


def s3_object_created_event(
    bucket: str,
    key: str,
    version_id: str | None,
    etag: str,
    size: int,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:
    """Build the EventBridge "Object Created" event that S3 sends for a new object ``PutObject`` wrote, when the
    bucket has EventBridge notifications enabled: what a handler wired through an ``EventBridgeRule`` receives.

    Parameters
    ----------
    bucket : str
        Bucket name.
    key : str
        Object key as stored; the event carries it form-encoded (``quote_plus``, ``/`` kept), as S3 encodes keys
        in its event notifications: a space arrives as ``+`` and a ``+`` as ``%2B``.
    version_id : str or None
        The object's version id; ``None`` for an unversioned bucket (the field is then omitted).
    etag : str
        The object's ETag, with or without the surrounding quotes (EventBridge sends it without).
    size : int
        Object size in bytes.
    region : str, default "us-east-1"
        Region of the bucket.
    account_id : str, default "123456789012"
        Account that owns the bucket (moto's default account).

    Returns
    -------
    dict
        The event.

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
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
        "reason": "PutObject",
    }
    return _envelope("aws.s3", "Object Created", [f"arn:aws:s3:::{bucket}"], detail, region, account_id)


def _envelope(
    source: str, detail_type: str, resources: list[str], detail: dict[str, Any], region: str, account_id: str,
    when: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The fields every EventBridge event has."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def scheduled_event(
    rule_arn: str,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:
    """Build the "Scheduled Event" EventBridge sends to a scheduled rule's target that has no ``Input``.

    Parameters
    ----------
    rule_arn : str
        ARN of the rule (the event's only resource).
    region, account_id : str
        Where the rule lives.

    Returns
    -------
    dict
        The event.

    Examples
    --------
    >>> event = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/nightly")
    >>> event["source"], event["detail-type"], event["detail"]
    ('aws.events', 'Scheduled Event', {})
    """
    return _envelope("aws.events", "Scheduled Event", [rule_arn], {}, region, account_id)


def _epoch_millis(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return None


def execution_status_change_event(
    execution: Mapping[str, Any],
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:
    """Build the "Step Functions Execution Status Change" event Step Functions sends to the default event bus
    when a STANDARD execution changes status, from the execution's ``DescribeExecution`` reply.

    Parameters
    ----------
    execution : Mapping
        The ``DescribeExecution`` reply (``executionArn``, ``stateMachineArn``, ``name``, ``status``, dates,
        ``input``, ``output``, ``error``, ``cause``).
    region, account_id : str
        Where the state machine lives.

    Returns
    -------
    dict
        The event (dates in epoch milliseconds, as Step Functions sends them).

    Examples
    --------
    >>> event = execution_status_change_event({"executionArn": "arn:aws:states:us-east-1:1:execution:sm:run-1",
    ...     "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:sm", "name": "run-1", "status": "ABORTED"})
    >>> event["source"], event["detail-type"], event["detail"]["status"]
    ('aws.states', 'Step Functions Execution Status Change', 'ABORTED')
    """
    stopped = execution.get("stopDate")
    detail = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution["name"],
        "status": execution["status"],
        "startDate": _epoch_millis(execution.get("startDate")),
        "stopDate": _epoch_millis(stopped),
        "input": execution.get("input"),
        "output": execution.get("output"),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if execution.get("output") is not None else None,
        "error": execution.get("error"),
        "cause": execution.get("cause"),
    }
    when = stopped if isinstance(stopped, datetime) else None
    kind = "Step Functions Execution Status Change"
    return _envelope("aws.states", kind, [execution["executionArn"]], detail, region, account_id, when)


def matches_pattern(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Tell whether an EventBridge event pattern matches an event, with moto's EventBridge matcher.

    Parameters
    ----------
    pattern : Mapping
        The rule's event pattern.
    event : Mapping
        The event.

    Returns
    -------
    bool
        True when every field of the pattern matches.

    Examples
    --------
    >>> matches_pattern({"detail": {"object": {"key": [{"prefix": "datasets/"}]}}},
    ...                 {"detail": {"object": {"key": "datasets/a.npz"}}})
    True
    """
    from moto.events.models import EventPattern

    return EventPattern.load(json.dumps(pattern)).matches_event(dict(event))  # type: ignore[arg-type]


def target_input(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """Return what an EventBridge rule target receives for ``event``: its ``Input``, ``InputPath`` or the event.

    Parameters
    ----------
    target : Mapping
        The target as ``ListTargetsByRule`` describes it.
    event : Mapping
        The matched event.

    Returns
    -------
    Any
        The payload for the target.

    Examples
    --------
    >>> target_input({"Input": '{"kind": "schedule"}'}, {"source": "aws.events"})
    {'kind': 'schedule'}
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
