"""EventBridge events as AWS delivers them, and EventBridge pattern matching for the template's rules."""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

__all__ = ["execution_status_change_event", "matches_pattern", "s3_object_created_event", "scheduled_event"]

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
    sequencer: str | None = None,
    reason: str = "PutObject",
    time: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Build the EventBridge "Object Created" event that S3 sends for a new object.

    The shape is the one S3 delivers to EventBridge when the bucket has EventBridge notifications
    enabled, so a handler wired through an ``EventBridgeRule`` sees exactly this event.

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
    sequencer : str or None, default None
        S3 event sequencer; a hex timestamp when omitted.
    reason : str, default "PutObject"
        The API that created the object (``PutObject``, ``CompleteMultipartUpload``, ``CopyObject``, ...).
    time : datetime or None, default None
        Event time; now (UTC) when omitted.
    event_id : str or None, default None
        Event id; a random UUID when omitted.

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
    when = (time or datetime.now(UTC)).astimezone(UTC)
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "etag": etag.strip('"')}
    if version_id is not None:
        obj["version-id"] = version_id
    obj["sequencer"] = sequencer or f"{int(when.timestamp() * 1_000_000):016X}"
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account_id,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account_id,
            "source-ip-address": "127.0.0.1",
            "reason": reason,
        },
    }


def scheduled_event(
    rule_arn: str,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    time: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Build the "Scheduled Event" EventBridge sends to a scheduled rule's target that has no ``Input``.

    Parameters
    ----------
    rule_arn : str
        ARN of the rule (the event's only resource).
    region, account_id : str
        Where the rule lives.
    time : datetime or None, default None
        The tick; now (UTC) when omitted.
    event_id : str or None, default None
        Event id; a random UUID when omitted.

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
    when = (time or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def _epoch_millis(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return None


def execution_status_change_event(
    execution: Mapping[str, Any],
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    event_id: str | None = None,
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
    event_id : str or None, default None
        Event id; a random UUID when omitted.

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
    when = (stopped if isinstance(stopped, datetime) else datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account_id,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution["executionArn"]],
        "detail": {
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
        },
    }


def matches_pattern(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Tell whether an EventBridge event pattern matches an event.

    Supports exact values, ``prefix``, ``suffix``, ``anything-but``, ``exists``, ``equals-ignore-case``,
    ``wildcard`` (``*`` only) and ``numeric`` comparisons, nested to any depth.

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
    for field, expected in pattern.items():
        present = field in event
        actual = event.get(field)
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not matches_pattern(expected, actual):
                return False
            continue
        rules = expected if isinstance(expected, list) else [expected]
        values = actual if isinstance(actual, list) else [actual]
        if not any(_matches_rule(rule, present, value) for rule in rules for value in values or [None]):
            return False
    return True


def _matches_rule(rule: Any, present: bool, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return present and rule == value
    if "exists" in rule:
        return bool(rule["exists"]) == present
    if not present:
        return False
    if "prefix" in rule:
        return isinstance(value, str) and value.startswith(str(rule["prefix"]))
    if "suffix" in rule:
        return isinstance(value, str) and value.endswith(str(rule["suffix"]))
    if "equals-ignore-case" in rule:
        return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
    if "wildcard" in rule:
        return isinstance(value, str) and _wildcard(str(rule["wildcard"]), value)
    if "anything-but" in rule:
        excluded = rule["anything-but"]
        if isinstance(excluded, Mapping):
            return not any(_matches_rule({op: arg}, present, value) for op, arg in excluded.items())
        return value not in (excluded if isinstance(excluded, list) else [excluded])
    if "numeric" in rule:
        return _numeric(rule["numeric"], value)
    raise ValueError(f"unsupported EventBridge pattern rule {dict(rule)!r}")


def _wildcard(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _numeric(conditions: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    checks = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "=": lambda a, b: a == b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    pairs = zip(conditions[::2], conditions[1::2], strict=True)
    return all(checks[op](value, bound) for op, bound in pairs)
