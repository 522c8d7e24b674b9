"""What the workflow's handlers share: :class:`Services` (settings, AWS clients and caches of one Lambda container)
and the CloudWatch counter every step emits."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import TuningConfig
from ..data import DEFAULT_MAX_DATA_BYTES, SplitData, load_split
from ..errors import DataError
from ..records import Run
from ._common import parse_s3_uri
from .s3data import fetch_split
from .settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

    from .tuner import StepFunctionsTuner

__all__ = ["Services"]


class Services:
    """Settings, AWS clients and caches shared by the warm invocations of one Lambda container.

    Clients are injected (tests, the emulator) or created on first use, so an invocation pays only for the
    clients its path needs and a cold start imports no more than the handler module.
    """

    def __init__(self, settings: Settings, s3: S3Client | None = None, dynamodb: DynamoDBClient | None = None,
                 sfn: SFNClient | None = None, events: EventBridgeClient | None = None,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._clients: dict[str, Any] = {"s3": s3, "dynamodb": dynamodb, "stepfunctions": sfn, "events": events}
        self._clients_lock = threading.Lock()
        self._data: dict[str, SplitData] = {}
        self._data_lock = threading.Lock()

    @classmethod
    def create(cls, settings: Settings, metrics: Metrics | None = None) -> Services:
        """Services for a handler (call once, at module level); clients are created when first used."""
        return cls(settings, metrics=metrics)

    def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is None:
            with self._clients_lock:  # boto3's default session is not thread-safe
                client = self._clients.get(service)
                if client is None:
                    import boto3

                    client = self._clients[service] = boto3.client(service)  # type: ignore[call-overload]
        return client

    @property
    def s3(self) -> S3Client:
        """The S3 client."""
        client: S3Client = self._client("s3")
        return client

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client."""
        client: DynamoDBClient = self._client("dynamodb")
        return client

    @property
    def sfn(self) -> SFNClient:
        """The Step Functions client."""
        client: SFNClient = self._client("stepfunctions")
        return client

    @property
    def events(self) -> EventBridgeClient:
        """The EventBridge client."""
        client: EventBridgeClient = self._client("events")
        return client

    def tuner(self, config: TuningConfig) -> StepFunctionsTuner:
        """A tuner on this deployment's table and bucket, for ``config``."""
        from .tuner import StackResources, StepFunctionsTuner

        resources = StackResources(bucket=self.settings.bucket_name, table=self.settings.table_name,
                                   state_machine_arn=self.settings.state_machine_arn)
        return StepFunctionsTuner(config=config, resources=resources, s3=self.s3, dynamodb=self.dynamodb,
                                  metrics_sink=self.metrics, max_experiments=self.settings.max_experiments)

    def metadata(self) -> Any:
        """The run/experiment tracker on this deployment's table."""
        from .dynamodb import DynamoDBMetadataTracker

        return DynamoDBMetadataTracker(self.settings.table_name, client=self.dynamodb)

    def load_data(self, run: Run, target: str, max_data_bytes: int | None = DEFAULT_MAX_DATA_BYTES) -> SplitData:
        """Load a run's split, cached in memory and in ``/tmp`` across warm invocations, checked against the
        fingerprint the fan-out recorded (and against the config's ``max_data_bytes``)."""
        with self._data_lock:  # one download per container, even when invocations share it (the emulator)
            return self._load_data(run, target, max_data_bytes)

    def _load_data(self, run: Run, target: str, max_data_bytes: int | None) -> SplitData:
        cached = self._data.get(run.data_fingerprint)
        if cached is not None:
            return cached
        dest = Path(self.settings.data_cache_dir) / run.data_fingerprint
        bucket, data_key = parse_s3_uri(run.data_uri)
        fetched = fetch_split(self.s3, bucket, data_key, dest, versions=run.data_versions, target=target,
                              max_data_bytes=max_data_bytes)
        if fetched.fingerprint != run.data_fingerprint:
            shutil.rmtree(dest, ignore_errors=True)
            raise DataError(f"{run.data_uri}: the data changed since the run started (fingerprint mismatch)")
        split = load_split(fetched.path, target, max_data_bytes)
        split.source, split.fingerprint = run.data_uri, run.data_fingerprint
        self._data.clear()  # one split per container is plenty; don't grow /tmp-backed memory without bound
        self._data[run.data_fingerprint] = split
        return split


def _count(services: Services, name: str, value: float = 1) -> None:
    """Emit one CloudWatch metric (EMF) when the handler gave us a Powertools ``Metrics``."""
    if services.metrics is not None:
        from aws_lambda_powertools.metrics import MetricUnit

        services.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

