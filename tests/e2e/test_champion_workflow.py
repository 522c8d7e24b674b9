"""Champion/challenger in the emulated AWS workflow: the template's Champion step after the reducer, its decisions
recorded in DynamoDB and published on EventBridge, and two runs of one dataset finishing at once."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score

from hyperparameter_tuner.aws.champions import DynamoDBChampionTracker
from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
from hyperparameter_tuner.cli import main
from hyperparameter_tuner.emulator import Emulator
from hyperparameter_tuner.records import Run

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
DATASET = "flowers"
DUMMY = {"name": DATASET, "training_params": {"DummyClassifier": {}}, "metrics": ["accuracy"],
         "perf_metric": "accuracy"}
LOGISTIC = {"name": DATASET, "training_params": {"LogisticRegression": {"C": [1.0]}},
            "trainer_config": {"LogisticRegression": {"max_iter": 1000}}, "metrics": ["accuracy"],
            "perf_metric": "accuracy"}


def split_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return buffer.getvalue()


@pytest.fixture
def two_splits(iris_arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Iris as the conftest splits it, and the same rows split otherwise (new data, same features)."""
    X = np.concatenate([iris_arrays["X_train"], iris_arrays["X_val"], iris_arrays["X_test"]])
    y = np.concatenate([iris_arrays["y_train"], iris_arrays["y_val"], iris_arrays["y_test"]])
    order = np.random.default_rng(42).permutation(len(y))
    X, y = X[order], y[order]
    return dict(iris_arrays), {"X_train": X[:100], "y_train": y[:100], "X_test": X[100:], "y_test": y[100:]}


def event_queue(emu: Emulator) -> Callable[[], list[dict[str, Any]]]:
    """Route every event the application publishes to a queue; return a function draining it."""
    sqs = emu.client("sqs")
    url = sqs.create_queue(QueueName="tuner-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = emu.client("events")
    events.put_rule(Name="tuner-events", EventPattern=json.dumps({"source": ["hyperparameter-tuner"]}))
    events.put_targets(Rule="tuner-events", Targets=[{"Id": "queue", "Arn": arn}])

    def drain() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return received

    return drain


def start(emu: Emulator, config: dict[str, Any], name: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    emu.s3.put_object(Bucket=emu.bucket_name, Key=f"datasets/{DATASET}/tuning.yaml",
                      Body=yaml.safe_dump(config, sort_keys=False).encode())
    key = f"datasets/{DATASET}/{name}.npz"
    emu.s3.put_object(Bucket=emu.bucket_name, Key=key, Body=split_bytes(arrays))
    started: dict[str, Any] = emu.deliver_s3_object_created(key)["FanOutFunction"]
    assert started["status"] == "STARTED", started
    return started


def finish(emu: Emulator, started: dict[str, Any]) -> Run:
    assert emu.wait_for_execution(started["execution_arn"], timeout=300)["status"] == "SUCCEEDED"
    return DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).get_run(started["run_id"])


def test_uploads_of_one_dataset_promote_then_keep_and_publish_each_decision(
    two_splits: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
) -> None:
    a, b = two_splits
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        drain = event_queue(emu)

        # Given a first upload of the dataset: its winner is the first champion
        first = finish(emu, start(emu, DUMMY, "a", a))
        assert (first.dataset, first.champion and first.champion["decision"]) == (DATASET, "first")

        # When a better model is tuned on a new upload, then a worse one on the same data
        second = finish(emu, start(emu, LOGISTIC, "b", b))
        third = finish(emu, start(emu, {**DUMMY, "seed": 1}, "b", b))

        # Then the second is promoted (the old champion re-scored on b's test split, as scikit-learn scores it)
        # and the third keeps it
        assert second.champion is not None and third.champion is not None
        assert (second.champion["decision"], third.champion["decision"]) == ("promoted", "kept")
        old = DummyClassifier().fit(a["X_train"], a["y_train"])
        assert second.champion["champion_score"] == pytest.approx(accuracy_score(b["y_test"], old.predict(b["X_test"])))
        assert third.champion["champion_experiment_id"] == second.winner
        assert third.champion["champion_score"] == pytest.approx(second.champion["challenger_score"])
        champions = DynamoDBChampionTracker(emu.table_name, client=emu.dynamodb)
        current = champions.get_champion(DATASET)
        assert current is not None and (current.experiment_id, current.version) == (second.winner, 3)
        assert [d.decision for d in champions.history(DATASET)] == ["first", "promoted", "kept"]

        # And each run published its completion, then its champion decision
        published = [(event["detail-type"], event["detail"]["run_id"]) for event in drain()]
        assert published == [
            ("Tuning Run Completed", first.run_id), ("Champion Promoted", first.run_id),
            ("Tuning Run Completed", second.run_id), ("Champion Promoted", second.run_id),
            ("Tuning Run Completed", third.run_id), ("Champion Kept", third.run_id),
        ]


def test_two_runs_of_one_dataset_finishing_at_once_record_one_champion_each_in_turn(
    two_splits: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
) -> None:
    a, b = two_splits
    with Emulator(TEMPLATE, retry_sleep=False) as emu:
        drain = event_queue(emu)

        # Given two uploads of one dataset whose executions run at the same time
        started = [start(emu, DUMMY, "a", a), start(emu, LOGISTIC, "b", b)]

        # When both finish
        runs = [finish(emu, one) for one in started]

        # Then exactly one was first, the other decided against it; the champion is the better model
        decisions = sorted(run.champion["decision"] for run in runs if run.champion)
        assert decisions in (["first", "promoted"], ["first", "kept"])
        champions = DynamoDBChampionTracker(emu.table_name, client=emu.dynamodb)
        current = champions.get_champion(DATASET)
        assert current is not None and current.experiment_id == runs[1].winner and current.version == 2
        assert [d.version for d in champions.history(DATASET)] == [1, 2]
        kinds = sorted(event["detail-type"] for event in drain() if event["detail-type"].startswith("Champion"))
        assert kinds in (["Champion Promoted", "Champion Promoted"], ["Champion Kept", "Champion Promoted"])


def test_hpt_emulate_json_carries_the_champion_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], iris_npz: Path,
) -> None:
    config = tmp_path / "flowers.yaml"
    config.write_text(yaml.safe_dump(LOGISTIC, sort_keys=False))

    code = main(["emulate", str(config), "--data", str(iris_npz), "--template", str(TEMPLATE), "--json"])

    payload = json.loads(capsys.readouterr().out)
    assert (code, payload["dataset"]) == (0, DATASET)
    champion = payload["champion"]
    assert (champion["decision"], champion["champion_experiment_id"]) == ("first", payload["winner"]["experiment_id"])
    (winner,) = payload["experiments"]
    assert champion["challenger_score"] == winner["scores"]["test"]["accuracy"]
