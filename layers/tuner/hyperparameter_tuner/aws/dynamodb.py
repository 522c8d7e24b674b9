"""DynamoDB adapters: the metadata tracker and the metrics tracker on one single-table design.

The item layout (keys, the sparse index ``GSI1``, how each record is encoded) is described and implemented in
:mod:`._dynamodb_items`; the client, paging and error translation both trackers share are in
:mod:`._dynamodb_adapter`. Both are re-exported here. Nothing here scans the table: every read is a ``GetItem`` or
a ``Query``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, StoreError
from ..ports import MetadataTracker, MetricsTracker
from ..records import Experiment, ExperimentStatus, ModelVersion, Run
from ._dynamodb_adapter import _CONDITION_FAILED as _CONDITION_FAILED
from ._dynamodb_adapter import _ConditionFailedError as _ConditionFailedError
from ._dynamodb_adapter import _DynamoDBAdapter as _DynamoDBAdapter
from ._dynamodb_adapter import _store_errors as _store_errors
from ._dynamodb_items import _DISCARDED as _DISCARDED
from ._dynamodb_items import _RUN_SK as _RUN_SK
from ._dynamodb_items import _RUNS_PARTITION as _RUNS_PARTITION
from ._dynamodb_items import GSI1, Item, sortable_time
from ._dynamodb_items import _corrupt as _corrupt
from ._dynamodb_items import _decode_metric as _decode_metric
from ._dynamodb_items import _encode_metric as _encode_metric
from ._dynamodb_items import _experiment_from_item as _experiment_from_item
from ._dynamodb_items import _field_adapter as _field_adapter
from ._dynamodb_items import _from_attribute as _from_attribute
from ._dynamodb_items import _is_discarded as _is_discarded
from ._dynamodb_items import _json_fields as _json_fields
from ._dynamodb_items import _run_from_item as _run_from_item
from ._dynamodb_items import _run_pk as _run_pk
from ._dynamodb_items import _run_to_item as _run_to_item
from ._dynamodb_items import _s as _s
from ._dynamodb_items import _to_attribute as _to_attribute

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["GSI1", "DynamoDBMetadataTracker", "DynamoDBMetricsTracker", "sortable_time"]


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
