"""The local engine: failures, the returned model, parallel runs, warm start, metrics and artifact integrity."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from hyperparameter_tuner import (
    ExperimentStatus,
    IntegrityError,
    LocalTuner,
    RunFailedError,
    RunStatus,
    load_split,
    register_trainer,
)
from hyperparameter_tuner.trainers import get_trainer_class

METRICS = ["accuracy", "f1_macro"]


def _tuner(store: Path, training_params: dict[str, Any], jobs: int = 1, **options: Any) -> LocalTuner:
    return LocalTuner(training_params, list(METRICS), "accuracy", store=store, jobs=jobs, **options)


def _model_versions(store: Path) -> int:
    with sqlite3.connect(store / "tuner.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM model_versions").fetchone()[0])


def _object_files(store: Path) -> set[Path]:
    return {path for path in (store / "objects").rglob("*") if path.is_file()}


# -- failures ------------------------------------------------------------------------------------------------


def test_a_failing_experiment_is_recorded_and_the_run_succeeds(tmp_path: Path, iris_npz: Path) -> None:
    # Given a grid where max_depth=-1 is refused by scikit-learn at fit time
    tuner = _tuner(tmp_path / "store", {"DecisionTreeClassifier": {"max_depth": [2, -1, 3]}})

    # When it runs
    result = tuner.run(iris_npz)

    # Then that experiment is FAILED with the error, the others succeeded, and the run has a winner
    statuses = {e.params["max_depth"]: e for e in result.experiments}
    failed = statuses[-1]
    assert failed.status is ExperimentStatus.FAILED
    assert failed.error_type == "InvalidParameterError"
    assert "max_depth" in (failed.error or "")
    assert failed.artifact is None
    assert statuses[2].status is statuses[3].status is ExperimentStatus.SUCCEEDED
    assert result.run.status is RunStatus.SUCCEEDED
    assert result.winner is not None and result.winner.params["max_depth"] in (2, 3)
    assert result.counts["FAILED"] == 1 and result.counts["SUCCEEDED"] == 2


def test_all_failing_experiments_fail_the_run(tmp_path: Path, iris_npz: Path) -> None:
    tuner = _tuner(tmp_path / "store", {"DecisionTreeClassifier": {"max_depth": [-1, -2]}})

    with pytest.raises(RunFailedError, match="all 2 experiments failed"):
        tuner.run_experiment(iris_npz)

    result = tuner.last_result
    assert result is not None
    assert result.run.status is RunStatus.FAILED
    assert result.run.winner is None
    assert [e.status for e in result.experiments] == [ExperimentStatus.FAILED] * 2


def test_max_failure_ratio_fails_a_run_with_too_many_failures(tmp_path: Path, iris_npz: Path) -> None:
    tuner = _tuner(tmp_path / "store", {"DecisionTreeClassifier": {"max_depth": [2, -1, -2]}}, max_failure_ratio=0.5)

    result = tuner.run(iris_npz)

    assert result.run.status is RunStatus.FAILED
    assert "2 of 3 experiments failed" in (result.run.reason or "")


# -- the returned model --------------------------------------------------------------------------------------


def test_run_experiment_returns_the_winning_model_fitted(tmp_path: Path, iris_npz: Path) -> None:
    # Given a small grid over two trainers
    tuner = _tuner(tmp_path / "store", {"DecisionTreeClassifier": {"max_depth": [1, 2, 4]},
                                        "LogisticRegression": {"C": [0.01, 1.0]}},
                   trainer_config={"LogisticRegression": {"max_iter": 500}})
    data = load_split(iris_npz)

    # When it runs
    model = tuner.run_experiment(data)

    # Then the model is the best experiment's, and predicts exactly like a fresh fit with its parameters
    result = tuner.last_result
    assert result is not None and result.winner is not None
    winner = result.winner
    best = max(e.metrics["accuracy"] for e in result.experiments)
    assert winner.metrics["accuracy"] == best
    assert type(model).__name__ == winner.algo
    fresh = get_trainer_class(winner.algo)(**winner.trainer_config, **winner.params).fit(data.X_train, data.y_train)
    for X in (data.X_train, data.X_val, data.X_test):
        np.testing.assert_array_equal(model.predict(X), fresh.predict(X))
    assert model.get_params() == fresh.get_params()


def test_scores_are_on_validation_when_present_else_test(tmp_path: Path, iris_npz: Path,
                                                         iris_npz_no_val: Path) -> None:
    with_val = _tuner(tmp_path / "a", {"KNeighborsClassifier": {"n_neighbors": [3]}}).run(iris_npz)
    without_val = _tuner(tmp_path / "b", {"KNeighborsClassifier": {"n_neighbors": [3]}}).run(iris_npz_no_val)

    (e_val,) = with_val.experiments
    (e_test,) = without_val.experiments
    assert set(e_val.scores) == {"validation", "test"} and e_val.eval_split == "validation"
    assert e_val.metrics == e_val.scores["validation"]
    assert set(e_test.scores) == {"test"} and e_test.eval_split == "test"
    assert e_test.scores["test"] == e_val.scores["test"]


# -- parallel runs ------------------------------------------------------------------------------------------


def test_jobs_do_not_change_params_or_metrics(tmp_path: Path, iris_npz: Path) -> None:
    # Given one grid with seeded trainers (random_state derived) and one without
    params = {"DecisionTreeClassifier": {"max_depth": [1, 3], "splitter": ["random"]},
              "KNeighborsClassifier": {"n_neighbors": [1, 5]},
              "RandomForestClassifier": {"n_estimators": [3], "max_features": [1, 2]}}

    # When it runs in-process and on a pool of two workers, into separate stores
    serial = _tuner(tmp_path / "serial", params, jobs=1).run(iris_npz)
    parallel = _tuner(tmp_path / "parallel", params, jobs=2).run(iris_npz)

    # Then every experiment has the same id, params (random_state included) and scores
    def view(result: Any) -> list[tuple[Any, ...]]:
        return [(e.index, e.experiment_id, e.algo, e.params, e.scores, e.status) for e in result.experiments]

    assert view(serial) == view(parallel)
    assert all(e.status is ExperimentStatus.SUCCEEDED for e in parallel.experiments)
    assert all("random_state" in e.params for e in parallel.experiments if e.algo != "KNeighborsClassifier")
    assert serial.run.winner == parallel.run.winner


# -- warm start ----------------------------------------------------------------------------------------------


def test_rerun_reuses_every_experiment(tmp_path: Path, iris_npz: Path) -> None:
    # Given a finished run
    store = tmp_path / "store"
    params = {"DecisionTreeClassifier": {"max_depth": [1, 3]}, "LogisticRegression": {"C": [1.0]}}
    first = _tuner(store, params).run(iris_npz)
    objects, versions = _object_files(store), _model_versions(store)

    # When the same config runs again on the same data (a new tuner, as a new process would)
    second = _tuner(store, params).run(iris_npz)

    # Then nothing is trained again: same experiments, no new model files, no new model versions
    assert second.run.run_id != first.run.run_id
    assert second.reused == second.run.total == 3
    assert second.run.reused == 3
    assert _object_files(store) == objects
    assert _model_versions(store) == versions == 3
    assert [e.experiment_id for e in second.experiments] == [e.experiment_id for e in first.experiments]
    assert all(e.reused_from == first.run.run_id for e in second.experiments)
    assert [e.scores for e in second.experiments] == [e.scores for e in first.experiments]
    assert second.run.winner == first.run.winner
    assert second.run.status is RunStatus.SUCCEEDED


def test_rerun_with_a_grown_grid_trains_only_the_new_experiments(tmp_path: Path, iris_npz: Path) -> None:
    store = tmp_path / "store"
    _tuner(store, {"DecisionTreeClassifier": {"max_depth": [1, 3]}}).run(iris_npz)

    second = _tuner(store, {"DecisionTreeClassifier": {"max_depth": [1, 3, 5]}}).run(iris_npz)

    assert second.reused == 2
    assert _model_versions(store) == 3


class FlakyTree(DecisionTreeClassifier):
    """Fails while ``FlakyTree.broken`` is true (set by the test; runs in-process with ``jobs=1``)."""

    broken = True

    def fit(self, X: Any, y: Any, sample_weight: Any = None, check_input: bool = True) -> FlakyTree:
        if FlakyTree.broken and self.max_depth == 2:
            raise RuntimeError("flaky failure on purpose")
        super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
        return self


def test_failed_experiment_is_retried_on_rerun(tmp_path: Path, iris_npz: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run where one experiment of a registered trainer failed
    register_trainer("HptTestFlakyTree", FlakyTree)
    store = tmp_path / "store"
    params = {"HptTestFlakyTree": {"max_depth": [1, 2]}}
    first = _tuner(store, params).run(iris_npz)
    assert [e.status.value for e in first.experiments] == ["SUCCEEDED", "FAILED"]
    assert first.experiments[1].error_type == "RuntimeError"
    assert "flaky failure on purpose" in (first.experiments[1].error or "")

    # When the cause is gone and the run is repeated
    monkeypatch.setattr(FlakyTree, "broken", False)
    second = _tuner(store, params).run(iris_npz)

    # Then the failed experiment is trained again (the other reused) and now succeeds
    assert [e.status.value for e in second.experiments] == ["SUCCEEDED", "SUCCEEDED"]
    assert [e.reused_from is not None for e in second.experiments] == [True, False]
    assert second.experiments[1].experiment_id == first.experiments[1].experiment_id
    assert _model_versions(store) == 3


def test_csv_label_column_is_part_of_the_experiment_identity(tmp_path: Path, iris_arrays: dict[str, Any]) -> None:
    # Given one CSV split holding two label columns, iris species and a binary "is setosa"
    folder = tmp_path / "two_labels"
    folder.mkdir()
    for name, suffix in (("train", "train"), ("validation", "val"), ("test", "test")):
        X, y = iris_arrays[f"X_{suffix}"], iris_arrays[f"y_{suffix}"]
        lines = ["a,b,c,d,species,setosa"]
        lines += [
            ",".join(repr(float(v)) for v in row) + f",{label},{int(label == 0)}"
            for row, label in zip(X, y, strict=True)
        ]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"
    params = {"KNeighborsClassifier": {"n_neighbors": [3]}}

    # When the same grid runs on the same files, once per label column
    species = LocalTuner(params, ["accuracy"], "accuracy", target="species", store=store, jobs=1).run(folder)
    setosa = LocalTuner(params, ["accuracy"], "accuracy", target="setosa", store=store, jobs=1).run(folder)

    # Then the second run is a different learning problem: nothing may be reused from the first
    assert setosa.reused == 0
    assert setosa.experiments[0].experiment_id != species.experiments[0].experiment_id


# -- metrics tracker and artifacts ---------------------------------------------------------------------------


def test_metrics_tracker_holds_the_experiment_scores(tmp_path: Path, iris_npz: Path) -> None:
    tuner = _tuner(tmp_path / "store", {"DecisionTreeClassifier": {"max_depth": [1, 3]},
                                        "KNeighborsClassifier": {"n_neighbors": [2]}})

    result = tuner.run(iris_npz)

    for experiment in result.experiments:
        logged = tuner.metrics_tracker.get_metrics(result.run.run_id, experiment.experiment_id)
        assert logged == experiment.scores
        assert set(logged["validation"]) == set(METRICS)


def test_metrics_tracker_holds_the_scores_of_reused_experiments_too(tmp_path: Path, iris_npz: Path) -> None:
    # Given a finished run
    store = tmp_path / "store"
    params = {"DecisionTreeClassifier": {"max_depth": [1, 3]}}
    _tuner(store, params).run(iris_npz)

    # When a second run reuses its experiments
    tuner = _tuner(store, params)
    second = tuner.run(iris_npz)

    # Then the second run's metrics are in the metrics tracker as well, like its experiment records
    assert second.reused == 2
    for experiment in second.experiments:
        assert tuner.metrics_tracker.get_metrics(second.run.run_id, experiment.experiment_id) == experiment.scores


def test_models_are_saved_with_their_checksum(tmp_path: Path, iris_npz: Path) -> None:
    store = tmp_path / "store"
    tuner = _tuner(store, {"DecisionTreeClassifier": {"max_depth": [1, 3]}})

    result = tuner.run(iris_npz)

    for experiment in result.experiments:
        artifact = experiment.artifact
        assert artifact is not None
        path = store / "objects" / artifact.sha256[:2] / artifact.sha256
        assert path.is_file() and path.stat().st_size == artifact.size
        assert artifact.uri == path.resolve().as_uri()
        loaded = tuner.load_model(experiment)
        assert loaded.get_params()["max_depth"] == experiment.params["max_depth"]


def test_load_model_refuses_tampered_bytes(tmp_path: Path, iris_npz: Path) -> None:
    # Given a saved winner whose file is then overwritten
    store = tmp_path / "store"
    tuner = _tuner(store, {"DecisionTreeClassifier": {"max_depth": [2]}})
    result = tuner.run(iris_npz)
    winner = result.winner
    assert winner is not None and winner.artifact is not None
    path = store / "objects" / winner.artifact.sha256[:2] / winner.artifact.sha256
    path.write_bytes(b"\x80\x04 not the model that was saved")

    # When it is loaded directly, Then the bytes are refused
    with pytest.raises(IntegrityError, match="does not match the recorded"):
        tuner.load_model(winner)
    # and a rerun does not reuse the tampered file: it trains again and stores the model again
    rerun = _tuner(store, {"DecisionTreeClassifier": {"max_depth": [2]}})
    assert rerun.run_experiment(iris_npz).get_params()["max_depth"] == 2
    assert rerun.last_result is not None and rerun.last_result.reused == 0
