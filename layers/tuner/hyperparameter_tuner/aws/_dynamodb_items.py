"""The DynamoDB single-table design of both trackers: keys, and records encoded as items and back.

Every item has string keys ``PK`` and ``SK``; a sparse global secondary index ``GSI1`` (keys ``GSI1PK`` and
``GSI1SK``, projection ALL) serves the two look-ups that do not start from a run id: the list of runs and
"the latest SUCCEEDED record of an experiment id in any run".

* run: ``PK=RUN#<run_id>``, ``SK=RUN``; every :class:`Run` field is a top-level attribute (nested values
  such as ``config`` as JSON text, datetimes as ISO text, ``None`` fields absent); ``GSI1PK=RUNS``,
  ``GSI1SK=<created_at>#<run_id>``.
* experiment: ``PK=RUN#<run_id>``, ``SK=EXP#<experiment_id>``; ``doc`` (the record as JSON), ``status``,
  ``index`` (N), ``experiment_id``; ``GSI1PK=EXP#<experiment_id>``, ``GSI1SK=<status>#<finished_at or ''>``;
  ``discarded`` (BOOL) on a RUNNING record abandoned because the store failed: reads skip it.
* model version counter: ``PK=MV#<experiment_id>``, ``SK=MV``; ``n`` (N), incremented atomically.
* metrics of one split: ``PK=RUN#<run_id>``, ``SK=MET#<experiment_id>#<split>``; ``metrics`` (JSON text
  ``{name: value}``), ``experiment_id``, ``split``.

Times in sort keys are UTC with a fixed width (``2024-05-01T12:00:00.000000Z``), so text order is time order.
Nothing here scans the table: every read is a ``GetItem`` or a ``Query``.

No boto3 calls here: the trackers of :mod:`hyperparameter_tuner.aws.dynamodb` read and write the items.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import StoreError
from ..records import Experiment, Run

__all__ = ["GSI1", "Item", "sortable_time"]

GSI1 = "GSI1"
"""Name of the table's global secondary index (keys ``GSI1PK``, ``GSI1SK``, projection ALL)."""

_RUNS_PARTITION = "RUNS"
_RUN_SK = "RUN"
_DISCARDED = "discarded"

Item = dict[str, Any]  # a DynamoDB item in the low-level client's attribute-value format


def sortable_time(moment: datetime) -> str:
    """Return ``moment`` as fixed-width UTC ISO text, whose text order is time order (naive means UTC).

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> sortable_time(datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    '2024-05-01T12:00:00.000000Z'
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _run_pk(run_id: str) -> dict[str, str]:
    return _s(f"RUN#{run_id}")


@cache
def _json_fields() -> frozenset[str]:
    """Run fields holding nested data (``config``, ``data_versions``, ...): stored as JSON text."""
    names = set()
    for name, info in Run.model_fields.items():
        kinds = get_args(info.annotation) if get_origin(info.annotation) in (Union, UnionType) else (info.annotation,)
        for kind in kinds:
            origin = get_origin(kind) or kind
            if isinstance(origin, type) and issubclass(origin, dict | list | tuple | set | frozenset | BaseModel):
                names.add(name)
    return frozenset(names)


def _to_attribute(name: str, value: Any) -> dict[str, Any]:
    """One Run field, already in pydantic's JSON mode, as a DynamoDB attribute value."""
    if name in _json_fields() or isinstance(value, dict | list):
        return _s(json.dumps(value, separators=(",", ":"), allow_nan=False))  # key order is grid order
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return _s(value)
    raise TypeError(f"Run field {name!r}: cannot store a value of type {type(value).__name__} in DynamoDB")


def _from_attribute(name: str, attribute: Mapping[str, Any]) -> Any:
    if "S" in attribute:
        return json.loads(attribute["S"]) if name in _json_fields() else attribute["S"]
    if "N" in attribute:
        text = attribute["N"]
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if "BOOL" in attribute:
        return attribute["BOOL"]
    return None  # {"NULL": True}


def _run_to_item(run: Run) -> Item:
    item: Item = {
        "PK": _run_pk(run.run_id),
        "SK": _s(_RUN_SK),
        "GSI1PK": _s(_RUNS_PARTITION),
        "GSI1SK": _s(f"{sortable_time(run.created_at)}#{run.run_id}"),
    }
    for name, value in run.model_dump(mode="json").items():
        if value is not None:
            item[name] = _to_attribute(name, value)
    return item


def _corrupt(table_name: str, what: str, exc: Exception) -> StoreError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreError(f"DynamoDB table {table_name!r}: corrupt {what} record ({first})")


def _run_from_item(item: Mapping[str, Any], table_name: str) -> Run:
    try:
        return Run.model_validate(
            {name: _from_attribute(name, item[name]) for name in Run.model_fields if name in item}
        )
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        raise _corrupt(table_name, f"run {item.get('PK', {}).get('S', '?')}", exc) from exc


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    """A validator for one Run field, so that ``update_run`` stores values the model would accept."""
    return TypeAdapter(Run.model_fields[name].annotation or Any)


def _is_discarded(item: Mapping[str, Any]) -> bool:
    return bool(item.get(_DISCARDED, {}).get("BOOL", False))


def _experiment_from_item(item: Mapping[str, Any], table_name: str) -> Experiment:
    try:
        return Experiment.model_validate_json(item["doc"]["S"])
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        what = f"experiment {item.get('PK', {}).get('S', '?')}/{item.get('SK', {}).get('S', '?')}"
        raise _corrupt(table_name, what, exc) from exc


def _encode_metric(value: float) -> float | str | None:
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _decode_metric(value: float | str | None) -> float:
    return float("nan") if value is None else float(value)
