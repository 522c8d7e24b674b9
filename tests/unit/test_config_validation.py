"""Config validation: files and the Python API; every error names its key."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from hyperparameter_tuner import ConfigError, LocalTuner, load_config, parse_config, register_trainer
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
