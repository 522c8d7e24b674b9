"""The template's EventBridge wiring end to end in the emulator: the schedule, CSV splits rewritten in place, and
executions that end outside the state machine's ``Catch``.

The schedule rule delivers its ``Input`` to the fan-out (``Emulator.fire_schedule``, as EventBridge does at a
tick); a CSV folder whose files are rewritten under the same keys is a new run, whether the trigger is the
schedule or a re-uploaded ``_SUCCESS`` marker (the local engine on the same files is the oracle); an execution
stopped by hand reaches the fan-out through the execution-ended rule, which closes its run FAILED.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
from hyperparameter_tuner.aws.s3data import upload_split
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.emulator import Emulator, EmulatorError
from hyperparameter_tuner.local.engine import LocalTuner
from hyperparameter_tuner.results import RunResult

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
DATASET = "iris"
SCHEDULED = {"ScheduleExpression": "rate(1 day)", "ScheduleDataset": DATASET}

CONFIG: dict[str, Any] = {
    "name": "iris-scheduled",
    "training_params": {"DecisionTreeClassifier": {"max_depth": [1, 3]}, "KNeighborsClassifier": {"n_neighbors": [5]}},
    "metrics": ["accuracy", "f1_macro"],
    "perf_metric": "f1_macro",
    "seed": 7,
}


@pytest.fixture
def scheduled_emulator() -> Iterator[Emulator]:
    """The template deployed with its schedule enabled on the ``iris`` dataset, and the config uploaded."""
    with Emulator(TEMPLATE, retry_sleep=False, parameters=SCHEDULED) as emu:
        put_config(emu)
        yield emu


def put_config(emu: Emulator) -> None:
    emu.s3.put_object(Bucket=emu.bucket_name, Key=f"datasets/{DATASET}/tuning.yaml",
                      Body=yaml.safe_dump(CONFIG, sort_keys=False).encode())


def finished(emu: Emulator, started: dict[str, Any]) -> RunResult:
    """Wait for a started run's execution and read the run back from the emulated table."""
    assert started["status"] == "STARTED", started
    assert emu.wait_for_execution(started["execution_arn"], timeout=120)["status"] == "SUCCEEDED"
    metadata = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb)
    run = metadata.get_run(started["run_id"])
    return RunResult.collect(run, metadata.iter_experiments(run.run_id))


def local_oracle(folder: Path, store: Path) -> RunResult:
    return LocalTuner(config=parse_config(CONFIG), store=store, jobs=1).run(folder)


def assert_same_as_local(emulated: RunResult, local: RunResult) -> None:
    assert emulated.run.status.value == local.run.status.value == "SUCCEEDED"
    assert emulated.run.data_fingerprint == local.run.data_fingerprint
    assert {e.experiment_id: e.scores for e in emulated.experiments} == {
        e.experiment_id: e.scores for e in local.experiments
    }
    assert emulated.run.winner == local.run.winner is not None


def rewrite_train_csv(folder: Path) -> None:
    """Rewrite ``train.csv`` with its header and the first 45 of its 90 rows: different bytes, same name."""
    path = folder / "train.csv"
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) == 91
    path.write_text("".join(lines[:46]))


# -- the schedule -------------------------------------------------------------------------------------------------


def test_scheduled_run_on_an_uploaded_dataset_succeeds_with_a_winner(
    scheduled_emulator: Emulator, iris_npz: Path, tmp_path: Path
) -> None:
    # Given: a split uploaded under the scheduled dataset (no upload event delivered: only the schedule starts runs)
    emu = scheduled_emulator
    emu.s3.put_object(Bucket=emu.bucket_name, Key=f"datasets/{DATASET}/iris.npz", Body=iris_npz.read_bytes())

    # When: the rule fires
    (function, started), = emu.fire_schedule().items()

    # Then: the fan-out received the rule's Input, exactly as the template writes it
    assert function == "FanOutFunction"
    assert emu.invocations("FanOutFunction")[-1].event == {"kind": "schedule", "dataset": DATASET}
    result = finished(emu, started)
    assert result.run.data_uri == f"s3://{emu.bucket_name}/datasets/{DATASET}/iris.npz"
    assert result.winner is not None and result.winner.artifact is not None
    assert_same_as_local(result, local_oracle(iris_npz, tmp_path / "store"))


def test_schedule_fires_by_event_name_or_rule_name(scheduled_emulator: Emulator, iris_npz: Path) -> None:
    emu = scheduled_emulator
    emu.s3.put_object(Bucket=emu.bucket_name, Key=f"datasets/{DATASET}/iris.npz", Body=iris_npz.read_bytes())
    by_event = emu.fire_schedule("Schedule")["FanOutFunction"]
    by_rule = emu.fire_schedule(f"{emu.stack_name}-schedule")["FanOutFunction"]
    # the same split and config: the second tick is a duplicate of the first run
    assert (by_event["status"], by_rule["status"]) == ("STARTED", "DUPLICATE")
    assert by_rule["run_id"] == by_event["run_id"]
    finished(emu, by_event)


def test_a_disabled_schedule_does_not_fire() -> None:
    # Given: the template's defaults, where ScheduleExpression is empty and the rule DISABLED
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        # When / Then
        with pytest.raises(EmulatorError, match=r"^FanOutFunction\.Schedule: the rule is DISABLED; EventBridge would"):
            emu.fire_schedule()
        assert emu.invocation_count("FanOutFunction") == 0


def test_an_unknown_schedule_is_named(scheduled_emulator: Emulator) -> None:
    with pytest.raises(EmulatorError, match=r"the template has 0 matching schedule 'nightly's"):
        scheduled_emulator.fire_schedule("nightly")


# -- CSV splits rewritten in place -------------------------------------------------------------------------------


def test_csv_split_rewritten_in_place_is_a_new_scheduled_run(
    scheduled_emulator: Emulator, csv_split: Path, tmp_path: Path
) -> None:
    # Given: a CSV split, and a first scheduled run on it
    emu = scheduled_emulator
    upload_split(emu.s3, emu.bucket_name, f"datasets/{DATASET}/", csv_split)
    first = finished(emu, emu.fire_schedule()["FanOutFunction"])
    assert_same_as_local(first, local_oracle(csv_split, tmp_path / "first"))

    # When: train.csv is rewritten under the same key (the _SUCCESS marker untouched), and the schedule fires
    rewrite_train_csv(csv_split)
    key = f"datasets/{DATASET}/{csv_split.name}/train.csv"
    emu.s3.put_object(Bucket=emu.bucket_name, Key=key, Body=(csv_split / "train.csv").read_bytes())
    started = emu.fire_schedule()["FanOutFunction"]

    # Then: a new run, on the new bytes, pinned to the new version of train.csv
    second = finished(emu, started)
    assert second.run.run_id != first.run.run_id
    assert second.run.data_fingerprint != first.run.data_fingerprint
    latest = emu.s3.head_object(Bucket=emu.bucket_name, Key=key)["VersionId"]
    assert second.run.data_versions[key] == latest != first.run.data_versions[key]
    assert_same_as_local(second, local_oracle(csv_split, tmp_path / "second"))

    # When / Then: the next tick with nothing changed is that same run
    again = emu.fire_schedule()["FanOutFunction"]
    assert (again["status"], again["run_id"]) == ("DUPLICATE", second.run.run_id)


def test_csv_split_reuploaded_with_new_bytes_in_an_unversioned_bucket_is_a_new_run(
    csv_split: Path, tmp_path: Path
) -> None:
    # Given: a bucket without versioning (every object's version is "null"; the _SUCCESS marker's ETag is the
    # ETag of zero bytes, the same on every upload) and a first run from the upload event
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        emu.s3.put_bucket_versioning(Bucket=emu.bucket_name, VersioningConfiguration={"Status": "Suspended"})
        put_config(emu)
        marker, _ = upload_split(emu.s3, emu.bucket_name, f"datasets/{DATASET}/", csv_split)
        first = finished(emu, emu.deliver_s3_object_created(marker)["FanOutFunction"])

        # When: the folder is uploaded again with a different train.csv
        rewrite_train_csv(csv_split)
        assert upload_split(emu.s3, emu.bucket_name, f"datasets/{DATASET}/", csv_split)[0] == marker
        started = emu.deliver_s3_object_created(marker)["FanOutFunction"]

        # Then: a new run on the new bytes; the same event delivered again is that run
        second = finished(emu, started)
        assert second.run.run_id != first.run.run_id
        assert_same_as_local(second, local_oracle(csv_split, tmp_path / "second"))
        again = emu.deliver_s3_object_created(marker)["FanOutFunction"]
        assert (again["status"], again["run_id"]) == ("DUPLICATE", second.run.run_id)


# -- executions that end outside the Catch ------------------------------------------------------------------------


def completion_events(emu: Emulator) -> tuple[str, Any]:
    """A queue that receives the completion events published on the default bus."""
    sqs = emu.client("sqs")
    queue_url = sqs.create_queue(QueueName="completions")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = emu.client("events")
    events.put_rule(Name="completions", EventPattern=json.dumps({"source": ["hyperparameter-tuner"]}))
    events.put_targets(Rule="completions", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url, sqs


def test_a_run_whose_execution_was_stopped_by_hand_is_closed_failed_by_the_execution_ended_rule(
    iris_npz: Path,
) -> None:
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        # Given: a run whose trainers are held, and its execution stopped by hand (outside the Catch)
        put_config(emu)
        queue_url, sqs = completion_events(emu)
        release, reached = threading.Event(), threading.Event()

        def hold(function: str, event: Any) -> None:
            if function == "TrainerFunction":
                reached.set()
                release.wait()

        emu.add_fault(hold)
        try:
            key = f"datasets/{DATASET}/iris.npz"
            emu.s3.put_object(Bucket=emu.bucket_name, Key=key, Body=iris_npz.read_bytes())
            started = emu.deliver_s3_object_created(key)["FanOutFunction"]
            assert reached.wait(60)
            emu.sfn.stop_execution(executionArn=started["execution_arn"], error="Operator", cause="by hand")
        finally:
            release.set()  # moto reflects the stop once the running state returns
        assert emu.wait_for_execution(started["execution_arn"], timeout=60)["status"] == "ABORTED"
        metadata = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb)
        assert metadata.get_run(started["run_id"]).status.value == "RUNNING"

        # When: Step Functions reports the execution's end on the default bus
        closed = emu.deliver_execution_status_change(started["execution_arn"])

        # Then: the rule's target, the fan-out, closes the run FAILED (no winner) and publishes its completion
        assert list(closed) == ["FanOutFunction"]
        assert (closed["FanOutFunction"]["status"], closed["FanOutFunction"]["run_id"]) == ("CLOSED", started["run_id"])
        run = metadata.get_run(started["run_id"])
        assert (run.status.value, run.reason, run.winner) == ("FAILED", "execution ABORTED", None)
        assert run.finished_at is not None
        (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        detail = json.loads(message["Body"])["detail"]
        assert (detail["run_id"], detail["status"], detail["winner"], detail["reason"]) == (
            started["run_id"], "FAILED", None, "execution ABORTED"
        )

        # When / Then: the same event again changes nothing
        again = emu.deliver_execution_status_change(started["execution_arn"])["FanOutFunction"]
        assert (again["status"], again["reason"]) == ("DUPLICATE", "run is FAILED")
        assert metadata.get_run(started["run_id"]) == run


def test_a_run_closed_by_the_catch_is_left_as_it_is(iris_npz: Path) -> None:
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        # Given: a reducer that always fails: the Catch marks the run FAILED and the execution ends FAILED
        put_config(emu)

        def broken_reducer(function: str, event: Any) -> None:
            if function == "ReducerFunction":
                raise RuntimeError("reducer is broken")

        emu.add_fault(broken_reducer)
        key = f"datasets/{DATASET}/iris.npz"
        emu.s3.put_object(Bucket=emu.bucket_name, Key=key, Body=iris_npz.read_bytes())
        started = emu.deliver_s3_object_created(key)["FanOutFunction"]
        assert emu.wait_for_execution(started["execution_arn"], timeout=120)["status"] == "FAILED"
        metadata = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb)
        before = metadata.get_run(started["run_id"])
        assert before.status.value == "FAILED" and "reducer is broken" in (before.reason or "")

        # When
        reply = emu.deliver_execution_status_change(started["execution_arn"])["FanOutFunction"]

        # Then: the Catch's record stands
        assert (reply["status"], reply["reason"]) == ("DUPLICATE", "run is FAILED")
        assert metadata.get_run(started["run_id"]) == before


def test_a_succeeded_execution_reaches_no_function(iris_npz: Path) -> None:
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        put_config(emu)
        key = f"datasets/{DATASET}/iris.npz"
        emu.s3.put_object(Bucket=emu.bucket_name, Key=key, Body=iris_npz.read_bytes())
        started = emu.deliver_s3_object_created(key)["FanOutFunction"]
        finished(emu, started)
        assert emu.deliver_execution_status_change(started["execution_arn"]) == {}


def test_execution_events_that_are_no_runs_own_are_ignored() -> None:
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        prefix = emu.state_machine_arn.replace(":stateMachine:", ":execution:")
        base = json.loads((REPO_ROOT / "events" / "fan_out_execution_ended.json").read_text())
        base["detail"]["stateMachineArn"] = emu.state_machine_arn

        def send(name: str, arn: str) -> dict[str, Any]:
            event = copy.deepcopy(base)
            event["detail"].update(name=name, executionArn=arn)
            result: dict[str, Any] = emu.invoke("FanOutFunction", event)
            return result

        # a Distributed Map child execution, an execution of no recorded run, and a name that is not the ARN's
        child = send("child-1", f"{emu.state_machine_arn.replace(':stateMachine:', ':execution:')}/map-1:child-1")
        unknown = send("no-such-run", f"{prefix}:no-such-run")
        mismatch = send("run-a", f"{prefix}:run-b")

        assert (child["status"], child["reason"]) == ("IGNORED", "not a run's execution of this state machine")
        assert (unknown["status"], unknown["reason"]) == ("IGNORED", "no run 'no-such-run'")
        assert mismatch["status"] == "IGNORED"
        assert emu.dynamodb.scan(TableName=emu.table_name)["Count"] == 0  # nothing recorded
