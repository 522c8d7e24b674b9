"""The whole AWS workflow of ``template.yaml`` in the emulator (real handlers, real state machine) against the local
engine: same experiments, same scores, same winner; and ``hpt emulate``'s contract (JSON, exit codes, errors)."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperparameter_tuner.cli import main
from hyperparameter_tuner.config import load_config
from hyperparameter_tuner.emulator.workflow import EmulatedInputError, emulate_run
from hyperparameter_tuner.local.engine import LocalTuner
from hyperparameter_tuner.results import RunResult

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
EXAMPLES = REPO_ROOT / "examples"

# The examples' grids cut down for speed; metrics, perf_metric, seed, target and trainer_config are the examples'.
SMALL_GRIDS: dict[str, dict[str, Any]] = {
    "iris": {
        "LogisticRegression": {"C": [0.1, 10.0], "max_iter": [1000]},
        "sklearn.ensemble.RandomForestClassifier": {"n_estimators": [10], "max_depth": [2, None]},
        "KNeighborsClassifier": [{"n_neighbors": [1, 5], "weights": ["uniform", "distance"]}],
    },
    "diabetes": {
        "Ridge": {"alpha": [0.1, 10.0]},
        "Lasso": {"alpha": [0.1]},
        "DecisionTreeRegressor": {"max_depth": [2, 4]},
        "KNeighborsRegressor": {"n_neighbors": [5], "weights": ["uniform", "distance"]},
    },
}


def _make_data_module() -> Any:
    spec = importlib.util.spec_from_file_location("_hpt_examples_make_data", EXAMPLES / "make_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The examples' splits, written by ``examples/make_data.py``: an ``.npz`` and a folder of CSV files."""
    out = tmp_path_factory.mktemp("examples")
    make_data = _make_data_module()
    return {"iris": make_data.write_iris(out), "diabetes": make_data.write_diabetes(out)}


def example_config(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    config["training_params"] = copy.deepcopy(SMALL_GRIDS[name])
    config["trainer_config"] = {
        algo: options for algo, options in (config.get("trainer_config") or {}).items() if algo in SMALL_GRIDS[name]
    }
    return config


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[dict[str, Any], str], Path]:
    def _write(mapping: dict[str, Any], name: str) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(mapping, sort_keys=False))
        return path

    return _write


def _summary(result: RunResult) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, dict[str, Any]], str | None]:
    experiments = [(e.experiment_id, e.algo, e.params) for e in result.experiments]
    scores = {e.experiment_id: e.scores for e in result.experiments}
    return experiments, scores, result.run.winner


@pytest.mark.parametrize("example", ["iris", "diabetes"])
def test_emulated_workflow_matches_the_local_engine(
    example: str, example_data: dict[str, Path], write_yaml: Callable[[dict[str, Any], str], Path], tmp_path: Path,
) -> None:
    # Given: one config and one split
    config_path = write_yaml(example_config(example), f"{example}.yaml")
    data = example_data[example]

    # When
    emulated = emulate_run(config_path, data, template=TEMPLATE, timeout=60)
    local = LocalTuner(config=load_config(config_path), store=tmp_path / "store", jobs=1).run(data)

    # Then
    assert emulated.run.status.value == local.run.status.value == "SUCCEEDED"
    assert emulated.run.total == local.run.total == len(emulated.experiments) == len(local.experiments)
    assert {e.status.value for e in emulated.experiments} == {"SUCCEEDED"}
    emulated_ids, emulated_scores, emulated_winner = _summary(emulated)
    local_ids, local_scores, local_winner = _summary(local)
    assert emulated_ids == local_ids
    assert emulated_scores == local_scores  # exactly: same data, same seeds, same estimators
    assert emulated_winner == local_winner is not None
    assert emulated.run.data_fingerprint == local.run.data_fingerprint
    winner = emulated.winner
    assert winner is not None and winner.artifact is not None
    assert winner.artifact.uri.startswith("s3://")


def test_hpt_emulate_json_prints_the_contract(
    example_data: dict[str, Path], write_yaml: Callable[[dict[str, Any], str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given
    config_path = write_yaml(example_config("iris"), "iris.yaml")

    # When
    code = main(["emulate", str(config_path), "--data", str(example_data["iris"]), "--template", str(TEMPLATE),
                 "--json"])

    # Then
    out, err = capsys.readouterr()
    assert code == 0, err
    payload = json.loads(out)  # the whole of stdout is one JSON object: no handler output leaked into it
    assert {"run_id", "status", "perf_metric", "direction", "winner", "experiments"} <= set(payload)
    assert (payload["status"], payload["perf_metric"], payload["direction"]) == ("SUCCEEDED", "f1_macro", "maximize")
    assert {"experiment_id", "algo", "params", "metrics", "model_uri"} <= set(payload["winner"])
    assert payload["winner"]["model_uri"].startswith("s3://")
    assert len(payload["experiments"]) == 8
    for experiment in payload["experiments"]:
        assert {"experiment_id", "algo", "params", "status", "metrics", "error"} <= set(experiment)
        assert experiment["status"] == "SUCCEEDED" and experiment["error"] is None
    best = max(e["metrics"]["f1_macro"] for e in payload["experiments"])
    assert payload["winner"]["metrics"]["f1_macro"] == best
    assert "Traceback" not in err


def test_hpt_emulate_bad_config_is_a_usage_error_from_the_failed_run_record(
    example_data: dict[str, Path], write_yaml: Callable[[dict[str, Any], str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: an unknown metric, which only the fan-out validates
    config = {**example_config("iris"), "metrics": ["f1_macro", "bogus_metric"]}
    config_path = write_yaml(config, "bad.yaml")

    # When
    code = main(["emulate", str(config_path), "--data", str(example_data["iris"]), "--template", str(TEMPLATE),
                 "--json"])

    # Then
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {config_path}: metrics[1]: unknown metric 'bogus_metric'")


def test_emulate_run_bad_config_error_is_the_fan_outs_failed_record(
    example_data: dict[str, Path], write_yaml: Callable[[dict[str, Any], str], Path],
) -> None:
    # Given
    config_path = write_yaml({**example_config("iris"), "perf_metric": "r2"}, "bad.yaml")
    replies: list[dict[str, Any]] = []

    # When
    with pytest.raises(EmulatedInputError, match=r"perf_metric: 'r2' is not one of metrics") as raised:
        emulate_run(config_path, example_data["iris"], template=TEMPLATE, on_started=replies.append)

    # Then
    (reply,) = replies
    assert reply["status"] == "FAILED"
    emulated_key, _, cause = reply["reason"].partition(": ")
    assert emulated_key.startswith("s3://") and emulated_key.endswith("/tuning.yaml")
    assert str(raised.value) == f"{config_path}: {cause}"  # the user's file, not the emulated S3 key


def test_hpt_emulate_every_experiment_failing_exits_1(
    example_data: dict[str, Path], write_yaml: Callable[[dict[str, Any], str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: max_depth must be positive: every fit raises inside scikit-learn
    config = {**example_config("iris"), "training_params": {"DecisionTreeClassifier": {"max_depth": [-1, -2]}}}
    config_path = write_yaml(config, "failing.yaml")

    # When
    code = main(["emulate", str(config_path), "--data", str(example_data["iris"]), "--template", str(TEMPLATE),
                 "--json"])

    # Then
    out, err = capsys.readouterr()
    assert code == 1, err
    payload = json.loads(out)
    assert payload["status"] == "FAILED"
    assert payload["winner"] is None
    assert [e["status"] for e in payload["experiments"]] == ["FAILED", "FAILED"]
    assert all("max_depth" in e["error"] for e in payload["experiments"])
    assert "Traceback" not in err


def test_emulated_split_whose_name_has_a_plus_sign(
    example_data: dict[str, Path], write_yaml: Callable[[dict[str, Any], str], Path], tmp_path: Path,
) -> None:
    # Given: a file name with a real "+" (S3 form-encodes it as %2B in the event; the fan-out decodes it)
    data = tmp_path / "iris+v2.npz"
    data.write_bytes(example_data["iris"].read_bytes())
    config = {**example_config("iris"), "training_params": {"DecisionTreeClassifier": {"max_depth": [2]}}}

    # When
    result = emulate_run(write_yaml(config, "plus.yaml"), data, template=TEMPLATE, timeout=60)

    # Then
    assert result.run.status.value == "SUCCEEDED"
    assert result.run.data_uri.endswith("/iris+v2.npz")


def test_cv_scores_of_hpt_run_and_hpt_emulate_are_bit_identical(
    example_data: dict[str, Path], write_yaml: Callable[[dict[str, Any], str], Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the iris example with cv: 3 (folds run inside each trainer invocation on AWS)
    config = example_config("iris")
    config["training_params"] = {"LogisticRegression": {"C": [0.1, 10.0], "max_iter": [1000]},
                                 "KNeighborsClassifier": {"n_neighbors": [1, 5]}}
    config["trainer_config"] = {k: v for k, v in config["trainer_config"].items() if k in config["training_params"]}
    config_path = write_yaml({**config, "cv": 3}, "iris-cv.yaml")
    data = str(example_data["iris"])

    # When the same config runs locally and in the emulated AWS workflow
    assert main(["run", str(config_path), "--data", data, "--store", str(tmp_path / "store"), "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    code = main(["emulate", str(config_path), "--data", data, "--template", str(TEMPLATE), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    emulated = json.loads(out)

    # Then every experiment's fold means and standard deviations agree bit for bit, and so does the winner
    def cv_scores(payload: dict[str, Any]) -> dict[str, Any]:
        return {e["experiment_id"]: (e["scores"]["cv"], e["scores"]["cv_std"], e["metrics"])
                for e in payload["experiments"]}

    assert len(local["experiments"]) == 4
    assert cv_scores(local) == cv_scores(emulated)
    assert all(e["metrics"] == e["scores"]["cv"] for e in emulated["experiments"])
    assert local["winner"]["experiment_id"] == emulated["winner"]["experiment_id"]
