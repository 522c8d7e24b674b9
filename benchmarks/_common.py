"""Shared setup of the benchmarks: one synthetic split, one grid over three model families, helpers.

The grid is written as an ``hpt`` config (JSON) whose trainers are public scikit-learn dotted paths, so the
GridSearchCV and Optuna sides (``_sides.py``) can build exactly the same candidates without importing
``hyperparameter_tuner``. Every family that takes ``random_state`` gets ``random_state: [0]`` in the grid, so
hpt does not derive one and all three sides fit identical estimators.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
HPT = str(Path(sys.executable).with_name("hpt"))

METRICS = ["accuracy", "f1_macro", "balanced_accuracy"]
PERF_METRIC = "f1_macro"


def grid(quick: bool) -> dict[str, dict[str, list[Any]]]:
    """Three families of fast fits: 264 candidates (``quick``: 19)."""
    if quick:
        return {
            "sklearn.linear_model.LogisticRegression": {"C": [0.01, 0.1, 1.0, 10.0, 100.0], "random_state": [0]},
            "sklearn.tree.DecisionTreeClassifier": {"max_depth": [2, 4, 8, None], "min_samples_leaf": [1, 5],
                                                    "random_state": [0]},
            "sklearn.neighbors.KNeighborsClassifier": {"n_neighbors": [1, 5, 9, 15, 21, 31],
                                                       "weights": ["uniform"]},
        }
    return {
        "sklearn.linear_model.LogisticRegression": {
            "C": [float(c) for c in np.logspace(-3, 3, 15)],
            "class_weight": [None, "balanced"],
            "fit_intercept": [True, False],
            "random_state": [0],
        },
        "sklearn.tree.DecisionTreeClassifier": {
            "max_depth": [2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, None],
            "min_samples_leaf": [1, 2, 5, 10, 20],
            "criterion": ["gini", "entropy"],
            "random_state": [0],
        },
        "sklearn.neighbors.KNeighborsClassifier": {
            "n_neighbors": list(range(1, 42, 2)),
            "weights": ["uniform", "distance"],
            "p": [1, 2],
        },
    }


def n_candidates(training_params: dict[str, dict[str, list[Any]]]) -> int:
    total = 0
    for params in training_params.values():
        size = 1
        for values in params.values():
            size *= len(values)
        total += size
    return total


def write_inputs(workdir: Path, quick: bool) -> tuple[Path, Path, int]:
    """Write the split (``data.npz``: train/validation/test) and the config (``config.json``)."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=1500, n_features=20, n_informative=10, n_classes=3, random_state=0)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
    data = workdir / "data.npz"
    np.savez(data, X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test)
    training_params = grid(quick)
    settings = {"name": "bench", "training_params": training_params, "metrics": METRICS,
                "perf_metric": PERF_METRIC, "seed": 0}
    config = workdir / "config.json"
    config.write_text(json.dumps(settings, indent=1))
    # The same run without scoring the test split: exactly GridSearchCV's work (fit, score validation).
    (workdir / "config-validation-only.json").write_text(json.dumps({**settings, "score_test": False}, indent=1))
    return config, data, n_candidates(training_params)


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, str]:
    """Run ``cmd`` as a fresh process; return its wall time and stdout. Fails loudly on a non-zero exit."""
    tick = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - tick
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def check_store(store: Path, run_id: str, expected: int) -> tuple[int, int]:
    """Return (SUCCEEDED experiments of the run, model files), and fail unless both equal ``expected``."""
    with sqlite3.connect(store / "tuner.db") as conn:
        rows = conn.execute("SELECT doc FROM experiments WHERE run_id = ? AND status = 'SUCCEEDED'",
                            (run_id,)).fetchall()
    shas = {json.loads(doc)["artifact"]["sha256"] for (doc,) in rows}
    files = [p for p in (store / "objects").rglob("*") if p.is_file() and not p.name.startswith(".tmp-")]
    on_disk = {p.name for p in files}
    if len(rows) != expected or len(files) != expected or not shas <= on_disk:
        raise SystemExit(f"store {store}: {len(rows)} succeeded experiments and {len(files)} model files, "
                         f"expected {expected} of each")
    return len(rows), len(files)


def median(values: list[float]) -> float:
    return statistics.median(values)
