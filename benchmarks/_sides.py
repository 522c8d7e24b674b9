"""The competitors, each run by ``vs_gridsearch.py`` as a fresh process on the same config and split.

``python benchmarks/_sides.py gridsearch CONFIG DATA --jobs N``
    One ``GridSearchCV`` per model family (bare estimator, the family's grid), ``cv=PredefinedSplit`` over
    train+validation (train fold -1, validation fold 0: the same holdout hpt scores on), ``refit=False``,
    ``scoring`` = the config's metrics, ``n_jobs=N`` (joblib's default loky backend).
``python benchmarks/_sides.py optuna CONFIG DATA --jobs N``
    One Optuna study per family with ``GridSampler`` over the family's grid, in-memory storage,
    ``optimize(n_jobs=N)`` (threads), fit on train and every metric scored on validation.

Neither side imports ``hyperparameter_tuner``; trainers are the config's public ``sklearn.`` paths. Each prints
one JSON line: the number of fits and the best value of the performance metric.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _family(path: str) -> type:
    module, _, name = path.rpartition(".")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def gridsearch(config: dict[str, Any], data: Any, jobs: int) -> dict[str, Any]:
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    X = np.concatenate([data["X_train"], data["X_val"]])
    y = np.concatenate([data["y_train"], data["y_val"]])
    fold = np.r_[np.full(len(data["y_train"]), -1), np.zeros(len(data["y_val"]), dtype=int)]
    fits, best = 0, -np.inf
    for path, params in config["training_params"].items():
        search = GridSearchCV(_family(path)(), params, scoring=config["metrics"], refit=False,
                              cv=PredefinedSplit(fold), n_jobs=jobs)
        search.fit(X, y)
        fits += len(search.cv_results_["params"])
        best = max(best, float(np.nanmax(search.cv_results_[f"mean_test_{config['perf_metric']}"])))
    return {"fits": fits, "best": best}


def optuna_grid(config: dict[str, Any], data: Any, jobs: int) -> dict[str, Any]:
    import optuna
    from sklearn.metrics import check_scoring

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X_train, y_train, X_val, y_val = data["X_train"], data["y_train"], data["X_val"], data["y_val"]
    fits, best = 0, -np.inf
    for path, space in config["training_params"].items():
        cls = _family(path)

        def objective(trial: Any, cls: type = cls, space: dict[str, list[Any]] = space) -> float:
            params = {name: trial.suggest_categorical(name, values) for name, values in space.items()}
            estimator = cls(**params).fit(X_train, y_train)
            scores = check_scoring(estimator, scoring=config["metrics"])(estimator, X_val, y_val)
            for name, value in scores.items():
                trial.set_user_attr(name, float(value))
            return float(scores[config["perf_metric"]])

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.GridSampler(space, seed=0))
        study.optimize(objective, n_jobs=jobs)  # the sampler stops the study when the grid is exhausted
        fits += len(study.trials)
        best = max(best, study.best_value)
    return {"fits": fits, "best": best}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["gridsearch", "optuna"])
    parser.add_argument("config")
    parser.add_argument("data")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    data = dict(np.load(args.data))
    run = gridsearch if args.side == "gridsearch" else optuna_grid
    print(json.dumps(run(config, data, args.jobs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
