"""The Map never runs more trainers at once than the trainer may scale to.

``TrainerReservedConcurrency`` reserves the trainer's concurrency and reaches the fan-out as ``TRAINER_CONCURRENCY``;
the fan-out caps the execution input's ``max_concurrency`` at it; the Map reads its ``MaxConcurrencyPath`` from that
input. The emulator check (peak concurrent trainer invocations) is in ``tests/e2e/test_faults.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
import pytest
import yaml
from moto import mock_aws

from hyperparameter_tuner.aws.events import RunRequest
from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import Services, fan_out

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "statemachine" / "tuning.asl.json"
BUCKET, TABLE = "hpt-concurrency-bucket", "hpt-concurrency-table"
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:hpt-concurrency"


def test_fan_out_gets_trainer_concurrency_from_the_trainers_reserved_concurrency(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    fan_out_env = resources["FanOutFunction"]["Properties"]["Environment"]["Variables"]
    trainer = resources["TrainerFunction"]["Properties"]

    assert fan_out_env["TRAINER_CONCURRENCY"] == {"Ref": "TrainerReservedConcurrency"}
    assert trainer["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasTrainerReservedConcurrency", {"Ref": "TrainerReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert template["Conditions"]["HasTrainerReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "TrainerReservedConcurrency"}, 0]}]
    }


def test_settings_read_trainer_concurrency_from_the_environment() -> None:
    base = {"BUCKET_NAME": BUCKET, "TABLE_NAME": TABLE}

    assert Settings.from_env({**base, "TRAINER_CONCURRENCY": "50"}).trainer_concurrency == 50
    assert Settings.from_env({**base, "TRAINER_CONCURRENCY": "0"}).trainer_concurrency == 0
    assert Settings.from_env(base).trainer_concurrency == 0


def test_the_map_reads_max_concurrency_from_the_execution_input() -> None:
    definition = json.loads(ASL_PATH.read_text())
    train = definition["States"]["TrainBatches"]

    assert train["MaxConcurrencyPath"] == "$.max_concurrency"
    assert "MaxConcurrency" not in train


@pytest.fixture
def deployment(tmp_path: Path, iris_arrays: dict[str, np.ndarray],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                                  for name in ("PK", "SK", "GSI1PK", "GSI1SK")],
            GlobalSecondaryIndexes=[{"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"}, "KeySchema": [
                {"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}]}],
        )
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        trivial = {"StartAt": "D", "States": {"D": {"Type": "Pass", "End": True}}}
        sfn.create_state_machine(name="hpt-concurrency", roleArn="arn:aws:iam::123456789012:role/x",
                                 definition=json.dumps(trivial))
        split = tmp_path / "split.npz"
        np.savez(split, **iris_arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
        s3.put_object(Bucket=BUCKET, Key="datasets/iris/split.npz", Body=split.read_bytes())
        version = s3.head_object(Bucket=BUCKET, Key="datasets/iris/split.npz")["VersionId"]

        def start(trainer_concurrency: int, max_concurrency: int) -> dict[str, Any]:
            config = {"training_params": {"LogisticRegression": {"C": [0.1, 0.5, 1.0, 2.0, 5.0]}},
                      "metrics": ["accuracy"], "perf_metric": "accuracy", "max_concurrency": max_concurrency}
            s3.put_object(Bucket=BUCKET, Key="datasets/iris/tuning.yaml", Body=yaml.safe_dump(config).encode())
            settings = Settings(bucket_name=BUCKET, table_name=TABLE, state_machine_arn=STATE_MACHINE_ARN,
                                trainer_concurrency=trainer_concurrency, data_cache_dir=str(tmp_path / "cache"))
            services = Services(settings=settings, s3=s3, dynamodb=dynamodb, sfn=sfn)
            request = RunRequest(trigger="upload", dataset="iris", bucket=BUCKET,
                                 data_key="datasets/iris/split.npz", data_version=version)
            result = fan_out(request, services)
            assert result.status == "STARTED", result
            assert result.execution_arn is not None
            payload: dict[str, Any] = json.loads(sfn.describe_execution(executionArn=result.execution_arn)["input"])
            return payload

        yield SimpleNamespace(start=start)


@pytest.mark.parametrize(("trainer_concurrency", "max_concurrency", "expected"), [
    (2, 10, 2),  # the reserved concurrency caps the config
    (50, 3, 3),  # a config below the reservation is kept
    (0, 10, 10),  # nothing reserved: the config decides
])
def test_fan_out_caps_the_executions_max_concurrency_at_the_trainers(
    deployment: SimpleNamespace, trainer_concurrency: int, max_concurrency: int, expected: int,
) -> None:
    payload = deployment.start(trainer_concurrency, max_concurrency)

    assert payload["max_concurrency"] == expected
    assert set(payload) == {"run_id", "bucket", "manifest_key", "max_concurrency", "rung", "last_rung"}
