"""Metrics are scikit-learn scorer names; every scorer is "greater is better".

scikit-learn negates losses (``neg_mean_squared_error``), so the natural direction of every scorer is
``maximize``. Values are recorded exactly as the scorer returns them, which is what ``GridSearchCV`` reports.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError, DataError
from .trainers import _catalog, _catalog_is_current, trainer_info

if TYPE_CHECKING:
    from .data import LabelSummary

__all__ = [
    "Direction",
    "check_direction",
    "check_labels",
    "check_metric_names",
    "check_metrics_for_trainer",
    "default_direction",
    "score_estimator",
    "scorer_facts",
    "scorer_names",
]

Direction = Literal["maximize", "minimize"]

_TASK_OF_KIND = {"classifier": "classification", "regressor": "regression"}
_KIND_TEXT = {"classifier": "a classifier", "regressor": "a regressor", "clusterer": "a clusterer",
              "outlier_detector": "an outlier detector", "transformer": "a transformer (no predict)",
              "other": "not a predictor"}


def scorer_names() -> frozenset[str]:
    """Return the scorer names this installation accepts (from the catalog when scikit-learn is absent)."""
    if _catalog_is_current():
        return frozenset(_catalog()["scorers"])
    from sklearn.metrics import get_scorer_names

    return frozenset(get_scorer_names())


@cache
def scorer_facts() -> dict[str, dict[str, Any]]:
    """Return ``{scorer: {"task", "response", "labels"}}`` (see ``_catalog.scorer_facts``), from the catalog
    snapshot when it matches the installed scikit-learn (or there is none), else from scikit-learn itself."""
    if _catalog_is_current():
        facts: dict[str, dict[str, Any]] = _catalog()["scorers"]
        return facts
    from ._catalog import scorer_facts as live_facts

    return live_facts()


def check_direction(metric: str, direction: str) -> None:
    """Refuse a ``direction`` that contradicts the scorer: every scikit-learn scorer is greater-is-better.

    Raises
    ------
    ConfigError
        For ``minimize``: it would pick the worst model.
    """
    if direction != default_direction(metric):
        raise ConfigError(
            f"direction: {direction!r} contradicts perf_metric {metric!r}: scikit-learn scorers are greater-is-better"
            " (losses are negated, as in neg_mean_squared_error), so minimizing would pick the worst model;"
            " drop direction"
        )


def check_metrics_for_trainer(name: str, metrics: Sequence[str], where: str,
                              settings: Sequence[Mapping[str, Sequence[Any]]] = ()) -> None:
    """Refuse metrics that cannot score a trainer: every experiment of it would fail, or mean nothing.

    Classification scorers need a classifier, regression scorers a regressor, clustering scorers a classifier or
    a clusterer; transformers and other non-predictors have nothing to score. Scorers that call
    ``predict_proba``/``decision_function`` need a trainer that defines one, and ``*_samples`` scorers need
    multilabel targets, which a split's 1-D labels never are. Trainers of unknown kind (registered classes
    without a scikit-learn mixin) are not checked.

    ``settings`` lists, per sub-grid, ``{param: [values]}`` (``trainer_config`` values as one-element lists). A
    method a default instance lacks (``SVC.predict_proba``) counts only when every candidate sets a value that
    enables it (``probability: true``).

    Raises
    ------
    ConfigError
        Naming the metric's position in ``metrics`` and the trainer's key.
    """
    info = trainer_info(name)
    facts = scorer_facts()
    for i, metric in enumerate(metrics):
        fact = facts.get(metric)
        if fact is None:
            continue
        if fact["labels"] == "multilabel":
            raise ConfigError(f"metrics[{i}]: {metric!r} needs multilabel targets (a 2-D indicator matrix); a"
                              " split's labels are 1-D: use the _macro, _micro or _weighted form")
        if info.kind == "unknown":
            continue
        task = fact["task"]
        fits = (_TASK_OF_KIND.get(info.kind) == task
                or (task == "clustering" and info.kind in ("classifier", "clusterer")))
        if not fits:
            raise ConfigError(f"metrics[{i}]: {metric!r} is a {task} metric, but {where} is"
                              f" {_KIND_TEXT.get(info.kind, info.kind)}")
        available = set(fact["response"]) & info.methods
        methods = " or ".join(f"{method}()" for method in fact["response"])
        if not available:
            raise ConfigError(f"metrics[{i}]: {metric!r} needs {methods}, which {where} does not have")
        conditional = {method: info.conditional.get(method) for method in available}
        if all(conditional.values()) and any(_lacks(sub, conditional) for sub in settings or [{}]):
            needed = " or ".join(f"{param}={value!r}" for enabling in conditional.values()
                                 for param, value in enabling or ())
            raise ConfigError(f"metrics[{i}]: {metric!r} needs {methods}, which {where} has only with {needed};"
                              f" set it in trainer_config.{name}")


def _lacks(values: Mapping[str, Sequence[Any]],
           conditional: Mapping[str, tuple[tuple[str, Any], ...] | None]) -> bool:
    """Whether some candidate of a sub-grid enables none of the methods: each parameter can take a value (its
    default, when the sub-grid does not set it) outside the values that enable a method."""
    enabling: dict[str, list[Any]] = {}
    for settings in conditional.values():
        for param, value in settings or ():
            enabling.setdefault(param, []).append(value)
    return all(param not in values or any(value not in allowed for value in values[param])
               for param, allowed in enabling.items())


def check_labels(trainers: Sequence[str], metrics: Sequence[str], labels: Mapping[str, LabelSummary],
                 source: str) -> None:
    """Refuse labels that cannot work with the config's trainers and metrics, before anything is trained.

    Parameters
    ----------
    trainers : sequence of str
        Canonical trainer names (the keys of ``training_params``).
    metrics : sequence of str
        Scorer names.
    labels : mapping
        ``{"y_train": LabelSummary, "y_val": ..., "y_test": ...}`` (from the split's arrays or files).
    source : str
        The split, for messages.

    Raises
    ------
    DataError
        Mixed label types across splits, labels a classifier cannot learn (one class, non-integer numbers) or
        text labels for a regressor.
    ConfigError
        A two-class-only metric (``f1``, ``roc_auc``...) on more than two classes.
    """
    if not labels or "y_train" not in labels:
        return
    train = labels["y_train"]
    for name, summary in labels.items():
        if summary.is_text != train.is_text:
            held = {True: "text", False: "numbers"}
            raise DataError(f"{source}: {name} holds {held[summary.is_text]} but y_train holds "
                            f"{held[train.is_text]}; the labels of every split must be of one type")
    classes: set[Any] = set()
    for summary in labels.values():
        classes |= summary.classes
    trainer_kinds = {name: trainer_info(name).kind for name in trainers}
    for trainer, kind in trainer_kinds.items():
        where = f"training_params.{trainer}"
        if kind == "classifier":
            for name, summary in labels.items():
                if summary.non_integer is not None:
                    raise DataError(f"{source}: {name} holds non-integer numbers (e.g. {summary.non_integer!r}),"
                                    f" but {where} is a classifier; use class labels (integers or text)")
            if len(train.classes) < 2:
                shown = ", ".join(repr(c) for c in sorted(train.classes, key=repr)) or "none"
                raise DataError(f"{source}: y_train has a single class ({shown}), but {where} is a classifier and"
                                " needs at least two")
        elif kind == "regressor" and train.is_text:
            raise DataError(f"{source}: y_train holds text labels, but {where} is a regressor; it needs numbers")
    if any(kind == "classifier" for kind in trainer_kinds.values()) and len(classes) > 2:
        facts = scorer_facts()
        for i, metric in enumerate(metrics):
            if facts.get(metric, {}).get("labels") == "binary":
                count = f"{len(classes)}" if len(classes) <= 1000 else "over 1000"
                raise ConfigError(f"metrics[{i}]: {metric!r} works on two classes only, and {source} has {count}"
                                  " classes; use a multiclass form (such as f1_macro, or roc_auc_ovr)")


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
