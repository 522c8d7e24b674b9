"""Successive halving, scikit-learn's way: the rung schedule, promotion and the winner (pure Python).

These functions reproduce ``HalvingGridSearchCV`` (``sklearn/model_selection/_search_successive_halving.py``)
with ``aggressive_elimination=False``: the same ``n_candidates_``, ``n_resources_`` and ``n_iterations_``
(:func:`halving_schedule`), the same candidates kept after each rung (:func:`promote`, as ``_top_k``) and the
same winner of the last rung (:func:`best_candidate`, as ``_select_best_index``). They import nothing heavy, so
the fan-out and promote steps run them without numpy; ``promote(..., ties="numpy")`` imports numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, Literal, NamedTuple

from .errors import ConfigError

__all__ = ["Rung", "best_candidate", "check_halving_resource", "halving_schedule", "n_to_keep", "promote"]

Scores = Mapping[str, float | None] | Sequence[tuple[str, float | None]]


class Rung(NamedTuple):
    """One iteration of successive halving: ``(rung, n_candidates, n_resources)``.

    ``rung._asdict()`` is the run's JSON ``rungs`` entry.
    """

    rung: int
    n_candidates: int
    n_resources: int


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def halving_schedule(
    n_candidates: int,
    *,
    factor: float = 3,
    min_resources: int | Literal["exhaust", "smallest"] = "exhaust",
    max_resources: int | Literal["auto"] = "auto",
    resource: str = "n_samples",
    n_samples_train: int | None = None,
    n_classes: int | None = None,
    cv: int | None = 5,
    is_classifier: bool = False,
    location: str = "search",
) -> list[Rung]:
    """Return the rungs ``HalvingGridSearchCV`` would run: its ``n_candidates_`` and ``n_resources_``.

    Parameters
    ----------
    n_candidates : int
        Candidates in the first rung (the grid size, or the sampled ``n_iter`` candidates).
    factor : float, default=3
        Proportion of candidates kept per rung is ``1 / factor``; resources grow by ``factor``. Must be > 1.
    min_resources : int or {"exhaust", "smallest"}, default="exhaust"
        Resources of the first rung. ``"smallest"`` is ``2 * cv`` (times ``n_classes`` for a classifier) when
        ``resource == "n_samples"``, else 1. ``"exhaust"`` starts from that and raises it to
        ``max_resources // factor ** (n_required_iterations - 1)`` so the last rung uses as much as possible.
    max_resources : int or "auto", default="auto"
        Cap on resources; ``"auto"`` means ``n_samples_train`` and needs ``resource == "n_samples"``.
    resource : str, default="n_samples"
        ``"n_samples"`` (rows of the training split) or the name of an estimator parameter (e.g.
        ``"n_estimators"``) set to each rung's ``n_resources``.
    n_samples_train : int, optional
        Rows of the training split; required when ``resource == "n_samples"``.
    n_classes : int, optional
        Distinct labels in ``y_train``; required for a classifier with ``"smallest"`` or ``"exhaust"``.
    cv : int or None, default=5
        Number of CV splits; ``None`` means one holdout split (our extension: counts as one split).
    is_classifier : bool, default=False
        Whether the estimator is a classifier (``sklearn.base.is_classifier``).
    location : str, default="search"
        Config location named in error messages.

    Returns
    -------
    list of Rung
        ``(rung, n_candidates, n_resources)`` per iteration; its length is ``n_iterations_``.

    Raises
    ------
    ConfigError
        Where ``HalvingGridSearchCV`` raises ``ValueError`` for these settings: ``min_resources_`` greater than
        ``max_resources_``; ``max_resources="auto"`` with a parameter as the resource; with ``n_samples``, more
        folds than rows, or a rung whose subsample of some train or test fold,
        ``int(n_resources / n_samples_train * len(fold))`` rows, is empty or larger than the fold (scikit-learn's
        ``resample`` rejects both); and for invalid values (``factor <= 1`` included, which scikit-learn accepts
        but cannot run). Fold lengths are those of ``KFold``/``StratifiedKFold`` without shuffling.

    Notes
    -----
    ``n_iterations = min(1 + floor(log(max_resources_ // min_resources_, factor)),
    1 + floor(log(n_candidates, factor)))``, computed with ``math.log`` exactly as scikit-learn does, so float
    rounding is reproduced too: ``math.log(243, 3) == 4.999...``, so 243 candidates with ``factor=3`` take five
    rungs (the last with 3 candidates), not six. Rung ``i`` has ``ceil(n_{i-1} / factor)`` candidates and
    ``min(int(factor ** i * min_resources_), max_resources_)`` resources.

    Examples
    --------
    >>> halving_schedule(10, factor=3, n_samples_train=100, n_classes=2, cv=5, is_classifier=True)
    [Rung(rung=0, n_candidates=10, n_resources=20), Rung(rung=1, n_candidates=4, n_resources=60)]
    >>> halving_schedule(8, factor=2, min_resources=1, max_resources=8, resource="n_estimators")
    [Rung(rung=0, n_candidates=8, n_resources=1), Rung(rung=1, n_candidates=4, n_resources=2), \
Rung(rung=2, n_candidates=2, n_resources=4), Rung(rung=3, n_candidates=1, n_resources=8)]
    """
    if not _is_int(n_candidates) or n_candidates < 1:
        raise ConfigError(f"{location}: halving needs at least one candidate, got {n_candidates!r}")
    if isinstance(factor, bool) or not isinstance(factor, Real) or not math.isfinite(factor) or factor <= 1:
        raise ConfigError(f"{location}.factor: expected a number > 1, got {factor!r}")
    if not isinstance(resource, str) or not resource:
        raise ConfigError(f"{location}.resource: expected 'n_samples' or a parameter name, got {resource!r}")
    if not (_is_int(min_resources) and min_resources > 0) and min_resources not in ("exhaust", "smallest"):
        raise ConfigError(
            f"{location}.min_resources: expected an integer > 0, 'exhaust' or 'smallest', got {min_resources!r}"
        )
    if not (_is_int(max_resources) and max_resources > 0) and max_resources != "auto":
        raise ConfigError(f"{location}.max_resources: expected an integer > 0 or 'auto', got {max_resources!r}")
    if cv is not None and (not _is_int(cv) or cv < 1):
        raise ConfigError(f"{location}: cv must be an integer >= 1 or None, got {cv!r}")
    by_samples = resource == "n_samples"
    if by_samples and (not _is_int(n_samples_train) or n_samples_train is None or n_samples_train < 0):
        raise ValueError(f"n_samples_train must be an int >= 0 with resource='n_samples', got {n_samples_train!r}")

    # BaseSuccessiveHalving._check_input_parameters
    min_resources_: float
    if min_resources in ("smallest", "exhaust"):
        if by_samples:
            min_resources_ = (1 if cv is None else cv) * 2
            if is_classifier:
                if not _is_int(n_classes) or n_classes is None or n_classes < 1:
                    raise ValueError(f"n_classes must be a positive int for a classifier, got {n_classes!r}")
                min_resources_ *= n_classes
        else:
            min_resources_ = 1
    else:
        min_resources_ = int(min_resources)
    if max_resources == "auto":
        if not by_samples:
            raise ConfigError(
                f"{location}.max_resources: 'auto' needs resource 'n_samples'; give an integer for "
                f"resource {resource!r}"
            )
        assert n_samples_train is not None
        max_resources_ = n_samples_train
    else:
        max_resources_ = int(max_resources)
    if min_resources_ > max_resources_:
        raise ConfigError(
            f"{location}: min_resources_={min_resources_} is greater than max_resources_={max_resources_}"
            + (f" (min_resources={min_resources!r})" if isinstance(min_resources, str) else "")
        )
    if min_resources_ == 0:
        raise ConfigError(f"{location}: min_resources_=0: the training split is empty")

    # BaseSuccessiveHalving._run_search
    n_required_iterations = 1 + math.floor(math.log(n_candidates, factor))
    if min_resources == "exhaust":
        last_iteration = n_required_iterations - 1
        min_resources_ = max(min_resources_, max_resources_ // factor**last_iteration)
    n_possible_iterations = 1 + math.floor(math.log(max_resources_ // min_resources_, factor))
    n_iterations = min(n_possible_iterations, n_required_iterations)

    rungs: list[Rung] = []
    remaining = n_candidates
    for itr in range(n_iterations):
        n_resources = min(int(factor**itr * min_resources_), max_resources_)
        rungs.append(Rung(itr, remaining, n_resources))
        remaining = n_to_keep(remaining, factor)
    if by_samples:
        assert n_samples_train is not None
        _check_subsamples(rungs, n_samples_train, cv, location)
    return rungs


def _fold_lengths(n_samples: int, cv: int) -> set[int]:
    # KFold and StratifiedKFold (no shuffling) both give the first n % cv test folds one extra row.
    small, extra = divmod(n_samples, cv)
    tests = {small + 1, small} if extra else {small}
    return tests | {n_samples - length for length in tests}


def _check_subsamples(rungs: list[Rung], n_samples: int, cv: int | None, location: str) -> None:
    # _SubsampleMetaSplitter draws int(n_resources / n_samples * len(fold)) rows of every train and test fold;
    # scikit-learn's resample() rejects 0 rows and more rows than the fold has.
    if cv is not None and cv > n_samples:
        raise ConfigError(f"{location}: cannot have cv={cv} folds with {n_samples} training samples")
    lengths = {n_samples} if cv is None else _fold_lengths(n_samples, cv)
    for rung in rungs:
        fraction = rung.n_resources / n_samples
        for length in sorted(lengths):
            # without CV (one holdout split) a rung draws exactly n_resources rows (subsample_indices)
            drawn = rung.n_resources if cv is None else int(fraction * length)
            if drawn > length:
                raise ConfigError(
                    f"{location}: rung {rung.rung} needs {rung.n_resources} samples but the training split has "
                    f"{n_samples} (lower max_resources)"
                )
            if drawn < 1:
                raise ConfigError(
                    f"{location}: rung {rung.rung} with {rung.n_resources} samples leaves a fold of {length} rows "
                    f"with none (raise min_resources)"
                )


def check_halving_resource(resource: str, searched: Iterable[str], accepted: Iterable[str] | None = None) -> None:
    """Raise where ``HalvingGridSearchCV`` rejects a parameter as the resource.

    Parameters
    ----------
    resource : str
        ``"n_samples"`` or a parameter name.
    searched : iterable of str
        Parameter names searched for this trainer (every subspace's keys).
    accepted : iterable of str, optional
        The trainer's parameters (``estimator.get_params()``); not checked when omitted.

    Raises
    ------
    ConfigError
        The resource is a searched parameter, or the trainer does not accept it.

    Examples
    --------
    >>> check_halving_resource("n_estimators", ["max_depth"], ["max_depth", "n_estimators"])
    >>> check_halving_resource("n_estimators", ["n_estimators"])
    Traceback (most recent call last):
    ...
    hyperparameter_tuner.errors.ConfigError: search.resource: cannot use parameter 'n_estimators' as the resource \
since it is part of the searched parameters
    """
    if resource == "n_samples":
        return
    if resource in set(searched):
        raise ConfigError(
            f"search.resource: cannot use parameter {resource!r} as the resource since it is part of the searched "
            "parameters"
        )
    if accepted is not None and resource not in set(accepted):
        raise ConfigError(f"search.resource: the trainer does not accept parameter {resource!r}")


def n_to_keep(n_candidates: int, factor: float) -> int:
    """Return how many candidates a rung promotes: ``ceil(n_candidates / factor)``.

    Examples
    --------
    >>> n_to_keep(10, 3), n_to_keep(9, 3), n_to_keep(1, 3)
    (4, 3, 1)
    """
    return math.ceil(n_candidates / factor)


def _pairs(scores: Scores, maximize: bool) -> list[tuple[str, float]]:
    items = list(scores.items()) if isinstance(scores, Mapping) else list(scores)
    pairs = []
    for key, score in items:
        value = math.nan if score is None else float(score)
        pairs.append((key, value if maximize or math.isnan(value) else -value))
    return pairs


def promote(
    scores: Scores, n_keep: int, *, maximize: bool = True, ties: Literal["stable", "numpy"] = "stable"
) -> list[str]:
    """Return the ids of the ``n_keep`` best candidates of a rung, in scikit-learn's order (best last).

    This is ``_top_k`` of ``HalvingGridSearchCV``: candidates sorted by score ascending, NaN (a failed
    candidate) before every number, and the last ``n_keep`` kept. The returned order is the next rung's candidate
    order, which matters for its ties and for :func:`best_candidate`.

    Parameters
    ----------
    scores : mapping of str to float or None, or sequence of (str, float or None)
        Each candidate's selection score (CV mean or validation score), in the rung's candidate order.
        ``None`` or NaN marks a failed candidate.
    n_keep : int
        How many to keep, normally :func:`n_to_keep` of the rung size.
    maximize : bool, default=True
        ``False`` for a metric where lower is better (scores are negated, as scikit-learn's ``neg_*`` scorers).
    ties : {"stable", "numpy"}, default="stable"
        How equal scores are ordered. ``"numpy"`` calls ``numpy.argsort`` exactly as ``_top_k`` does, so it
        equals scikit-learn on the same machine, ties included: use it wherever numpy is available and parity with
        ``HalvingGridSearchCV`` matters. ``"stable"`` (pure Python, for the light Lambdas): ties keep their rung
        order, so of tied candidates at the cut the later ones are kept.

    Notes
    -----
    Ties are common (accuracy on a small rung's folds) and scikit-learn breaks them with numpy's default
    (unstable) ``argsort``, whose tie order depends on the CPU: with numpy 2.4 on an AVX-512 machine the
    SIMD sort (X86_V3/X86_V4 dispatch) orders ties differently from the baseline sort
    (``NPY_DISABLE_CPU_FEATURES="AVX512_ICL X86_V4 X86_V3"``). So ``HalvingGridSearchCV`` itself can keep
    different candidates, and name a different winner, on different CPUs; ``"stable"`` is the portable rule.

    Returns
    -------
    list of str
        ``min(n_keep, len(scores))`` ids, worst kept first, best last.

    Examples
    --------
    >>> promote({"a": 0.5, "b": 0.9, "c": float("nan"), "d": 0.7}, 2)
    ['d', 'b']
    >>> promote({"a": 0.8, "b": 0.8, "c": 0.1}, 1)
    ['b']
    >>> promote([("a", 3.0), ("b", 1.0), ("c", None)], 2, maximize=False)
    ['a', 'b']
    """
    if not _is_int(n_keep) or n_keep < 1:
        raise ValueError(f"n_keep must be a positive int, got {n_keep!r}")
    pairs = _pairs(scores, maximize)
    values = [value for _, value in pairs]
    n_nan = sum(math.isnan(value) for value in values)
    if ties == "numpy":
        import numpy as np

        order = [int(i) for i in np.roll(np.argsort(np.asarray(values, dtype=np.float64)), n_nan)]
    elif ties == "stable":
        finite = sorted((i for i, value in enumerate(values) if not math.isnan(value)), key=values.__getitem__)
        order = [i for i, value in enumerate(values) if math.isnan(value)] + finite
    else:
        raise ValueError(f"ties must be 'stable' or 'numpy', got {ties!r}")
    return [pairs[i][0] for i in order[-n_keep:]]


def best_candidate(scores: Scores, *, maximize: bool = True) -> str:
    """Return the id of the winner of the last rung, as ``HalvingGridSearchCV._select_best_index``.

    The first candidate (in the rung's order, see :func:`promote`) with the best score wins. Like ``np.nanargmax``,
    a NaN counts as the worst possible score (so it ties with -inf and the earlier one wins); if every score is NaN
    the first candidate wins.

    Examples
    --------
    >>> best_candidate({"a": 0.9, "b": 0.9, "c": float("nan")})
    'a'
    >>> best_candidate({"a": None, "b": None})
    'a'
    """
    pairs = _pairs(scores, maximize)
    if not pairs:
        raise ValueError("best_candidate needs at least one candidate")
    ranked = [(key, -math.inf if math.isnan(value) else value) for key, value in pairs]
    best_key, best = ranked[0]
    for key, value in ranked[1:]:
        if value > best:
            best_key, best = key, value
    return best_key
