"""Parametrised adapters for the port contract suites: every test runs on the local adapters (SQLite, a
folder) and on the AWS adapters (DynamoDB, S3) under moto.

Factories (``make_*``) return new adapter instances on one shared store, for tests that need two writers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker, DynamoDBMetricsTracker
from hyperparameter_tuner.aws.s3 import S3VersionControl
from hyperparameter_tuner.local.files import FolderVersionControl
from hyperparameter_tuner.local.sqlite import SQLiteDatabase, SQLiteMetadataTracker, SQLiteMetricsTracker
from hyperparameter_tuner.ports import MetadataTracker, MetricsTracker, ResourceVersionControl

TABLE = "tuner-contract"
BUCKET = "tuner-contract-artifacts"
DYNAMODB_PAGE_SIZE = 7
"""``page_size`` of the DynamoDB metadata tracker here: small, so that a few dozen records span several pages."""

ITEMS_FOR_SEVERAL_PAGES = {"sqlite": 1201, "dynamodb": 3 * DYNAMODB_PAGE_SIZE + 2}
"""How many experiment records make ``iter_experiments`` read more than one page, per adapter."""


@pytest.fixture
def mocked_aws(aws_credentials: None) -> Iterator[None]:
    """Fake credentials and region (``aws_credentials``), and moto's mock of every service for the test."""
    with mock_aws():
        yield


def _serialise_moto_dynamodb_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each moto DynamoDB write request atomic, as every request is on DynamoDB.

    moto 5.2.5 applies a request without a lock (an ``UpdateItem`` that creates its item puts an empty item,
    then updates it), so two threads can lose an ``ADD``. With one lock per request, the concurrency tests check
    the adapter (one atomic request, or a read-modify-write that would lose updates), not moto.
    """
    from moto.dynamodb.responses import DynamoHandler

    # Lock the whole request handler: moto reads the old item for ReturnValues before it calls the backend.
    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoHandler, name)

        def locked(*args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        monkeypatch.setattr(DynamoHandler, name, locked)


@pytest.fixture
def dynamodb_table(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The single table of ``template.yaml``'s shape: string keys PK/SK and the GSI1 index."""
    _serialise_moto_dynamodb_writes(monkeypatch)
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "GSI1PK", "GSI1SK")
        ],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "GSI1",
            "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )
    return TABLE


@pytest.fixture
def s3_bucket() -> str:
    """Name of the versioned artifact bucket ``s3_client`` creates."""
    return BUCKET


@pytest.fixture
def s3_client(mocked_aws: None) -> Any:
    """An S3 client on moto, with the versioned artifact bucket created."""
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


def _dynamodb_client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture(params=["sqlite", "dynamodb"])
def make_metadata_tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], MetadataTracker]:
    """A factory of metadata trackers sharing one store (each call: a new instance with its own client)."""
    if request.param == "sqlite":
        path = tmp_path / "tuner.db"
        return lambda: SQLiteMetadataTracker(SQLiteDatabase(path))
    table = request.getfixturevalue("dynamodb_table")
    return lambda: DynamoDBMetadataTracker(table, client=_dynamodb_client(), page_size=DYNAMODB_PAGE_SIZE)


@pytest.fixture
def metadata_tracker(make_metadata_tracker: Callable[[], MetadataTracker]) -> MetadataTracker:
    """Each metadata tracker adapter, on an empty store."""
    return make_metadata_tracker()


@pytest.fixture
def items_for_several_pages(request: pytest.FixtureRequest) -> int:
    """How many records make the current metadata tracker's ``iter_experiments`` read several pages."""
    return ITEMS_FOR_SEVERAL_PAGES[request.node.callspec.params["make_metadata_tracker"]]


@pytest.fixture(params=["sqlite", "dynamodb"])
def metrics_tracker(request: pytest.FixtureRequest, tmp_path: Path) -> MetricsTracker:
    """Each metrics tracker adapter, on an empty store."""
    if request.param == "sqlite":
        return SQLiteMetricsTracker(SQLiteDatabase(tmp_path / "tuner.db"))
    return DynamoDBMetricsTracker(request.getfixturevalue("dynamodb_table"), client=_dynamodb_client())


@pytest.fixture(params=["folder", "s3"])
def version_control(request: pytest.FixtureRequest, tmp_path: Path) -> ResourceVersionControl:
    """Each resource version control adapter, on an empty store (for S3: a versioned bucket)."""
    if request.param == "folder":
        return FolderVersionControl(tmp_path / "artifacts")
    return S3VersionControl(BUCKET, client=request.getfixturevalue("s3_client"))
