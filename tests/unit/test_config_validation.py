"""Config validation: files and the Python API; every error names its key."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from hyperparameter_tuner import ConfigError, DataError, LocalTuner, load_config, parse_config, register_trainer
from hyperparameter_tuner.config import (
    DEFAULT_MAX_DATA_BYTES,
    MAX_CONFIG_BYTES,
    TuningConfig,
    _BoundedLoader,
    load_config_text,
    read_config_text,
)
from hyperparameter_tuner.data import SplitData
from hyperparameter_tuner.trainers import resolve_trainer

BASE: dict[str, Any] = {
    "training_params": {"LogisticRegression": {"C": [1.0]}},
    "metrics": ["accuracy", "f1_macro"],
    "perf_metric": "accuracy",
}


def _with(**changes: Any) -> dict[str, Any]:
    config = {**BASE, **changes}
    return {key: value for key, value in config.items() if value is not _DROP}


_DROP = object()

INVALID = [
    ("missing-training_params", _with(training_params=_DROP), r"^cfg: training_params: required key is missing$"),
    ("missing-metrics", _with(metrics=_DROP), r"^cfg: metrics: required key is missing$"),
    ("missing-perf_metric", _with(perf_metric=_DROP), r"^cfg: perf_metric: required key is missing$"),
    ("empty-training_params", _with(training_params={}), r"^cfg: training_params: .*at least 1 item"),
    ("empty-metrics", _with(metrics=[]), r"^cfg: metrics: .*at least 1 item"),
    ("trainer-os.system", _with(training_params={"os.system": {}}), r"training_params: unknown trainer 'os\.system'"),
    ("trainer-subprocess.call", _with(training_params={"subprocess.call": {}}),
     r"training_params: unknown trainer 'subprocess\.call'"),
    ("trainer-builtins.eval", _with(training_params={"builtins.eval": {}}),
     r"training_params: unknown trainer 'builtins\.eval'"),
    ("trainer-private-sklearn-path",
     _with(training_params={"sklearn.linear_model._logistic.LogisticRegression": {"C": [1.0]}}),
     r"training_params: unknown trainer 'sklearn\.linear_model\._logistic\.LogisticRegression'"),
    ("trainer-wrong-public-path", _with(training_params={"sklearn.svm.LogisticRegression": {}}),
     r"unknown trainer 'sklearn\.svm\.LogisticRegression'"),
    ("trainer-typo", _with(training_params={"LogisticRegresion": {}}),
     r"unknown trainer 'LogisticRegresion'.*did you mean 'LogisticRegression'"),
    ("trainer-twice", _with(training_params={"LogisticRegression": {}, "sklearn.linear_model.LogisticRegression": {}}),
     r"training_params: trainer 'LogisticRegression' is given twice"),
    ("unknown-param", _with(training_params={"LogisticRegression": {"Cee": [1.0]}}),
     r"training_params\.LogisticRegression\.Cee: LogisticRegression has no parameter 'Cee'"),
    ("unknown-param-in-list-grid", _with(training_params={"SVC": [{"C": [1.0]}, {"gama": [0.1]}]}),
     r"training_params\.SVC\.gama: SVC has no parameter 'gama'"),
    ("scalar-value", _with(training_params={"LogisticRegression": {"C": 1.0}}),
     r"training_params\.LogisticRegression\.C: expected a list of values, got float 1\.0"),
    ("string-value", _with(training_params={"SVC": {"kernel": "rbf"}}),
     r"training_params\.SVC\.kernel: expected a list of values, got str 'rbf'"),
    ("empty-value-list", _with(training_params={"LogisticRegression": {"C": []}}),
     r"training_params\.LogisticRegression\.C: the list of values is empty"),
    ("params-not-a-mapping", _with(training_params={"LogisticRegression": None}),
     r"training_params\.LogisticRegression: expected a mapping or a list of mappings"),
    ("unknown-metric", _with(metrics=["accuracy", "mse"]), r"metrics\[1\]: unknown metric 'mse'"),
    ("metric-hint", _with(metrics=["accuracy", "mean_squared_error"]),
     r"metrics\[1\]: unknown metric 'mean_squared_error'.*did you mean 'neg_mean_squared_error'"),
    ("metrics-not-a-list", _with(metrics="accuracy"), r"cfg: metrics: Input should be a valid list"),
    ("perf_metric-not-in-metrics", _with(perf_metric="f1"), r"perf_metric: 'f1' is not one of metrics"),
    ("duplicate-metric", _with(metrics=["accuracy", "f1_macro", "accuracy"]), r"metrics: 'accuracy' is listed twice"),
    ("max_concurrency-0", _with(max_concurrency=0), r"max_concurrency: .*greater than or equal to 1, got int 0"),
    ("max_concurrency-str", _with(max_concurrency="many"), r"max_concurrency: .*valid integer"),
    ("seed-negative", _with(seed=-1), r"seed: .*greater than or equal to 0, got int -1"),
    ("max_failure_ratio-2", _with(max_failure_ratio=2), r"max_failure_ratio: .*less than or equal to 1"),
    ("direction-up", _with(direction="up"), r"direction: .*'maximize' or 'minimize', got str 'up'"),
    ("target-empty", _with(target=""), r"target: "),
    ("unknown-top-level-key", _with(trainers={}), r"^cfg: trainers: unknown key$"),
    ("trainer_config-unknown-trainer-in-grid", _with(trainer_config={"SVC": {"C": 1.0}}),
     r"trainer_config\.SVC: trainer is not in training_params"),
    ("trainer_config-unknown-param", _with(trainer_config={"LogisticRegression": {"max_iters": 5}}),
     r"trainer_config\.LogisticRegression\.max_iters: LogisticRegression has no parameter 'max_iters'"),
    ("searched-and-fixed", _with(trainer_config={"LogisticRegression": {"C": 2.0}}),
     r"trainer_config\.LogisticRegression\.C: also searched in training_params\.LogisticRegression"),
    ("not-a-mapping", ["training_params"], r"cfg: expected a mapping of settings, got list"),
]


@pytest.mark.parametrize(("config", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_config_names_the_key(config: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_config(config, "cfg")

    assert "\n" not in str(raised.value)


def test_valid_config_defaults() -> None:
    training_params = {"sklearn.svm.SVC": {"C": [1.0, 2.0]}, "KNeighborsClassifier": {}}
    config = parse_config({**BASE, "training_params": training_params})

    assert list(config.training_params) == ["SVC", "KNeighborsClassifier"]
    assert config.resolved_direction == "maximize"
    assert (config.target, config.max_concurrency, config.seed, config.max_failure_ratio) == ("target", 10, 0, 1.0)
    assert len(config.grid()) == 3


def test_validation_never_imports_a_module(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given caches warmed by one valid config, and import_module replaced by a recorder that refuses
    parse_config(BASE, "warm-up")
    calls: list[str] = []

    def refuse(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        raise RuntimeError(f"import_module({name!r}) called during validation")

    monkeypatch.setattr(importlib, "import_module", refuse)
    names = ["os.system", "subprocess.call", "builtins.eval", "sklearn.linear_model._logistic.LogisticRegression",
             "hpt_no_such_module.Evil", "LogisticRegression", "sklearn.ensemble.RandomForestClassifier"]

    # When every name is validated (good ones included)
    for name in names:
        with contextlib.suppress(ConfigError):
            parse_config({**BASE, "training_params": {name: {}}}, "cfg")

    # Then nothing was imported by name
    assert calls == []


@pytest.mark.parametrize("name", ["os.system", "subprocess.call", "builtins.eval"])
def test_resolve_trainer_refuses_dotted_paths_outside_the_allow_list(name: str) -> None:
    with pytest.raises(ConfigError, match="not a scikit-learn estimator or a registered trainer"):
        resolve_trainer(name)


# -- config files ------------------------------------------------------------------------------------------


def test_yaml_and_json_files_load(write_config: Callable[..., Path], tmp_path: Path) -> None:
    yaml_path = write_config(BASE, "c.yaml")
    json_path = tmp_path / "c.json"
    json_path.write_text('{"training_params": {"LogisticRegression": {"C": [1.0]}}, '
                         '"metrics": ["accuracy", "f1_macro"], "perf_metric": "accuracy"}')

    assert load_config(yaml_path) == load_config(json_path) == parse_config(BASE)


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("training_params:\n  LogisticRegression:\n    C: [1.0]\n"
                    "metrics: [accuracy\nperf_metric: accuracy\n")

    with pytest.raises(ConfigError, match=r"broken\.yaml: line 5, column \d+: invalid YAML/JSON"):
        load_config(path)


def test_invalid_key_in_a_file_is_prefixed_with_the_path(write_config: Callable[..., Path]) -> None:
    path = write_config(_with(seed=-1), "bad-seed.yaml")

    with pytest.raises(ConfigError, match=r"bad-seed\.yaml: seed: "):
        load_config(path)


@pytest.mark.parametrize("text", ["", "\n# only a comment\n"], ids=["empty", "comment-only"])
def test_empty_config_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=r"empty\.yaml: the config is empty"):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_scalar_yaml_document_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scalar.yaml"
    path.write_text("just a string\n")

    with pytest.raises(ConfigError, match=r"scalar\.yaml: expected a mapping of settings"):
        load_config(path)


# -- the Python API ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["metadata_tracker", "resource_version_control", "metrics_tracker"])
def test_missing_component_is_named(stub_tuner_cls: Any, components: dict[str, Any], missing: str) -> None:
    given = {**components, missing: None}

    with pytest.raises(ConfigError, match=f"^{missing} is required$"):
        stub_tuner_cls(**given, training_params=BASE["training_params"], metrics=["accuracy"], perf_metric="accuracy")


@pytest.mark.parametrize("wrong", ["metadata_tracker", "resource_version_control", "metrics_tracker"])
def test_wrong_type_component_is_named(stub_tuner_cls: Any, components: dict[str, Any], wrong: str) -> None:
    given = {**components, wrong: {"not": "a component"}}

    with pytest.raises(ConfigError, match=f"^{wrong} must be a .*, got dict$"):
        stub_tuner_cls(**given, training_params=BASE["training_params"], metrics=["accuracy"], perf_metric="accuracy")


@pytest.mark.parametrize("missing", ["training_params", "metrics", "perf_metric"])
def test_missing_configuration_is_named(stub_tuner_cls: Any, components: dict[str, Any], missing: str) -> None:
    given = {"training_params": BASE["training_params"], "metrics": ["accuracy"], "perf_metric": "accuracy",
             missing: None}

    with pytest.raises(ConfigError, match=f"tuner: {missing} is required"):
        stub_tuner_cls(**components, **given)


def test_python_api_errors_are_prefixed_tuner(stub_tuner: Any) -> None:
    with pytest.raises(ConfigError, match=r"^tuner: training_params\.LogisticRegression\.Cee: "):
        stub_tuner({"LogisticRegression": {"Cee": [1.0]}})


def test_trainer_class_keys_are_accepted_and_stored_by_name(stub_tuner: Any) -> None:
    tuner = stub_tuner({LogisticRegression: {"C": [0.5, 1.0]}})

    assert list(tuner.config.training_params) == ["LogisticRegression"]
    assert [spec.params["C"] for spec in tuner.iter_specs("f" * 64)] == [0.5, 1.0]


def test_config_and_arguments_together_are_refused(stub_tuner_cls: Any, components: dict[str, Any]) -> None:
    config = parse_config(BASE)

    with pytest.raises(ConfigError, match="either config= or"):
        stub_tuner_cls(**components, training_params=BASE["training_params"], config=config)


def test_experiment_cap(stub_tuner: Any) -> None:
    params = {"LogisticRegression": {"C": [0.1, 1.0, 10.0]}}

    assert len(stub_tuner(params, max_experiments=3).config.grid()) == 3
    with pytest.raises(ConfigError, match="the grid has 3 experiments, over the cap of 2"):
        stub_tuner(params, max_experiments=2)


def test_local_tuner_refuses_bad_config_before_creating_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"

    with pytest.raises(ConfigError, match="unknown trainer 'os.system'"):
        LocalTuner({"os.system": {}}, ["accuracy"], "accuracy", store=store)
    with pytest.raises(ConfigError, match="over the cap of 1"):
        LocalTuner({"LogisticRegression": {"C": [1.0, 2.0]}}, ["accuracy"], "accuracy", store=store,
                   max_experiments=1)

    assert not store.exists()


# -- custom trainers ----------------------------------------------------------------------------------------


class MajorityVote(ClassifierMixin, BaseEstimator):
    """A custom trainer: predicts the most frequent training label (``bias`` shifts nothing, it is searched)."""

    def __init__(self, bias: int = 0) -> None:
        self.bias = bias

    def fit(self, X: Any, y: Any) -> MajorityVote:
        import numpy as np

        values, counts = np.unique(y, return_counts=True)
        self.classes_ = values
        self.label_ = values[np.argmax(counts)]
        return self

    def predict(self, X: Any) -> Any:
        import numpy as np

        return np.full(len(X), self.label_)


def test_registered_custom_trainer_runs_end_to_end(tmp_path: Path, iris_npz: Path) -> None:
    # Given a trainer registered under a config name
    register_trainer("HptTestMajorityVote", MajorityVote)

    # When a config names it
    tuner = LocalTuner({"HptTestMajorityVote": {"bias": [0, 1]}}, ["accuracy"], "accuracy",
                       store=tmp_path / "store", jobs=1)
    model = tuner.run_experiment(iris_npz)

    # Then it is trained, tracked and returned like any scikit-learn trainer
    result = tuner.last_result
    assert result is not None
    assert [e.status.value for e in result.experiments] == ["SUCCEEDED", "SUCCEEDED"]
    assert [e.params for e in result.experiments] == [{"bias": 0}, {"bias": 1}]  # no random_state: it takes none
    assert isinstance(model, MajorityVote)


def test_unregistered_custom_trainer_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown trainer 'HptTestNeverRegistered'"):
        parse_config({**BASE, "training_params": {"HptTestNeverRegistered": {}}})


def test_register_trainer_refuses_a_scikit_learn_name_and_a_class_without_fit() -> None:
    with pytest.raises(ConfigError, match="'SVC' is a scikit-learn estimator name"):
        register_trainer("SVC", MajorityVote)
    with pytest.raises(ConfigError, match="not a class with a fit"):
        register_trainer("HptTestNoFit", object)


# -- bounded parsing (issue 8, item 6) ---------------------------------------------------------------------------


class _CountingReader(io.BytesIO):
    """A file that is endless for practical purposes and counts the bytes read from it."""

    def __init__(self, size: int) -> None:
        super().__init__(b"#" * size)
        self.read_total = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_total += len(chunk)
        return chunk


def test_a_config_file_is_read_up_to_the_cap_plus_one_byte(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given a 4 MiB config file (opening it hands out a counting reader)
    path = tmp_path / "huge.yaml"
    path.write_text("x")
    reader = _CountingReader(4 * 1024 * 1024)
    monkeypatch.setattr(Path, "open", lambda self, *args, **kwargs: reader)

    # When it is read
    with pytest.raises(ConfigError, match=r"^.*huge\.yaml: the config is over the 256 KiB limit$"):
        read_config_text(path)

    # Then no more than the cap + 1 bytes were read
    assert reader.read_total == MAX_CONFIG_BYTES + 1 == 256 * 1024 + 1


def test_dev_zero_as_a_config_ends_with_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^/dev/zero: the config is over the 256 KiB limit$"):
        load_config("/dev/zero")


def test_a_config_of_exactly_the_cap_is_read(tmp_path: Path) -> None:
    body = yaml.safe_dump(BASE)
    path = tmp_path / "full.yaml"
    path.write_text("#" * (MAX_CONFIG_BYTES - len(body) - 1) + "\n" + body)
    assert path.stat().st_size == MAX_CONFIG_BYTES

    assert load_config(path) == parse_config(BASE)


BOMB = "".join(
    [f"{a}: &{a} [{','.join(['l'] * 9)}]\n" if a == "a" else f"{a}: &{a} [{','.join([f'*{p}'] * 9)}]\n"
     for p, a in zip("xabcdefgh", "abcdefghi", strict=True)]
)


def test_a_yaml_alias_bomb_is_refused_before_anything_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the classic "billion laughs" (9**9 strings once expanded) under training_params, in under 400 bytes
    text = BOMB + "training_params: {LogisticRegression: {C: *i}}\nmetrics: [accuracy]\nperf_metric: accuracy\n"
    assert len(text.encode()) < 400
    built: list[Any] = []
    original = _BoundedLoader.construct_object

    def recording(self: _BoundedLoader, node: yaml.Node, deep: bool = False) -> Any:
        built.append(node)
        return original(self, node, deep)

    monkeypatch.setattr(_BoundedLoader, "construct_object", recording)

    # When / Then: refused from the node graph, with no Python object built
    with pytest.raises(ConfigError, match=r"^bomb\.yaml: line \d+: aliases expand the config past 1024 KiB"):
        load_config_text(text, "bomb.yaml")
    assert built == []


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^r\.yaml: line 1: an alias refers to the node that contains it"):
        load_config_text("a: &a [*a]\n", "r.yaml")


def test_a_deeply_nested_config_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^deep\.yaml: the config is nested too deeply$"):
        load_config_text("a: " + "[" * 3000 + "]" * 3000, "deep.yaml")


def test_a_few_anchors_and_merge_keys_still_work() -> None:
    text = ("training_params:\n"
            "  LogisticRegression: &lr {C: &cs [0.1, 1.0], max_iter: [100]}\n"
            "  LinearSVC: {<<: *lr, max_iter: [200]}\n"
            "  SVC: {C: *cs}\n"
            "metrics: [accuracy]\nperf_metric: accuracy\n")

    config = load_config_text(text, "anchors.yaml")

    assert config.training_params == {"LogisticRegression": {"C": [0.1, 1.0], "max_iter": [100]},
                                      "LinearSVC": {"C": [0.1, 1.0], "max_iter": [200]},
                                      "SVC": {"C": [0.1, 1.0]}}


@pytest.mark.parametrize(("text", "message"), [
    ("training_params:\n  SVC: {}\n  SVC: {C: [1.0]}\nmetrics: [accuracy]\nperf_metric: accuracy\n",
     r"^d\.yaml: line 3, column 3: key 'SVC' is given twice \(first on line 2\)"),
    ("training_params:\n  SVC:\n    C: [1.0]\n    kernel: [rbf]\n    C: [2.0]\n"
     "metrics: [accuracy]\nperf_metric: accuracy\n",
     r"^d\.yaml: line 5, column 5: key 'C' is given twice \(first on line 3\)"),
    ("metrics: [accuracy]\ntraining_params: {SVC: {}}\nperf_metric: accuracy\nmetrics: [f1_macro]\n",
     r"^d\.yaml: line 4, column 1: key 'metrics' is given twice \(first on line 1\)"),
    ('{"training_params": {"SVC": {"C": [1], "C": [2]}}, "metrics": ["accuracy"], "perf_metric": "accuracy"}',
     r"^d\.yaml: line 1, column \d+: key 'C' is given twice \(first on line 1\)"),
    ("training_params: {SVC: {class_weight: [{0: 1, 0: 2}]}}\nmetrics: [accuracy]\nperf_metric: accuracy\n",
     r"^d\.yaml: line 1, column \d+: key 0 is given twice"),
], ids=["trainer", "parameter", "top-level", "json", "inside-a-value"])
def test_a_key_given_twice_is_an_error_naming_the_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config_text(text, "d.yaml")


# -- duplicates and values JSON cannot carry (issue 8, items 1 and 7) -------------------------------------------


def test_duplicate_values_are_tried_once_and_reported_once() -> None:
    config = parse_config({**BASE, "training_params": {"LogisticRegression": {"C": [1.0, 0.5, 1.0, 1.0]}}})

    assert list(config.grid()) == [("LogisticRegression", {"C": 1.0}), ("LogisticRegression", {"C": 0.5})]
    assert config.notes == ["training_params.LogisticRegression.C: 1.0 listed more than once; each value is tried once"]


def test_values_that_differ_in_json_are_not_duplicates() -> None:
    # 1 and 1.0 (and True) are different JSON, hence different experiment ids: both are tried.
    config = parse_config({**BASE, "training_params": {"SVC": {"C": [1, 1.0], "probability": [True, 1]}}})

    assert len(config.grid()) == 4
    assert config.notes == []


def test_overlapping_sub_grids_are_deduplicated_and_stay_indexable(stub_tuner: Any) -> None:
    spec = [{"C": [1.0, 2.0], "kernel": ["linear"]}, {"C": [2.0, 3.0], "kernel": ["linear", "rbf"]}]
    tuner = stub_tuner({"SVC": spec})
    grid = tuner.config.grid()

    # Written out by hand: the second sub-grid's (2.0, linear) is the first's.
    expected = [{"C": 1.0, "kernel": "linear"}, {"C": 2.0, "kernel": "linear"}, {"C": 2.0, "kernel": "rbf"},
                {"C": 3.0, "kernel": "linear"}, {"C": 3.0, "kernel": "rbf"}]
    assert len(grid) == 5
    assert [grid[i][1] for i in range(len(grid))] == [params for _, params in grid] == expected
    ids = [spec.experiment_id for spec in tuner.iter_specs("f" * 64)]
    assert len(set(ids)) == len(ids) == 5
    assert tuner.config.notes == [
        "training_params.SVC[1]: 1 candidate(s) repeat an earlier sub-grid, each is tried once"]


def test_overlapping_sub_grids_too_large_to_deduplicate_are_refused() -> None:
    values = list(range(1001))
    spec = [{"C": [1.0], "tol": [0.1]}, {"C": [1.0, *map(float, values)], "tol": [0.1, *map(float, values[:999])]}]

    with pytest.raises(ConfigError, match=r"training_params\.SVC\[1\]: this sub-grid overlaps earlier ones and"
                                          r" has 1001000 candidates, too many to deduplicate"):
        parse_config({**BASE, "training_params": {"SVC": spec}}, "cfg")


def test_too_many_sub_grids_are_refused() -> None:
    spec = [{"C": [float(i)]} for i in range(1001)]

    with pytest.raises(ConfigError, match=r"training_params\.SVC: 1001 sub-grids, over the 1000 one trainer may list"):
        parse_config({**BASE, "training_params": {"SVC": spec}}, "cfg")


@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), r"C\[0\]: nan is not a usable value \(NaN and infinity cannot be carried in JSON\)"),
    (float("inf"), r"C\[0\]: inf is not a usable value"),
    (float("-inf"), r"C\[0\]: -inf is not a usable value"),
    ({1, 2}, r"C\[0\]: a set value \(\{1, 2\}\) cannot be carried in JSON"),
    (b"x", r"C\[0\]: a bytes value"),
    (complex(1, 2), r"C\[0\]: a complex value"),
], ids=["nan", "inf", "-inf", "set", "bytes", "complex"])
def test_values_json_cannot_carry_are_refused_naming_the_key(value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^cfg: training_params\.LogisticRegression\." + message):
        parse_config({**BASE, "training_params": {"LogisticRegression": {"C": [value, 1.0]}}}, "cfg")


def _round_trip(config: TuningConfig) -> TuningConfig:
    """What the emulated path does: the config stored as JSON in the run record, parsed again by the trainer."""
    return parse_config(json.loads(json.dumps(config.model_dump(mode="json"))), "run config")


def test_dicts_with_non_string_keys_survive_a_json_round_trip(stub_tuner_cls: Any, components: dict[str, Any]
                                                               ) -> None:
    # Given class weights keyed by class (ints), in the grid and in trainer_config
    config = parse_config({
        "training_params": {"LogisticRegression": {"class_weight": [{0: 1, 1: 2, 2: 3}, "balanced", None]},
                            "SVC": {"C": [1.0]}},
        "trainer_config": {"SVC": {"class_weight": {2: 5.0, 0: 1.0}}},
        "metrics": ["accuracy"], "perf_metric": "accuracy",
    })

    # When it goes through JSON as the run record carries it
    again = _round_trip(config)

    # Then the grids, the experiment ids and the keys' types are the same
    assert again == config
    assert list(again.grid()) == list(config.grid())
    assert again.grid()[0][1]["class_weight"] == {0: 1, 1: 2, 2: 3}
    assert [type(key) for key in again.grid()[0][1]["class_weight"]] == [int, int, int]
    assert again.trainer_config["SVC"]["class_weight"] == {2: 5.0, 0: 1.0}
    local = [spec.experiment_id for spec in stub_tuner_cls(**components, config=config).iter_specs("d" * 64)]
    emulated = [spec.experiment_id for spec in stub_tuner_cls(**components, config=again).iter_specs("d" * 64)]
    assert local == emulated and len(set(local)) == 4
    assert again.to_json() == config.to_json()


def test_the_round_tripped_class_weight_fits_the_same_model(iris_arrays: dict[str, Any]) -> None:
    import numpy as np

    config = parse_config({**BASE, "training_params": {"LogisticRegression": {"class_weight": [{0: 1, 1: 2, 2: 3}]}}})
    params = _round_trip(config).grid()[0][1]
    X, y = iris_arrays["X_train"], iris_arrays["y_train"]

    fitted = LogisticRegression(max_iter=500, **params).fit(X, y)
    reference = LogisticRegression(max_iter=500, class_weight={0: 1, 1: 2, 2: 3}).fit(X, y)

    np.testing.assert_array_equal(fitted.coef_, reference.coef_)


def test_a_string_keyed_and_an_int_keyed_dict_are_different_experiments(stub_tuner: Any) -> None:
    tuner = stub_tuner({"LogisticRegression": {"class_weight": [{0: 2}, {"0": 2}]}})

    ids = [spec.experiment_id for spec in tuner.iter_specs("e" * 64)]
    assert len(tuner.config.grid()) == 2 and len(set(ids)) == 2


# -- refused up front: what would surely fail (issue 8, item 7) -------------------------------------------------

SURELY_FAILS = [
    ("roc_auc-regressor", {"training_params": {"Ridge": {}}, "metrics": ["roc_auc"], "perf_metric": "roc_auc"},
     r"metrics\[0\]: 'roc_auc' is a classification metric, but training_params\.Ridge is a regressor"),
    ("mse-classifier", _with(metrics=["accuracy", "neg_mean_squared_error"]),
     r"metrics\[1\]: 'neg_mean_squared_error' is a regression metric, but training_params\.LogisticRegression is a"
     r" classifier"),
    ("log-loss-without-proba", {"training_params": {"LinearSVC": {}}, "metrics": ["neg_log_loss"],
                                "perf_metric": "neg_log_loss"},
     r"'neg_log_loss' needs predict_proba\(\), which training_params\.LinearSVC does not have"),
    ("svc-log-loss-without-probability", {"training_params": {"SVC": {"C": [1.0]}}, "metrics": ["neg_log_loss"],
                                          "perf_metric": "neg_log_loss"},
     r"metrics\[0\]: 'neg_log_loss' needs predict_proba\(\), which training_params\.SVC has only with"
     r" probability=True; set it in trainer_config\.SVC"),
    ("sgd-log-loss-with-a-hinge-candidate", {"training_params": {"SGDClassifier": {"loss": ["log_loss", "hinge"]}},
                                             "metrics": ["neg_log_loss"], "perf_metric": "neg_log_loss"},
     r"training_params\.SGDClassifier has only with loss='log_loss' or loss='modified_huber'"),
    ("kmeans-accuracy", {"training_params": {"KMeans": {}}, "metrics": ["accuracy"], "perf_metric": "accuracy"},
     r"training_params\.KMeans is a clusterer"),
    ("pca-accuracy", {"training_params": {"PCA": {}}, "metrics": ["accuracy"], "perf_metric": "accuracy"},
     r"training_params\.PCA is a transformer"),
    ("pipeline", {"training_params": {"Pipeline": {}}, "metrics": ["accuracy"], "perf_metric": "accuracy"},
     r"training_params\.Pipeline: Pipeline needs 'steps', a required constructor argument"),
    ("gridsearch", {"training_params": {"GridSearchCV": {}}, "metrics": ["accuracy"], "perf_metric": "accuracy"},
     r"GridSearchCV needs 'estimator', 'param_grid'"),
    ("nested", _with(training_params={"LogisticRegression": {"estimator__C": [1.0]}}),
     r"training_params\.LogisticRegression\.estimator__C: nested parameter names \(a__b\) are not supported"),
    ("nested-in-trainer_config", _with(trainer_config={"LogisticRegression": {"a__b": 1}}),
     r"trainer_config\.LogisticRegression\.a__b: nested parameter names"),
    ("memory-in-trainer_config", {"training_params": {"FeatureAgglomeration": {}}, "metrics": ["accuracy"],
                                  "perf_metric": "accuracy",
                                  "trainer_config": {"FeatureAgglomeration": {"memory": "/tmp/x"}}},
     r"trainer_config\.FeatureAgglomeration\.memory: '/tmp/x' is refused: it makes the estimator cache"),
    ("minimize", _with(direction="minimize"),
     r"direction: 'minimize' contradicts perf_metric 'accuracy': scikit-learn scorers are greater-is-better"),
    ("samples-metric", _with(metrics=["accuracy", "precision_samples"]), r"'precision_samples' needs multilabel"),
]


@pytest.mark.parametrize(("config", "message"), [case[1:] for case in SURELY_FAILS],
                         ids=[case[0] for case in SURELY_FAILS])
def test_what_would_surely_fail_is_refused_naming_the_key(config: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_config(config, "cfg")

    assert "\n" not in str(raised.value)


def test_the_catalogs_facts_agree_with_scikit_learn() -> None:
    # The refusals above rest on these facts; scikit-learn itself is the oracle.
    from sklearn.base import is_classifier, is_regressor
    from sklearn.cluster import KMeans
    from sklearn.linear_model import Ridge
    from sklearn.svm import LinearSVC

    assert not hasattr(LinearSVC, "predict_proba") and hasattr(LinearSVC, "decision_function")
    assert is_regressor(Ridge()) and not is_classifier(Ridge())
    assert not is_classifier(KMeans()) and hasattr(KMeans, "predict")
    from sklearn.svm import SVC

    assert not hasattr(SVC(), "predict_proba") and hasattr(SVC(probability=True), "predict_proba")


def test_accepted_neighbours_of_the_refusals() -> None:
    # Clustering scores on a clusterer, a binary metric declared (checked once labels are known), maximize.
    parse_config({"training_params": {"KMeans": {"n_clusters": [3]}}, "metrics": ["adjusted_rand_score"],
                  "perf_metric": "adjusted_rand_score"})
    parse_config(_with(metrics=["roc_auc", "f1"], perf_metric="roc_auc", direction="maximize"))
    parse_config({"training_params": {"Ridge": {"alpha": [1.0]}}, "metrics": ["r2", "neg_mean_squared_error"],
                  "perf_metric": "neg_mean_squared_error"})
    # predict_proba enabled by the grid or by trainer_config; roc_auc falls back on SVC's decision_function
    log_loss = {"metrics": ["neg_log_loss"], "perf_metric": "neg_log_loss"}
    parse_config({**log_loss, "training_params": {"SVC": {"probability": [True]}}})
    parse_config({**log_loss, "training_params": {"SVC": {}}, "trainer_config": {"SVC": {"probability": True}}})
    parse_config({**log_loss, "training_params": {"SGDClassifier": {"loss": ["log_loss", "modified_huber"]}}})
    parse_config({"training_params": {"SVC": {}}, "metrics": ["roc_auc"], "perf_metric": "roc_auc"})


class NeedsAlpha(ClassifierMixin, BaseEstimator):
    """A registered trainer with a required constructor argument."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> NeedsAlpha:
        return self

    def predict(self, X: Any) -> Any:
        return [0] * len(X)


def test_a_required_argument_supplied_by_trainer_config_or_the_grid_is_accepted() -> None:
    register_trainer("HptTestNeedsAlpha", NeedsAlpha)
    base = {"metrics": ["accuracy"], "perf_metric": "accuracy"}

    with pytest.raises(ConfigError, match=r"training_params\.HptTestNeedsAlpha: HptTestNeedsAlpha needs 'alpha'"):
        parse_config({**base, "training_params": {"HptTestNeedsAlpha": {}}}, "cfg")
    parse_config({**base, "training_params": {"HptTestNeedsAlpha": {}},
                  "trainer_config": {"HptTestNeedsAlpha": {"alpha": 1.0}}})
    parse_config({**base, "training_params": {"HptTestNeedsAlpha": {"alpha": [1.0, 2.0]}}})


def _split(y_train: Any, y_test: Any, y_val: Any = None) -> SplitData:
    import numpy as np

    def X(y: Any) -> Any:
        return None if y is None else np.zeros((len(y), 2))

    return SplitData(X_train=X(y_train), y_train=np.asarray(y_train), X_test=X(y_test), y_test=np.asarray(y_test),
                     X_val=X(y_val), y_val=None if y_val is None else np.asarray(y_val), source="split.npz")


@pytest.mark.parametrize(("config", "split", "error", "message"), [
    (_with(metrics=["roc_auc"], perf_metric="roc_auc"), _split([0, 1, 2, 0], [0, 1]), ConfigError,
     r"^metrics\[0\]: 'roc_auc' works on two classes only, and split\.npz has 3 classes"),
    (_with(metrics=["accuracy", "precision"]), _split([0, 1, 0, 1], [0, 1], y_val=[2, 2]), ConfigError,
     r"^metrics\[1\]: 'precision' works on two classes only, and split\.npz has 3 classes"),
    (BASE, _split([1, 1, 1], [1, 0]), DataError,
     r"^split\.npz: y_train has a single class \(1\), but training_params\.LogisticRegression is a classifier"),
    (BASE, _split([0.0, 1.5, 1.0], [0.0, 1.0]), DataError,
     r"^split\.npz: y_train holds non-integer numbers \(e\.g\. 1\.5\), but training_params\.LogisticRegression"),
    (BASE, _split([0, 1, 0], ["a", "b"]), DataError, r"^split\.npz: y_test holds text but y_train holds numbers"),
    ({"training_params": {"Ridge": {}}, "metrics": ["r2"], "perf_metric": "r2"}, _split(["a", "b"], ["a"]),
     DataError, r"^split\.npz: y_train holds text labels, but training_params\.Ridge is a regressor"),
], ids=["roc_auc-3-classes", "precision-3-classes-via-validation", "one-class", "fractional-labels", "mixed-types",
        "text-for-regressor"])
def test_labels_that_cannot_work_are_refused(config: dict[str, Any], split: SplitData, error: type[Exception],
                                             message: str) -> None:
    with pytest.raises(error, match=message):
        parse_config(config).check_split(split)


def test_labels_that_work_are_accepted() -> None:
    parse_config(_with(metrics=["roc_auc", "f1"], perf_metric="roc_auc")).check_split(_split([0, 1, 1], [1, 0]))
    parse_config(BASE).check_split(_split([0.0, 2.0, 1.0], [2.0, 0.0]))  # integer-valued floats are classes
    parse_config(BASE).check_split(_split(["cat", "dog"], ["dog", "dog"]))
    parse_config({"training_params": {"Ridge": {}}, "metrics": ["r2"], "perf_metric": "r2"}).check_split(
        _split([0.5, 1.25, 3.0], [0.1, 0.2]))


def test_max_data_bytes_has_a_documented_default() -> None:
    config = parse_config(BASE)

    assert config.max_data_bytes == DEFAULT_MAX_DATA_BYTES == 1024**3
    assert parse_config({**BASE, "max_data_bytes": 5}).max_data_bytes == 5


def test_the_catalog_snapshot_equals_the_live_registry() -> None:
    # The fan-out (no scikit-learn) decides with the snapshot what the local path decides with scikit-learn.
    from hyperparameter_tuner._catalog import build_catalog
    from hyperparameter_tuner.trainers import CATALOG_PATH

    assert json.loads(CATALOG_PATH.read_text()) == json.loads(json.dumps(build_catalog()))
