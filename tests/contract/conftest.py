"""Parametrised adapters for the port contract suites: every test runs on the local adapters (SQLite, a
folder) and on the AWS adapters (DynamoDB, S3) under moto.

Factories (``make_*``) return new adapter instances on one shared store, for tests that need two writers.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker, DynamoDBMetricsTracker
from hyperparameter_tuner.aws.s3 import S3VersionControl, parse_s3_uri
from hyperparameter_tuner.local.files import FolderVersionControl, artifact_path
from hyperparameter_tuner.local.sqlite import SQLiteDatabase, SQLiteMetadataTracker, SQLiteMetricsTracker
from hyperparameter_tuner.ports import MetadataTracker, MetricsTracker, ResourceVersionControl
from hyperparameter_tuner.records import ArtifactRef

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


# -- faults, per adapter: each test of a contract case injects a real fault of the backend under test ----------


class MetadataFaults:
    """Real faults of the metadata store under test: a garbled record, a store whose tables are gone."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.path = tmp_path / "tuner.db"

    def _sqlite(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(sql, args)
        finally:
            conn.close()

    def garble_experiment(self, run_id: str, experiment_id: str) -> None:
        """Overwrite the stored document of an experiment with text that is not JSON."""
        if self.kind == "sqlite":
            self._sqlite("UPDATE experiments SET doc = ? WHERE run_id = ? AND experiment_id = ?",
                         ('{"run_id": "truncated', run_id, experiment_id))
            return
        _dynamodb_client().update_item(
            TableName=TABLE, Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": f"EXP#{experiment_id}"}},
            UpdateExpression="SET #doc = :bad", ExpressionAttributeNames={"#doc": "doc"},
            ExpressionAttributeValues={":bad": {"S": '{"run_id": "truncated'}},
        )

    def garble_run(self, run_id: str) -> None:
        """Make a stored run unreadable (a required field holds a value of the wrong kind)."""
        if self.kind == "sqlite":
            self._sqlite("UPDATE runs SET doc = ? WHERE run_id = ?", ("[1, 2", run_id))
            return
        _dynamodb_client().update_item(
            TableName=TABLE, Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}},
            UpdateExpression="SET #c = :bad", ExpressionAttributeNames={"#c": "config"},
            ExpressionAttributeValues={":bad": {"S": "{not json"}},
        )

    def destroy(self) -> None:
        """Take the store away under the adapter: the tables are dropped (SQLite) or the table deleted."""
        if self.kind == "sqlite":
            for table in ("runs", "experiments", "model_versions", "metrics"):
                self._sqlite(f"DROP TABLE {table}")
            return
        _dynamodb_client().delete_table(TableName=TABLE)


@pytest.fixture
def metadata_faults(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataFaults:
    """Fault injection for the metadata tracker adapter of the current test."""
    return MetadataFaults(request.node.callspec.params["make_metadata_tracker"], tmp_path)


class ArtifactFaults:
    """Real faults of the artifact store under test: an artifact deleted or overwritten in place, a store that
    cannot be written."""

    def __init__(self, kind: str, tmp_path: Path, s3: Any = None) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.s3 = s3

    def delete(self, ref: ArtifactRef) -> None:
        """Delete exactly the referenced artifact (the file; the S3 version)."""
        if self.kind == "folder":
            (self.tmp_path / "artifacts" / artifact_path(ref.sha256)).unlink()
            return
        bucket, key = parse_s3_uri(ref.uri)
        self.s3.delete_object(Bucket=bucket, Key=key, VersionId=ref.version_id)

    def overwrite(self, ref: ArtifactRef, data: bytes) -> None:
        """Write other bytes where the artifact lives: in place for a folder, as a new version of the key on S3,
        with metadata claiming the recorded SHA-256."""
        if self.kind == "folder":
            (self.tmp_path / "artifacts" / artifact_path(ref.sha256)).write_bytes(data)
            return
        bucket, key = parse_s3_uri(ref.uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"sha256": ref.sha256})

    def unwritable(self) -> ResourceVersionControl:
        """An adapter whose store cannot take writes: its folder is a regular file; its bucket does not exist."""
        if self.kind == "folder":
            blocker = self.tmp_path / "not-a-folder"
            blocker.write_bytes(b"")
            return FolderVersionControl(blocker)
        return S3VersionControl("tuner-contract-no-such-bucket", client=self.s3)


@pytest.fixture
def artifact_faults(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactFaults:
    """Fault injection for the resource version control adapter of the current test."""
    kind = request.node.callspec.params["version_control"]
    return ArtifactFaults(kind, tmp_path, request.getfixturevalue("s3_client") if kind == "s3" else None)


def garble_metrics(kind: str, tmp_path: Path, run_id: str, experiment_id: str, split: str) -> None:
    """Overwrite a logged metric value with text that is not a number (SQLite) or not JSON (DynamoDB)."""
    if kind == "sqlite":
        with sqlite3.connect(tmp_path / "tuner.db") as conn:
            conn.execute("UPDATE metrics SET value = 'n/a' WHERE run_id = ? AND experiment_id = ? AND split = ?",
                         (run_id, experiment_id, split))
        return
    _dynamodb_client().update_item(
        TableName=TABLE, Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": f"MET#{experiment_id}#{split}"}},
        UpdateExpression="SET #m = :bad", ExpressionAttributeNames={"#m": "metrics"},
        ExpressionAttributeValues={":bad": {"S": '{"accuracy": 0.9'}},
    )


@pytest.fixture
def metrics_faults(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, str, str], None]:
    """``metrics_faults(run_id, experiment_id, split)`` garbles that logged split in the current adapter's store."""
    kind = request.node.callspec.params["metrics_tracker"]
    return lambda run_id, experiment_id, split: garble_metrics(kind, tmp_path, run_id, experiment_id, split)
