"""Oracle: the local engine scores every candidate exactly as scikit-learn's ``GridSearchCV`` does on the same
fixed holdout (``PredefinedSplit``: fit on train, score on validation), and picks GridSearchCV's best."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.preprocessing import StandardScaler

from hyperparameter_tuner import ExperimentStatus, LocalTuner
from hyperparameter_tuner.trainers import get_trainer_class


def _split(X: np.ndarray, y: np.ndarray, path: Path, seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = StandardScaler().fit_transform(X[order]), y[order]
    n_train, n_val = int(len(y) * 0.55), int(len(y) * 0.25)
    arrays = {
        "X_train": X[:n_train], "y_train": y[:n_train],
        "X_val": X[n_train : n_train + n_val], "y_val": y[n_train : n_train + n_val],
        "X_test": X[n_train + n_val :], "y_test": y[n_train + n_val :],
    }
    np.savez(path, **arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return arrays


def _grid_search(arrays: dict[str, np.ndarray], training_params: dict[str, Any], trainer_config: dict[str, Any],
                 metrics: list[str]) -> list[dict[str, Any]]:
    """GridSearchCV per trainer on the holdout; one row per candidate, trainers in config order."""
    X = np.concatenate([arrays["X_train"], arrays["X_val"]])
    y = np.concatenate([arrays["y_train"], arrays["y_val"]])
    test_fold = np.r_[np.full(len(arrays["y_train"]), -1), np.zeros(len(arrays["y_val"]), dtype=int)]
    rows = []
    for algo, grid in training_params.items():
        estimator = get_trainer_class(algo)(**trainer_config.get(algo, {}))
        search = GridSearchCV(estimator, grid, scoring=metrics, cv=PredefinedSplit(test_fold), refit=False)
        search.fit(X, y)
        results = search.cv_results_
        for i, params in enumerate(results["params"]):
            rows.append({"algo": algo, "params": params,
                         "scores": {m: float(results[f"mean_test_{m}"][i]) for m in metrics}})
    return rows


def _check_against_oracle(tmp_path: Path, arrays: dict[str, np.ndarray], data: Path,
                          training_params: dict[str, Any], trainer_config: dict[str, Any],
                          metrics: list[str], perf_metric: str) -> None:
    # When the engine runs the grid and GridSearchCV runs each trainer's grid on the same holdout
    tuner = LocalTuner(training_params, metrics, perf_metric, trainer_config=trainer_config,
                       store=tmp_path / "store", jobs=1)
    result = tuner.run(data)
    oracle = _grid_search(arrays, training_params, trainer_config, metrics)

    # Then candidate by candidate (grid order), params and every validation metric agree
    assert len(result.experiments) == len(oracle) == result.run.total
    for experiment, expected in zip(result.experiments, oracle, strict=True):
        assert experiment.status is ExperimentStatus.SUCCEEDED, experiment.error
        assert (experiment.algo, experiment.params) == (expected["algo"], expected["params"])
        for metric in metrics:
            assert experiment.scores["validation"][metric] == pytest.approx(expected["scores"][metric], rel=0,
                                                                            abs=1e-12), (experiment.params, metric)

    # And the winner is GridSearchCV's best over all candidates, ties going to the first in grid order
    values = np.array([row["scores"][perf_metric] for row in oracle])
    best = int(np.argmax(values))
    assert result.winner is not None
    assert (result.winner.algo, result.winner.params) == (oracle[best]["algo"], oracle[best]["params"])
    assert result.run.winner == result.experiments[best].experiment_id


def test_classification_matches_grid_search_cv(tmp_path: Path) -> None:
    # Given wine (scaled) split 55/25/20 and three trainers, random_state set in the grid
    X, y = load_wine(return_X_y=True)
    data = tmp_path / "wine.npz"
    arrays = _split(X, y, data, seed=1)
    training_params = {
        "LogisticRegression": {"C": [0.001, 0.05, 1.0], "random_state": [0]},
        "DecisionTreeClassifier": {"max_depth": [1, 3, None], "min_samples_leaf": [1, 8], "random_state": [0]},
        "KNeighborsClassifier": [{"n_neighbors": [1, 7], "weights": ["uniform", "distance"]}, {"n_neighbors": [25]}],
    }
    trainer_config = {"LogisticRegression": {"max_iter": 2000}}

    _check_against_oracle(tmp_path, arrays, data, training_params, trainer_config,
                          ["accuracy", "f1_macro", "balanced_accuracy"], "f1_macro")


def test_regression_with_a_negated_loss_matches_grid_search_cv(tmp_path: Path) -> None:
    # Given a diabetes subsample and a loss metric (scikit-learn negates it: higher is better)
    X, y = load_diabetes(return_X_y=True)
    data = tmp_path / "diabetes.npz"
    arrays = _split(X[:200], y[:200], data, seed=2)
    training_params = {
        "Ridge": {"alpha": [0.01, 1.0, 100.0], "random_state": [0]},
        "DecisionTreeRegressor": {"max_depth": [2, 4], "random_state": [3]},
    }

    _check_against_oracle(tmp_path, arrays, data, training_params, {},
                          ["neg_mean_squared_error", "r2"], "neg_mean_squared_error")
