"""The champion tracker on the deployment's DynamoDB table (the single-table design of :mod:`._dynamodb_items`).

* current champion: ``PK=CHAMP#<dataset>``, ``SK=CURRENT``; ``version`` (N), ``doc`` (the champion as JSON).
* one decision: ``PK=CHAMP#<dataset>``, ``SK=DEC#<key>`` (``run:<run_id>`` or ``manual:<version>``); ``version``
  (N), ``doc`` (the decision as JSON). ``history`` queries the partition and orders by ``version``.

``record_decision`` is one ``TransactWriteItems``: the champion item written (a promotion) or its version bumped (a
kept champion) on the condition that its version is still the expected one, and the decision item put on the
condition that no decision has its key. Two runs finishing at once cannot both win: DynamoDB cancels one of the
two transactions (condition failed, or a transaction conflict) and that run decides again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..champion import Champion, ChampionDecision
from ..ports import ChampionTracker
from ._common import error_code
from ._dynamodb_adapter import _DynamoDBAdapter
from ._dynamodb_items import _corrupt, _s

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoDBChampionTracker"]

_CURRENT = "CURRENT"
_DECISION = "DEC#"


def _pk(dataset: str) -> dict[str, str]:
    return _s(f"CHAMP#{dataset}")


class DynamoDBChampionTracker(_DynamoDBAdapter, ChampionTracker):
    """:class:`~hyperparameter_tuner.ports.ChampionTracker` on a DynamoDB table (see the module docstring).

    Parameters
    ----------
    table_name : str
        Name of the table (string keys ``PK``, ``SK``).
    client : DynamoDBClient, optional
        A low-level boto3 DynamoDB client; ``boto3.client("dynamodb")`` is created on first use when omitted.
    """

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        super().__init__(table_name, client)

    def get_champion(self, dataset: str) -> Champion | None:
        with self._errors(f"get the champion of {dataset!r}"):
            item = self.client.get_item(TableName=self.table_name, Key={"PK": _pk(dataset), "SK": _s(_CURRENT)},
                                        ConsistentRead=True).get("Item")
        if item is None:
            return None
        try:
            champion = Champion.model_validate_json(item["doc"]["S"])
            return champion.model_copy(update={"version": int(item["version"]["N"])})
        except (ValueError, TypeError, KeyError) as exc:
            raise _corrupt(self.table_name, f"champion of {dataset}", exc) from exc

    def record_decision(self, decision: ChampionDecision, champion: Champion | None,
                        expected_version: int) -> ChampionDecision | None:
        version = expected_version + 1
        stored = decision.model_copy(update={"version": version})
        key = {"PK": _pk(decision.dataset), "SK": _s(_CURRENT)}
        expected: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"} if expected_version == 0 else {
            "ConditionExpression": "#v = :expected", "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
        }
        if champion is not None:
            doc = champion.model_copy(update={"version": version}).model_dump_json()
            current: dict[str, Any] = {"Put": {"TableName": self.table_name, **expected, "Item": {
                **key, "version": {"N": str(version)}, "doc": _s(doc), "dataset": _s(decision.dataset)}}}
        else:
            bump = {"#v": "version"}
            values = {**expected.get("ExpressionAttributeValues", {}), ":new": {"N": str(version)}}
            current = {"Update": {"TableName": self.table_name, "Key": key, "UpdateExpression": "SET #v = :new",
                                  "ConditionExpression": expected["ConditionExpression"],
                                  "ExpressionAttributeNames": bump, "ExpressionAttributeValues": values}}
        history = {"Put": {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(PK)", "Item": {
            "PK": _pk(decision.dataset), "SK": _s(_DECISION + stored.key), "version": {"N": str(version)},
            "doc": _s(stored.model_dump_json()),
        }}}
        with self._errors(f"record a champion decision of {decision.dataset!r}"):
            try:
                self.client.transact_write_items(TransactItems=[current, history])  # type: ignore[list-item]
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise
                # A condition failed, or another transaction touched the items: either the decision is recorded
                # already (a retry), or the champion moved on and the caller decides again.
                return self.get_decision(decision.dataset, stored.key)
        return stored

    def _decision(self, item: dict[str, Any], dataset: str) -> ChampionDecision:
        try:
            return ChampionDecision.model_validate_json(item["doc"]["S"])
        except (ValueError, TypeError, KeyError) as exc:
            raise _corrupt(self.table_name, f"champion decision of {dataset}", exc) from exc

    def get_decision(self, dataset: str, key: str) -> ChampionDecision | None:
        with self._errors(f"get a champion decision of {dataset!r}"):
            item = self.client.get_item(TableName=self.table_name,
                                        Key={"PK": _pk(dataset), "SK": _s(_DECISION + key)},
                                        ConsistentRead=True).get("Item")
        return None if item is None else self._decision(item, dataset)

    def history(self, dataset: str) -> list[ChampionDecision]:
        decisions = [
            self._decision(item, dataset)
            for page in self._query(KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                                    ExpressionAttributeValues={":pk": _pk(dataset), ":prefix": _s(_DECISION)},
                                    ConsistentRead=True)
            for item in page
        ]
        return sorted(decisions, key=lambda decision: decision.version)
