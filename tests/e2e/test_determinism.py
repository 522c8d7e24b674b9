"""Same numbers everywhere: one config and one split give bit-identical scores with ``--jobs 1``, ``--jobs 2`` and
``hpt emulate``, and they equal scikit-learn's own fit under the same one-thread BLAS/OpenMP budget.

A LogisticRegression stopped before convergence and a small MLP are the estimators whose results move with the
number of BLAS threads (the order of floating-point additions changes), so they are what this checks.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from hyperparameter_tuner.cli import main

pytestmark = pytest.mark.e2e

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
CONFIG = {
    "training_params": {
        "LogisticRegression": {"C": [0.001, 1.0], "max_iter": [15]},
        "MLPClassifier": {"hidden_layer_sizes": [[32]], "max_iter": [20]},
    },
    "metrics": ["accuracy", "neg_log_loss"],
    "perf_metric": "accuracy",
}
ORACLE = {"LogisticRegression": LogisticRegression, "MLPClassifier": MLPClassifier}


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    X, y = load_digits(return_X_y=True)
    X_train, X_rest, y_train, y_rest = train_test_split(X / 16.0, y, test_size=0.4, random_state=0, stratify=y)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
    arrays = {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val, "X_test": X_test,
              "y_test": y_test}
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, **arrays)
    return path, arrays


def _scores(payload: dict[str, Any]) -> dict[str, Any]:
    return {e["experiment_id"]: (e["params"], e["scores"]) for e in payload["experiments"]}


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    payload: dict[str, Any] = json.loads(capsys.readouterr().out)
    return payload


def test_scores_are_bit_identical_at_any_jobs_and_emulated(tmp_path: Path, digits: tuple[Path, dict[str, Any]],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # Given one config and one split
    data, arrays = digits
    config = tmp_path / "digits.json"
    config.write_text(json.dumps(CONFIG))

    # When it runs serially, on two workers, and in the emulated AWS workflow
    serial = _cli_json(capsys, "run", str(config), "--data", str(data), "--store", str(tmp_path / "a"), "--jobs", "1",
                       "--json")
    pooled = _cli_json(capsys, "run", str(config), "--data", str(data), "--store", str(tmp_path / "b"), "--jobs",
                       "2", "--json")
    emulated = _cli_json(capsys, "emulate", str(config), "--data", str(data), "--template", str(TEMPLATE), "--json")

    # Then every score of every experiment is the same, to the last bit
    assert len(serial["experiments"]) == 3
    assert any("ConvergenceWarning" in w for e in serial["experiments"] for w in e["warnings"])
    assert _scores(serial) == _scores(pooled) == _scores(emulated)

    # and equals scikit-learn's own fit of the same candidate under a one-thread budget
    for experiment in serial["experiments"]:
        params = experiment["params"]
        if "hidden_layer_sizes" in params:
            params = {**params, "hidden_layer_sizes": tuple(params["hidden_layer_sizes"])}
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # stopped before converging, on purpose
            model = ORACLE[experiment["algo"]](**params).fit(arrays["X_train"], arrays["y_train"])
        with threadpool_limits(limits=1):
            accuracy = accuracy_score(arrays["y_val"], model.predict(arrays["X_val"]))
            loss = -log_loss(arrays["y_val"], model.predict_proba(arrays["X_val"]), labels=model.classes_)
        assert experiment["scores"]["validation"]["accuracy"] == accuracy
        assert experiment["scores"]["validation"]["neg_log_loss"] == loss
