"""What both DynamoDB trackers share: the table name, the injected (or lazily created) client, paginated
``Query`` and the translation of boto errors (a refused condition, or :class:`StoreError`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StoreError
from ._common import error_code
from ._dynamodb_items import Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__: list[str] = []

_CONDITION_FAILED = "ConditionalCheckFailedException"


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
