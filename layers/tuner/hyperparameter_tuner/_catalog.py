"""Write ``_sklearn_catalog.json``: the trainer allow-list and scorer facts, for interpreters without sklearn.

Run ``python -m hyperparameter_tuner._catalog`` after upgrading scikit-learn; a test checks the file against
the installed version.

Per estimator: its public path, constructor parameters (and which have no default), its kind (classifier,
regressor, clusterer, ...) and which of ``predict``/``predict_proba``/``decision_function`` it defines. Per
scorer: the task it scores, the response methods it calls, and which label sets it works on, found by calling
it on small fitted models (so the facts are scikit-learn's own behaviour, not a hand-kept list).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from .trainers import CATALOG_PATH, _live_registry

__all__ = ["build_catalog", "scorer_facts"]


def _scorer_kind(module: str) -> str:
    if "._regression" in module:
        return "regression"
    if ".cluster" in module:
        return "clustering"
    return "classification"


def scorer_facts() -> dict[str, dict[str, Any]]:
    """Return ``{scorer: {"task", "response", "labels"}}`` for every scikit-learn scorer.

    ``labels`` is ``any`` (binary and multiclass), ``binary`` (fails on three classes, e.g. ``f1``, ``roc_auc``)
    or ``multilabel`` (fails on any 1-D labels, e.g. ``f1_samples``), found by scoring logistic regressions
    fitted on two and three classes. Regression and clustering scorers are ``any``.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import get_scorer, get_scorer_names

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y3 = np.repeat([0, 1, 2], 20)
    X[:, 0] += y3
    models = {n: LogisticRegression().fit(X, y3 % n if n == 2 else y3) for n in (2, 3)}
    facts: dict[str, dict[str, Any]] = {}
    for name in sorted(get_scorer_names()):
        scorer = get_scorer(name)
        task = _scorer_kind(scorer._score_func.__module__)
        response = scorer._response_method
        response = [response] if isinstance(response, str) else list(response)
        labels = "any"
        if task == "classification":
            works = {}
            for n, model in models.items():
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        scorer(model, X, y3 % n if n == 2 else y3)
                    works[n] = True
                except (ValueError, TypeError):
                    works[n] = False
            labels = "any" if works[3] else ("binary" if works[2] else "multilabel")
        facts[name] = {"task": task, "response": response, "labels": labels}
    return facts


def build_catalog() -> dict[str, Any]:
    """Return the catalog of the installed scikit-learn as a JSON-ready dict."""
    import sklearn

    return {
        "sklearn_version": sklearn.__version__,
        "estimators": {
            name: {"path": info.path, "params": sorted(info.params), "accepts_any": info.accepts_any,
                   "kind": info.kind, "required": sorted(info.required), "methods": sorted(info.methods),
                   "conditional": {method: [list(setting) for setting in settings]
                                   for method, settings in sorted(info.conditional.items())}}
            for name, (_, info) in sorted(_live_registry().items())
        },
        "scorers": scorer_facts(),
    }


if __name__ == "__main__":
    CATALOG_PATH.write_text(json.dumps(build_catalog(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOG_PATH}")
