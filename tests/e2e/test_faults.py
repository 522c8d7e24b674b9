"""Delivery, retries, timeouts, partial failure and concurrency: the emulator running the real ``template.yaml`` and
``statemachine/tuning.asl.json`` with the real handlers (``Emulator(template, retry_sleep=False)``).

Partial-failure scenarios run on both engines: the local engine (``LocalTuner``) and the emulator.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from hyperparameter_tuner import LocalTuner
from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
from hyperparameter_tuner.emulator import Emulator, s3_object_created_event, throttle
from hyperparameter_tuner.records import Experiment, ExperimentStatus, Run, RunStatus

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
ASL = REPO_ROOT / "statemachine" / "tuning.asl.json"
KEY = "datasets/iris/split.npz"

CONFIG: dict[str, Any] = {
    "name": "faults",
    "training_params": {"LogisticRegression": {"C": [0.1, 1.0, 10.0]}, "DecisionTreeClassifier": {"max_depth": [2]}},
    "trainer_config": {"LogisticRegression": {"max_iter": 300}},
    "metrics": ["accuracy"],
    "perf_metric": "accuracy",
    "batch_size": 2,
}
TOTAL = 4  # batches [0, 2) and [2, 4)


@pytest.fixture
def split_bytes(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> bytes:
    path = tmp_path / "split.npz"
    np.savez(path, **iris_arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return path.read_bytes()


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(TEMPLATE, retry_sleep=False) as emulator:
        yield emulator


def put_inputs(emu: Emulator, config: dict[str, Any], data: bytes) -> dict[str, Any]:
    """Config and split in the bucket; return the split's S3 "Object Created" event, as S3 would send it."""
    emu.s3.put_object(Bucket=emu.bucket_name, Key="datasets/iris/tuning.yaml", Body=yaml.safe_dump(config).encode())
    emu.s3.put_object(Bucket=emu.bucket_name, Key=KEY, Body=data)
    head = emu.s3.head_object(Bucket=emu.bucket_name, Key=KEY)
    return s3_object_created_event(emu.bucket_name, KEY, head["VersionId"], head["ETag"], head["ContentLength"])


def deliver(emu: Emulator, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = emu.deliver_event(event)["FanOutFunction"]
    return result


def run_to_end(emu: Emulator, config: dict[str, Any], data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    started = deliver(emu, put_inputs(emu, config, data))
    assert started["status"] == "STARTED", started
    return started, emu.wait_for_execution(started["execution_arn"], timeout=120)


def metadata(emu: Emulator) -> DynamoDBMetadataTracker:
    return DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb)


def executions(emu: Emulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emu.sfn.list_executions(stateMachineArn=emu.state_machine_arn)["executions"]
    return found


def experiments(emu: Emulator, run_id: str) -> list[Experiment]:
    return sorted(metadata(emu).iter_experiments(run_id), key=lambda e: e.index)


def exp_rows(emu: Emulator, run_id: str) -> list[dict[str, Any]]:
    reply = emu.dynamodb.query(TableName=emu.table_name, KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
                               ExpressionAttributeValues={":pk": {"S": f"RUN#{run_id}"}, ":e": {"S": "EXP#"}})
    items: list[dict[str, Any]] = reply["Items"]
    return items


def model_versions(emu: Emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for page in emu.s3.get_paginator("list_object_versions").paginate(Bucket=emu.bucket_name, Prefix="models/"):
        for version in page.get("Versions", []):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


def run_item(emu: Emulator, run_id: str) -> dict[str, Any]:
    item: dict[str, Any] = emu.dynamodb.get_item(TableName=emu.table_name, ConsistentRead=True,
                                                 Key={"PK": {"S": f"RUN#{run_id}"}, "SK": {"S": "RUN"}})["Item"]
    return item


def manifest(emu: Emulator, run_id: str) -> list[dict[str, Any]]:
    body = emu.s3.get_object(Bucket=emu.bucket_name, Key=f"runs/{run_id}/manifest.json")["Body"].read()
    items: list[dict[str, Any]] = json.loads(body)
    return items


# -- at-least-once delivery -------------------------------------------------------------------------------------


def test_duplicated_s3_event_yields_one_run_and_one_execution(emu: Emulator, split_bytes: bytes) -> None:
    # Given one upload whose event is delivered twice
    event = put_inputs(emu, CONFIG, split_bytes)

    # When
    first, second = deliver(emu, event), deliver(emu, event)
    execution = emu.wait_for_execution(first["execution_arn"], timeout=120)

    # Then
    assert first["status"] == "STARTED" and second["status"] == "DUPLICATE", (first, second)
    assert second["run_id"] == first["run_id"]
    assert execution["status"] == "SUCCEEDED"
    assert [e["name"] for e in executions(emu)] == [first["run_id"]]
    assert metadata(emu).get_run(first["run_id"]).status is RunStatus.SUCCEEDED


def test_reupload_with_a_new_version_yields_a_new_run(emu: Emulator, split_bytes: bytes) -> None:
    # Given a finished run on the split
    first, _ = run_to_end(emu, CONFIG, split_bytes)

    # When the same bytes are uploaded again (a new S3 version) and its event delivered
    second, execution = run_to_end(emu, CONFIG, split_bytes)

    # Then a second run and a second execution (its experiments reused from the first run, same data)
    assert second["run_id"] != first["run_id"]
    assert execution["status"] == "SUCCEEDED"
    assert sorted(e["name"] for e in executions(emu)) == sorted([first["run_id"], second["run_id"]])
    assert [e.reused_from for e in experiments(emu, second["run_id"])] == [first["run_id"]] * TOTAL


def test_duplicate_after_the_run_closed_is_a_no_op(emu: Emulator, split_bytes: bytes) -> None:
    # Given a closed run
    event = put_inputs(emu, CONFIG, split_bytes)
    started = deliver(emu, event)
    emu.wait_for_execution(started["execution_arn"], timeout=120)
    closed = run_item(emu, started["run_id"])

    # When the same event arrives again
    late = deliver(emu, event)

    # Then it succeeds as DUPLICATE: no new execution, the run untouched
    assert late["status"] == "DUPLICATE" and late["run_id"] == started["run_id"], late
    assert len(executions(emu)) == 1
    assert run_item(emu, started["run_id"]) == closed
    assert all(call.error is None for call in emu.invocations("FanOutFunction"))


# -- idempotent trainer and reducer ----------------------------------------------------------------------------


def test_trainer_retried_after_saving_leaves_one_row_and_one_model_version(emu: Emulator, split_bytes: bytes) -> None:
    # Given a finished run (every model saved, every row written)
    started, _ = run_to_end(emu, CONFIG, split_bytes)
    item = manifest(emu, started["run_id"])[0]
    rows_before = exp_rows(emu, started["run_id"])
    versions_before = model_versions(emu)

    # When the trainer is invoked twice more with the same batch item (a retry after it saved its models)
    replies = [emu.invoke("TrainerFunction", item) for _ in range(2)]

    # Then nothing is trained or written again (the run is closed, so the batch is skipped outright)
    assert [reply["skipped"] for reply in replies] == [item["stop"] - item["start"]] * 2
    assert [reply["succeeded"] for reply in replies] == [0, 0]
    rows = exp_rows(emu, started["run_id"])
    assert len(rows) == TOTAL == len({row["SK"]["S"] for row in rows})
    assert rows == rows_before
    assert model_versions(emu) == versions_before
    assert set(versions_before.values()) == {1} and len(versions_before) == TOTAL


class _CountingEvents:
    """Wraps the reducer's EventBridge client and counts ``put_events`` calls."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put_events(self, **kwargs: Any) -> Any:
        with self._lock:
            self.calls.append(kwargs)
        return self._client.put_events(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_reducer_run_twice_keeps_the_winner_and_publishes_once(emu: Emulator, split_bytes: bytes) -> None:
    # Given the reducer's EventBridge client counted, and a finished run
    services = emu.handler_module("ReducerFunction").services
    events = _CountingEvents(services.events)
    if isinstance(getattr(type(services), "events", None), property):  # clients created lazily, behind properties
        services._clients["events"] = events
    else:
        services.events = events
    started, _ = run_to_end(emu, CONFIG, split_bytes)
    before = run_item(emu, started["run_id"])
    rows_before = exp_rows(emu, started["run_id"])

    # When the reducer runs again
    again = emu.invoke("ReducerFunction", {"run_id": started["run_id"]})

    # Then the same winner, no write, one completion event in all
    assert again["status"] == "SUCCEEDED" and again["winner"] == before["winner"]["S"]
    assert run_item(emu, started["run_id"]) == before
    assert exp_rows(emu, started["run_id"]) == rows_before
    assert len(events.calls) == 1
    (entry,) = events.calls[0]["Entries"]
    assert json.loads(entry["Detail"])["winner"] == before["winner"]["S"]


# -- retries and timeouts ------------------------------------------------------------------------------------------


def test_throttled_twice_then_success_is_three_invocations(emu: Emulator, split_bytes: bytes) -> None:
    # Given the trainer throttled twice for batch 0
    emu.add_fault(throttle(2, function="TrainerFunction", when=lambda event: event.get("batch") == 0))

    # When
    started, execution = run_to_end(emu, CONFIG, split_bytes)

    # Then batch 0 reached the trainer three times, the third succeeded, and the run succeeded with every experiment
    batch0 = [call for call in emu.invocations("TrainerFunction") if call.event.get("batch") == 0]
    assert [call.error for call in batch0] == ["TooManyRequestsException", "TooManyRequestsException", None]
    assert len([call for call in emu.invocations("TrainerFunction") if call.event.get("batch") == 1]) == 1
    assert len(emu.retry_sleeps) == 2
    assert execution["status"] == "SUCCEEDED"
    assert [e.status for e in experiments(emu, started["run_id"])] == [ExperimentStatus.SUCCEEDED] * TOTAL


def test_every_trainer_task_has_a_timeout_within_lambdas() -> None:
    # The hung-trainer tests below make this timeout fire on a fake clock: it must exist for them to mean anything.
    train = json.loads(ASL.read_text())["States"]["TrainBatches"]["ItemProcessor"]["States"]["TrainBatch"]
    assert train["TimeoutSeconds"] == 900  # Lambda's own limit: a hung trainer ends the task, never the run


class _TaskTimer:
    """Stands in for the ``threading.Event`` moto's task state waits on with ``TimeoutSeconds``: a fake clock.

    moto runs each task on a thread and waits ``event.wait(TimeoutSeconds)`` for it. Here the wait ignores the
    wall clock: it returns ``True`` when the task finished and ``False`` (the task timed out) only once the task
    itself reported that its time is up (:meth:`expire`). Loaded machines cannot make a task time out early, or late.
    """

    def __init__(self) -> None:
        self._done = threading.Event()
        self._wake = threading.Event()
        _timers.last = self

    def set(self) -> None:
        self._done.set()
        self._wake.set()

    def is_set(self) -> bool:
        return self._done.is_set()

    def expire(self) -> None:
        self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        # A bound only so that a broken test ends instead of hanging: every task here finishes (the hung trainer is
        # released after at most SAFETY_SECONDS) long before it, so it never decides an outcome.
        self._wake.wait(TASK_SAFETY_SECONDS)
        return self._done.is_set()


class _TaskThread(threading.Thread):
    """The thread moto runs one task attempt on, linked to the :class:`_TaskTimer` that attempt waits on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timer: _TaskTimer | None = getattr(_timers, "last", None)


_timers = threading.local()
SAFETY_SECONDS = 120.0
TASK_SAFETY_SECONDS = 600.0


@pytest.fixture
def task_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Task timeouts (``TimeoutSeconds``) of moto's interpreter fire only when the task calls :func:`time_is_up`."""
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    assert execute_state.threading.Event is threading.Event and execute_state.Thread is threading.Thread, (
        "moto's task timeout is no longer an Event.wait on a Thread: update this fake clock"
    )
    monkeypatch.setattr(execute_state, "threading", SimpleNamespace(Event=_TaskTimer))
    monkeypatch.setattr(execute_state, "Thread", _TaskThread)


def time_is_up() -> None:
    """Called from inside a task (an emulated Lambda invocation): its ``TimeoutSeconds`` have now elapsed."""
    thread = threading.current_thread()
    assert isinstance(thread, _TaskThread) and thread.timer is not None, "not inside a task attempt"
    thread.timer.expire()


class _HungBatch:
    """A fault hook: batch 0's trainer outlives its task timeout and hangs until :meth:`release` is called."""

    def __init__(self) -> None:
        self.hanging = threading.Event()
        self.released = threading.Event()
        self.returned = threading.Event()

    def __call__(self, function_id: str, event: Any) -> None:
        if function_id == "TrainerFunction" and event.get("batch") == 0:
            self.hanging.set()
            time_is_up()
            self.released.wait(SAFETY_SECONDS)
            self.returned.set()

    def release(self) -> None:
        self.released.set()


@pytest.mark.usefixtures("task_clock")
def test_hung_trainer_times_out_and_its_experiments_are_failed(split_bytes: bytes) -> None:
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        # Given batch 0's trainer hanging past TrainBatch's TimeoutSeconds (until the test releases it)
        hung = _HungBatch()
        emu.add_fault(hung)

        # When
        started, execution = run_to_end(emu, CONFIG, split_bytes)

        # Then the state machine gave up on batch 0 while its trainer still hung, recorded it, and closed the run
        try:
            assert hung.hanging.is_set() and not hung.returned.is_set(), "the run closed after the trainer returned"
            assert execution["status"] == "SUCCEEDED"
            assert [call.event["batch"] for call in emu.invocations("TrainerFunction")] == [1]
            run = metadata(emu).get_run(started["run_id"])
            assert run.status is RunStatus.SUCCEEDED and run.winner is not None
            by_index = {e.index: e for e in experiments(emu, started["run_id"])}
            for index in (0, 1):
                assert by_index[index].status is ExperimentStatus.FAILED
                assert by_index[index].error_type == "BatchFailed"
                assert "States.Timeout" in (by_index[index].error or "")
            assert [by_index[i].status for i in (2, 3)] == [ExperimentStatus.SUCCEEDED] * 2
        finally:
            hung.release()
            emu.wait_for_invocations("TrainerFunction", 2, timeout=SAFETY_SECONDS)


@pytest.mark.usefixtures("task_clock")
def test_hung_trainer_finishing_after_the_run_closed_does_not_rewrite_its_records(split_bytes: bytes) -> None:
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        # Given a run closed while batch 0's trainer still hangs
        hung = _HungBatch()
        emu.add_fault(hung)
        started, _ = run_to_end(emu, CONFIG, split_bytes)
        assert not hung.returned.is_set()
        closed = metadata(emu).get_run(started["run_id"])
        recorded = {e.experiment_id: (e.status, e.error_type) for e in experiments(emu, started["run_id"])}

        # When the hung invocation finally returns and runs its batch
        hung.release()
        emu.wait_for_invocations("TrainerFunction", 2, timeout=SAFETY_SECONDS)

        # Then the closed run's records are final: what the reducer summarised is what the table shows
        assert [call.event["batch"] for call in emu.invocations("TrainerFunction")] == [1, 0]
        assert metadata(emu).get_run(started["run_id"]) == closed
        now = {e.experiment_id: (e.status, e.error_type) for e in experiments(emu, started["run_id"])}
        assert now == recorded


# -- partial failure, on both engines ----------------------------------------------------------------------------


def _partial_config(c_values: list[float], **options: Any) -> dict[str, Any]:
    return {"name": "partial", "training_params": {"LogisticRegression": {"C": c_values}},
            "trainer_config": {"LogisticRegression": {"max_iter": 300}}, "metrics": ["accuracy"],
            "perf_metric": "accuracy", "batch_size": 5, **options}


NINETEEN_GOOD_ONE_BAD = [round(0.05 * (i + 1), 2) for i in range(19)] + [-1.0]


def _run_local(tmp_path: Path, data: bytes, config: dict[str, Any]) -> tuple[Run, list[Experiment]]:
    split = tmp_path / "local-split.npz"
    split.write_bytes(data)
    tuner = LocalTuner(store=tmp_path / "store", jobs=2, **config)
    result = tuner.run(split)
    return result.run, sorted(result.experiments, key=lambda e: e.index)


def _run_emulated(tmp_path: Path, data: bytes, config: dict[str, Any]) -> tuple[Run, list[Experiment]]:
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        started, execution = run_to_end(emu, config, data)
        assert execution["status"] == "SUCCEEDED"
        return metadata(emu).get_run(started["run_id"]), experiments(emu, started["run_id"])


ENGINES = {"local": _run_local, "emulator": _run_emulated}


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_one_failing_experiment_of_twenty_is_recorded_and_the_run_succeeds(engine: str, tmp_path: Path,
                                                                           split_bytes: bytes) -> None:
    run, found = ENGINES[engine](tmp_path, split_bytes, _partial_config(NINETEEN_GOOD_ONE_BAD))

    assert run.status is RunStatus.SUCCEEDED and run.winner is not None
    assert len(found) == run.total == 20
    assert [e.status for e in found].count(ExperimentStatus.SUCCEEDED) == 19
    (failed,) = [e for e in found if e.status is ExperimentStatus.FAILED]
    assert failed.params["C"] == -1.0
    assert failed.error_type == "InvalidParameterError"
    assert "'C' parameter of LogisticRegression" in (failed.error or "")
    assert run.winner != failed.experiment_id


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_experiment_failing_fails_the_run_with_a_clear_cause(engine: str, tmp_path: Path,
                                                                    split_bytes: bytes) -> None:
    run, found = ENGINES[engine](tmp_path, split_bytes, _partial_config([-1.0, -2.0, -3.0], batch_size=2))

    assert run.status is RunStatus.FAILED and run.winner is None
    assert run.reason == "all 3 experiments failed"
    assert [e.error_type for e in found] == ["InvalidParameterError"] * 3


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_failure_ratio_above_max_failure_ratio_fails_the_run_naming_the_ratio(engine: str, tmp_path: Path,
                                                                               split_bytes: bytes) -> None:
    config = _partial_config(NINETEEN_GOOD_ONE_BAD, max_failure_ratio=0.0)

    run, found = ENGINES[engine](tmp_path, split_bytes, config)

    assert run.status is RunStatus.FAILED
    assert run.winner is None  # a FAILED run has no winner, on either engine
    assert run.reason is not None
    assert "1 of 20 experiments failed (5%), above max_failure_ratio 0%" in run.reason
    assert [e.status for e in found].count(ExperimentStatus.SUCCEEDED) == 19


# -- concurrency ------------------------------------------------------------------------------------------------------


def test_peak_concurrent_trainer_invocations_never_exceed_max_concurrency(emu: Emulator, split_bytes: bytes) -> None:
    # Given 8 one-experiment batches, max_concurrency 2, and a hook counting trainers in flight: the first trainers
    # wait for each other until two are in flight at once (an event, not a sleep), so the peak is reached however
    # slow the machine; a third trainer in flight at any moment would raise the peak above 2.
    condition = threading.Condition()
    state = SimpleNamespace(in_flight=0, peak=0)

    def track(function_id: str, event: Any) -> None:
        if function_id != "TrainerFunction":
            return
        with condition:
            state.in_flight += 1
            state.peak = max(state.peak, state.in_flight)
            condition.notify_all()
            condition.wait_for(lambda: state.peak >= 2, timeout=SAFETY_SECONDS)
        with condition:
            state.in_flight -= 1

    emu.add_fault(track)
    config = {**CONFIG, "training_params": {"LogisticRegression": {"C": [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]}},
              "batch_size": 1, "max_concurrency": 2}

    # When
    started, execution = run_to_end(emu, config, split_bytes)

    # Then all 8 batches ran, never more than 2 at once (and 2 at once did happen)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["input"])["max_concurrency"] == 2
    assert emu.invocation_count("TrainerFunction") == 8
    assert state.peak == 2
    calls = emu.invocations("TrainerFunction")
    overlap = max(sum(1 for other in calls if other.started <= call.started < other.finished) for call in calls)
    assert overlap <= 2
