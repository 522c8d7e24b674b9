"""The emulator engine, on a template shaped like ours, with the real state machine and throwaway handlers.

The handlers below are stand-ins written into ``tmp_path`` (the real ones live in ``functions/``): a fan-out that
writes a manifest and starts the execution, a trainer that records each batch, a reducer that counts rows. They
read a ``control.json`` object from the bucket so each test can make them fail or sleep.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from hyperparameter_tuner.emulator import (
    Emulator,
    EmulatorError,
    FunctionInvocationError,
    loads_template,
    s3_object_created_event,
    throttle,
)

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL = REPO_ROOT / "statemachine" / "tuning.asl.json"

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Runtime: python3.12
    Timeout: 60
    MemorySize: 256
    Environment:
      Variables:
        BUCKET_NAME: !Ref DataBucket
        TABLE_NAME: !Ref TuningTable
        POWERTOOLS_SERVICE_NAME: hpt
Resources:
  DataBucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration:
        Status: Enabled
      NotificationConfiguration:
        EventBridgeConfiguration:
          EventBridgeEnabled: true
  TuningTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: PK, AttributeType: S}
        - {AttributeName: SK, AttributeType: S}
        - {AttributeName: GSI1PK, AttributeType: S}
        - {AttributeName: GSI1SK, AttributeType: S}
      KeySchema:
        - {AttributeName: PK, KeyType: HASH}
        - {AttributeName: SK, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: GSI1
          KeySchema:
            - {AttributeName: GSI1PK, KeyType: HASH}
            - {AttributeName: GSI1SK, KeyType: RANGE}
          Projection:
            ProjectionType: ALL
  FanOutFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fan_out/
      Handler: app.lambda_handler
      Environment:
        Variables:
          STATE_MACHINE_ARN: !Ref TuningStateMachine
          POWERTOOLS_SERVICE_NAME: fan-out
          STAGE: !If [IsProd, production, !Sub "${Stage}-${AWS::Region}"]
      Events:
        DatasetUploaded:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.s3]
              detail-type: [Object Created]
              detail:
                bucket:
                  name: [!Ref DataBucket]
                object:
                  key: [{prefix: datasets/}]
  TrainerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/trainer/
      Handler: app.lambda_handler
      Timeout: 900
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: trainer
  ReducerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/reducer/
      Handler: app.lambda_handler
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: reducer
  ChampionFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/champion/
      Handler: app.lambda_handler
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: champion
  TuningStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/tuning.asl.json
      DefinitionSubstitutions:
        TrainerFunctionArn: !GetAtt TrainerFunction.Arn
        ReducerFunctionArn: !GetAtt ReducerFunction.Arn
        # never reached: the stand-in fan-out's input has no last_rung, so NextRung goes straight to Reduce
        PromoteFunctionArn: !GetAtt ReducerFunction.Arn
        ChampionFunctionArn: !GetAtt ChampionFunction.Arn
        TableName: !Ref TuningTable
        BucketName: !Ref DataBucket
"""

FAN_OUT = """\
import json
import os

import boto3

s3 = boto3.client("s3")
ddb = boto3.client("dynamodb")
sfn = boto3.client("stepfunctions")


def lambda_handler(event, context):
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "fan-out", os.environ["POWERTOOLS_SERVICE_NAME"]
    bucket = os.environ["BUCKET_NAME"]
    obj = event["detail"]["object"]
    config = json.loads(s3.get_object(Bucket=bucket, Key=obj["key"], VersionId=obj["version-id"])["Body"].read())
    run_id = "run-" + obj["etag"][:12]
    print(f"fan-out starts {run_id}")
    items = [{"run_id": run_id, "batch": i, "start": 10 * i, "stop": 10 * i + 10} for i in range(config["batches"])]
    manifest_key = f"manifests/{run_id}.json"
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(items).encode())
    ddb.put_item(
        TableName=os.environ["TABLE_NAME"],
        Item={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}, "status": {"S": "RUNNING"}},
    )
    started = sfn.start_execution(
        stateMachineArn=os.environ["STATE_MACHINE_ARN"],
        name=run_id,
        input=json.dumps(
            {"run_id": run_id, "bucket": bucket, "manifest_key": manifest_key,
             "max_concurrency": config["max_concurrency"]}
        ),
    )
    return {"run_id": run_id, "execution_arn": started["executionArn"], "stage": os.environ["STAGE"]}
"""

TRAINER = """\
import json
import os
import threading
import time

import boto3

s3 = boto3.client("s3")
ddb = boto3.client("dynamodb")
lock = threading.Condition()
active = 0
peak = 0


def lambda_handler(event, context):
    global active, peak
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "trainer", os.environ["POWERTOOLS_SERVICE_NAME"]
    assert context.get_remaining_time_in_millis() > 0
    control = json.loads(s3.get_object(Bucket=os.environ["BUCKET_NAME"], Key="control.json")["Body"].read())
    print(f"training batch {event['batch']}")
    with lock:
        active += 1
        peak = max(peak, active)
        lock.notify_all()
        # "rendezvous": N: hold until N trainers have been in flight at once (an event, not a sleep)
        lock.wait_for(lambda: peak >= control.get("rendezvous", 0), timeout=120)
    try:
        time.sleep(control.get("sleep", 0))
        if event["batch"] in control.get("fail_batches", []):
            raise ValueError(f"cannot fit batch {event['batch']}")
        ddb.put_item(
            TableName=os.environ["TABLE_NAME"],
            Item={
                "PK": {"S": f"RUN#{event['run_id']}"},
                "SK": {"S": f"BATCH#{event['batch']:06d}"},
                "start": {"N": str(event["start"])},
                "stop": {"N": str(event["stop"])},
            },
        )
    finally:
        with lock:
            active -= 1
    return {"batch": event["batch"], "trained": event["stop"] - event["start"]}
"""

REDUCER = """\
import json
import os

import boto3

s3 = boto3.client("s3")
ddb = boto3.client("dynamodb")


def lambda_handler(event, context):
    assert os.environ["POWERTOOLS_SERVICE_NAME"] == "reducer", os.environ["POWERTOOLS_SERVICE_NAME"]
    control = json.loads(s3.get_object(Bucket=os.environ["BUCKET_NAME"], Key="control.json")["Body"].read())
    if control.get("fail_reducer"):
        raise RuntimeError("no experiment finished")
    counts = {"BATCH#": 0, "BATCHFAIL#": 0}
    for prefix in counts:
        pages = ddb.get_paginator("query").paginate(
            TableName=os.environ["TABLE_NAME"],
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"RUN#{event['run_id']}"}, ":prefix": {"S": prefix}},
        )
        counts[prefix] = sum(page["Count"] for page in pages)
    return {"run_id": event["run_id"], "trained": counts["BATCH#"], "failed": counts["BATCHFAIL#"]}
"""

CHAMPION = """\
def lambda_handler(event, context):
    # The stand-in reducer's reply has no status: the state machine's Choice never reaches the champion step.
    raise AssertionError("the champion step runs only after a SUCCEEDED run")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the test template, the real state machine and the stand-in handlers."""
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "statemachine").mkdir()
    shutil.copy(ASL, tmp_path / "statemachine" / "tuning.asl.json")
    for name, code in {"fan_out": FAN_OUT, "trainer": TRAINER, "reducer": REDUCER, "champion": CHAMPION}.items():
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(code)
    return tmp_path


@pytest.fixture
def emulator(project: Path) -> Iterator[Emulator]:
    with Emulator(project / "template.yaml", retry_sleep=False) as emu:
        yield emu


Start = Callable[..., dict[str, Any]]


def upload_and_deliver(emulator: Emulator, batches: int, max_concurrency: int = 4, **control: Any) -> dict[str, Any]:
    """Upload a dataset as S3 would see it and deliver its EventBridge event; return the fan-out's reply."""
    emulator.s3.put_object(Bucket=emulator.bucket_name, Key="control.json", Body=json.dumps(control).encode())
    body = json.dumps({"batches": batches, "max_concurrency": max_concurrency}).encode()
    emulator.s3.put_object(Bucket=emulator.bucket_name, Key="datasets/iris/split.json", Body=body)
    results = emulator.deliver_s3_object_created("datasets/iris/split.json")
    assert list(results) == ["FanOutFunction"]
    reply: dict[str, Any] = results["FanOutFunction"]
    return reply


@pytest.fixture
def start_run(emulator: Emulator) -> Start:
    """:func:`upload_and_deliver` on the test's emulator."""
    return functools.partial(upload_and_deliver, emulator)


def trained_batches(emulator: Emulator) -> list[int]:
    return sorted(call.event["batch"] for call in emulator.invocations("TrainerFunction"))


def items(emulator: Emulator, run_id: str, prefix: str) -> list[dict[str, Any]]:
    reply = emulator.dynamodb.query(
        TableName=emulator.table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":prefix": {"S": prefix}},
    )
    found: list[dict[str, Any]] = reply["Items"]
    return found


# -- the workflow --------------------------------------------------------------------------------------------------


def test_state_machine_succeeds_and_every_item_reaches_the_trainer_once(emulator: Emulator, start_run: Start) -> None:
    # Given / When
    run = start_run(batches=7, max_concurrency=3)
    execution = emulator.wait_for_execution(run["execution_arn"], timeout=30)

    # Then
    assert execution["status"] == "SUCCEEDED", execution
    assert trained_batches(emulator) == list(range(7))
    assert [call.error for call in emulator.invocations("TrainerFunction")] == [None] * 7
    assert emulator.invocation_count("ReducerFunction") == 1
    assert json.loads(execution["output"]) == {"run_id": run["run_id"], "trained": 7, "failed": 0}
    manifest = json.loads(
        emulator.s3.get_object(Bucket=emulator.bucket_name, Key=f"manifests/{run['run_id']}.json")["Body"].read()
    )
    events = [call.event for call in emulator.invocations("TrainerFunction")]
    assert sorted(events, key=lambda event: event["batch"]) == manifest


def test_failed_batch_is_recorded_and_the_run_still_succeeds(emulator: Emulator, start_run: Start) -> None:
    # Given / When
    run = start_run(batches=5, fail_batches=[3])
    execution = emulator.wait_for_execution(run["execution_arn"], timeout=30)

    # Then
    assert execution["status"] == "SUCCEEDED", execution
    assert trained_batches(emulator) == [0, 1, 2, 3, 4]  # a handler error is not retried
    (failure,) = items(emulator, run["run_id"], "BATCHFAIL#")
    assert failure["SK"] == {"S": "BATCHFAIL#3"}
    assert failure["run_id"] == {"S": run["run_id"]}
    assert (failure["batch"], failure["start"], failure["stop"]) == ({"N": "3"}, {"N": "30"}, {"N": "40"})
    assert failure["error"] == {"S": "ValueError"}
    cause = json.loads(failure["cause"]["S"])
    assert (cause["errorType"], cause["errorMessage"]) == ("ValueError", "cannot fit batch 3")
    assert emulator.invocation_count("ReducerFunction") == 1
    assert json.loads(execution["output"])["failed"] == 1


def test_each_failed_batch_has_its_own_record(emulator: Emulator, start_run: Start) -> None:
    run = start_run(batches=12, max_concurrency=12, fail_batches=[0, 1, 10, 11])
    assert emulator.wait_for_execution(run["execution_arn"], timeout=30)["status"] == "SUCCEEDED"
    failures = items(emulator, run["run_id"], "BATCHFAIL#")
    keys = sorted(item["SK"]["S"] for item in failures)
    assert keys == ["BATCHFAIL#0", "BATCHFAIL#1", "BATCHFAIL#10", "BATCHFAIL#11"]
    assert sorted(int(item["batch"]["N"]) for item in failures) == [0, 1, 10, 11]


def test_throttled_trainer_is_retried_until_it_succeeds(emulator: Emulator, start_run: Start) -> None:
    # Given: the first two invocations for batch 1 are throttled by the Lambda service
    emulator.add_fault(throttle(2, function="TrainerFunction", when=lambda event: event["batch"] == 1))

    # When
    run = start_run(batches=3)
    execution = emulator.wait_for_execution(run["execution_arn"], timeout=30)

    # Then
    assert execution["status"] == "SUCCEEDED", execution
    assert trained_batches(emulator) == [0, 1, 1, 1, 2]
    batch_1 = [call.error for call in emulator.invocations("TrainerFunction") if call.event["batch"] == 1]
    assert batch_1 == ["TooManyRequestsException", "TooManyRequestsException", None]
    assert items(emulator, run["run_id"], "BATCHFAIL#") == []
    assert len(emulator.retry_sleeps) == 2  # the retrier asked to back off twice, and did not sleep


def test_throttling_beyond_max_attempts_is_recorded_as_a_batch_failure(emulator: Emulator, start_run: Start) -> None:
    emulator.add_fault(throttle(100, function="TrainerFunction", when=lambda event: event["batch"] == 0))
    run = start_run(batches=2)
    assert emulator.wait_for_execution(run["execution_arn"], timeout=30)["status"] == "SUCCEEDED"
    assert trained_batches(emulator) == [0] * 7 + [1]  # first attempt + MaxAttempts (6) retries
    (failure,) = items(emulator, run["run_id"], "BATCHFAIL#")
    assert failure["error"] == {"S": "Lambda.TooManyRequestsException"}


@pytest.mark.parametrize("max_concurrency", [1, 3])
def test_max_concurrency_is_respected(emulator: Emulator, start_run: Start, max_concurrency: int) -> None:
    run = start_run(batches=9, max_concurrency=max_concurrency, rendezvous=max_concurrency)
    assert emulator.wait_for_execution(run["execution_arn"], timeout=30)["status"] == "SUCCEEDED"
    trainer = emulator.handler_module("TrainerFunction")
    assert trainer.peak == max_concurrency
    assert trained_batches(emulator) == list(range(9))


def test_reducer_failure_marks_the_run_failed(emulator: Emulator, start_run: Start) -> None:
    run = start_run(batches=2, fail_reducer=True)
    execution = emulator.wait_for_execution(run["execution_arn"], timeout=30)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "RuntimeError"
    (row,) = items(emulator, run["run_id"], "RUN")
    assert row["status"] == {"S": "FAILED"}
    assert row["reason"]["S"].startswith("RuntimeError: ")
    assert "no experiment finished" in row["reason"]["S"]
    assert emulator.invocation_count("ReducerFunction") == 1  # handler errors are not retried


def test_unreadable_manifest_marks_the_run_failed(emulator: Emulator) -> None:
    # moto reports the ItemReader's NoSuchKey as States.Runtime (AWS: States.ItemReaderFailed); both reach the
    # Map's States.ALL Catch, so the outcome is the same.
    execution_arn = emulator.sfn.start_execution(
        stateMachineArn=emulator.state_machine_arn,
        name="run-missing",
        input=json.dumps(
            {"run_id": "missing", "bucket": emulator.bucket_name, "manifest_key": "nope.json", "max_concurrency": 2}
        ),
    )["executionArn"]
    execution = emulator.wait_for_execution(execution_arn, timeout=30)
    assert execution["status"] == "FAILED"
    row = emulator.dynamodb.get_item(
        TableName=emulator.table_name, Key={"PK": {"S": "RUN#missing"}, "SK": {"S": "RUN"}}
    )["Item"]
    assert row["status"] == {"S": "FAILED"}
    assert emulator.invocation_count("TrainerFunction") == 0
    assert emulator.invocation_count("ReducerFunction") == 0


# -- the engine ----------------------------------------------------------------------------------------------------


def test_resources_follow_the_template(emulator: Emulator) -> None:
    assert emulator.s3.get_bucket_versioning(Bucket=emulator.bucket_name)["Status"] == "Enabled"
    table = emulator.dynamodb.describe_table(TableName=emulator.table_name)["Table"]
    assert [key["AttributeName"] for key in table["KeySchema"]] == ["PK", "SK"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["GSI1"]
    fan_out = emulator.functions["FanOutFunction"]
    assert fan_out.environment == {
        "BUCKET_NAME": emulator.bucket_name,
        "TABLE_NAME": emulator.table_name,
        "POWERTOOLS_SERVICE_NAME": "fan-out",
        "STATE_MACHINE_ARN": emulator.state_machine_arn,
        "STAGE": "dev-us-east-1",
    }
    definition = json.loads(
        emulator.sfn.describe_state_machine(stateMachineArn=emulator.state_machine_arn)["definition"]
    )
    task = definition["States"]["TrainBatches"]["ItemProcessor"]["States"]["TrainBatch"]
    assert task["Parameters"]["FunctionName"] == emulator.functions["TrainerFunction"].arn


def test_parameters_and_conditions_are_resolved(project: Path) -> None:
    with Emulator(project / "template.yaml", parameters={"Stage": "prod"}, region="eu-west-1") as emu:
        assert emu.functions["FanOutFunction"].environment["STAGE"] == "production"
        assert emu.state_machine_arn.startswith("arn:aws:states:eu-west-1:")


def test_direct_invoke_reports_handler_errors(emulator: Emulator) -> None:
    with pytest.raises(FunctionInvocationError, match="ReducerFunction failed: NoSuchKey"):
        emulator.invoke("ReducerFunction", {"run_id": "r"})
    (call,) = emulator.invocations("ReducerFunction")
    assert call.error == "NoSuchKey"
    assert call.result["stackTrace"]


def test_events_outside_the_rule_reach_no_function(emulator: Emulator) -> None:
    emulator.s3.put_object(Bucket=emulator.bucket_name, Key="other/file.json", Body=b"{}")
    assert emulator.deliver_s3_object_created("other/file.json") == {}
    assert emulator.invocations() == []


def test_a_disabled_rule_delivers_nothing(emulator: Emulator) -> None:
    # Given: the stack's rule for the fan-out, as moto's EventBridge holds it, disabled
    events = emulator.client("events")
    (rule,) = [rule for rule in events.list_rules()["Rules"] if "EventPattern" in rule]
    events.disable_rule(Name=rule["Name"])
    emulator.s3.put_object(Bucket=emulator.bucket_name, Key="datasets/a.json", Body=b"{}")

    # When / Then
    assert emulator.deliver_s3_object_created("datasets/a.json") == {}
    assert emulator.invocations() == []


def test_put_events_reach_the_lambda_targets_of_matching_rules(emulator: Emulator) -> None:
    # Given: a rule sending the detail of "Ping" events to the reducer, which fails
    events = emulator.client("events")
    events.put_rule(Name="pings", EventPattern=json.dumps({"detail-type": ["Ping"]}))
    target = {"Id": "reducer", "Arn": emulator.functions["ReducerFunction"].arn, "InputPath": "$.detail"}
    events.put_targets(Rule="pings", Targets=[target])
    control = json.dumps({"fail_reducer": True}).encode()
    emulator.s3.put_object(Bucket=emulator.bucket_name, Key="control.json", Body=control)

    # When: a publisher puts a matching and a non-matching event
    detail = json.dumps({"run_id": "r"})
    entries = [{"Source": "test", "DetailType": kind, "Detail": detail} for kind in ("Ping", "Pong")]
    reply = events.put_events(Entries=entries)

    # Then: the reducer received the matching event's detail once, and its failure is not the publisher's
    assert reply["FailedEntryCount"] == 0
    assert [(call.function, call.event, call.error) for call in emulator.invocations()] == [
        ("ReducerFunction", {"run_id": "r"}, "RuntimeError")
    ]


def test_a_template_the_sam_translator_refuses_is_an_error(project: Path) -> None:
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("Type: EventBridgeRule", "Type: NoSuchEventSource"))
    with pytest.raises(EmulatorError, match="the SAM transform failed"), Emulator(template):
        pass


def test_handler_output_goes_to_function_logs_not_stdout(project: Path) -> None:
    caller = io.StringIO()
    with contextlib.redirect_stdout(caller), Emulator(project / "template.yaml") as emu:
        run = upload_and_deliver(emu, batches=3)
        assert emu.wait_for_execution(run["execution_arn"], timeout=30)["status"] == "SUCCEEDED"
        print("caller output")
        fan_out_log = emu.function_logs("FanOutFunction")
        trainer_log = emu.function_logs("TrainerFunction")
    assert caller.getvalue() == "caller output\n"
    assert fan_out_log == f"fan-out starts {run['run_id']}\n"
    assert sorted(trainer_log.splitlines()) == [f"training batch {i}" for i in range(3)]


def test_environment_is_restored(project: Path) -> None:
    before = os.environ
    saved = dict(os.environ)
    stdout = sys.stdout
    with Emulator(project / "template.yaml"):
        assert os.environ is not before
        assert os.environ["AWS_ACCESS_KEY_ID"]
    assert os.environ is before
    assert dict(os.environ) == saved
    assert sys.stdout is stdout


def test_only_one_emulator_at_a_time(emulator: Emulator, project: Path) -> None:
    with pytest.raises(EmulatorError, match="already running"), Emulator(project / "template.yaml"):
        pass


def test_unresolved_definition_placeholder_is_an_error(project: Path) -> None:
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("        TableName: !Ref TuningTable\n", ""))
    with pytest.raises(EmulatorError, match=r"no DefinitionSubstitutions for \$\{TableName\}"), Emulator(template):
        pass


def test_bucket_without_eventbridge_notifications_delivers_nothing(project: Path) -> None:
    template = project / "template.yaml"
    text = template.read_text().replace("EventBridgeEnabled: true", "EventBridgeEnabled: false")
    template.write_text(text)
    with Emulator(template) as emu:
        emu.s3.put_object(Bucket=emu.bucket_name, Key="datasets/a.json", Body=b"{}")
        with pytest.raises(EmulatorError, match="EventBridgeEnabled"):
            emu.deliver_s3_object_created("datasets/a.json")


def test_short_form_tags_become_long_form() -> None:
    body = loads_template(
        textwrap.dedent(
            """\
            A: !GetAtt Fn.Arn
            B: !Sub "${X}-y"
            C: !If [Cond, !Ref P, !Ref AWS::NoValue]
            D: !Not [!Equals [a, b]]
            E: !Join ["", [a, !Ref B]]
            Version: 2012-10-17
            """
        )
    )
    assert body == {
        "A": {"Fn::GetAtt": ["Fn", "Arn"]},
        "B": {"Fn::Sub": "${X}-y"},
        "C": {"Fn::If": ["Cond", {"Ref": "P"}, {"Ref": "AWS::NoValue"}]},
        "D": {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]},
        "E": {"Fn::Join": ["", ["a", {"Ref": "B"}]]},
        "Version": "2012-10-17",
    }


def test_s3_object_created_event_has_the_eventbridge_shape() -> None:
    event = s3_object_created_event("data-bucket", "datasets/a b.npz", "v-1", '"etag1"', 42)
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["resources"] == ["arn:aws:s3:::data-bucket"]
    assert event["detail"]["bucket"] == {"name": "data-bucket"}
    obj = event["detail"]["object"]
    assert {k: obj[k] for k in ("key", "size", "etag", "version-id")} == {
        "key": "datasets/a+b.npz",  # form-encoded, as S3 delivers keys
        "size": 42,
        "etag": "etag1",
        "version-id": "v-1",
    }
    assert obj["sequencer"]
    assert event["detail"]["reason"] == "PutObject"
    unversioned = s3_object_created_event("b", "k", None, "e", 1)
    assert "version-id" not in unversioned["detail"]["object"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.s3"]}, True),
        ({"source": ["aws.ec2"]}, False),
        ({"detail": {"object": {"key": [{"prefix": "datasets/"}]}}}, True),
        ({"detail": {"object": {"key": [{"prefix": "models/"}]}}}, False),
        ({"detail": {"object": {"key": [{"suffix": ".npz"}]}}}, True),
        ({"detail": {"object": {"size": [{"numeric": [">", 10, "<=", 42]}]}}}, True),
        ({"detail": {"object": {"missing": [{"exists": False}]}}}, True),
        ({"detail": {"bucket": {"name": [{"anything-but": ["data"]}]}}}, False),
    ],
)
def test_event_patterns(pattern: dict[str, Any], expected: bool) -> None:
    event = s3_object_created_event("data", "datasets/a.npz", "v", "e", 42)
    assert EventPattern.load(json.dumps(pattern)).matches_event(event) is expected  # type: ignore[arg-type]
