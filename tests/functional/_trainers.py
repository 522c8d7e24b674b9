"""Custom trainers for the process tests: one that never finishes, one that prints while it fits.

Imported by the tests and by ``python -m tests.functional._trainers`` subprocesses, which register them and then
run the real ``hpt`` entry point.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from hyperparameter_tuner import register_trainer
from hyperparameter_tuner.trainers import trainer_info

MARKERS_ENV = "HPT_TEST_MARKERS"


class Sleeper(ClassifierMixin, BaseEstimator):
    """Announces its fit (a file named after its pid in ``$HPT_TEST_MARKERS``), then sleeps for an hour."""

    def __init__(self, tag: int = 0) -> None:
        self.tag = tag

    def fit(self, X: Any, y: Any) -> Sleeper:
        markers = os.environ.get(MARKERS_ENV)
        if markers:
            (Path(markers) / f"{os.getpid()}-{self.tag}").write_text("fitting")
        time.sleep(3600)
        return self

    def predict(self, X: Any) -> Any:
        return np.zeros(len(X), dtype=int)


class Chatty(ClassifierMixin, BaseEstimator):
    """Predicts the most frequent class, printing through Python and straight to file descriptor 1 as it fits."""

    def __init__(self, tag: int = 0) -> None:
        self.tag = tag

    def fit(self, X: Any, y: Any) -> Chatty:
        print(f"chatty python print {self.tag}")
        sys.stdout.flush()
        os.write(1, f"chatty fd write {self.tag}\n".encode())
        values, counts = np.unique(y, return_counts=True)
        self.classes_ = values
        self.majority_ = values[int(np.argmax(counts))]
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.majority_)


def register() -> None:
    """Register both trainers once per process."""
    for cls in (Sleeper, Chatty):
        try:
            trainer_info(cls.__name__)
        except Exception:  # noqa: BLE001 - not registered yet
            register_trainer(cls.__name__, cls)


if __name__ == "__main__":
    from hyperparameter_tuner.cli import main

    register()
    sys.exit(main(sys.argv[1:]))
