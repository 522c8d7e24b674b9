"""``parse_fan_out_event`` on every ``events/`` file and on malformed events: one request per trigger, one line
naming the field at fault otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from hyperparameter_tuner.aws.events import BadEventError, ExecutionEnded, RunRequest, parse_fan_out_event
from hyperparameter_tuner.emulator import (
    execution_status_change_event,
    load_template,
    s3_object_created_event,
)

LoadEvent = Callable[[str], dict[str, Any]]
BUCKET = "hpt-emulator-databucket-123456789012"
REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"


def matches_pattern(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """moto's EventBridge pattern matcher, the one the emulator delivers events with."""
    return EventPattern.load(json.dumps(pattern)).matches_event(event)  # type: ignore[arg-type]


def s3_event(key: str, version_id: str | None = "v1", etag: str = '"abc"') -> dict[str, Any]:
    return s3_object_created_event(BUCKET, key, version_id, etag, 10)


# -- the events/ files ----------------------------------------------------------------------------------------


def test_every_trigger_and_function_has_an_event_file() -> None:
    names = sorted(path.name for path in EVENTS_DIR.glob("*.json"))
    assert names == sorted([
        "fan_out_s3_npz.json", "fan_out_s3_csv_success.json", "fan_out_schedule.json", "fan_out_direct.json",
        "fan_out_execution_ended.json", "trainer_batch.json", "reducer.json", "promote.json", "champion.json",
        "report_run_completed.json",
    ])


def test_s3_npz_event_names_the_npz_split(load_event: LoadEvent) -> None:
    event = load_event("fan_out_s3_npz")
    request = parse_fan_out_event(event)
    assert request == RunRequest(
        trigger="upload", dataset="iris", bucket=BUCKET, data_key="datasets/iris/iris.npz",
        data_version=event["detail"]["object"]["version-id"], data_etag=event["detail"]["object"]["etag"],
    )


def test_s3_success_marker_event_names_the_csv_folder(load_event: LoadEvent) -> None:
    event = load_event("fan_out_s3_csv_success")
    request = parse_fan_out_event(event)
    assert request == RunRequest(
        trigger="upload", dataset="diabetes", bucket=BUCKET, data_key="datasets/diabetes/split-1/",
        data_version=event["detail"]["object"]["version-id"], data_etag=event["detail"]["object"]["etag"],
    )


def test_s3_event_files_have_the_shape_s3_delivers_to_eventbridge(load_event: LoadEvent) -> None:
    for name in ("fan_out_s3_npz", "fan_out_s3_csv_success"):
        event = load_event(name)
        obj = event["detail"]["object"]
        reference = s3_object_created_event(
            event["detail"]["bucket"]["name"], obj["key"], obj["version-id"], obj["etag"], obj["size"]
        )
        assert set(event) == set(reference), name
        assert set(event["detail"]) == set(reference["detail"]), name
        assert set(obj) == set(reference["detail"]["object"]), name
        assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
        assert event["resources"] == [f"arn:aws:s3:::{event['detail']['bucket']['name']}"]


def test_s3_event_files_match_the_templates_dataset_rule(load_event: LoadEvent) -> None:
    # Given: the DatasetLanded rule's pattern, with the bucket reference replaced by the events' bucket
    template = load_template(REPO_ROOT / "template.yaml")
    pattern = template.properties("FanOutFunction")["Events"]["DatasetLanded"]["Properties"]["Pattern"]
    pattern = {**pattern, "detail": {**pattern["detail"], "bucket": {"name": [BUCKET]}}}

    # When / Then
    for name in ("fan_out_s3_npz", "fan_out_s3_csv_success"):
        assert matches_pattern(pattern, load_event(name)), name
    notes = s3_event("datasets/iris/notes.txt")
    assert not matches_pattern(pattern, notes)


def test_schedule_event_is_the_templates_schedule_input(load_event: LoadEvent) -> None:
    template = load_template(REPO_ROOT / "template.yaml")
    schedule = template.properties("FanOutFunction")["Events"]["Schedule"]["Properties"]
    assert schedule["Input"] == {"Fn::Sub": '{"kind": "schedule", "dataset": "${ScheduleDataset}"}'}
    assert load_event("fan_out_schedule") == {"kind": "schedule", "dataset": "iris"}
    assert parse_fan_out_event(load_event("fan_out_schedule")) == RunRequest(trigger="schedule", dataset="iris")


def test_direct_event_names_config_and_data(load_event: LoadEvent) -> None:
    request = parse_fan_out_event(load_event("fan_out_direct"))
    assert request == RunRequest(
        trigger="direct", dataset=None, config_key="datasets/iris/tuning.yaml", data_key="datasets/iris/iris.npz"
    )


def test_direct_event_with_a_csv_folder_gets_a_trailing_slash() -> None:
    request = parse_fan_out_event({"kind": "direct", "config_key": "c.yaml", "data_key": "datasets/d/split-1"})
    assert isinstance(request, RunRequest)
    assert request.data_key == "datasets/d/split-1/"


STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:hpt-emulator-tuning"


def execution_rule_pattern() -> dict[str, Any]:
    """The ExecutionEnded rule's pattern, with the state machine reference replaced by the emulator's ARN."""
    template = load_template(REPO_ROOT / "template.yaml")
    pattern: dict[str, Any] = template.properties("FanOutFunction")["Events"]["ExecutionEnded"]["Properties"]["Pattern"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "TuningStateMachine"}]
    return {**pattern, "detail": {**pattern["detail"], "stateMachineArn": [STATE_MACHINE]}}


def test_execution_ended_event_file_is_parsed_and_matches_the_templates_rule(load_event: LoadEvent) -> None:
    event = load_event("fan_out_execution_ended")
    assert parse_fan_out_event(event) == ExecutionEnded(
        executionArn=f"{STATE_MACHINE.replace(':stateMachine:', ':execution:')}:3f9a1c2b7d4e5f60",
        stateMachineArn=STATE_MACHINE, name="3f9a1c2b7d4e5f60", status="ABORTED", error="Operator",
        cause="stopped from the console",
    )
    assert matches_pattern(execution_rule_pattern(), event)


def test_execution_ended_event_file_has_the_shape_step_functions_sends(load_event: LoadEvent) -> None:
    event = load_event("fan_out_execution_ended")
    detail = event["detail"]
    reference = execution_status_change_event({key: detail[key] for key in (
        "executionArn", "stateMachineArn", "name", "status", "input", "output", "error", "cause")})
    assert set(event) == set(reference)
    assert set(detail) == set(reference["detail"])
    assert event["resources"] == [detail["executionArn"]]


@pytest.mark.parametrize(("status", "machine", "fires"), [
    ("FAILED", STATE_MACHINE, True),
    ("TIMED_OUT", STATE_MACHINE, True),
    ("ABORTED", STATE_MACHINE, True),
    ("SUCCEEDED", STATE_MACHINE, False),
    ("RUNNING", STATE_MACHINE, False),
    ("ABORTED", STATE_MACHINE.replace("hpt-emulator-tuning", "someone-elses"), False),
])
def test_execution_ended_rule_fires_only_for_this_state_machine_ending_without_success(
    load_event: LoadEvent, status: str, machine: str, fires: bool
) -> None:
    event = load_event("fan_out_execution_ended")
    event["detail"].update(status=status, stateMachineArn=machine)
    assert matches_pattern(execution_rule_pattern(), event) is fires


def test_execution_event_without_its_name_names_the_field(load_event: LoadEvent) -> None:
    event = load_event("fan_out_execution_ended")
    del event["detail"]["name"]
    with pytest.raises(BadEventError, match=r"^execution status change event: name: Field required"):
        parse_fan_out_event(event)


def test_function_event_files_validate_as_their_handlers_read_them(load_event: LoadEvent) -> None:
    from hyperparameter_tuner.aws.workflow import BatchItem

    item = BatchItem.model_validate(load_event("trainer_batch"))
    assert (item.batch, item.start, item.stop) == (0, 0, 4)
    assert set(load_event("reducer")) == {"run_id"}
    assert load_event("reducer")["run_id"] == item.run_id


# -- key decoding -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        ("datasets/iris/split+one.npz", "datasets/iris/split one.npz"),
        ("datasets/iris/a%2Bb.npz", "datasets/iris/a+b.npz"),
        ("datasets/iris/2026-01-15%3A10/_SUCCESS", "datasets/iris/2026-01-15:10/"),
    ],
)
def test_form_encoded_keys_are_decoded(delivered: str, expected: str) -> None:
    event = s3_event("datasets/iris/placeholder.npz")
    event["detail"]["object"]["key"] = delivered  # exactly as S3 delivers it
    request = parse_fan_out_event(event)
    assert isinstance(request, RunRequest)
    assert request.data_key == expected
    assert request.dataset == "iris"


def test_the_emulator_encodes_keys_as_s3_does() -> None:
    event = s3_event("datasets/iris/split one+two.npz")
    assert event["detail"]["object"]["key"] == "datasets/iris/split+one%2Btwo.npz"
    request = parse_fan_out_event(event)
    assert isinstance(request, RunRequest)
    assert request.data_key == "datasets/iris/split one+two.npz"


# -- malformed events -------------------------------------------------------------------------------------------


def test_s3_event_without_detail_names_detail(load_event: LoadEvent) -> None:
    event = load_event("fan_out_s3_npz")
    del event["detail"]
    with pytest.raises(BadEventError, match=r"S3 upload event: detail: "):
        parse_fan_out_event(event)


def test_s3_event_without_object_key_names_the_key(load_event: LoadEvent) -> None:
    event = load_event("fan_out_s3_npz")
    del event["detail"]["object"]["key"]
    with pytest.raises(BadEventError, match=r"detail\.object\.key"):
        parse_fan_out_event(event)


def test_unknown_kind_is_rejected_naming_the_kinds() -> None:
    with pytest.raises(BadEventError, match=r"kind.*schedule.*direct"):
        parse_fan_out_event({"kind": "manual", "dataset": "iris"})


def test_event_without_kind_is_rejected() -> None:
    with pytest.raises(BadEventError, match=r"not an S3 upload"):
        parse_fan_out_event({"dataset": "iris"})


@pytest.mark.parametrize("event", [[], "datasets/iris/iris.npz", None])
def test_non_object_event_is_rejected(event: Any) -> None:
    with pytest.raises(BadEventError, match=r"event must be a JSON object"):
        parse_fan_out_event(event)


def test_schedule_without_dataset_names_dataset() -> None:
    with pytest.raises(BadEventError, match=r"^schedule event: dataset: Field required"):
        parse_fan_out_event({"kind": "schedule"})


def test_schedule_with_an_invalid_dataset_names_dataset() -> None:
    with pytest.raises(BadEventError, match=r"^schedule event: dataset: "):
        parse_fan_out_event({"kind": "schedule", "dataset": "../etc"})


def test_schedule_with_an_extra_field_names_it() -> None:
    with pytest.raises(BadEventError, match=r"^schedule event: datset: "):
        parse_fan_out_event({"kind": "schedule", "dataset": "iris", "datset": "x"})


def test_direct_without_data_key_names_data_key(load_event: LoadEvent) -> None:
    event = load_event("fan_out_direct")
    del event["data_key"]
    with pytest.raises(BadEventError, match=r"^direct event: data_key: Field required"):
        parse_fan_out_event(event)


def test_direct_without_config_key_names_config_key(load_event: LoadEvent) -> None:
    event = load_event("fan_out_direct")
    event["config_key"] = ""
    with pytest.raises(BadEventError, match=r"^direct event: config_key: "):
        parse_fan_out_event(event)


def test_key_outside_datasets_is_rejected_naming_the_key() -> None:
    with pytest.raises(BadEventError, match=r"'uploads/iris/iris\.npz' is not under datasets/"):
        parse_fan_out_event(s3_event("uploads/iris/iris.npz"))


def test_key_directly_under_datasets_is_rejected() -> None:
    with pytest.raises(BadEventError, match=r"'datasets/iris\.npz': expected datasets/<dataset>/<split>"):
        parse_fan_out_event(s3_event("datasets/iris.npz"))


def test_key_that_is_not_a_split_is_rejected_naming_the_key() -> None:
    with pytest.raises(BadEventError, match=r"'datasets/iris/notes\.txt' is not a split"):
        parse_fan_out_event(s3_event("datasets/iris/notes.txt"))


def test_key_with_an_invalid_dataset_name_is_rejected() -> None:
    with pytest.raises(BadEventError, match=r"dataset name '\.hidden' must match"):
        parse_fan_out_event(s3_event("datasets/.hidden/iris.npz"))
