"""Random search and successive halving in the emulated AWS workflow (the real template and state machine): the
same experiments, rungs, scores and winner as the local engine, the Promote step once between rungs, and a lost
batch of a later rung recorded from its manifest item."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hyperparameter_tuner import LocalTuner
from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.emulator import Emulator, s3_object_created_event
from hyperparameter_tuner.records import Experiment, ExperimentStatus, RunStatus

pytestmark = pytest.mark.e2e

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
KEY = "datasets/iris/split.npz"
CONFIG: dict[str, Any] = {
    "name": "halving",
    "training_params": {
        "KNeighborsClassifier": {"n_neighbors": [1, 2, 3, 4, 5, 6, 7, 8, 9], "weights": ["uniform", "distance"]},
        "SVC": {"C": {"distribution": "loguniform", "low": 0.01, "high": 100.0}},
    },
    "metrics": ["accuracy", "f1_macro"],
    "perf_metric": "f1_macro",
    "search": {"strategy": "halving", "n_iter": 6, "factor": 3, "min_resources": 15},
    "batch_size": 3,
    "seed": 5,
}
RUNGS = [{"rung": 0, "n_candidates": 12, "n_resources": 15}, {"rung": 1, "n_candidates": 4, "n_resources": 45}]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(TEMPLATE, retry_sleep=False) as emulator:
        yield emulator


def _run(emu: Emulator, arrays: dict[str, np.ndarray], tmp_path: Path,
         config: dict[str, Any] = CONFIG) -> tuple[str, dict[str, Any]]:
    path = tmp_path / "split.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    emu.s3.put_object(Bucket=emu.bucket_name, Key="datasets/iris/tuning.yaml", Body=yaml.safe_dump(config).encode())
    emu.s3.put_object(Bucket=emu.bucket_name, Key=KEY, Body=path.read_bytes())
    head = emu.s3.head_object(Bucket=emu.bucket_name, Key=KEY)
    event = s3_object_created_event(emu.bucket_name, KEY, head["VersionId"], head["ETag"], head["ContentLength"])
    started = emu.deliver_event(event)["FanOutFunction"]
    assert started["status"] == "STARTED", started
    execution = emu.wait_for_execution(started["execution_arn"], timeout=300)
    return started["run_id"], execution


def _experiments(emu: Emulator, run_id: str) -> list[Experiment]:
    return list(DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).iter_experiments(run_id))


def test_emulated_halving_equals_the_local_engine(emu: Emulator, iris_arrays: dict[str, np.ndarray],
                                                  tmp_path: Path) -> None:
    # Given the local engine's run of the config on the split
    local = LocalTuner(config=parse_config(CONFIG), store=tmp_path / "store", jobs=2).run(_npz(tmp_path, iris_arrays))
    assert local.run.rungs == RUNGS

    # When the emulated AWS workflow runs it
    run_id, execution = _run(emu, iris_arrays, tmp_path)

    # Then the execution looped once through Promote, which wrote rung 1's manifest (batches numbered on)
    assert execution["status"] == "SUCCEEDED"
    assert emu.invocation_count("PromoteFunction") == 1
    rung1 = json.loads(emu.s3.get_object(Bucket=emu.bucket_name, Key=f"runs/{run_id}/rung-1.json")["Body"].read())
    assert [item["batch"] for item in rung1] == [4, 5] and all(item["rung"] == 1 for item in rung1)
    # And every (candidate, rung) experiment, its scores and the winner are the local engine's
    run = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).get_run(run_id)
    assert run.rungs == RUNGS and run.total == 16 and run.search["strategy"] == "halving"
    def table(experiments: Any) -> dict[str, Any]:
        return {e.experiment_id: (e.rung, e.n_resources, e.candidate, e.index, e.scores) for e in experiments}

    assert table(_experiments(emu, run_id)) == table(local.experiments)
    assert run.status is RunStatus.SUCCEEDED and run.winner == local.run.winner


def _npz(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path = tmp_path / "local.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return path


GRID_CONFIG = {**CONFIG, "training_params": {**CONFIG["training_params"], "SVC": {"C": [0.01, 0.1, 1.0, 10.0]}},
               "search": {"strategy": "halving", "factor": 3, "min_resources": 15}}


@pytest.mark.parametrize("config", [CONFIG, GRID_CONFIG], ids=["drawn", "grid"])
def test_a_lost_batch_of_a_later_rung_is_recorded_from_its_manifest_item(emu: Emulator,
                                                                          iris_arrays: dict[str, np.ndarray],
                                                                          tmp_path: Path,
                                                                          config: dict[str, Any]) -> None:
    # Given rung 1's first batch fails every time it is invoked
    def fail_first_batch_of_rung_1(function: str, event: Any) -> None:
        if function == "TrainerFunction" and isinstance(event, dict) and (event.get("rung"), event.get("start")) == (
                1, 0):
            raise RuntimeError("disk on fire")

    emu.add_fault(fail_first_batch_of_rung_1)

    # When the run goes through both rungs
    run_id, execution = _run(emu, iris_arrays, tmp_path, config)

    # Then the batch's three candidates have FAILED records in rung 1, naming the batch, and the run still closes
    assert execution["status"] == "SUCCEEDED"
    rung1 = json.loads(emu.s3.get_object(Bucket=emu.bucket_name, Key=f"runs/{run_id}/rung-1.json")["Body"].read())
    failed = [e for e in _experiments(emu, run_id) if e.status is ExperimentStatus.FAILED]
    assert sorted(e.candidate for e in failed if e.candidate is not None) == sorted(rung1[0]["candidates"])
    assert all(e.rung == 1 and e.error and f"trainer batch {rung1[0]['batch']} failed" in e.error for e in failed)
    if config is GRID_CONFIG:  # a grid candidate is rebuilt whole: its real id and parameters
        assert all(e.params and e.algo in config["training_params"] for e in failed)
    run = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED and run.winner is not None
    assert run.winner in {e.experiment_id for e in _experiments(emu, run_id)
                          if e.rung == 1 and e.status is ExperimentStatus.SUCCEEDED}


def test_emulated_random_search_draws_in_the_trainer_what_the_local_engine_draws(
        emu: Emulator, iris_arrays: dict[str, np.ndarray], tmp_path: Path) -> None:
    # Given random search over a distribution and a list (the fan-out counts the draws, trainers make them)
    config = {**CONFIG, "search": {"strategy": "random", "n_iter": 4}}
    local = LocalTuner(config=parse_config(config), store=tmp_path / "store", jobs=1).run(_npz(tmp_path, iris_arrays))

    # When the emulated workflow runs it
    run_id, execution = _run(emu, iris_arrays, tmp_path, config)

    # Then the same 8 experiments (4 draws per trainer), parameters, scores and winner, and no Promote step
    assert execution["status"] == "SUCCEEDED" and emu.invocation_count("PromoteFunction") == 0
    emulated = {e.experiment_id: (e.params, e.scores, e.rung) for e in _experiments(emu, run_id)}
    assert len(emulated) == 8
    assert emulated == {e.experiment_id: (e.params, e.scores, e.rung) for e in local.experiments}
    run = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb).get_run(run_id)
    assert run.search == {"strategy": "random", "n_iter": 4} and run.rungs == []
    assert run.winner == local.run.winner
