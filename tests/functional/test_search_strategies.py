"""``search: random`` and ``search: halving`` against scikit-learn's own ``RandomizedSearchCV`` and
``HalvingGridSearchCV``: the same candidates, rungs, fold means and winner, on the local engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_diabetes, load_iris
from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - enables the import below
from sklearn.model_selection import HalvingGridSearchCV, ParameterSampler, RandomizedSearchCV
from sklearn.utils import resample

from hyperparameter_tuner import ExperimentStatus, LocalTuner
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.data import SplitData
from hyperparameter_tuner.errors import ConfigError
from hyperparameter_tuner.trainers import get_trainer_class


def _split(X: np.ndarray, y: np.ndarray, seed: int, validation: bool = False) -> SplitData:
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], y[order]
    n_train = int(len(y) * 0.6)
    n_val = int(len(y) * 0.2) if validation else 0
    return SplitData(X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train + n_val:],
                     y_test=y[n_train + n_val:], X_val=X[n_train:n_train + n_val] if validation else None,
                     y_val=y[n_train:n_train + n_val] if validation else None)


def _without_random_state(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key != "random_state"}


def test_random_search_draws_and_scores_like_randomized_search_cv(tmp_path: Path) -> None:
    # Given iris and an SVC space of two log-uniform distributions and a list, 6 draws, seed 7, 3 folds
    X, y = load_iris(return_X_y=True)
    split = _split(X, y, seed=1)
    space = {"C": {"distribution": "loguniform", "low": 0.01, "high": 100.0},
             "gamma": {"distribution": "loguniform", "low": 1e-4, "high": 1.0}, "kernel": ["rbf", "linear"]}
    tuner = LocalTuner({"SVC": space}, ["accuracy", "f1_macro"], "f1_macro", cv=3, seed=7, jobs=2,
                       search={"strategy": "random", "n_iter": 6}, store=tmp_path / "store")

    # When the run trains every draw
    result = tuner.run(split)

    # Then the candidates are ParameterSampler's draws, in its order
    sk_space = {"C": stats.loguniform(0.01, 100.0), "gamma": stats.loguniform(1e-4, 1.0), "kernel": ["rbf", "linear"]}
    expected = list(ParameterSampler(sk_space, 6, random_state=7))
    assert [_without_random_state(e.params) for e in result.experiments] == expected
    assert result.run.search == {"strategy": "random", "n_iter": 6} and result.run.total == 6
    assert all(e.rung is None and e.n_resources is None for e in result.experiments)
    # And the fold means and the winner are RandomizedSearchCV's (SVC without probability ignores random_state)
    search = RandomizedSearchCV(get_trainer_class("SVC")(), sk_space, n_iter=6, random_state=7, cv=3,
                                scoring=["accuracy", "f1_macro"], refit="f1_macro")
    search.fit(split.X_train, split.y_train)
    for i, experiment in enumerate(result.experiments):
        assert experiment.scores["cv"]["f1_macro"] == search.cv_results_["mean_test_f1_macro"][i]
        assert experiment.scores["cv_std"]["accuracy"] == search.cv_results_["std_test_accuracy"][i]
    assert result.winner is not None
    assert _without_random_state(result.winner.params) == search.best_params_


def test_random_search_over_lists_samples_without_replacement(tmp_path: Path) -> None:
    # Given a list-only space of 12 cells and n_iter 5 (and a duplicate value, tried once)
    X, y = load_iris(return_X_y=True)
    split = _split(X, y, seed=2, validation=True)
    space = {"n_neighbors": [1, 3, 5, 7, 9, 9, 11], "weights": ["uniform", "distance"]}
    config = parse_config({"training_params": {"KNeighborsClassifier": space}, "metrics": ["accuracy"],
                           "perf_metric": "accuracy", "seed": 3, "search": {"strategy": "random", "n_iter": 5}})
    result = LocalTuner(config=config, store=tmp_path / "store", jobs=1).run(split)
    # Then the five candidates are ParameterSampler's on the deduplicated lists: distinct cells
    distinct = {"n_neighbors": [1, 3, 5, 7, 9, 11], "weights": ["uniform", "distance"]}
    assert [e.params for e in result.experiments] == list(ParameterSampler(distinct, 5, random_state=3))
    assert len({e.experiment_id for e in result.experiments}) == 5
    assert any("listed more than once" in note for note in config.notes)


def _halving_oracle(result: Any, search: HalvingGridSearchCV, metric: str, resource: str = "n_samples") -> None:
    rungs = result.run.rungs
    assert [r["n_candidates"] for r in rungs] == list(search.n_candidates_)
    assert [r["n_resources"] for r in rungs] == list(search.n_resources_)
    res = search.cv_results_
    ours = {(e.rung, tuple(sorted(_without_random_state(e.params).items()))): e for e in result.experiments}
    assert len(ours) == len(res["params"]) == result.run.total
    for i, params in enumerate(res["params"]):
        params = {key: value for key, value in params.items() if key != resource}  # scikit-learn lists the resource
        experiment = ours[(int(res["iter"][i]), tuple(sorted(params.items())))]
        assert experiment.n_resources == res["n_resources"][i]
        assert experiment.scores["cv"][metric] == res["mean_test_score"][i], (experiment.rung, params)
    assert result.winner is not None and result.winner.rung == rungs[-1]["rung"]
    best = {key: value for key, value in search.best_params_.items() if key != resource}
    assert _without_random_state(result.winner.params) == best


def test_halving_on_samples_matches_halving_grid_search_cv(tmp_path: Path) -> None:
    # Given diabetes (regression: continuous scores, no ties at a cut), 10 Ridge candidates, factor 2, 3 folds
    X, y = load_diabetes(return_X_y=True)
    split = _split(X, y, seed=0)
    grid = {"alpha": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]}
    tuner = LocalTuner({"Ridge": grid}, ["r2"], "r2", cv=3, seed=0, jobs=2, store=tmp_path / "store",
                       search={"strategy": "halving", "factor": 2})
    result = tuner.run(split)
    assert all(e.status is ExperimentStatus.SUCCEEDED for e in result.experiments)
    # Then every (candidate, rung) has HalvingGridSearchCV's fold mean, its rungs and its winner
    search = HalvingGridSearchCV(get_trainer_class("Ridge")(), grid, cv=3, factor=2, scoring="r2", random_state=0,
                                 refit=False)
    search.fit(split.X_train, split.y_train)
    _halving_oracle(result, search, "r2")
    assert result.run.search == {"strategy": "halving", "n_iter": None, "factor": 2, "resource": "n_samples",
                                 "min_resources": "exhaust", "max_resources": "auto"}

    # And a rerun trains nothing: every (candidate, rung) is reused by content id
    again = LocalTuner({"Ridge": grid}, ["r2"], "r2", cv=3, seed=0, jobs=2, store=tmp_path / "store",
                       search={"strategy": "halving", "factor": 2}).run(split)
    assert again.reused == again.run.total == result.run.total
    assert again.run.winner == result.run.winner


def test_halving_on_a_parameter_matches_halving_grid_search_cv(tmp_path: Path) -> None:
    # Given gradient boosting with max_iter as the resource (no early stopping: random_state is unused)
    X, y = load_diabetes(return_X_y=True)
    split = _split(X, y, seed=4)
    grid = {"learning_rate": [0.03, 0.1, 0.3], "max_leaf_nodes": [3, 7]}
    halving = {"strategy": "halving", "factor": 2, "resource": "max_iter", "min_resources": 5, "max_resources": 20}
    tuner = LocalTuner({"HistGradientBoostingRegressor": grid}, ["r2"], "r2", cv=3, seed=0, jobs=2,
                       trainer_config={"HistGradientBoostingRegressor": {"early_stopping": False}},
                       search=halving, store=tmp_path / "store")
    result = tuner.run(split)
    estimator = get_trainer_class("HistGradientBoostingRegressor")(early_stopping=False)
    search = HalvingGridSearchCV(estimator, grid, cv=3, factor=2, resource="max_iter", min_resources=5,
                                 max_resources=20, scoring="r2", random_state=0, refit=False)
    search.fit(split.X_train, split.y_train)
    _halving_oracle(result, search, "r2", resource="max_iter")
    # The saved models were built with the rung's max_iter
    assert result.winner is not None
    winner = tuner.load_model(result.winner)
    assert winner.max_iter == result.run.rungs[-1]["n_resources"] == 20


def test_halving_on_a_holdout_fits_each_rung_on_its_seeded_stratified_rows(tmp_path: Path) -> None:
    # Given iris with a validation split and no cv: each rung fits on n_resources rows, validation stays whole
    X, y = load_iris(return_X_y=True)
    split = _split(X, y, seed=5, validation=True)
    grid = {"n_neighbors": [1, 2, 3, 4, 5, 6, 7, 8, 9]}  # rung 0 fits on 10 rows
    tuner = LocalTuner({"KNeighborsClassifier": grid}, ["accuracy"], "accuracy", seed=11, jobs=2,
                       search={"strategy": "halving", "factor": 3, "min_resources": 10},
                       store=tmp_path / "store")
    result = tuner.run(split)
    assert [(r["n_candidates"], r["n_resources"]) for r in result.run.rungs] == [(9, 10), (3, 30), (1, 90)]
    # Then each experiment's validation accuracy is that of a fit on resample(..., stratify=y_train) rows
    for experiment in result.experiments:
        assert experiment.n_resources is not None
        rows = resample(np.arange(len(split.y_train)), replace=False, n_samples=experiment.n_resources,
                        random_state=11, stratify=split.y_train)
        model = get_trainer_class("KNeighborsClassifier")(**experiment.params)
        model.fit(split.X_train[rows], split.y_train[rows])
        assert experiment.scores["validation"]["accuracy"] == model.score(split.X_val, split.y_val)
    assert result.winner is not None and result.winner.rung == 2


@pytest.mark.parametrize(("search", "params", "message"), [
    ({"strategy": "grid"}, {"C": {"distribution": "uniform", "low": 0, "high": 1}},
     "training_params.SVC.C: a distribution needs search: {strategy: random"),
    ({"strategy": "random"}, {"C": [1.0]}, "search.n_iter: required with strategy random"),
    ({"strategy": "grid", "n_iter": 3}, {"C": [1.0]}, "search.n_iter: only used with strategy random or halving"),
    ({"strategy": "random", "n_iter": 2, "factor": 3}, {"C": [1.0]}, "search.factor: only used with strategy halving"),
    ({"strategy": "halving", "factor": 1}, {"C": [1.0]}, "search.factor"),
    ({"strategy": "random", "n_iter": 2}, {"C": {"distribution": "loguniform", "low": 0, "high": 1}},
     "training_params.SVC.C: loguniform needs 0 < low < high"),
    ({"strategy": "random", "n_iter": 2}, {"C": {"distribution": "log_uniform", "low": 1, "high": 2}},
     "did you mean 'loguniform'"),
    ({"strategy": "halving", "resource": "C"}, {"C": [1.0]}, "search.resource: cannot use parameter 'C'"),
    ({"strategy": "halving", "resource": "n_estimators", "max_resources": 9}, {"C": [1.0]},
     "does not accept parameter 'n_estimators'"),
    ({"strategy": "halving", "resource": "max_iter"}, {"C": [1.0]}, "search.max_resources: 'auto' needs resource"),
    ({"strategy": "halving", "n_iter": 2}, {"C": [1.0]}, None),
])
def test_search_block_is_validated_in_one_line(search: dict[str, Any], params: dict[str, Any],
                                                message: str | None) -> None:
    raw = {"training_params": {"SVC": params}, "metrics": ["accuracy"], "perf_metric": "accuracy", "search": search}
    if message is None:
        assert parse_config(raw).search.strategy == search["strategy"]
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert message in str(caught.value) and "\n" not in str(caught.value)
