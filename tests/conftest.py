"""Shared fixtures: small split datasets on disk (npz and CSV), small configs, and a minimal concrete tuner.

Everything here is cheap and nothing is autouse: the template and e2e suites pay nothing for it.
"""

from __future__ import annotations

import copy
import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hyperparameter_tuner import BaseHyperparameterTuner, open_store

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

SMALL_CONFIG: dict[str, Any] = {
    "name": "small",
    "training_params": {
        "LogisticRegression": {"C": [0.1, 1.0]},
        "DecisionTreeClassifier": {"max_depth": [1, 3]},
    },
    "trainer_config": {"LogisticRegression": {"max_iter": 500}},
    "metrics": ["accuracy", "f1_macro"],
    "perf_metric": "accuracy",
    "seed": 7,
}


class StubTuner(BaseHyperparameterTuner):
    """The smallest concrete tuner: the spec's base class with a trivial ``run_experiment``."""

    def run_experiment(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        return None


@pytest.fixture(scope="session")
def iris_arrays() -> dict[str, np.ndarray]:
    """Iris split 90 / 30 / 30 (train / validation / test), shuffled with a fixed seed."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    return {
        "X_train": X[:90], "y_train": y[:90],
        "X_val": X[90:120], "y_val": y[90:120],
        "X_test": X[120:], "y_test": y[120:],
    }


@pytest.fixture
def iris_npz(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> Path:
    """An ``.npz`` split with a validation split."""
    path = tmp_path / "iris.npz"
    np.savez(path, **iris_arrays)  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return path


@pytest.fixture
def iris_npz_no_val(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> Path:
    """An ``.npz`` split without a validation split."""
    path = tmp_path / "iris_no_val.npz"
    np.savez(path, **{k: v for k, v in iris_arrays.items() if not k.endswith("_val")})  # type: ignore[arg-type]  # mypy#5382: a **dict could fill allow_pickle
    return path


def write_csv(path: Path, X: np.ndarray, y: np.ndarray, columns: list[str] = FEATURES,
              target: str = "target") -> Path:
    """Write features and labels as a CSV file with a header (floats written exactly, via ``repr``)."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*columns, target])
        for row, label in zip(X, y, strict=True):
            writer.writerow([repr(float(v)) for v in row] + [str(label)])
    return path


@pytest.fixture
def csv_split(tmp_path: Path, iris_arrays: dict[str, np.ndarray]) -> Path:
    """A folder with ``train.csv``, ``validation.csv`` and ``test.csv``, label in column ``target``."""
    folder = tmp_path / "iris_csv"
    folder.mkdir()
    for name, suffix in (("train", "train"), ("validation", "val"), ("test", "test")):
        write_csv(folder / f"{name}.csv", iris_arrays[f"X_{suffix}"], iris_arrays[f"y_{suffix}"])
    return folder


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config mapping as YAML and return its path: ``write_config(mapping, name="config.yaml")``."""

    def _write(mapping: dict[str, Any], name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(mapping, sort_keys=False))
        return path

    return _write


@pytest.fixture
def small_config() -> dict[str, Any]:
    """A 4-experiment classification config (2 trainers x 2 values), as a fresh mapping."""
    return copy.deepcopy(SMALL_CONFIG)


@pytest.fixture
def small_config_file(write_config: Callable[..., Path], small_config: dict[str, Any]) -> Path:
    """``small_config`` written as a YAML file."""
    return write_config(small_config, "small.yaml")


@pytest.fixture
def components(tmp_path: Path) -> dict[str, Any]:
    """The three components of the spec, backed by a local store under ``tmp_path/components``."""
    metadata, version_control, metrics = open_store(tmp_path / "components")
    return {"metadata_tracker": metadata, "resource_version_control": version_control, "metrics_tracker": metrics}


@pytest.fixture
def stub_tuner_cls() -> type[StubTuner]:
    """The minimal concrete subclass of ``BaseHyperparameterTuner``."""
    return StubTuner


@pytest.fixture
def stub_tuner(components: dict[str, Any]) -> Callable[..., StubTuner]:
    """Build a :class:`StubTuner` on ``components``: ``stub_tuner(training_params, metrics, perf_metric, **opts)``."""

    def _make(training_params: Any = None, metrics: Any = None, perf_metric: Any = None, **options: Any) -> StubTuner:
        training_params = {"LogisticRegression": {"C": [1.0]}} if training_params is None else training_params
        metrics = ["accuracy"] if metrics is None else metrics
        perf_metric = "accuracy" if perf_metric is None else perf_metric
        return StubTuner(**components, training_params=training_params, metrics=metrics, perf_metric=perf_metric,
                         **options)

    return _make


@pytest.fixture(autouse=True)
def _no_instance_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may look for an EC2 instance role: that would send traffic off this machine."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so nothing can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
