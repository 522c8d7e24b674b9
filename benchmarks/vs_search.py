"""Whole-process wall time of ``hpt run`` against scikit-learn's searches: ``GridSearchCV(cv=5)``,
``RandomizedSearchCV`` and ``HalvingGridSearchCV``, on the same candidates, data, scorers, folds and workers.

Usage: ``.venv/bin/python benchmarks/vs_search.py [--quick] [--repeat N] [--jobs N]``

Data: the synthetic 3-class split of ``_common.py`` (900 training rows). Candidates: an SVC grid of C x gamma
(30 cells; ``--quick``: 12) for grid and halving, and 30 (12) draws of log-uniform C and gamma for random
search, all with ``cv: 5`` and the same three scorers. Each side is a fresh process; repeats alternate the sides
and medians are reported. scikit-learn's side refits the best candidate on the whole training split
(``refit=<perf_metric>``, its default behaviour); hpt fits *every* candidate on the whole training split, scores
it on validation and test, saves every model and writes every record (checked after each run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import HPT, METRICS, PERF_METRIC, PYTHON, check_store, median, timed

FOLDS = 5
SEED = 0


def _space(quick: bool) -> tuple[dict[str, list[float]], dict[str, dict[str, Any]], int]:
    c = [0.1, 1.0, 10.0] if quick else [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    gamma = [0.001, 0.01, 0.1, 1.0] if quick else [0.0001, 0.001, 0.01, 0.1, 1.0]
    distributions = {"C": {"distribution": "loguniform", "low": 0.01, "high": 1000.0},
                     "gamma": {"distribution": "loguniform", "low": 0.0001, "high": 1.0}}
    return {"C": c, "gamma": gamma}, distributions, len(c) * len(gamma)


def write_configs(work: Path, quick: bool) -> tuple[Path, dict[str, Path], int]:
    """Write the split and one hpt config per strategy; return (data, configs, candidates)."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=1500, n_features=20, n_informative=10, n_classes=3, random_state=0)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest)
    data = work / "data.npz"
    np.savez(data, X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test)
    grid, distributions, n = _space(quick)
    # random_state fixed in the space: hpt derives none, so every side fits identical estimators
    base = {"metrics": METRICS, "perf_metric": PERF_METRIC, "seed": SEED, "cv": FOLDS}
    configs = {
        "grid": {**base, "training_params": {"SVC": {**grid, "random_state": [0]}}},
        "random": {**base, "training_params": {"SVC": {**distributions, "random_state": [0]}},
                   "search": {"strategy": "random", "n_iter": n}},
        "halving": {**base, "training_params": {"SVC": {**grid, "random_state": [0]}},
                    "search": {"strategy": "halving", "factor": 3}},
    }
    paths = {}
    for name, config in configs.items():
        paths[name] = work / f"{name}.json"
        paths[name].write_text(json.dumps(config, indent=1))
    return data, paths, n


def sklearn_side(strategy: str, data_path: str, quick: bool, jobs: int) -> dict[str, Any]:
    """What a scikit-learn user runs for ``strategy`` (no hyperparameter_tuner import)."""
    from scipy import stats
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV, RandomizedSearchCV
    from sklearn.svm import SVC

    data = np.load(data_path)
    X, y = data["X_train"], data["y_train"]
    grid, _, n = _space(quick)
    if strategy == "grid":
        search: Any = GridSearchCV(SVC(random_state=0), grid, cv=FOLDS, scoring=METRICS, refit=PERF_METRIC,
                                   n_jobs=jobs)
    elif strategy == "random":
        space = {"C": stats.loguniform(0.01, 1000.0), "gamma": stats.loguniform(0.0001, 1.0)}
        search = RandomizedSearchCV(SVC(random_state=0), space, n_iter=n, cv=FOLDS, scoring=METRICS,
                                    refit=PERF_METRIC, n_jobs=jobs, random_state=SEED)
    else:
        # Halving takes one scorer; the others are not computed (hpt computes all three on every rung).
        search = HalvingGridSearchCV(SVC(random_state=0), grid, cv=FOLDS, factor=3, scoring=PERF_METRIC,
                                     n_jobs=jobs, random_state=SEED)
    search.fit(X, y)
    return {"fits": len(search.cv_results_["params"]), "best": search.best_params_}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 candidates instead of 30")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (default: 3)")
    parser.add_argument("--jobs", type=int, default=2, help="workers on every side (default: 2)")
    parser.add_argument("--side", help=argparse.SUPPRESS)  # internal: run one scikit-learn side and exit
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.side:
        print(json.dumps(sklearn_side(args.side, args.data, args.quick, args.jobs), default=str))
        return 0

    labels = {"grid": "GridSearchCV(cv=5)", "random": "RandomizedSearchCV(cv=5)",
              "halving": "HalvingGridSearchCV(cv=5)"}
    times: dict[str, dict[str, list[float]]] = {s: {"hpt": [], "sklearn": []} for s in labels}
    experiments: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="hpt-bench-search-") as tmp:
        work = Path(tmp)
        data, configs, n = write_configs(work, args.quick)
        print(f"SVC, {n} candidates, cv={FOLDS}, {args.jobs} workers, {args.repeat} repeats (alternating)")
        for rep in range(args.repeat):
            for strategy in labels:
                store = work / f"store-{strategy}-{rep}"
                elapsed, out = timed([HPT, "run", str(configs[strategy]), "--data", str(data), "--store",
                                      str(store), "--jobs", str(args.jobs), "--json"])
                result = json.loads(out)
                experiments[strategy] = result["total"]
                check_store(store, result["run_id"], result["total"])
                times[strategy]["hpt"].append(elapsed)
                cmd = [PYTHON, __file__, "--side", strategy, "--data", str(data), "--jobs", str(args.jobs)]
                elapsed_sk, _ = timed(cmd + (["--quick"] if args.quick else []))
                times[strategy]["sklearn"].append(elapsed_sk)
                print(f"  run {rep + 1} {strategy:<8} hpt {elapsed:6.2f} s   scikit-learn {elapsed_sk:6.2f} s",
                      flush=True)
    print()
    print(f"{'baseline':<28} {'experiments':>11} {'hpt s':>7} {'sklearn s':>10} {'hpt / baseline':>15}")
    ratios = []
    for strategy, label in labels.items():
        hpt, sk = median(times[strategy]["hpt"]), median(times[strategy]["sklearn"])
        print(f"{label:<28} {experiments[strategy]:>11} {hpt:7.2f} {sk:10.2f} {hpt / sk:15.2f}")
        ratios.append(f"hpt/{label} = {hpt / sk:.2f}")
    print("ratios: " + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
