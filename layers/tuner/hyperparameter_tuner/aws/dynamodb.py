"""DynamoDB adapters: the metadata tracker and the metrics tracker on one single-table design.

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
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from types import UnionType
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import NotFoundError, StoreError
from ..ports import MetadataTracker, MetricsTracker
from ..records import Experiment, ExperimentStatus, ModelVersion, Run
from ._common import error_code

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["GSI1", "DynamoDBMetadataTracker", "DynamoDBMetricsTracker", "sortable_time"]

GSI1 = "GSI1"
"""Name of the table's global secondary index (keys ``GSI1PK``, ``GSI1SK``, projection ALL)."""

_RUNS_PARTITION = "RUNS"
_RUN_SK = "RUN"
_CONDITION_FAILED = "ConditionalCheckFailedException"
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


class _ConditionFailedError(Exception):
    """Internal signal: a conditional write was refused; ``item`` is the stored item when DynamoDB returned it."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


@contextmanager
def _store_errors(action: str, table_name: str) -> Iterator[None]:
    """Translate boto errors raised inside the block: a refused condition into :class:`_ConditionFailedError`,
    anything else into :class:`StoreError`."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) == _CONDITION_FAILED:
            raise _ConditionFailedError(exc.response.get("Item")) from exc  # type: ignore[arg-type]
        error = exc.response.get("Error", {})
        raise StoreError(
            f"DynamoDB table {table_name!r}: cannot {action} ({error.get('Code', '?')}: {error.get('Message', '')})"
        ) from exc
    except BotoCoreError as exc:
        raise StoreError(f"DynamoDB table {table_name!r}: cannot {action} ({exc})") from exc


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


class _DynamoDBAdapter:
    """Holds the table name and the injected (or lazily created) low-level client."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        """The injected client, or a default ``boto3.client("dynamodb")`` created on first use."""
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def _errors(self, action: str) -> Any:
        return _store_errors(action, self.table_name)

    def _query(self, page_size: int | None = None, **kwargs: Any) -> Iterator[list[Item]]:
        """Yield the pages of a ``Query``, following ``LastEvaluatedKey``."""
        start: Item | None = None
        while True:
            extra: dict[str, Any] = {}
            if page_size is not None:
                extra["Limit"] = page_size
            if start is not None:
                extra["ExclusiveStartKey"] = start
            with self._errors("query"):
                page = self.client.query(TableName=self.table_name, **kwargs, **extra)
            yield list(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return


class DynamoDBMetadataTracker(_DynamoDBAdapter, MetadataTracker):
    """:class:`MetadataTracker` on a DynamoDB table (single-table design, see the module docstring).

    Item layout
    -----------
    * run: ``PK=RUN#<run_id>``, ``SK=RUN``, each field a top-level attribute, so ``update_run`` sets only the
      named fields (no read-modify-write); ``GSI1PK=RUNS``, ``GSI1SK=<created_at>#<run_id>`` for ``list_runs``.
    * experiment: ``PK=RUN#<run_id>``, ``SK=EXP#<experiment_id>``, ``doc`` (JSON), ``status``, ``index``;
      ``GSI1PK=EXP#<experiment_id>``, ``GSI1SK=<status>#<finished_at>`` for ``find_succeeded``.
    * model version counter: ``PK=MV#<experiment_id>``, ``SK=MV``, ``n`` (atomic ``ADD``); versions read
      ``<experiment_id>.<n>`` and are unique per experiment id across runs.
    * ``discard_experiment`` sets ``discarded = true`` on the RUNNING item (the deployment grants no
      ``DeleteItem``); ``get_experiment`` and ``iter_experiments`` skip such items.

    Parameters
    ----------
    table_name : str
        Name of the table (string keys ``PK``, ``SK``; index ``GSI1`` on ``GSI1PK``, ``GSI1SK``).
    client : DynamoDBClient, optional
        A low-level boto3 DynamoDB client; ``boto3.client("dynamodb")`` is created on first use when omitted.
    page_size : int, optional
        Items per ``Query`` page in :meth:`iter_experiments` (default: DynamoDB's 1 MB pages).

    Notes
    -----
    ``list_runs`` and ``find_succeeded`` read the global secondary index, which is eventually consistent;
    the other reads are strongly consistent. ``update_run`` validates each changed value against its
    :class:`Run` field (pydantic ``ValidationError``) and raises ``TypeError`` for a name that is not a field
    or for a new ``run_id``, before anything is written.
    """

    def __init__(self, table_name: str, client: DynamoDBClient | None = None, *, page_size: int | None = None) -> None:
        super().__init__(table_name, client)
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be a positive integer, got {page_size!r}")
        self.page_size = page_size

    # runs ---------------------------------------------------------------------------------------------------

    def create_run(self, run: Run) -> bool:
        try:
            with self._errors(f"create run {run.run_id!r}"):
                self.client.put_item(
                    TableName=self.table_name,
                    Item=_run_to_item(run),
                    ConditionExpression="attribute_not_exists(PK)",
                )
        except _ConditionFailedError:
            return False
        return True

    def get_run(self, run_id: str) -> Run:
        with self._errors(f"get run {run_id!r}"):
            response = self.client.get_item(
                TableName=self.table_name, Key={"PK": _run_pk(run_id), "SK": _s(_RUN_SK)}, ConsistentRead=True
            )
        item = response.get("Item")
        if item is None:
            raise NotFoundError(f"run {run_id!r} not found")
        return _run_from_item(item, self.table_name)

    def update_run(self, run_id: str, **changes: Any) -> Run:
        if not changes:
            return self.get_run(run_id)
        unknown = sorted(set(changes) - set(Run.model_fields))
        if unknown:
            raise TypeError(f"update_run: Run has no field(s) {', '.join(map(repr, unknown))}")
        if "run_id" in changes and changes["run_id"] != run_id:
            raise TypeError(f"update_run: the run id of {run_id!r} cannot change (got {changes['run_id']!r})")
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for i, (name, raw) in enumerate(sorted(changes.items())):
            adapter = _field_adapter(name)
            value = adapter.dump_python(adapter.validate_python(raw), mode="json")
            names[f"#f{i}"] = name
            if value is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = _to_attribute(name, value)
                sets.append(f"#f{i} = :v{i}")
            if name == "created_at":  # keep list_runs' sort key in step
                created = adapter.validate_python(raw)
                names["#gsk"] = "GSI1SK"
                values[":gsk"] = _s(f"{sortable_time(created)}#{run_id}")
                sets.append("#gsk = :gsk")
        expression = " ".join(
            part for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            ) if part
        )
        extra: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        try:
            with self._errors(f"update run {run_id!r}"):
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key={"PK": _run_pk(run_id), "SK": _s(_RUN_SK)},
                    UpdateExpression=expression,
                    ConditionExpression="attribute_exists(PK)",
                    ExpressionAttributeNames=names,
                    ReturnValues="ALL_NEW",
                    **extra,
                )
        except _ConditionFailedError:
            raise NotFoundError(f"run {run_id!r} not found") from None
        return _run_from_item(response["Attributes"], self.table_name)

    def list_runs(self, limit: int = 50) -> list[Run]:
        runs: list[Run] = []
        if limit <= 0:
            return runs
        pages = self._query(
            page_size=limit,
            IndexName=GSI1,
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": _s(_RUNS_PARTITION)},
            ScanIndexForward=False,
        )
        for page in pages:
            runs.extend(_run_from_item(item, self.table_name) for item in page)
            if len(runs) >= limit:
                break
        return runs[:limit]

    # model versions -----------------------------------------------------------------------------------------

    def create_model_version(self, run_id: str, experiment_id: str) -> ModelVersion:
        with self._errors(f"reserve a model version for experiment {experiment_id!r}"):
            response = self.client.update_item(
                TableName=self.table_name,
                Key={"PK": _s(f"MV#{experiment_id}"), "SK": _s("MV")},
                UpdateExpression="ADD #n :one",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        number = int(response["Attributes"]["n"]["N"])
        return ModelVersion(run_id=run_id, experiment_id=experiment_id, version=f"{experiment_id}.{number}")

    # experiments --------------------------------------------------------------------------------------------

    def put_experiment(self, experiment: Experiment) -> Experiment:
        finished = sortable_time(experiment.finished_at) if experiment.finished_at else ""
        item: Item = {
            "PK": _run_pk(experiment.run_id),
            "SK": _s(f"EXP#{experiment.experiment_id}"),
            "experiment_id": _s(experiment.experiment_id),
            "status": _s(experiment.status.value),
            "index": {"N": str(experiment.index)},
            "doc": _s(experiment.model_dump_json()),
            "GSI1PK": _s(f"EXP#{experiment.experiment_id}"),
            "GSI1SK": _s(f"{experiment.status.value}#{finished}"),
            "final": {"BOOL": experiment.final},
        }
        action = f"put experiment {experiment.experiment_id!r} of run {experiment.run_id!r}"
        try:
            with self._errors(action):
                self.client.put_item(
                    TableName=self.table_name,
                    Item=item,
                    ConditionExpression=(
                        "attribute_not_exists(PK) OR (#status <> :succeeded AND"
                        " (attribute_not_exists(#final) OR #final = :false))"
                    ),
                    ExpressionAttributeNames={"#status": "status", "#final": "final"},
                    ExpressionAttributeValues={
                        ":succeeded": _s(ExperimentStatus.SUCCEEDED.value), ":false": {"BOOL": False}
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except _ConditionFailedError as refused:  # a SUCCEEDED or final record is never replaced
            if refused.item:
                return _experiment_from_item(refused.item, self.table_name)
            stored = self.get_experiment(experiment.run_id, experiment.experiment_id)
            if stored is None:  # pragma: no cover - only if the item is deleted in between
                raise StoreError(f"DynamoDB table {self.table_name!r}: cannot {action} (condition failed)") from None
            return stored
        return experiment

    def get_experiment(self, run_id: str, experiment_id: str) -> Experiment | None:
        with self._errors(f"get experiment {experiment_id!r} of run {run_id!r}"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key={"PK": _run_pk(run_id), "SK": _s(f"EXP#{experiment_id}")},
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _experiment_from_item(item, self.table_name) if item and not _is_discarded(item) else None

    def find_succeeded(self, experiment_id: str) -> Experiment | None:
        with self._errors(f"find a SUCCEEDED record of experiment {experiment_id!r}"):
            response = self.client.query(
                TableName=self.table_name,
                IndexName=GSI1,
                KeyConditionExpression="GSI1PK = :pk AND begins_with(GSI1SK, :prefix)",
                ExpressionAttributeValues={
                    ":pk": _s(f"EXP#{experiment_id}"),
                    ":prefix": _s(f"{ExperimentStatus.SUCCEEDED.value}#"),
                },
                ScanIndexForward=False,
                Limit=1,
            )
        items = response.get("Items", [])
        return _experiment_from_item(items[0], self.table_name) if items else None

    def iter_experiments(self, run_id: str) -> Iterator[Experiment]:
        pages = self._query(
            page_size=self.page_size,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": _run_pk(run_id), ":prefix": _s("EXP#")},
            ExpressionAttributeNames={"#doc": "doc", "#discarded": _DISCARDED},
            ProjectionExpression="#doc, #discarded",
            ConsistentRead=True,
        )
        for page in pages:
            yield from (_experiment_from_item(item, self.table_name) for item in page if not _is_discarded(item))

    def discard_experiment(self, run_id: str, experiment_id: str) -> bool:
        """Hide a RUNNING, non-final record (``discarded = true``); reads then behave as if it did not exist.

        A conditional ``UpdateItem``, not a ``DeleteItem``: no role of the deployment may delete table items. The
        next ``put_experiment`` of the experiment (a retried batch, the reducer's record of a failed batch)
        replaces the whole item, flag included.
        """
        try:
            with self._errors(f"discard experiment {experiment_id!r} of run {run_id!r}"):
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"PK": _run_pk(run_id), "SK": _s(f"EXP#{experiment_id}")},
                    UpdateExpression="SET #discarded = :true",
                    ConditionExpression=(
                        "#status = :running AND (attribute_not_exists(#final) OR #final = :false)"
                        " AND (attribute_not_exists(#discarded) OR #discarded = :false)"
                    ),
                    ExpressionAttributeNames={"#status": "status", "#final": "final", "#discarded": _DISCARDED},
                    ExpressionAttributeValues={
                        ":running": _s(ExperimentStatus.RUNNING.value), ":false": {"BOOL": False},
                        ":true": {"BOOL": True},
                    },
                )
        except _ConditionFailedError:  # absent, finished, final or already discarded: kept as it is
            return False
        return True


def _encode_metric(value: float) -> float | str | None:
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _decode_metric(value: float | str | None) -> float:
    return float("nan") if value is None else float(value)


class DynamoDBMetricsTracker(_DynamoDBAdapter, MetricsTracker):
    """:class:`MetricsTracker` on a DynamoDB table, optionally also emitting CloudWatch metrics.

    Item layout
    -----------
    One item per (run, experiment, split): ``PK=RUN#<run_id>``, ``SK=MET#<experiment_id>#<split>``, attributes
    ``experiment_id``, ``split`` and ``metrics``, the JSON text of ``{name: value}`` (NaN as ``null``, infinities
    as ``"Infinity"``/``"-Infinity"``). Logging a split again overwrites its item.

    Parameters
    ----------
    table_name : str
        Name of the table (string keys ``PK``, ``SK``).
    client : DynamoDBClient, optional
        A low-level boto3 DynamoDB client; ``boto3.client("dynamodb")`` is created on first use when omitted.
    metrics : aws_lambda_powertools.Metrics, optional
        When given, every finite value is also added as the metric ``<split>_<name>`` (unit ``None``); the
        handler's ``log_metrics`` decorator flushes them to CloudWatch as EMF.
    """

    def __init__(
        self, table_name: str, client: DynamoDBClient | None = None, *, metrics: Metrics | None = None
    ) -> None:
        super().__init__(table_name, client)
        self.metrics = metrics

    def log_metrics(self, run_id: str, experiment_id: str, split: str, metrics: Mapping[str, float]) -> None:
        encoded = {name: _encode_metric(value) for name, value in metrics.items()}
        with self._errors(f"log {split!r} metrics of experiment {experiment_id!r} in run {run_id!r}"):
            self.client.put_item(
                TableName=self.table_name,
                Item={
                    "PK": _run_pk(run_id),
                    "SK": _s(f"MET#{experiment_id}#{split}"),
                    "experiment_id": _s(experiment_id),
                    "split": _s(split),
                    "metrics": _s(json.dumps(encoded, allow_nan=False, sort_keys=True)),
                },
            )
        if self.metrics is not None:
            from aws_lambda_powertools.metrics import MetricUnit

            for name, value in metrics.items():
                if math.isfinite(value):
                    self.metrics.add_metric(name=f"{split}_{name}", unit=MetricUnit.NoUnit, value=float(value))

    def get_metrics(self, run_id: str, experiment_id: str) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        pages = self._query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": _run_pk(run_id), ":prefix": _s(f"MET#{experiment_id}#")},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page:
                if item["experiment_id"]["S"] != experiment_id:  # an id containing '#' shares the prefix
                    continue
                try:
                    values = json.loads(item["metrics"]["S"])
                    result[item["split"]["S"]] = {name: _decode_metric(value) for name, value in values.items()}
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    raise _corrupt(self.table_name, f"metrics {run_id}/{experiment_id}", exc) from exc
        return result
