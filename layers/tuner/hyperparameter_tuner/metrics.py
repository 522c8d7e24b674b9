"""Metrics are scikit-learn scorer names; every scorer is "greater is better".

scikit-learn negates losses (``neg_mean_squared_error``), so the natural direction of every scorer is
``maximize``. Values are recorded exactly as the scorer returns them, which is what ``GridSearchCV`` reports.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Literal

from .errors import ConfigError
from .trainers import _catalog, _catalog_is_current

__all__ = ["Direction", "check_metric_names", "default_direction", "score_estimator", "scorer_names"]

Direction = Literal["maximize", "minimize"]


def scorer_names() -> frozenset[str]:
    """Return the scorer names this installation accepts (from the catalog when scikit-learn is absent)."""
    if _catalog_is_current():
        return frozenset(_catalog()["scorers"])
    from sklearn.metrics import get_scorer_names

    return frozenset(get_scorer_names())


def check_metric_names(metrics: Sequence[str], where: str = "metrics") -> None:
    """Raise :class:`ConfigError` naming the first metric that is not a scikit-learn scorer name."""
    known = scorer_names()
    for i, name in enumerate(metrics):
        if name in known:
            continue
        candidates = [f"neg_{name}"] if f"neg_{name}" in known else difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {candidates[0]!r}?" if candidates else ""
        raise ConfigError(f"{where}[{i}]: unknown metric {name!r}: not a scikit-learn scorer name{hint}")


def default_direction(metric: str) -> Direction:
    """Return the direction in which ``metric`` improves: always ``maximize`` for scikit-learn scorers.

    Examples
    --------
    >>> default_direction("neg_mean_squared_error")
    'maximize'
    """
    return "maximize"


def score_estimator(estimator: Any, X: Any, y: Any, metrics: Sequence[str]) -> dict[str, float]:
    """Score a fitted estimator on ``(X, y)`` with every metric, sharing predictions between scorers.

    Uses ``sklearn.metrics.check_scoring`` with a list, the same multimetric scorer ``GridSearchCV`` uses, so
    values are identical to scikit-learn's own.
    """
    from sklearn import config_context
    from sklearn.metrics import check_scoring

    scorer = check_scoring(estimator, scoring=list(metrics))
    # The arguments are ours (a validated split), so scikit-learn's per-call parameter validation is pure cost;
    # the metric code itself, and so every value, is unchanged.
    with config_context(skip_parameter_validation=True):
        scores = scorer(estimator, X, y)
    return {name: float(scores[name]) for name in metrics}
