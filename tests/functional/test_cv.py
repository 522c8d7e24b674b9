"""``cv: K``: every candidate's fold means and standard deviations equal ``GridSearchCV(cv=K)``'s, bit for bit,
the winner is its ``best_index_``, and cv/no-cv runs never reuse each other's experiments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import GridSearchCV

from hyperparameter_tuner import ExperimentStatus, LocalTuner
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.data import load_split
from hyperparameter_tuner.errors import ConfigError, DataError
from hyperparameter_tuner.trainers import get_trainer_class


def _split(X: np.ndarray, y: np.ndarray, path: Path, seed: int, validation: bool = True) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], y[order]
    n_train, n_val = int(len(y) * 0.6), int(len(y) * 0.2) if validation else 0
    arrays = {"X_train": X[:n_train], "y_train": y[:n_train], "X_test": X[n_train + n_val:],
              "y_test": y[n_train + n_val:]}
    if validation:
        arrays |= {"X_val": X[n_train:n_train + n_val], "y_val": y[n_train:n_train + n_val]}
    np.savez(path, **arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return arrays


def _check_against_grid_search_cv(tmp_path: Path, arrays: dict[str, np.ndarray], data: Path,
                                  training_params: dict[str, Any], metrics: list[str], perf_metric: str,
                                  cv: int) -> None:
    # When the engine runs the grid with cv, in two workers
    tuner = LocalTuner(training_params, metrics, perf_metric, cv=cv, store=tmp_path / "store", jobs=2)
    result = tuner.run(data)
    assert all(e.status is ExperimentStatus.SUCCEEDED for e in result.experiments)

    # Then per candidate (its params as run, random_state included), GridSearchCV(cv=K) agrees bit for bit
    rows: list[tuple[str, dict[str, Any], dict[str, float], dict[str, float]]] = []
    for algo in training_params:
        experiments = [e for e in result.experiments if e.algo == algo]
        search = GridSearchCV(get_trainer_class(algo)(), [{k: [v] for k, v in e.params.items()} for e in experiments],
                              scoring=metrics, cv=cv, refit=False)
        search.fit(arrays["X_train"], arrays["y_train"])
        res = search.cv_results_
        for i, experiment in enumerate(experiments):
            assert res["params"][i] == experiment.params
            means = {m: float(res[f"mean_test_{m}"][i]) for m in metrics}
            stds = {m: float(res[f"std_test_{m}"][i]) for m in metrics}
            assert experiment.scores["cv"] == means, experiment.params
            assert experiment.scores["cv_std"] == stds, experiment.params
            assert experiment.eval_split == "cv" and experiment.metrics == means
            rows.append((algo, experiment.params, means, stds))
            # and the saved model is fit on the whole training split, scored on validation/test as before
            assert set(experiment.scores) >= {"cv", "cv_std", "test"}

    # And the winner is GridSearchCV's best_index_ with refit=perf_metric (ties to the earlier candidate)
    values = np.array([row[2][perf_metric] for row in rows])
    best = int(np.argmax(values))  # first maximum: rank_test_<metric>.argmin() with method="min" ranks
    assert result.winner is not None
    assert (result.winner.algo, result.winner.params) == rows[best][:2]
    if len(training_params) == 1:
        algo, grid = next(iter(training_params.items()))
        experiments = result.experiments
        refit = GridSearchCV(get_trainer_class(algo)(), [{k: [v] for k, v in e.params.items()} for e in experiments],
                             scoring=metrics, cv=cv, refit=perf_metric)
        refit.fit(arrays["X_train"], arrays["y_train"])
        assert result.winner.params == refit.best_params_


def test_classifier_fold_means_match_grid_search_cv(tmp_path: Path) -> None:
    # Given iris split 60/20/20 and two classifiers, two metrics, 4 folds (StratifiedKFold)
    X, y = load_iris(return_X_y=True)
    data = tmp_path / "iris.npz"
    arrays = _split(X, y, data, seed=3)
    training_params = {"KNeighborsClassifier": {"n_neighbors": [1, 5, 15]},
                       "DecisionTreeClassifier": {"max_depth": [1, 2, 3]}}
    _check_against_grid_search_cv(tmp_path, arrays, data, training_params, ["accuracy", "f1_macro"],
                                  "f1_macro", cv=4)


def test_regressor_fold_means_match_grid_search_cv(tmp_path: Path) -> None:
    # Given diabetes without a validation split and a ridge grid, 3 folds (KFold, no shuffle)
    X, y = load_diabetes(return_X_y=True)
    data = tmp_path / "diabetes.npz"
    arrays = _split(X, y, data, seed=0, validation=False)
    _check_against_grid_search_cv(tmp_path, arrays, data, {"Ridge": {"alpha": [0.01, 0.1, 1.0, 10.0]}},
                                  ["r2", "neg_mean_squared_error"], "neg_mean_squared_error", cv=3)


def test_ties_go_to_the_earlier_candidate(tmp_path: Path) -> None:
    # Given a grid whose candidates all score the same fold means (a parameter that changes nothing here)
    X, y = load_iris(return_X_y=True)
    data = tmp_path / "iris.npz"
    arrays = _split(X, y, data, seed=3)
    training_params = {"KNeighborsClassifier": {"n_neighbors": [5], "n_jobs": [None, 1, 2]}}
    _check_against_grid_search_cv(tmp_path, arrays, data, training_params, ["accuracy"], "accuracy", cv=3)


@pytest.mark.parametrize("value", [1, 0, -3, "3", True, 2.0, [3]])
def test_bad_cv_is_a_one_line_error_naming_cv(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"^config: cv: expected an integer >= 2") as info:
        parse_config({"training_params": {"SVC": {"C": [1.0]}}, "metrics": ["accuracy"],
                      "perf_metric": "accuracy", "cv": value})
    assert "\n" not in str(info.value)


def test_more_folds_than_the_rarest_class_is_refused_up_front(tmp_path: Path) -> None:
    # Given a training split whose rarest class has 3 rows
    rng = np.random.default_rng(0)
    y = np.array([0] * 20 + [1] * 20 + [2] * 3)
    np.savez(tmp_path / "d.npz", X_train=rng.normal(size=(43, 2)), y_train=y, X_test=rng.normal(size=(6, 2)),
             y_test=np.array([0, 1, 2] * 2))
    split = load_split(tmp_path / "d.npz")
    config = parse_config({"training_params": {"SVC": {"C": [1.0]}}, "metrics": ["accuracy"],
                           "perf_metric": "accuracy", "cv": 4})
    # Then the label checks refuse it, naming cv and the class
    with pytest.raises(DataError, match=r"cv: 4 stratified folds .* class 2 has 3"):
        config.check_split(split)
    parse_config({**config.model_dump(), "cv": 3}).check_split(split)  # 3 folds fit
    # And a regressor needs only as many rows as folds
    regressor = parse_config({"training_params": {"Ridge": {"alpha": [1.0]}}, "metrics": ["r2"],
                              "perf_metric": "r2", "cv": 44})
    with pytest.raises(DataError, match=r"cv: 44 folds need at least 44 rows in y_train, it has 43"):
        regressor.check_split(split)


def test_cv_and_no_cv_runs_never_reuse_each_other(tmp_path: Path) -> None:
    # Given one store, one split and one grid
    X, y = load_iris(return_X_y=True)
    data = tmp_path / "iris.npz"
    _split(X, y, data, seed=3)
    grid = {"KNeighborsClassifier": {"n_neighbors": [3, 7]}}

    def run(**options: Any) -> Any:
        return LocalTuner(grid, ["accuracy"], "accuracy", store=tmp_path / "store", jobs=1, **options).run(data)

    # When it runs without cv, with cv=3, with cv=5, then each again
    plain, cv3, cv5 = run(), run(cv=3), run(cv=5)
    # Then no run reused another's experiments, and ids differ per cv setting
    for result in (plain, cv3, cv5):
        assert result.reused == 0
    ids = [{e.experiment_id for e in r.experiments} for r in (plain, cv3, cv5)]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2]) and not (ids[0] & ids[2])
    assert all("cv" not in e.scores for e in plain.experiments)
    # And a rerun with the same cv reuses everything, with the same fold means
    again = run(cv=3)
    assert again.reused == 2
    assert [e.scores["cv"] for e in again.experiments] == [e.scores["cv"] for e in cv3.experiments]
    assert all(e.eval_split == "cv" for e in again.experiments)
    assert run().reused == 2


def test_run_json_carries_cv_scores(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    data = tmp_path / "iris.npz"
    _split(X, y, data, seed=3)
    result = LocalTuner({"KNeighborsClassifier": {"n_neighbors": [3, 7]}}, ["accuracy"], "accuracy", cv=3,
                        store=tmp_path / "store", jobs=1).run(data)
    payload = json.loads(json.dumps(result.to_json()))
    for experiment in payload["experiments"]:
        assert set(experiment["scores"]) == {"cv", "cv_std", "validation", "test"}
        assert experiment["metrics"] == experiment["scores"]["cv"]


def test_plan_prices_about_k_plus_one_fits_per_experiment() -> None:
    # Given records of an earlier run without cv (1 s each) and one with cv: 4 (5 s each)
    from types import SimpleNamespace

    from hyperparameter_tuner.planning import estimate_from_records

    def record(run_id: str, seconds: float) -> Any:
        return SimpleNamespace(run_id=run_id, algo="SVC", fit_time=seconds, score_time=0.0)

    base = {"training_params": {"SVC": {"C": [1.0]}}, "metrics": ["accuracy"], "perf_metric": "accuracy"}
    plain, cv4 = parse_config(base), parse_config({**base, "cv": 4})
    # Then each is rescaled to the planned config's folds: K + 1 fits per experiment with cv
    assert estimate_from_records(cv4, [record("a", 1.0)], {"a": None}) == {"SVC": 5.0}
    assert estimate_from_records(plain, [record("b", 5.0)], {"b": 4}) == {"SVC": 1.0}
    assert estimate_from_records(cv4, [record("b", 5.0)], {"b": 4}) == {"SVC": 5.0}
    assert estimate_from_records(plain, [record("a", 1.0)]) == {"SVC": 1.0}


def test_plan_sample_fits_include_the_folds(tmp_path: Path) -> None:
    # Sample fits go through fit_candidate, which runs the folds: the measured time is the experiment's
    from hyperparameter_tuner._execution import build_spec, fit_candidate

    X, y = load_iris(return_X_y=True)
    _split(X, y, tmp_path / "iris.npz", seed=3)
    data = load_split(tmp_path / "iris.npz")
    config = parse_config({"training_params": {"KNeighborsClassifier": {"n_neighbors": [3]}},
                           "metrics": ["accuracy"], "perf_metric": "accuracy", "cv": 3})
    outcome = fit_candidate(config, data, build_spec(config, 0, "KNeighborsClassifier", {"n_neighbors": 3},
                                                     data.fingerprint))
    assert outcome.ok and set(outcome.scores) == {"cv", "cv_std", "validation", "test"}
