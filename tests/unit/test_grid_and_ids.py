"""The search space (``_build_training_grid``, ``ParamGrid``, ``TrainingGrid``), experiment ids and the derived
``random_state``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import ParameterGrid

from hyperparameter_tuner import BaseHyperparameterTuner, ConfigError, ParamGrid, TrainingGrid, expand_grid
from hyperparameter_tuner.base import derive_random_state
from hyperparameter_tuner.records import content_id

SPEC_INPUT = {"key_1": [1], "key_2": [1, 2]}
SPEC_OUTPUT = [{"key_1": 1, "key_2": 1}, {"key_1": 1, "key_2": 2}]

# -- _build_training_grid: the spec's example ------------------------------------------------------------------


def test_build_training_grid_on_an_instance_returns_the_spec_example(stub_tuner: Any) -> None:
    assert stub_tuner()._build_training_grid(SPEC_INPUT) == SPEC_OUTPUT


def test_build_training_grid_on_the_class_returns_the_spec_example() -> None:
    assert BaseHyperparameterTuner._build_training_grid(SPEC_INPUT) == SPEC_OUTPUT


def test_build_training_grid_of_an_empty_mapping_is_one_default_candidate(stub_tuner: Any) -> None:
    assert stub_tuner()._build_training_grid({}) == [{}]


# -- ParamGrid / TrainingGrid invariants ---------------------------------------------------------------------

param_names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
value_lists = st.lists(st.integers(-5, 5) | st.none() | st.booleans(), min_size=1, max_size=3)
subgrids = st.dictionaries(param_names, value_lists, max_size=4)
specs = subgrids | st.lists(subgrids, min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(specs)
def test_param_grid_indexing_iteration_and_length_agree(spec: Any) -> None:
    grid = ParamGrid(spec)

    assert len(grid) == len(unique_candidates(ParameterGrid(spec)))
    assert list(grid) == [grid[i] for i in range(len(grid))]
    assert expand_grid(spec) == list(grid)


def unique_candidates(candidates: Any) -> list[dict[str, Any]]:
    """The oracle: scikit-learn's candidates in its order, each JSON-distinct candidate kept once (first seen)."""
    seen: dict[str, dict[str, Any]] = {}
    for params in candidates:
        seen.setdefault(json.dumps(params, sort_keys=True), params)
    return list(seen.values())


@settings(max_examples=150, deadline=None)
@given(specs)
def test_param_grid_order_is_sklearn_parameter_grid_order_without_repeats(spec: Any) -> None:
    assert list(ParamGrid(spec)) == unique_candidates(ParameterGrid(spec))


def test_param_grid_without_repeats_is_sklearn_parameter_grid_exactly() -> None:
    spec: list[dict[str, list[Any]]] = [{"a": [1, 2], "b": [True, None]}, {"c": [3]}]
    assert list(ParamGrid(spec)) == list(ParameterGrid(spec))
    assert ParamGrid(spec).notes == []


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["A", "B", "C", "D"]), specs, min_size=1))
def test_training_grid_is_the_concatenation_of_each_trainers_grid(training_params: dict[str, Any]) -> None:
    grid = TrainingGrid(training_params)
    expected = [(name, params) for name, spec in training_params.items()
                for params in unique_candidates(ParameterGrid(spec))]

    assert len(grid) == len(expected)
    assert list(grid) == expected
    assert [grid[i] for i in range(len(grid))] == expected


def test_param_grid_of_an_empty_mapping_is_one_candidate() -> None:
    assert len(ParamGrid({})) == 1
    assert list(ParamGrid({})) == [{}]
    assert list(TrainingGrid({"A": {}, "B": {"x": [1]}})) == [("A", {}), ("B", {"x": 1})]


def test_param_grid_supports_negative_indices_and_refuses_out_of_range() -> None:
    grid = ParamGrid({"a": [1, 2, 3]})

    assert grid[-1] == {"a": 3}
    with pytest.raises(IndexError, match="out of range"):
        grid[3]
    with pytest.raises(IndexError, match="out of range"):
        TrainingGrid({"A": {"a": [1]}})[1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"C": 1.0}, r"params\.C: expected a list of values, got float 1\.0"),
        ({"kernel": "rbf"}, r"params\.kernel: expected a list of values, got str"),
        ({"C": []}, r"params\.C: the list of values is empty"),
        ([], r"params: the list of grids is empty"),
        ([{"C": [1]}, 3], r"params\[1\]: expected a mapping"),
        (None, r"params: expected a mapping or a list of mappings, got NoneType"),
    ],
)
def test_param_grid_refuses_malformed_specs_naming_the_key(spec: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ParamGrid(spec)


# -- experiment ids -----------------------------------------------------------------------------------------

FINGERPRINT = "f" * 64


def _ids(tuner: Any, fingerprint: str = FINGERPRINT) -> list[str]:
    return [spec.experiment_id for spec in tuner.iter_specs(fingerprint)]


def test_experiment_ids_are_deterministic_and_unique_within_a_grid(stub_tuner: Any) -> None:
    # Given two tuners built from the same config
    params = {"LogisticRegression": {"C": [0.1, 1.0, 10.0]}, "KNeighborsClassifier": {"n_neighbors": [1, 3]}}
    first, second = stub_tuner(params), stub_tuner(params)

    # When ids are computed
    ids = _ids(first)

    # Then they repeat exactly and none is shared
    assert ids == _ids(second)
    assert len(set(ids)) == 5


def test_experiment_ids_change_with_params_trainer_config_and_data(stub_tuner: Any) -> None:
    base = stub_tuner({"LogisticRegression": {"C": [1.0]}})
    other_params = stub_tuner({"LogisticRegression": {"C": [2.0]}})
    other_config = stub_tuner({"LogisticRegression": {"C": [1.0]}},
                              trainer_config={"LogisticRegression": {"max_iter": 50}})

    ids = {
        "base": base.spec_at(0, FINGERPRINT).experiment_id,
        "params": other_params.spec_at(0, FINGERPRINT).experiment_id,
        "trainer_config": other_config.spec_at(0, FINGERPRINT).experiment_id,
        "data": base.spec_at(0, "0" * 64).experiment_id,
    }

    assert len(set(ids.values())) == 4, ids


def test_experiment_ids_do_not_depend_on_key_order(stub_tuner: Any) -> None:
    forward = stub_tuner(
        {"DecisionTreeClassifier": {"max_depth": [1, 2], "criterion": ["gini", "entropy"]}},
        trainer_config={"DecisionTreeClassifier": {"min_samples_leaf": 2, "splitter": "best"}},
    )
    backward = stub_tuner(
        {"DecisionTreeClassifier": {"criterion": ["gini", "entropy"], "max_depth": [1, 2]}},
        trainer_config={"DecisionTreeClassifier": {"splitter": "best", "min_samples_leaf": 2}},
    )

    assert _ids(forward) == _ids(backward)
    assert content_id({"b": 1, "a": 2}, "x") == content_id({"a": 2, "b": 1}, "x")


def test_experiment_ids_are_the_same_for_a_trainer_given_by_name_path_or_class(stub_tuner: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    keys: list[Any] = ["LogisticRegression", "sklearn.linear_model.LogisticRegression", LogisticRegression]

    ids = {_ids(stub_tuner({key: {"C": [1.0]}}))[0] for key in keys}

    assert len(ids) == 1


# -- derived random_state -----------------------------------------------------------------------------------


def test_random_state_is_derived_for_trainers_that_take_one(stub_tuner: Any) -> None:
    tuner = stub_tuner({"DecisionTreeClassifier": {"max_depth": [1]}}, seed=3)

    spec = tuner.spec_at(0, FINGERPRINT)

    expected = derive_random_state(3, "DecisionTreeClassifier", {"max_depth": 1}, {})
    assert spec.params == {"max_depth": 1, "random_state": expected}
    assert 0 <= expected < 2**31 - 1


def test_random_state_is_not_added_to_trainers_without_one(stub_tuner: Any) -> None:
    spec = stub_tuner({"KNeighborsClassifier": {"n_neighbors": [3]}}).spec_at(0, FINGERPRINT)

    assert spec.params == {"n_neighbors": 3}


@pytest.mark.parametrize(
    ("training_params", "trainer_config", "expected"),
    [
        ({"DecisionTreeClassifier": {"random_state": [5]}}, {}, {"random_state": 5}),
        ({"DecisionTreeClassifier": {"max_depth": [2]}}, {"DecisionTreeClassifier": {"random_state": 9}},
         {"max_depth": 2}),
    ],
    ids=["searched", "fixed-in-trainer-config"],
)
def test_a_given_random_state_is_never_overridden(
    stub_tuner: Any, training_params: dict[str, Any], trainer_config: dict[str, Any], expected: dict[str, Any]
) -> None:
    spec = stub_tuner(training_params, trainer_config=trainer_config).spec_at(0, FINGERPRINT)

    assert spec.params == expected


def test_derived_random_state_depends_on_seed_and_candidate_only(stub_tuner: Any) -> None:
    params = {"DecisionTreeClassifier": {"max_depth": [1, 2]}}

    seed0 = [spec.params["random_state"] for spec in stub_tuner(params, seed=0).iter_specs(FINGERPRINT)]
    again = [spec.params["random_state"] for spec in stub_tuner(params, seed=0).iter_specs("0" * 64)]
    seed1 = [spec.params["random_state"] for spec in stub_tuner(params, seed=1).iter_specs(FINGERPRINT)]

    assert seed0 == again  # not the data, not the instance
    assert seed0 != seed1
    assert seed0[0] != seed0[1]
