"""Search beyond the grid (``hyperparameter_tuner.search``): oracle tests against scikit-learn's own classes.

- distribution specs: validation messages, and that validation imports no numpy/scipy/scikit-learn;
- ``sample_candidates`` equals ``ParameterSampler`` over the ``scipy.stats`` distributions the specs stand for;
- ``halving_schedule`` equals ``HalvingGridSearchCV``'s ``n_candidates_``/``n_resources_``/``n_iterations_``
  (and raises where it raises); ``promote``/``best_candidate`` equal ``_top_k``/``_select_best_index``;
  a whole halving search rebuilt from our functions equals ``HalvingGridSearchCV``'s ``cv_results_`` and winner;
- ``cross_validate_candidate`` equals ``GridSearchCV``'s ``mean_test_<metric>``/``std_test_<metric>`` exactly.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from contextlib import nullcontext
from typing import Any

import numpy as np
import pytest
import scipy.stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone, is_classifier
from sklearn.datasets import load_diabetes, load_iris
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import Ridge
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    ParameterGrid,
    ParameterSampler,
)
from sklearn.model_selection._search_successive_halving import BaseSuccessiveHalving, _top_k
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from hyperparameter_tuner.errors import ConfigError
from hyperparameter_tuner.search import (
    Distribution,
    Rung,
    best_candidate,
    check_halving_resource,
    count_candidates,
    cross_validate_candidate,
    halving_cv_splits,
    halving_schedule,
    has_distributions,
    n_to_keep,
    parse_distribution,
    parse_space,
    promote,
    sample_candidates,
    subsample_indices,
)

LOC = "training_params.SVC.C"

# -- distribution specs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"distribution": "loguniform", "low": 1e-3, "high": 100}, Distribution("loguniform", 1e-3, 100)),
        ({"distribution": "uniform", "low": -1, "high": 2.5}, Distribution("uniform", -1, 2.5)),
        ({"high": 10, "low": 1, "distribution": "randint"}, Distribution("randint", 1, 10)),
    ],
)
def test_valid_specs_parse(spec: dict[str, Any], expected: Distribution) -> None:
    assert parse_distribution(spec, LOC) == expected
    assert parse_distribution(expected.to_dict(), LOC) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"distribution": "logunifrom", "low": 1, "high": 2}, r"^training_params\.SVC\.C: unknown distribution "
         r"'logunifrom'; did you mean 'loguniform'\? \(one of: loguniform, uniform, randint\)$"),
        ({"distribution": "Uniform", "low": 1, "high": 2}, r"did you mean 'uniform'\?"),
        ({"distribution": "gaussian", "low": 1, "high": 2},
         r"^training_params\.SVC\.C: unknown distribution 'gaussian' \(one of: loguniform, uniform, randint\)$"),
        ({"distribution": "uniform", "low": 1, "hihg": 2}, r"^training_params\.SVC\.C: unknown key 'hihg' in a "
         r"distribution spec; did you mean 'high'\?"),
        ({"distribution": "uniform", "low": 1}, r"^training_params\.SVC\.C: a distribution spec needs 'high'"),
        ({"low": 1, "high": 2}, r"needs 'distribution'"),
        ({"distribution": 3, "low": 1, "high": 2}, r"^training_params\.SVC\.C\.distribution: expected a name, got int"),
        ({"distribution": "uniform", "low": 2, "high": 2}, r"^training_params\.SVC\.C: uniform needs low < high, "
         r"got low=2 and high=2$"),
        ({"distribution": "randint", "low": 5, "high": 1}, r"randint needs low < high"),
        ({"distribution": "loguniform", "low": 0, "high": 1}, r"^training_params\.SVC\.C: loguniform needs "
         r"0 < low < high, got low=0$"),
        ({"distribution": "loguniform", "low": -1.0, "high": 1}, r"loguniform needs 0 < low < high"),
        ({"distribution": "randint", "low": 1.5, "high": 4}, r"^training_params\.SVC\.C\.low: randint needs integer "
         r"bounds, got float 1\.5$"),
        ({"distribution": "randint", "low": 1, "high": 4.0}, r"\.high: randint needs integer bounds"),
        ({"distribution": "uniform", "low": "1e-3", "high": 1}, r"^training_params\.SVC\.C\.low: expected a number, "
         r"got str '1e-3' \(YAML reads .* write 1\.0e-3\)$"),
        ({"distribution": "uniform", "low": True, "high": 2}, r"\.low: expected a number, got bool"),
        ({"distribution": "uniform", "low": 0, "high": float("inf")}, r"\.high: expected a finite number"),
        ({"distribution": "uniform", "low": float("nan"), "high": 1}, r"\.low: expected a finite number"),
    ],
)
def test_invalid_specs_raise_one_line_errors_naming_the_location(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_distribution(spec, LOC)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"C": 1.0}, r"^training_params\.SVC\.C: expected a list of values or a distribution spec, got float 1\.0 "
         r"\(write \[1\.0\] for a single value\)$"),
        ({"kernel": "rbf"}, r"^training_params\.SVC\.kernel: expected a list"),
        ({"C": []}, r"^training_params\.SVC\.C: the list of values is empty$"),
        ([{"C": [1]}, {"C": {"distribution": "uniform", "low": 1, "high": 0}}], r"^training_params\.SVC\[1\]\.C: "),
        ([], r"^training_params\.SVC: the list of parameter spaces is empty$"),
        ([{"C": [1]}, 3], r"^training_params\.SVC\[1\]: expected a mapping"),
        ("C", r"^training_params\.SVC: expected a mapping or a list of mappings"),
        ({"": [1]}, r"parameter names must be non-empty strings"),
    ],
)
def test_invalid_spaces_name_the_parameter(space: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_space(space, "training_params.SVC")


def test_parsed_spaces_are_accepted_again_and_detect_distributions() -> None:
    # Given a space with a list and a distribution
    space = parse_space({"C": {"distribution": "uniform", "low": 0, "high": 1}, "kernel": ["rbf", "linear"]})
    # Then parsing it again is the identity, and it has a distribution
    assert parse_space(space) == space
    assert has_distributions(space)
    assert not has_distributions(parse_space([{"a": [1]}, {}]))


def test_validation_and_pure_functions_import_no_numpy_scipy_or_sklearn() -> None:
    code = textwrap.dedent(
        """
        import sys
        from hyperparameter_tuner import search
        from hyperparameter_tuner.errors import ConfigError
        space = search.parse_space(
            [{"C": {"distribution": "loguniform", "low": 0.01, "high": 10}, "kernel": ["rbf"]}, {"C": [1, 2]}],
            "training_params.SVC",
        )
        assert search.count_candidates(space, 5) == 5
        for bad in ({"distribution": "logunifrom", "low": 1, "high": 2}, {"distribution": "randint", "low": 1.5,
                    "high": 2}, {"distribution": "uniform", "low": 2, "high": 1}):
            try:
                search.parse_distribution(bad, "training_params.SVC.C")
            except ConfigError:
                pass
            else:
                raise AssertionError(bad)
        rungs = search.halving_schedule(20, factor=3, n_samples_train=500, n_classes=3, cv=5, is_classifier=True)
        kept = search.promote({"a": 0.1, "b": float("nan"), "c": 0.3}, search.n_to_keep(3, 3))
        search.best_candidate({"a": 0.1, "b": 0.2})
        search.check_halving_resource("n_estimators", ["max_depth"])
        print(sorted(m for m in ("numpy", "scipy", "sklearn", "pandas") if m in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- random candidates: ParameterSampler -------------------------------------------------------------------------

# (our config form, the scikit-learn form it stands for)
SPACES: list[tuple[Any, Any]] = [
    (
        {"C": {"distribution": "loguniform", "low": 1e-3, "high": 1e2}, "kernel": ["rbf", "linear"]},
        {"C": scipy.stats.loguniform(1e-3, 1e2), "kernel": ["rbf", "linear"]},
    ),
    (
        {"alpha": {"distribution": "uniform", "low": -2, "high": 3}, "n": {"distribution": "randint", "low": 1,
                                                                            "high": 50}},
        {"alpha": scipy.stats.uniform(loc=-2, scale=5), "n": scipy.stats.randint(1, 50)},
    ),
    (
        [{"kernel": ["linear"], "C": [0.1, 1.0, 10.0]},
         {"kernel": ["rbf"], "C": {"distribution": "loguniform", "low": 0.01, "high": 10}, "gamma": [0.1, None]}],
        [{"kernel": ["linear"], "C": [0.1, 1.0, 10.0]},
         {"kernel": ["rbf"], "C": scipy.stats.loguniform(0.01, 10), "gamma": [0.1, None]}],
    ),
    (  # all lists: sampling without replacement over the grid
        {"a": [1, 2, 3, 4], "b": ["x", "y", None], "c": [True, False]},
        {"a": [1, 2, 3, 4], "b": ["x", "y", None], "c": [True, False]},
    ),
    (
        [{"a": [1, 2]}, {"b": [3, 4, 5]}, {}],
        [{"a": [1, 2]}, {"b": [3, 4, 5]}, {}],
    ),
    (
        {"depth": {"distribution": "randint", "low": 0, "high": 2}},
        {"depth": scipy.stats.randint(0, 2)},
    ),
]


def _plain_types(candidates: list[dict[str, Any]]) -> bool:
    return all(type(v) in (int, float, str, bool, type(None)) for c in candidates for v in c.values())


@pytest.mark.parametrize(("space", "sklearn_space"), SPACES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n_iter=st.integers(1, 40))
def test_sample_candidates_equal_parameter_sampler(space: Any, sklearn_space: Any, seed: int, n_iter: int) -> None:
    # When
    ours = sample_candidates(space, n_iter, seed)
    # Then: the same candidates, in the same order, as plain JSON-able Python values
    with pytest.warns(UserWarning) if count_candidates(parse_space(space), n_iter) < n_iter else nullcontext():
        expected = list(ParameterSampler(sklearn_space, n_iter, random_state=seed))
    assert ours == expected
    assert len(ours) == count_candidates(parse_space(space), n_iter) == len(ParameterSampler(sklearn_space, n_iter))
    assert _plain_types(ours)
    assert json.loads(json.dumps(ours)) == ours


def test_all_list_spaces_sample_without_replacement() -> None:
    candidates = sample_candidates({"a": [1, 2, 3], "b": [1, 2]}, 100, seed=3)
    assert len(candidates) == 6
    assert sorted(map(repr, candidates)) == sorted(map(repr, ParameterGrid({"a": [1, 2, 3], "b": [1, 2]})))


def test_sample_candidates_rejects_bad_n_iter_and_seed() -> None:
    with pytest.raises(ConfigError, match=r"^search\.n_iter: expected an integer >= 1, got 0$"):
        sample_candidates({"a": [1]}, 0, seed=0)
    with pytest.raises(ConfigError, match=r"^seed: "):
        sample_candidates({"a": [1]}, 1, seed=-1)
    with pytest.raises(ConfigError, match=r"^training_params\.X\.a: the list of values is empty$"):
        sample_candidates({"a": []}, 1, seed=0, location="training_params.X")


# -- halving schedule: HalvingGridSearchCV -----------------------------------------------------------------------


class _CheapClassifier(ClassifierMixin, BaseEstimator):
    """Fits in no time on any rows (even none); its score is its ``a``, so candidates never tie."""

    def __init__(self, a: int = 0, budget: int = 1) -> None:
        self.a = a
        self.budget = budget

    def fit(self, X: Any, y: Any) -> _CheapClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return float(self.a)


class _CheapRegressor(RegressorMixin, BaseEstimator):
    def __init__(self, a: int = 0, budget: int = 1) -> None:
        self.a = a
        self.budget = budget

    def fit(self, X: Any, y: Any) -> _CheapRegressor:
        return self

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return float(self.a)


def _sklearn_schedule(
    n_candidates: int, factor: float, min_resources: Any, max_resources: Any, resource: str, n_samples: int,
    n_classes: int, cv: int, classifier: bool,
) -> list[Rung] | ValueError:
    estimator = _CheapClassifier() if classifier else _CheapRegressor()
    X = np.zeros((n_samples, 1))
    y = np.arange(n_samples) % n_classes if classifier else np.linspace(0, 1, n_samples)
    search = HalvingGridSearchCV(
        estimator, {"a": list(range(n_candidates))}, factor=factor, min_resources=min_resources,
        max_resources=max_resources, resource=resource, cv=cv, random_state=0, aggressive_elimination=False,
    )
    try:
        search.fit(X, y)
    except ValueError as exc:
        return exc
    assert search.n_iterations_ == len(search.n_candidates_) == len(search.n_resources_)
    return [Rung(i, c, r) for i, (c, r) in enumerate(zip(search.n_candidates_, search.n_resources_, strict=True))]


@settings(max_examples=120, deadline=None)
@given(
    n_candidates=st.integers(1, 40),
    factor=st.sampled_from([1.5, 2, 2.5, 3, 4, 5]),
    min_resources=st.sampled_from(["exhaust", "smallest"]) | st.integers(1, 80),
    max_resources=st.just("auto") | st.integers(1, 200),
    by_samples=st.booleans(),
    n_samples=st.integers(12, 160),
    n_classes=st.integers(2, 4),
    cv=st.integers(2, 3),
    classifier=st.booleans(),
)
def test_halving_schedule_equals_halving_grid_search(
    n_candidates: int, factor: float, min_resources: Any, max_resources: Any, by_samples: bool, n_samples: int,
    n_classes: int, cv: int, classifier: bool,
) -> None:
    resource = "n_samples" if by_samples else "budget"
    # Given what scikit-learn does with these settings
    expected = _sklearn_schedule(
        n_candidates, factor, min_resources, max_resources, resource, n_samples, n_classes, cv, classifier
    )
    # When we only compute the schedule
    try:
        ours: list[Rung] | ConfigError = halving_schedule(
            n_candidates, factor=factor, min_resources=min_resources, max_resources=max_resources, resource=resource,
            n_samples_train=n_samples, n_classes=n_classes, cv=cv, is_classifier=classifier,
        )
    except ConfigError as exc:
        ours = exc
    # Then it is the same, or both fail
    if isinstance(expected, ValueError):
        assert isinstance(ours, ConfigError), (expected, ours)
    else:
        assert ours == expected


@pytest.mark.parametrize(
    ("kwargs", "rungs"),
    [
        # float rounding in math.log: log(243, 3) = 4.999..., so five rungs, and the last keeps 3 candidates
        ({"n_candidates": 243, "factor": 3, "min_resources": 1, "max_resources": 10**6, "resource": "b"},
         [(0, 243, 1), (1, 81, 3), (2, 27, 9), (3, 9, 27), (4, 3, 81)]),
        ({"n_candidates": 1, "n_samples_train": 50, "cv": 5}, [(0, 1, 50)]),
        # no cv: one holdout split counts as one split for "smallest"/"exhaust"; a rung may use every row
        ({"n_candidates": 9, "n_samples_train": 7, "cv": None, "min_resources": "smallest"}, [(0, 9, 2), (1, 3, 6)]),
        ({"n_candidates": 4, "factor": 2, "n_samples_train": 10, "cv": None, "min_resources": 5,
          "max_resources": 10}, [(0, 4, 5), (1, 2, 10)]),
        ({"n_candidates": 30, "factor": 2, "min_resources": "smallest", "n_samples_train": 1000, "cv": 5,
          "n_classes": 10, "is_classifier": True}, [(0, 30, 100), (1, 15, 200), (2, 8, 400), (3, 4, 800)]),
    ],
)
def test_halving_schedule_examples(kwargs: dict[str, Any], rungs: list[tuple[int, int, int]]) -> None:
    assert halving_schedule(**kwargs) == [Rung(*r) for r in rungs]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 1}, r"^search\.factor: expected a number > 1, got 1$"),
        ({"factor": 0.5}, r"factor: expected a number > 1"),
        ({"min_resources": 0}, r"^search\.min_resources: expected an integer > 0, 'exhaust' or 'smallest'"),
        ({"min_resources": "least"}, r"min_resources: expected"),
        ({"max_resources": "all"}, r"^search\.max_resources: expected an integer > 0 or 'auto'"),
        ({"resource": "n_estimators"}, r"^search\.max_resources: 'auto' needs resource 'n_samples'"),
        ({"min_resources": 200}, r"^search: min_resources_=200 is greater than max_resources_=100$"),
        ({"min_resources": "smallest", "cv": 10, "n_classes": 6, "is_classifier": True},
         r"min_resources_=120 is greater than max_resources_=100 \(min_resources='smallest'\)"),
        ({"max_resources": 1000, "min_resources": 50}, r"^search: rung 1 needs 150 samples but the training split "
         r"has 100"),
        ({"min_resources": 4, "max_resources": 100}, r"^search: rung 0 with 4 samples leaves a fold of 20 rows with "
         r"none \(raise min_resources\)$"),
        ({"cv": 200, "min_resources": 1}, r"^search: cannot have cv=200 folds with 100 training samples$"),
    ],
)
def test_halving_schedule_errors(kwargs: dict[str, Any], message: str) -> None:
    settings_ = {"n_candidates": 9, "n_samples_train": 100, "cv": 5, **kwargs}
    with pytest.raises(ConfigError, match=message):
        halving_schedule(**settings_)


def test_resource_parameter_checks() -> None:
    check_halving_resource("n_samples", ["n_samples"])
    check_halving_resource("n_estimators", ["max_depth"], ["max_depth", "n_estimators"])
    with pytest.raises(ConfigError, match=r"part of the searched parameters"):
        check_halving_resource("n_estimators", ["max_depth", "n_estimators"])
    with pytest.raises(ConfigError, match=r"^search\.resource: the trainer does not accept parameter 'C'$"):
        check_halving_resource("C", ["max_depth"], DecisionTreeClassifier().get_params())


# -- promotion and winner: _top_k and _select_best_index ---------------------------------------------------------

scores_with_ties = st.lists(
    st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0, -1.0, math.nan, math.inf, -math.inf]) | st.floats(allow_nan=True),
    min_size=1, max_size=40,
)


def _sklearn_top_k(values: list[float], k: int) -> list[str]:
    ids = [f"c{i}" for i in range(len(values))]
    results = {"iter": [0] * len(values), "mean_test_score": values, "params": ids}
    return [str(x) for x in _top_k(results, k, 0)]


@settings(max_examples=300, deadline=None)
@given(values=scores_with_ties, data=st.data())
def test_promote_with_numpy_ties_equals_top_k(values: list[float], data: st.DataObject) -> None:
    k = data.draw(st.integers(1, len(values)))
    scores = {f"c{i}": v for i, v in enumerate(values)}
    assert promote(scores, k, ties="numpy") == _sklearn_top_k(values, k)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False), min_size=1, max_size=40, unique=True), nan=st.booleans(),
       data=st.data())
def test_promote_equals_top_k_without_ties(values: list[float], nan: bool, data: st.DataObject) -> None:
    # Without ties the default (pure Python) promotion is scikit-learn's on any CPU; one failed candidate anywhere
    if nan:
        values.insert(data.draw(st.integers(0, len(values))), math.nan)
    k = data.draw(st.integers(1, len(values)))
    assert promote({f"c{i}": v for i, v in enumerate(values)}, k) == _sklearn_top_k(values, k)


@settings(max_examples=300, deadline=None)
@given(values=scores_with_ties, data=st.data())
def test_stable_promote_is_top_k_with_a_stable_sort(values: list[float], data: st.DataObject) -> None:
    # _top_k's expression, with numpy's stable sort in place of its (CPU-dependent) default
    k = data.draw(st.integers(1, len(values)))
    array = np.asarray(values)
    order = np.roll(np.argsort(array, kind="stable"), np.count_nonzero(np.isnan(array)))
    assert promote({f"c{i}": v for i, v in enumerate(values)}, k) == [f"c{i}" for i in order[-k:]]


@settings(max_examples=200, deadline=None)
@given(values=scores_with_ties, maximize=st.booleans())
def test_best_candidate_equals_select_best_index(values: list[float], maximize: bool) -> None:
    sign = 1.0 if maximize else -1.0
    results = {"iter": np.zeros(len(values), dtype=int), "mean_test_score": sign * np.asarray(values)}
    expected = BaseSuccessiveHalving._select_best_index(None, None, results)
    assert best_candidate({f"c{i}": v for i, v in enumerate(values)}, maximize=maximize) == f"c{expected}"


def test_promote_minimizing_and_failed_candidates() -> None:
    assert promote({"a": 3.0, "b": 1.0, "c": None, "d": 2.0}, 2, maximize=False) == ["d", "b"]
    assert promote([("a", None), ("b", 0.2)], 2) == ["a", "b"]
    assert n_to_keep(10, 3) == 4 and n_to_keep(7, 2.5) == 3


# -- whole halving searches: our functions against HalvingGridSearchCV / HalvingRandomSearchCV --------------------


def _run_halving_like_sklearn(
    estimator: Any, candidates: list[dict[str, Any]], X: Any, y: Any, *, metric: str, factor: float, cv: int,
    seed: int, resource: str = "n_samples", min_resources: Any = "exhaust", max_resources: Any = "auto",
) -> tuple[list[Rung], list[list[tuple[dict[str, Any], float]]], dict[str, Any]]:
    """Rebuild a halving search from our functions only: schedule, folds, CV means, promotion, winner."""
    classifier = is_classifier(estimator)
    rungs = halving_schedule(
        len(candidates), factor=factor, min_resources=min_resources, max_resources=max_resources, resource=resource,
        n_samples_train=len(y), n_classes=len(np.unique(y)), cv=cv, is_classifier=classifier,
    )
    current = [str(i) for i in range(len(candidates))]
    table: list[list[tuple[dict[str, Any], float]]] = []
    scores: dict[str, float] = {}
    for rung in rungs:
        scores = {}
        rows = []
        for cid in current:
            params = dict(candidates[int(cid)])
            if resource == "n_samples":
                folds: Any = halving_cv_splits(y, rung.n_resources, seed, cv, classifier)
            else:
                params[resource] = rung.n_resources
                folds = cv
            means, _ = cross_validate_candidate(
                clone(estimator).set_params(**params), X, y, [metric], folds, error_score=np.nan
            )
            scores[cid] = means[metric]
            rows.append((params, means[metric]))
        table.append(rows)
        current = promote(scores, n_to_keep(len(current), factor), ties="numpy")
    winner = best_candidate(scores)
    return rungs, table, dict(candidates[int(winner)])


def _sklearn_table(search: Any) -> list[list[tuple[dict[str, Any], float]]]:
    results = search.cv_results_
    return [
        [(results["params"][i], results["mean_test_score"][i]) for i in np.flatnonzero(results["iter"] == itr)]
        for itr in range(search.n_iterations_)
    ]


def _nan_safe(table: list[list[tuple[dict[str, Any], float]]]) -> list[list[tuple[dict[str, Any], Any]]]:
    # NaN (a failed fit) != NaN: compare it as a marker; every other score is compared bit for bit
    return [[(params, "nan" if math.isnan(score) else score) for params, score in rung] for rung in table]


IRIS_X, IRIS_Y = load_iris(return_X_y=True)
TREE_GRID = {"max_depth": [1, 2, 3, None], "min_samples_leaf": [1, 4, 8], "criterion": ["gini", "entropy"]}


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize(("factor", "min_resources"), [(2, "exhaust"), (3, "smallest"), (2.5, 20)])
def test_halving_over_samples_equals_halving_grid_search(seed: int, factor: float, min_resources: Any) -> None:
    # Given scikit-learn's own halving search (ties on iris' small folds are frequent)
    estimator = DecisionTreeClassifier(random_state=0)
    search = HalvingGridSearchCV(
        estimator, TREE_GRID, factor=factor, min_resources=min_resources, cv=3, scoring="accuracy",
        random_state=seed,
    ).fit(IRIS_X, IRIS_Y)
    # When we rebuild it from our functions
    rungs, table, winner = _run_halving_like_sklearn(
        estimator, list(ParameterGrid(TREE_GRID)), IRIS_X, IRIS_Y, metric="accuracy", factor=factor, cv=3, seed=seed,
        min_resources=min_resources,
    )
    # Then every rung has the same candidates in the same order with bit-identical CV means, and the same winner
    assert [(r.n_candidates, r.n_resources) for r in rungs] == list(
        zip(search.n_candidates_, search.n_resources_, strict=True)
    )
    assert _nan_safe(table) == _nan_safe(_sklearn_table(search))
    assert winner == search.best_params_


def test_halving_over_samples_of_a_regressor_equals_halving_grid_search() -> None:
    # KFold folds (not stratified), and a metric to minimise expressed as scikit-learn does (neg_*)
    X, y = load_diabetes(return_X_y=True)
    grid = {"alpha": [1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]}
    search = HalvingGridSearchCV(
        Ridge(), grid, factor=3, cv=3, scoring="neg_mean_squared_error", random_state=5
    ).fit(X, y)
    rungs, table, winner = _run_halving_like_sklearn(
        Ridge(), list(ParameterGrid(grid)), X, y, metric="neg_mean_squared_error", factor=3, cv=3, seed=5
    )
    assert len(rungs) == search.n_iterations_ == 3
    assert _nan_safe(table) == _nan_safe(_sklearn_table(search))
    assert winner == search.best_params_


def test_halving_over_a_parameter_equals_halving_grid_search() -> None:
    X, y = load_diabetes(return_X_y=True)
    estimator = DecisionTreeRegressor(random_state=0)
    grid = {"min_samples_leaf": [1, 2, 5, 10, 20, 40], "max_features": [1.0, 0.5]}
    search = HalvingGridSearchCV(
        estimator, grid, factor=2, resource="max_depth", min_resources=1, max_resources=8, cv=4, scoring="r2",
    ).fit(X, y)
    rungs, table, winner = _run_halving_like_sklearn(
        estimator, list(ParameterGrid(grid)), X, y, metric="r2", factor=2, cv=4, seed=0, resource="max_depth",
        min_resources=1, max_resources=8,
    )
    assert [r.n_resources for r in rungs] == search.n_resources_ == [1, 2, 4, 8]
    assert _nan_safe(table) == _nan_safe(_sklearn_table(search))
    assert {**winner, "max_depth": 8} == search.best_params_


@pytest.mark.filterwarnings("ignore:Scoring failed:UserWarning", "ignore:One or more of the:UserWarning")
def test_random_then_halving_equals_halving_random_search() -> None:
    # (k-NN with more neighbours than a small rung's rows fails to score: NaN, ranked last, on both sides)
    # Given HalvingRandomSearchCV, which samples n_candidates with ParameterSampler(random_state) and then halves
    space = {"n_neighbors": {"distribution": "randint", "low": 1, "high": 30}, "weights": ["uniform", "distance"]}
    sk_space = {"n_neighbors": scipy.stats.randint(1, 30), "weights": ["uniform", "distance"]}
    search = HalvingRandomSearchCV(
        KNeighborsClassifier(), sk_space, n_candidates=12, factor=3, cv=3, scoring="accuracy", random_state=11,
    ).fit(IRIS_X, IRIS_Y)
    # When we sample with the same seed and halve
    candidates = sample_candidates(space, 12, seed=11)
    _, table, winner = _run_halving_like_sklearn(
        KNeighborsClassifier(), candidates, IRIS_X, IRIS_Y, metric="accuracy", factor=3, cv=3, seed=11,
    )
    # Then
    assert _nan_safe(table) == _nan_safe(_sklearn_table(search))
    assert winner == search.best_params_


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 60), data=st.data(), seed=st.integers(0, 2**32 - 1), stratified=st.booleans())
def test_subsample_indices(n: int, data: st.DataObject, seed: int, stratified: bool) -> None:
    y = np.arange(n) % 2
    k = data.draw(st.integers(1 if not stratified else 2, n))
    rows = subsample_indices(y, k, seed, stratified)
    assert len(rows) == len(set(rows.tolist())) == k and rows.min() >= 0 and rows.max() < n
    assert (rows == subsample_indices(y, k, seed, stratified)).all()
    if stratified:  # class proportions kept within one row
        assert abs(int((y[rows] == 1).sum()) - k * (y == 1).mean()) <= 1
    else:  # one seeded permutation: a bigger rung's rows contain a smaller rung's
        assert set(subsample_indices(y, max(1, k - 1), seed, False).tolist()) <= set(rows.tolist())
    with pytest.raises(ValueError, match="n_resources"):
        subsample_indices(y, n + 1, seed, stratified)


# -- CV scoring: GridSearchCV ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimator", "grid", "data", "metrics", "cv"),
    [
        (DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2, 3], "min_samples_leaf": [1, 5]},
         load_iris(return_X_y=True), ["accuracy", "f1_macro"], 5),
        (KNeighborsClassifier(), {"n_neighbors": [1, 5, 15]}, load_iris(return_X_y=True),
         ["balanced_accuracy", "neg_log_loss"], 3),
        (Ridge(), {"alpha": [0.01, 1.0, 100.0]}, load_diabetes(return_X_y=True), ["r2", "neg_mean_squared_error"], 4),
        (Ridge(), {"alpha": [0.1, 10.0]}, load_diabetes(return_X_y=True), ["neg_mean_absolute_error", "r2"], 10),
    ],
)
def test_cross_validate_candidate_equals_grid_search_exactly(
    estimator: Any, grid: dict[str, list[Any]], data: tuple[Any, Any], metrics: list[str], cv: int
) -> None:
    X, y = data
    # Given GridSearchCV's results on the grid
    search = GridSearchCV(estimator, grid, scoring=metrics, refit=False, cv=cv).fit(X, y)
    for i, params in enumerate(search.cv_results_["params"]):
        # When one candidate is cross-validated on its own
        means, stds = cross_validate_candidate(clone(estimator).set_params(**params), X, y, metrics, cv)
        # Then its fold means and standard deviations are bit-identical
        assert list(means) == list(stds) == metrics
        for metric in metrics:
            assert means[metric] == search.cv_results_[f"mean_test_{metric}"][i]
            assert stds[metric] == search.cv_results_[f"std_test_{metric}"][i]
        assert all(type(v) is float for v in [*means.values(), *stds.values()])


def test_cross_validate_candidate_raises_a_failing_fit() -> None:
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError):
        cross_validate_candidate(DecisionTreeClassifier(max_depth=-1), X, y, ["accuracy"], 3)


def test_docstring_examples() -> None:
    import doctest

    from hyperparameter_tuner import _halving, _search_space, search

    for module in (_search_space, _halving, search):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
