"""The Lambda handlers (``functions/*/app.py``) fed the ``events/`` files, under moto.

Each handler module is imported after the mock has started (its boto3 clients are created at import, as at a
cold start), with the environment ``template.yaml`` gives the function, under a module name of its own.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import numpy as np
import pytest
import yaml
from moto import mock_aws

from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
from hyperparameter_tuner.emulator import Template, load_template
from hyperparameter_tuner.records import Experiment, ExperimentStatus, Run, RunStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "hpt-emulator-databucket-123456789012"  # the bucket named in events/*.json
TABLE = "hpt-test-TuningTable"
STATE_MACHINE = "hpt-test-tuning"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE}"
TRIVIAL_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})

CONFIG: dict[str, Any] = {
    "name": "iris-handlers",
    "training_params": {
        "DecisionTreeClassifier": {"max_depth": [1, 2, 3]},
        "KNeighborsClassifier": {"n_neighbors": [3, 7]},
    },
    "metrics": ["accuracy", "f1_macro"],
    "perf_metric": "accuracy",
    "max_concurrency": 2,
    "seed": 7,
}
TOTAL = 5  # 3 + 2 experiments (fast fits); max_concurrency 2 -> batches [0, 3) and [3, 5)

LoadEvent = Callable[[str], dict[str, Any]]
LoadHandler = Callable[[str], ModuleType]


# -- the deployment, in moto ------------------------------------------------------------------------------------


@functools.cache
def _template() -> Template:
    return load_template(REPO_ROOT / "template.yaml")


def _template_environment(logical_id: str) -> dict[str, str]:
    """The function's environment as ``template.yaml`` sets it (Globals merged), with this test's names."""
    template = _template()
    refs = {name: str(parameter.get("Default", "")) for name, parameter in template.body["Parameters"].items()}
    refs.update({"DataBucket": BUCKET, "TuningTable": TABLE, "TuningStateMachine": STATE_MACHINE_ARN})
    variables = template.properties(logical_id)["Environment"]["Variables"]
    return {name: refs[value["Ref"]] if isinstance(value, dict) else str(value) for name, value in variables.items()}


@pytest.fixture
def aws(aws_credentials: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SimpleNamespace]:
    """moto with the template's bucket (versioned), table (its key schema) and a state machine (not executed)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here
    monkeypatch.setenv("DATA_CACHE_DIR", str(tmp_path / "lambda-tmp"))
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        table = _template().properties("TuningTable")
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE, BillingMode=table["BillingMode"], KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"], GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        created = sfn.create_state_machine(
            name=STATE_MACHINE, definition=TRIVIAL_DEFINITION, roleArn=f"arn:aws:iam::{ACCOUNT}:role/hpt-test",
        )
        assert created["stateMachineArn"] == STATE_MACHINE_ARN
        yield SimpleNamespace(
            s3=s3, dynamodb=dynamodb, sfn=sfn, metadata=DynamoDBMetadataTracker(TABLE, client=dynamodb),
        )


@pytest.fixture
def load_handler(aws: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoadHandler]:
    """``load_handler("fan_out")``: import ``functions/fan_out/app.py`` (a cold start) under a unique name."""
    logical_ids = {"fan_out": "FanOutFunction", "trainer": "TrainerFunction", "reducer": "ReducerFunction",
                   "promote": "PromoteFunction", "champion": "ChampionFunction"}
    loaded: list[str] = []

    def _load(name: str) -> ModuleType:
        for variable, value in _template_environment(logical_ids[name]).items():
            monkeypatch.setenv(variable, value)
        module_name = f"_hpt_test_{name}_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / "functions" / name / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        loaded.append(module_name)
        spec.loader.exec_module(module)
        return module

    yield _load
    for module_name in loaded:
        sys.modules.pop(module_name, None)


@pytest.fixture
def upload(aws: SimpleNamespace) -> Callable[..., dict[str, Any]]:
    """``upload(key, body)``: put an object in the data bucket; return its head (version id, ETag, size)."""

    def _upload(key: str, body: bytes | str) -> dict[str, Any]:
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)
        head: dict[str, Any] = aws.s3.head_object(Bucket=BUCKET, Key=key)
        return head

    return _upload


def _as_delivered(event: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """The event file with the uploaded object's real version id, ETag and size, as S3 would deliver it."""
    obj = event["detail"]["object"]
    obj.update({"version-id": head.get("VersionId", "null"), "etag": head["ETag"].strip('"'),
                "size": head["ContentLength"]})
    return event


@pytest.fixture
def iris_upload(
    upload: Callable[..., dict[str, Any]], iris_npz: Path, load_event: LoadEvent
) -> Callable[..., dict[str, Any]]:
    """``iris_upload(config=CONFIG)``: config and split in the bucket; return the S3 event for the split."""

    def _upload(config: dict[str, Any] | str = CONFIG, data: Path = iris_npz) -> dict[str, Any]:
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        upload("datasets/iris/tuning.yaml", text)
        head = upload("datasets/iris/iris.npz", data.read_bytes())
        return _as_delivered(load_event("fan_out_s3_npz"), head)

    return _upload


def executions(aws: SimpleNamespace) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = aws.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
    return found


def keys_under(aws: SimpleNamespace, prefix: str) -> list[str]:
    reply = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in reply.get("Contents", [])]


def model_versions(aws: SimpleNamespace) -> set[tuple[str, str]]:
    reply = aws.s3.list_object_versions(Bucket=BUCKET, Prefix="models/")
    return {(v["Key"], v["VersionId"]) for v in reply.get("Versions", [])}


def run_item(aws: SimpleNamespace, run_id: str) -> dict[str, Any]:
    item: dict[str, Any] = aws.dynamodb.get_item(
        TableName=TABLE, Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}}, ConsistentRead=True
    )["Item"]
    return item


def not_running(aws: SimpleNamespace) -> bool:
    """No run in the table is anything but FAILED (a rejected event may be recorded as a failed run)."""
    runs = [item for item in aws.dynamodb.scan(TableName=TABLE)["Items"] if item["SK"]["S"] == "RUN"]
    return all(item["status"]["S"] == "FAILED" and item["input_error"]["BOOL"] for item in runs)


def experiments(aws: SimpleNamespace, run_id: str) -> list[Experiment]:
    return sorted(aws.metadata.iter_experiments(run_id), key=lambda e: e.index)


# -- fan-out ----------------------------------------------------------------------------------------------------


def test_fan_out_s3_event_starts_one_run(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any,
) -> None:
    # Given
    event = iris_upload()
    fan_out = load_handler("fan_out")

    # When
    result = fan_out.lambda_handler(event, lambda_context)

    # Then: the handler's reply
    assert result["status"] == "STARTED", result
    assert (result["total"], result["batches"]) == (TOTAL, 2)
    run_id = result["run_id"]
    # the run record
    run = aws.metadata.get_run(run_id)
    assert run.status is RunStatus.RUNNING
    assert (run.total, run.batches) == (TOTAL, 2)
    assert run.data_uri == f"s3://{BUCKET}/datasets/iris/iris.npz"
    assert run.data_versions == {"datasets/iris/iris.npz": event["detail"]["object"]["version-id"]}
    assert run.execution_arn == result["execution_arn"]
    assert run.input_error is False
    # the manifest: every grid index exactly once, in numbered batches of this run
    manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=f"runs/{run_id}/manifest.json")["Body"].read())
    assert [item["batch"] for item in manifest] == list(range(len(manifest))) == [0, 1]
    assert {item["run_id"] for item in manifest} == {run_id}
    assert sorted(i for item in manifest for i in range(item["start"], item["stop"])) == list(range(TOTAL))
    # the execution, named by the run id, with small input (keys and ids only)
    (execution,) = executions(aws)
    assert execution["name"] == run_id
    assert execution["executionArn"] == result["execution_arn"]
    started = json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert started == {"run_id": run_id, "bucket": BUCKET, "manifest_key": f"runs/{run_id}/manifest.json",
                       "max_concurrency": 2, "rung": 0, "last_rung": True}


def test_fan_out_same_event_twice_is_one_run(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any,
) -> None:
    # Given: S3 delivers at least once
    event = iris_upload()
    fan_out = load_handler("fan_out")
    first = fan_out.lambda_handler(event, lambda_context)

    # When
    second = fan_out.lambda_handler(event, lambda_context)

    # Then
    assert first["status"] == "STARTED"
    assert second["status"] == "DUPLICATE", second
    assert second["run_id"] == first["run_id"]
    assert second["execution_arn"] == first["execution_arn"]
    assert [e["name"] for e in executions(aws)] == [first["run_id"]]


def test_fan_out_new_version_of_the_split_is_a_new_run(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any,
) -> None:
    fan_out = load_handler("fan_out")
    first = fan_out.lambda_handler(iris_upload(), lambda_context)
    second = fan_out.lambda_handler(iris_upload(), lambda_context)  # same bytes, new S3 version
    assert (first["status"], second["status"]) == ("STARTED", "STARTED")
    assert first["run_id"] != second["run_id"]
    assert len(executions(aws)) == 2


def test_fan_out_s3_event_of_an_unversioned_object_starts_a_run(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any,
) -> None:
    # Given: versioning suspended, so S3 sends no version-id (only the ETag) and the object's version is "null"
    aws.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    event = iris_upload()
    del event["detail"]["object"]["version-id"]

    # When
    result = load_handler("fan_out").lambda_handler(event, lambda_context)

    # Then
    assert result["status"] == "STARTED", result
    assert [e["name"] for e in executions(aws)] == [result["run_id"]]


def test_fan_out_csv_success_marker_starts_a_run_on_the_folder(
    aws: SimpleNamespace, load_handler: LoadHandler, upload: Callable[..., dict[str, Any]], csv_split: Path,
    load_event: LoadEvent, lambda_context: Any,
) -> None:
    # Given: the CSV files, then the _SUCCESS marker written last
    upload("datasets/diabetes/tuning.yaml", yaml.safe_dump(CONFIG, sort_keys=False))
    for name in ("train.csv", "validation.csv", "test.csv"):
        upload(f"datasets/diabetes/split-1/{name}", (csv_split / name).read_bytes())
    head = upload("datasets/diabetes/split-1/_SUCCESS", b"")
    event = _as_delivered(load_event("fan_out_s3_csv_success"), head)

    # When
    result = load_handler("fan_out").lambda_handler(event, lambda_context)

    # Then
    assert result["status"] == "STARTED", result
    run = aws.metadata.get_run(result["run_id"])
    assert run.data_uri == f"s3://{BUCKET}/datasets/diabetes/split-1/"
    assert sorted(run.data_versions) == [f"datasets/diabetes/split-1/{n}" for n in ("test.csv", "train.csv",
                                                                                     "validation.csv")]
    assert [e["name"] for e in executions(aws)] == [result["run_id"]]


def test_fan_out_schedule_event_tunes_the_latest_split(
    aws: SimpleNamespace, load_handler: LoadHandler, upload: Callable[..., dict[str, Any]], iris_npz: Path,
    iris_npz_no_val: Path, load_event: LoadEvent, lambda_context: Any,
) -> None:
    # Given: an older split listed first, and the latest one
    from moto.s3.models import s3_backends

    upload("datasets/iris/tuning.yaml", yaml.safe_dump(CONFIG, sort_keys=False))
    upload("datasets/iris/a-older.npz", iris_npz_no_val.read_bytes())
    latest = upload("datasets/iris/iris.npz", iris_npz.read_bytes())
    # moto lists LastModified to the second: age the older object so the order does not hang on the clock
    older = s3_backends[ACCOUNT]["aws"].buckets[BUCKET].keys["datasets/iris/a-older.npz"]
    older.last_modified = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)

    # When
    result = load_handler("fan_out").lambda_handler(load_event("fan_out_schedule"), lambda_context)

    # Then
    assert result["status"] == "STARTED", result
    run = aws.metadata.get_run(result["run_id"])
    assert run.data_uri == f"s3://{BUCKET}/datasets/iris/iris.npz"
    assert run.data_versions == {"datasets/iris/iris.npz": latest["VersionId"]}


def test_fan_out_schedule_for_a_dataset_without_split_is_rejected(
    aws: SimpleNamespace, load_handler: LoadHandler, load_event: LoadEvent, lambda_context: Any,
) -> None:
    result = load_handler("fan_out").lambda_handler(load_event("fan_out_schedule"), lambda_context)
    assert result["status"] == "REJECTED"
    assert "dataset 'iris' has no split" in result["reason"]
    assert not_running(aws)
    assert executions(aws) == []


def test_fan_out_direct_event_starts_a_run(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], load_event: LoadEvent,
    lambda_context: Any,
) -> None:
    # Given
    iris_upload()

    # When
    result = load_handler("fan_out").lambda_handler(load_event("fan_out_direct"), lambda_context)

    # Then
    assert result["status"] == "STARTED", result
    run = aws.metadata.get_run(result["run_id"])
    assert run.status is RunStatus.RUNNING
    assert run.data_uri == f"s3://{BUCKET}/datasets/iris/iris.npz"
    assert run.total == TOTAL
    assert [e["name"] for e in executions(aws)] == [result["run_id"]]


def test_fan_out_malformed_event_is_rejected_without_an_execution(
    aws: SimpleNamespace, load_handler: LoadHandler, load_event: LoadEvent, lambda_context: Any,
) -> None:
    # Given
    event = load_event("fan_out_s3_npz")
    event["detail"]["object"]["key"] = "datasets/iris/notes.txt"

    # When
    result = load_handler("fan_out").lambda_handler(event, lambda_context)

    # Then
    assert result["status"] == "REJECTED"
    assert "'datasets/iris/notes.txt' is not a split" in result["reason"]
    assert not_running(aws)
    assert executions(aws) == []
    assert keys_under(aws, "runs/") == []


def test_fan_out_invalid_config_records_a_failed_run_and_starts_nothing(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any,
) -> None:
    # Given: an unknown metric
    event = iris_upload({**CONFIG, "metrics": ["accuracy", "bogus_metric"]})

    # When
    result = load_handler("fan_out").lambda_handler(event, lambda_context)

    # Then
    assert result["status"] == "FAILED", result
    assert "metrics[1]" in result["reason"] and "bogus_metric" in result["reason"]
    run = aws.metadata.get_run(result["run_id"])
    assert run.status is RunStatus.FAILED
    assert run.input_error is True
    assert run.reason == result["reason"]
    assert run.reason.startswith(f"s3://{BUCKET}/datasets/iris/tuning.yaml: ")
    assert executions(aws) == []
    assert keys_under(aws, "runs/") == []


def test_fan_out_failed_run_is_not_retried_by_a_duplicate_event(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any,
) -> None:
    event = iris_upload({**CONFIG, "perf_metric": "r2"})
    fan_out = load_handler("fan_out")
    first = fan_out.lambda_handler(event, lambda_context)
    second = fan_out.lambda_handler(event, lambda_context)
    assert first["status"] == "FAILED"
    assert "perf_metric" in first["reason"]
    assert second["status"] == "DUPLICATE"
    assert second["run_id"] == first["run_id"]
    assert executions(aws) == []


def test_fan_out_bad_data_records_a_failed_run_naming_the_array(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], tmp_path: Path,
    iris_arrays: dict[str, np.ndarray], lambda_context: Any,
) -> None:
    # Given: a split without y_test
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{name: value for name, value in iris_arrays.items() if name != "y_test"})  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    event = iris_upload(data=broken)

    # When
    result = load_handler("fan_out").lambda_handler(event, lambda_context)

    # Then
    assert result["status"] == "FAILED", result
    assert "'y_test' is missing" in result["reason"]
    run = aws.metadata.get_run(result["run_id"])
    assert (run.status, run.input_error) == (RunStatus.FAILED, True)
    assert "'y_test'" in (run.reason or "")
    assert run.data_uri == f"s3://{BUCKET}/datasets/iris/iris.npz"
    assert executions(aws) == []
    assert keys_under(aws, "runs/") == []


# -- trainer ----------------------------------------------------------------------------------------------------


@pytest.fixture
def started_run(
    load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], lambda_context: Any
) -> dict[str, Any]:
    """A run the fan-out handler started on the iris split (its reply)."""
    result: dict[str, Any] = load_handler("fan_out").lambda_handler(iris_upload(), lambda_context)
    assert result["status"] == "STARTED", result
    return result


def test_trainer_trains_its_batch_and_saves_every_model(
    aws: SimpleNamespace, started_run: dict[str, Any], load_handler: LoadHandler, load_event: LoadEvent,
    lambda_context: Any,
) -> None:
    # Given
    event = {**load_event("trainer_batch"), "run_id": started_run["run_id"]}
    trainer = load_handler("trainer")

    # When
    result = trainer.lambda_handler(event, lambda_context)

    # Then
    assert result == {
        "run_id": started_run["run_id"], "batch": 0, "succeeded": 4, "failed": 0, "reused": 0, "skipped": 0
    }
    records = experiments(aws, started_run["run_id"])
    assert [e.index for e in records] == [0, 1, 2, 3]
    assert {e.status for e in records} == {ExperimentStatus.SUCCEEDED}
    for experiment in records:
        assert experiment.artifact is not None
        assert set(experiment.metrics) == {"accuracy", "f1_macro"}
        assert experiment.eval_split == "validation"
        assert experiment.artifact.uri == f"s3://{BUCKET}/models/{experiment.algo}/{experiment.experiment_id}.joblib"
        key = experiment.artifact.uri.removeprefix(f"s3://{BUCKET}/")
        body = aws.s3.get_object(Bucket=BUCKET, Key=key, VersionId=experiment.artifact.version_id)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == experiment.artifact.sha256
        assert len(body) == experiment.artifact.size


def test_trainer_rerun_of_a_batch_trains_nothing_new(
    aws: SimpleNamespace, started_run: dict[str, Any], load_handler: LoadHandler, load_event: LoadEvent,
    lambda_context: Any,
) -> None:
    # Given: the batch ran once
    event = {**load_event("trainer_batch"), "run_id": started_run["run_id"]}
    trainer = load_handler("trainer")
    trainer.lambda_handler(event, lambda_context)
    versions = model_versions(aws)
    records = experiments(aws, started_run["run_id"])

    # When: Step Functions retries it
    result = trainer.lambda_handler(event, lambda_context)

    # Then
    assert result == {
        "run_id": started_run["run_id"], "batch": 0, "succeeded": 0, "failed": 0, "reused": 4, "skipped": 0
    }
    assert model_versions(aws) == versions
    assert len(versions) == 4
    assert experiments(aws, started_run["run_id"]) == records


def test_trainer_records_a_failing_fit_as_a_failed_experiment(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]], load_event: LoadEvent,
    lambda_context: Any,
) -> None:
    # Given: max_depth must be positive, so the first fit raises inside scikit-learn
    config = {**CONFIG, "training_params": {"DecisionTreeClassifier": {"max_depth": [-1, 2]}}}
    started = load_handler("fan_out").lambda_handler(iris_upload(config), lambda_context)
    event = {**load_event("trainer_batch"), "run_id": started["run_id"]}

    # When
    result = load_handler("trainer").lambda_handler(event, lambda_context)

    # Then
    assert (result["succeeded"], result["failed"]) == (1, 1)
    failed, succeeded = experiments(aws, started["run_id"])
    assert failed.status is ExperimentStatus.FAILED
    assert failed.error_type and failed.error and "max_depth" in failed.error
    assert failed.artifact is None
    assert succeeded.status is ExperimentStatus.SUCCEEDED


# -- reducer ----------------------------------------------------------------------------------------------------


@pytest.fixture
def completion_queue(aws: SimpleNamespace) -> str:
    """An SQS queue receiving the completion events from the default bus (an EventBridge rule in moto)."""
    from hyperparameter_tuner.aws.workflow import COMPLETION_DETAIL_TYPE, COMPLETION_SOURCE

    sqs = boto3.client("sqs", region_name=REGION)
    url: str = sqs.create_queue(QueueName="hpt-completions")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="hpt-completed", EventPattern=json.dumps(
        {"source": [COMPLETION_SOURCE], "detail-type": [COMPLETION_DETAIL_TYPE]}
    ))
    events.put_targets(Rule="hpt-completed", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def received(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def _train_manifest(aws: SimpleNamespace, run_id: str, trainer: ModuleType, context: Any) -> None:
    manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=f"runs/{run_id}/manifest.json")["Body"].read())
    for item in manifest:
        trainer.lambda_handler(item, context)


def _candidate(experiment: Experiment) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """An experiment's trainer and grid parameters (without the ``random_state`` the tuner derives)."""
    return experiment.algo, tuple(sorted((k, v) for k, v in experiment.params.items() if k != "random_state"))


def _sklearn_validation_accuracy(
    arrays: dict[str, np.ndarray],
) -> dict[tuple[str, tuple[tuple[str, Any], ...]], float]:
    """The oracle: CONFIG's candidates fitted by scikit-learn directly, scored on the validation split.

    On iris, a tree's ``random_state`` changes no prediction at these depths (every seed gives the same accuracy),
    so the trees are fitted with ``random_state=0``.
    """
    from sklearn.metrics import accuracy_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    models: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
    for depth in CONFIG["training_params"]["DecisionTreeClassifier"]["max_depth"]:
        models["DecisionTreeClassifier", (("max_depth", depth),)] = DecisionTreeClassifier(max_depth=depth,
                                                                                           random_state=0)
    for k in CONFIG["training_params"]["KNeighborsClassifier"]["n_neighbors"]:
        models["KNeighborsClassifier", (("n_neighbors", k),)] = KNeighborsClassifier(n_neighbors=k)
    return {
        key: float(accuracy_score(arrays["y_val"], model.fit(arrays["X_train"], arrays["y_train"]).predict(
            arrays["X_val"])))
        for key, model in models.items()
    }


def test_reducer_picks_the_winner_closes_the_run_and_publishes_once(
    aws: SimpleNamespace, started_run: dict[str, Any], load_handler: LoadHandler, load_event: LoadEvent,
    completion_queue: str, lambda_context: Any, iris_arrays: dict[str, np.ndarray],
) -> None:
    # Given: every batch of the manifest trained
    run_id = started_run["run_id"]
    _train_manifest(aws, run_id, load_handler("trainer"), lambda_context)
    reducer = load_handler("reducer")
    event = {**load_event("reducer"), "run_id": run_id}

    # When
    result = reducer.lambda_handler(event, lambda_context)

    # Then: the winner is the candidate scikit-learn itself scores best on the validation split
    records = experiments(aws, run_id)
    assert len(records) == TOTAL
    oracle = _sklearn_validation_accuracy(iris_arrays)
    best = max(oracle.values())
    (best_candidate,) = [candidate for candidate, value in oracle.items() if value == best]  # no tie to break
    assert best_candidate == ("KNeighborsClassifier", (("n_neighbors", 7),)) and best == 1.0  # 30 of 30 right
    winner = next(e for e in records if _candidate(e) == best_candidate)
    expected = winner.experiment_id
    assert result["status"] == "SUCCEEDED"
    assert result["winner"] == expected
    assert result["value"] == best
    assert result["model_uri"] == winner.artifact.uri  # type: ignore[union-attr]
    run: Run = aws.metadata.get_run(run_id)
    assert (run.status, run.winner) == (RunStatus.SUCCEEDED, expected)
    assert run.finished_at is not None
    (published,) = received(completion_queue)
    assert published["source"] == "hyperparameter-tuner"
    assert published["detail"] == result


def test_reducer_is_idempotent(
    aws: SimpleNamespace, started_run: dict[str, Any], load_handler: LoadHandler, load_event: LoadEvent,
    completion_queue: str, lambda_context: Any,
) -> None:
    # Given: the run was reduced once
    run_id = started_run["run_id"]
    _train_manifest(aws, run_id, load_handler("trainer"), lambda_context)
    reducer = load_handler("reducer")
    event = {**load_event("reducer"), "run_id": run_id}
    first = reducer.lambda_handler(event, lambda_context)
    item = run_item(aws, run_id)
    rows = aws.dynamodb.scan(TableName=TABLE)["Items"]
    assert len(received(completion_queue)) == 1

    # When: Step Functions retries the reducer
    second = reducer.lambda_handler(event, lambda_context)

    # Then
    assert second == first
    assert run_item(aws, run_id) == item
    assert aws.dynamodb.scan(TableName=TABLE)["Items"] == rows
    assert received(completion_queue) == []


def test_reducer_records_the_batches_the_state_machine_caught(
    aws: SimpleNamespace, started_run: dict[str, Any], load_handler: LoadHandler, lambda_context: Any,
    iris_arrays: dict[str, np.ndarray],
) -> None:
    # Given: batch 0 trained; batch 1 failed and the Map's Catch wrote its BATCHFAIL# item
    run_id = started_run["run_id"]
    trainer = load_handler("trainer")
    trainer.lambda_handler({"run_id": run_id, "batch": 0, "start": 0, "stop": 3}, lambda_context)
    aws.dynamodb.put_item(TableName=TABLE, Item={
        "PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "BATCHFAIL#000001"}, "run_id": {"S": run_id},
        "batch": {"N": "1"}, "start": {"N": "3"}, "stop": {"N": "5"}, "error": {"S": "States.Timeout"},
        "cause": {"S": ""},
    })

    # When
    result = load_handler("reducer").lambda_handler({"run_id": run_id}, lambda_context)

    # Then
    records = experiments(aws, run_id)
    assert [e.status for e in records] == [ExperimentStatus.SUCCEEDED] * 3 + [ExperimentStatus.FAILED] * 2
    assert {e.error_type for e in records[3:]} == {"BatchFailed"}
    assert all("States.Timeout" in (e.error or "") for e in records[3:])
    # and the winner is the best of the trained trees by scikit-learn's own scores (depth 3: 29 of 30 right)
    trained = {key: value for key, value in _sklearn_validation_accuracy(iris_arrays).items()
               if key[0] == "DecisionTreeClassifier"}
    best = max(trained.values())
    (best_candidate,) = [candidate for candidate, value in trained.items() if value == best]
    assert best_candidate == ("DecisionTreeClassifier", (("max_depth", 3),))
    assert result["status"] == "SUCCEEDED"
    assert result["winner"] == next(e.experiment_id for e in records[:3] if _candidate(e) == best_candidate)
    assert result["value"] == best


def test_reducer_of_a_run_failed_by_max_failure_ratio_names_no_winner_anywhere(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]],
    load_event: LoadEvent, completion_queue: str, lambda_context: Any,
) -> None:
    # Given: max_depth=-1 is refused by scikit-learn (1 of 3 fits fails) and no failure is tolerated
    config = {**CONFIG, "training_params": {"DecisionTreeClassifier": {"max_depth": [2, 3, -1]}},
              "max_failure_ratio": 0.0}
    started = load_handler("fan_out").lambda_handler(iris_upload(config), lambda_context)
    assert started["status"] == "STARTED", started
    run_id = started["run_id"]
    _train_manifest(aws, run_id, load_handler("trainer"), lambda_context)
    records = experiments(aws, run_id)
    assert [e.status for e in records] == [ExperimentStatus.SUCCEEDED] * 2 + [ExperimentStatus.FAILED]

    # When
    result = load_handler("reducer").lambda_handler({**load_event("reducer"), "run_id": run_id}, lambda_context)

    # Then: the reply, the completion event and the DynamoDB run record carry no winner and no model
    best = max(records[:2], key=lambda e: (e.metrics["accuracy"], -e.index))
    assert result["status"] == "FAILED"
    assert (result["winner"], result["model_uri"], result["value"]) == (None, None, None)
    assert result["reason"].startswith("1 of 3 experiments failed (33%), above max_failure_ratio 0%")
    assert f"best candidate {best.experiment_id} " in result["reason"]
    (published,) = received(completion_queue)
    assert published["detail-type"] == "Tuning Run Completed"
    assert published["detail"] == result
    item = run_item(aws, run_id)
    assert item["status"] == {"S": "FAILED"}
    assert "winner" not in item
    assert aws.metadata.get_run(run_id).winner is None


# -- promote (successive halving) ---------------------------------------------------------------------------------
HALVING = {**CONFIG, "training_params": {"KNeighborsClassifier": {"n_neighbors": [1, 2, 3, 4, 5, 6, 7, 8, 9]}},
           "search": {"strategy": "halving", "factor": 3, "min_resources": 10}, "max_concurrency": 3}


def test_promote_writes_the_next_rung_from_the_records_and_is_idempotent(
    aws: SimpleNamespace, load_handler: LoadHandler, load_event: LoadEvent, lambda_context: Any,
    iris_upload: Callable[..., dict[str, Any]],
) -> None:
    # Given a halving run (9 x 10 rows, 3 x 30, 1 x 90) whose rung 0 the trainer has run, batch by batch
    started = load_handler("fan_out").lambda_handler(iris_upload(HALVING), lambda_context)
    run_id = started["run_id"]
    execution = json.loads(aws.sfn.describe_execution(executionArn=started["execution_arn"])["input"])
    assert (execution["rung"], execution["last_rung"]) == (0, False)
    manifest = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=execution["manifest_key"])["Body"].read())
    trainer = load_handler("trainer")
    for item in manifest:
        trainer.lambda_handler(item, lambda_context)
    rung0 = {e.candidate: e for e in aws.metadata.iter_experiments(run_id) if e.rung == 0}
    assert len(rung0) == 9

    # When the state machine calls Promote with its state (twice: a retry)
    promote = load_handler("promote")
    event = {**load_event("promote"), **execution}
    first = promote.lambda_handler(event, lambda_context)
    body = aws.s3.get_object(Bucket=BUCKET, Key=first["manifest_key"])["Body"].read()
    second = promote.lambda_handler(event, lambda_context)

    # Then rung 1's manifest holds the 3 best of rung 0 by validation accuracy (ties: the later in rung order),
    # numbered after rung 0's batches; and a retry writes the same thing
    scores = [(c, rung0[c].scores["validation"]["accuracy"]) for c in range(9)]
    expected = [c for c, _ in sorted(scores, key=lambda pair: pair[1])[-3:]]  # stable sort: ties keep rung order
    assert first == second == {**execution, "manifest_key": f"runs/{run_id}/rung-1.json", "rung": 1,
                               "last_rung": False}
    items = json.loads(body)
    assert [c for item in items for c in item["candidates"]] == expected
    assert [item["batch"] for item in items] == list(range(len(manifest), len(manifest) + len(items)))
    assert all((item["rung"], item["n_resources"]) == (1, 30) for item in items)
    assert aws.s3.get_object(Bucket=BUCKET, Key=first["manifest_key"])["Body"].read() == body


def test_promote_after_the_run_closed_goes_straight_to_the_reducer(
    aws: SimpleNamespace, load_handler: LoadHandler, load_event: LoadEvent, lambda_context: Any,
    iris_upload: Callable[..., dict[str, Any]],
) -> None:
    started = load_handler("fan_out").lambda_handler(iris_upload(HALVING), lambda_context)
    aws.metadata.update_run(started["run_id"], status=RunStatus.FAILED, reason="aborted")
    event = {**load_event("promote"), "run_id": started["run_id"], "bucket": BUCKET,
             "manifest_key": f"runs/{started['run_id']}/manifest.json", "last_rung": False}

    reply = load_handler("promote").lambda_handler(event, lambda_context)

    assert reply["last_rung"] is True and reply["rung"] == 0
    assert keys_under(aws, f"runs/{started['run_id']}/rung-") == []
# -- champion ---------------------------------------------------------------------------------------------------


@pytest.fixture
def champion_queue(aws: SimpleNamespace) -> str:
    """An SQS queue receiving the Champion Promoted / Champion Kept events from the default bus."""
    sqs = boto3.client("sqs", region_name=REGION)
    url: str = sqs.create_queue(QueueName="hpt-champions")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name=REGION)
    events.put_rule(Name="hpt-champions", EventPattern=json.dumps(
        {"source": ["hyperparameter-tuner"], "detail-type": ["Champion Promoted", "Champion Kept"]}
    ))
    events.put_targets(Rule="hpt-champions", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def test_champion_handler_promotes_the_first_winner_records_it_and_publishes_once(
    aws: SimpleNamespace, started_run: dict[str, Any], load_handler: LoadHandler, load_event: LoadEvent,
    champion_queue: str, lambda_context: Any,
) -> None:
    # Given: a run trained and reduced (SUCCEEDED)
    run_id = started_run["run_id"]
    _train_manifest(aws, run_id, load_handler("trainer"), lambda_context)
    reduced = load_handler("reducer").lambda_handler({**load_event("reducer"), "run_id": run_id}, lambda_context)
    champion = load_handler("champion")
    event = {**load_event("champion"), "run_id": run_id}
    loads: list[str] = []
    load_data = champion.services.load_data

    def counted_load(run: Run, *args: Any) -> Any:
        loads.append(run.run_id)
        return load_data(run, *args)

    champion.services.load_data = counted_load

    # When the champion step runs (and Step Functions retries it)
    result = champion.lambda_handler(event, lambda_context)
    rows = aws.dynamodb.scan(TableName=TABLE)["Items"]
    again = champion.lambda_handler(event, lambda_context)

    # Then the winner is the dataset's first champion, recorded on the run, published once; the retry is a no-op
    decision = result["champion"]
    assert (result["status"], decision["decision"], decision["dataset"]) == ("SUCCEEDED", "first", "iris")
    assert decision["champion_experiment_id"] == reduced["winner"]
    assert decision["challenger_score"] == aws.metadata.get_experiment(run_id, reduced["winner"]).scores["test"][
        "accuracy"]
    run = aws.metadata.get_run(run_id)
    assert (run.dataset, run.champion) == ("iris", decision)
    assert again == result
    assert aws.dynamodb.scan(TableName=TABLE)["Items"] == rows
    # a first decision with the winner's recorded test score needs no split: nothing was downloaded, retry or not
    assert loads == []
    (published,) = received(champion_queue)
    assert (published["source"], published["detail-type"]) == ("hyperparameter-tuner", "Champion Promoted")
    assert {key: published["detail"][key] for key in decision} == decision


def test_champion_handler_leaves_a_failed_run_alone(
    aws: SimpleNamespace, load_handler: LoadHandler, iris_upload: Callable[..., dict[str, Any]],
    load_event: LoadEvent, champion_queue: str, lambda_context: Any,
) -> None:
    # Given: a run whose every fit fails, reduced FAILED
    config = {**CONFIG, "training_params": {"DecisionTreeClassifier": {"max_depth": [-1]}}}
    run_id = load_handler("fan_out").lambda_handler(iris_upload(config), lambda_context)["run_id"]
    _train_manifest(aws, run_id, load_handler("trainer"), lambda_context)
    load_handler("reducer").lambda_handler({**load_event("reducer"), "run_id": run_id}, lambda_context)
    rows = aws.dynamodb.scan(TableName=TABLE)["Items"]

    # When
    result = load_handler("champion").lambda_handler({**load_event("champion"), "run_id": run_id}, lambda_context)

    # Then: a FAILED run never promotes: nothing written, nothing published
    assert result == {"run_id": run_id, "status": "FAILED", "champion": None}
    assert aws.dynamodb.scan(TableName=TABLE)["Items"] == rows
    assert received(champion_queue) == []
