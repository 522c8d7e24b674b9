"""Experiment execution, shared by every tuner and by the planner: the fully determined spec of a candidate
(:func:`build_spec`), one fit scored under the thread limit (:func:`train`), and the fit a worker process runs
(:func:`fit_candidate`), which writes nothing.
"""

from __future__ import annotations

import pickle
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._threads import pinned_threads
from ._workers import FitOutcome
from .config import TuningConfig
from .data import SplitData
from .errors import TunerError
from .metrics import score_estimator
from .records import ExperimentSpec, content_id, utcnow
from .search import Rung, cross_validate_candidate, halving_cv_splits, subsample_indices
from .trainers import get_trainer_class, trainer_info

__all__ = ["build_spec", "derive_random_state", "fit_candidate", "train"]


def derive_random_state(seed: int, algo: str, params: Mapping[str, Any], trainer_config: Mapping[str, Any]) -> int:
    """A ``random_state`` that depends only on the candidate and the seed, never on workers or order.

    Examples
    --------
    >>> derive_random_state(0, "SVC", {"C": 1}, {}) == derive_random_state(0, "SVC", {"C": 1}, {})
    True
    """
    return int(content_id("random_state", seed, algo, dict(params), dict(trainer_config)), 16) % (2**31 - 1)


def build_spec(config: TuningConfig, index: int, algo: str, params: dict[str, Any],
               data_fingerprint: str, *, draw: int | None = None, rung: Rung | None = None,
               candidate: int | None = None) -> ExperimentSpec:
    """The fully determined experiment for one candidate of ``config``: derived ``random_state`` and content id.

    Parameters
    ----------
    index : int
        The experiment's position: its grid index, or with halving its position in its rung.
    draw : int, optional
        Random search over distributions: the candidate's draw number in its trainer (equal draws stay two
        experiments, as in scikit-learn).
    rung : Rung, optional
        Successive halving: the rung this experiment runs in (its resources are part of what it measures).
    candidate : int, optional
        Successive halving: the candidate's index in ``config.grid()``.
    """
    trainer_config = config.trainer_config.get(algo, {})
    if (
        trainer_info(algo).takes_random_state
        and "random_state" not in params
        and "random_state" not in trainer_config
    ):
        params = {**params, "random_state": derive_random_state(config.seed, algo, params, trainer_config)}
    # With cv the experiment measures something else (fold means): it gets its own id, so a run with cv never
    # reuses an experiment scored without it (or with other folds), and vice versa. Without cv the id is unchanged.
    identity: tuple[Any, ...] = (algo, params, trainer_config, data_fingerprint)
    if config.cv is not None:
        identity = (*identity, {"cv": config.cv})
    if draw is not None:
        identity = (*identity, {"draw": draw})
    if rung is not None:
        # rows are drawn with the seed (n_samples), and the rung number keeps two rungs with equal resources apart
        identity = (*identity, {"rung": rung.rung, "resource": config.search.resource,
                                "n_resources": rung.n_resources, "seed": config.seed})
    experiment_id = content_id(*identity)
    return ExperimentSpec(experiment_id=experiment_id, index=index, algo=algo, params=params,
                          trainer_config=trainer_config, data_fingerprint=data_fingerprint,
                          rung=None if rung is None else rung.rung,
                          n_resources=None if rung is None else rung.n_resources, candidate=candidate)


def train(config: TuningConfig, data: SplitData, algo: str, params: dict[str, Any],
          trainer_config: dict[str, Any], n_resources: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Build, fit and score one estimator under the config's thread limit.

    Returns the fitted estimator and its ``scores`` (every metric on every scored split), ``fit_time``,
    ``score_time`` and ``warnings`` (the first five distinct messages).

    With ``config.cv``, the candidate is first cross-validated on the training split
    (:func:`~hyperparameter_tuner.search.cross_validate_candidate`): ``scores["cv"]`` holds each metric's fold
    mean and ``scores["cv_std"]`` its standard deviation, as ``GridSearchCV``'s ``mean_test_``/``std_test_``;
    ``fit_time`` then includes the folds (their fits and scoring). The returned model is fit on the whole
    training split, as without ``cv``.

    With successive halving (``n_resources`` given), the rung's resources apply: a parameter resource is set to
    ``n_resources``; with ``n_samples`` the model is fit on ``n_resources`` rows of the training split
    (:func:`~hyperparameter_tuner.search.subsample_indices`, stratified for classifiers) and, with ``cv``, the
    folds are ``HalvingGridSearchCV``'s subsampled ones (:func:`~hyperparameter_tuner.search.halving_cv_splits`).
    Validation and test stay whole.
    """
    resource = config.search.resource
    if n_resources is not None and resource != "n_samples":
        params = {**params, resource: n_resources}
    estimator = get_trainer_class(algo)(**trainer_config, **params)
    X_train, y_train = data.X_train, data.y_train
    folds: Any = config.cv
    if n_resources is not None and resource == "n_samples":
        classifier = trainer_info(algo).kind == "classifier"
        if config.cv is not None:
            folds = halving_cv_splits(y_train, n_resources, config.seed, config.cv, classifier)
        rows = subsample_indices(y_train, n_resources, config.seed, stratified=classifier)
        X_train, y_train = _take(X_train, rows), _take(y_train, rows)
    scores: dict[str, dict[str, float]] = {}
    # Warnings (ConvergenceWarning, ...) belong to the experiment's record, not to the user's terminal.
    # One thread budget on every path (serial, pool, Lambda, emulator): scores never depend on where they ran.
    with warnings.catch_warnings(record=True) as caught, pinned_threads(config.threads):
        warnings.simplefilter("always")
        tick = time.perf_counter()
        if config.cv is not None:
            config.check_folds(data.y_train, data.source)
            scores["cv"], scores["cv_std"] = cross_validate_candidate(
                estimator, data.X_train, data.y_train, config.metrics, folds)
        estimator.fit(X_train, y_train)
        fit_time = time.perf_counter() - tick
        tick = time.perf_counter()
        for split, X, y in data.scoring_splits(include_test=config.score_test):
            scores[split] = score_estimator(estimator, X, y, config.metrics)
        score_time = time.perf_counter() - tick
    messages = list(dict.fromkeys(f"{w.category.__name__}: {_one_line(w.message)}" for w in caught))[:5]
    return estimator, {"scores": scores, "fit_time": fit_time, "score_time": score_time, "warnings": messages}


def fit_candidate(config: TuningConfig, data: SplitData, spec: ExperimentSpec) -> FitOutcome:
    """Fit, score and pickle one experiment without writing anything; a failure is an ``"error"`` outcome."""
    started = utcnow()
    try:
        estimator, trained = train(config, data, spec.algo, spec.params, spec.trainer_config, spec.n_resources)
        # A plain pickle (protocol 5) is what joblib.dump would write minus its wrapper, in a fraction of the
        # time; joblib.load reads it, so models stay loadable with the tool scikit-learn documents.
        payload = pickle.dumps(estimator, protocol=5)
    except Exception as exc:  # noqa: BLE001 - any error of a user's fit is recorded, like error_score
        error = _one_line(exc) + ("" if isinstance(exc, TunerError) else _origin(exc))
        return FitOutcome("error", started, error_type=type(exc).__name__, error=error)
    return FitOutcome("ok", started, model=payload, **trained)


def _take(array: Any, rows: Any) -> Any:
    return array.iloc[rows] if hasattr(array, "iloc") else array[rows]


def _one_line(exc: BaseException | Warning | str) -> str:
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


def _origin(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {Path(last.filename).name}:{last.lineno})"
