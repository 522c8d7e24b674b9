"""Search beyond the grid with scikit-learn's semantics: k-fold CV, random candidates and successive halving.

The pure parts (distribution specs, candidate counts, the halving schedule, promotion, the winner) import no
numpy, scipy or scikit-learn, so the light Lambdas can run them. The parts that need the ml stack import it when
called: :func:`sample_candidates` (scikit-learn's ``ParameterSampler`` over ``scipy.stats`` distributions),
:func:`subsample_indices` and :func:`halving_cv_splits` (rows per rung), :func:`cross_validate_candidate`
(``GridSearchCV``'s fold means and standard deviations).

Examples
--------
>>> space = parse_space({"C": {"distribution": "loguniform", "low": 1e-3, "high": 1e2}}, "training_params.SVC")
>>> [round(c["C"], 6) for c in sample_candidates(space, 2, seed=0)]
[0.554712, 3.766577]
>>> halving_schedule(9, factor=3, min_resources=10, max_resources=90, resource="n_samples", n_samples_train=90)
[Rung(rung=0, n_candidates=9, n_resources=10), Rung(rung=1, n_candidates=3, n_resources=30), \
Rung(rung=2, n_candidates=1, n_resources=90)]
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ._halving import Rung, best_candidate, check_halving_resource, halving_schedule, n_to_keep, promote
from ._search_space import (
    DISTRIBUTIONS,
    Distribution,
    SearchSpace,
    count_candidates,
    has_distributions,
    is_distribution_spec,
    parse_distribution,
    parse_space,
)
from .errors import ConfigError

__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "Rung",
    "SampledCandidates",
    "SearchSpace",
    "best_candidate",
    "check_halving_resource",
    "count_candidates",
    "cross_validate_candidate",
    "halving_cv_splits",
    "halving_schedule",
    "has_distributions",
    "is_distribution_spec",
    "n_to_keep",
    "parse_distribution",
    "parse_space",
    "promote",
    "sample_candidates",
    "subsample_indices",
]


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed: expected an integer in [0, 2**32), got {seed!r}")
    return seed


def _plain(value: Any) -> Any:
    # numpy scalars (what scipy's rvs returns) become int/float, so ids and JSON are stable.
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def sample_candidates(space: Any, n_iter: int, seed: int, location: str = "params") -> list[dict[str, Any]]:
    """Return ``list(ParameterSampler(space, n_iter, random_state=seed))`` as plain Python values.

    Parameters
    ----------
    space : mapping, sequence of mappings, or SearchSpace
        One trainer's space in config form, ``{param: [values] | {distribution, low, high}}`` or a list of such
        mappings (scikit-learn's list-of-dicts form), or the result of :func:`parse_space`.
    n_iter : int
        Candidates to draw (>= 1). When every value is a list, scikit-learn samples without replacement and
        returns ``min(n_iter, grid size)`` candidates (see :func:`count_candidates`); its warning is silenced.
    seed : int
        ``random_state`` for ``ParameterSampler``, in ``[0, 2**32)``.
    location : str, default="params"
        Where the space sits in the config, for error messages.

    Returns
    -------
    list of dict
        The candidates in scikit-learn's order, keys sorted, numpy scalars converted to ``int``/``float``.

    Raises
    ------
    ConfigError
        The space, ``n_iter`` or ``seed`` is invalid.

    Examples
    --------
    >>> sample_candidates({"a": [1, 2, 3], "b": ["x", "y"]}, 3, seed=0)
    [{'a': 3, 'b': 'y'}, {'a': 2, 'b': 'x'}, {'a': 1, 'b': 'y'}]
    >>> sample_candidates({"n": {"distribution": "randint", "low": 1, "high": 100}}, 3, seed=0)
    [{'n': 45}, {'n': 48}, {'n': 65}]
    """
    parsed = parse_space(space, location)
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ConfigError(f"search.n_iter: expected an integer >= 1, got {n_iter!r}")
    seed = _check_seed(seed)
    from sklearn.model_selection import ParameterSampler

    distributions = [
        {key: value.to_scipy() if isinstance(value, Distribution) else value for key, value in subspace.items()}
        for subspace in parsed
    ]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The total space of parameters", category=UserWarning)
        sampled = list(ParameterSampler(distributions, n_iter, random_state=seed))
    return [{key: _plain(value) for key, value in sorted(candidate.items())} for candidate in sampled]


class SampledCandidates:
    """The candidates of a random search, per trainer in config order: indexable like a grid.

    Trainer ``t``'s candidates are ``sample_candidates(space_t, n_iter, seed)``. The length is known without
    drawing (:func:`count_candidates`, pure Python: the fan-out counts, trainers draw); ``candidates[i]`` draws
    (scipy and scikit-learn) once per trainer and caches the draws. List values are deduplicated first, as in
    a grid, so an all-list space is sampled without replacement from distinct cells.

    Parameters
    ----------
    training_params : mapping
        ``{trainer: space}`` as in the config.
    n_iter : int
        Candidates drawn per trainer.
    seed : int
        ``random_state`` of every trainer's ``ParameterSampler``.

    Examples
    --------
    >>> candidates = SampledCandidates({"A": {"x": [1, 2, 3]}, "B": {"y": [1]}}, n_iter=2, seed=0)
    >>> len(candidates), candidates.sizes()
    (3, {'A': 2, 'B': 1})
    >>> list(candidates)
    [('A', {'x': 3}), ('A', {'x': 2}), ('B', {'y': 1})]
    """

    def __init__(self, training_params: Any, n_iter: int, seed: int) -> None:
        self.n_iter, self.seed = n_iter, seed
        self.notes: list[str] = []
        self._spaces = [(name, parse_space(spec, f"training_params.{name}", self.notes))
                        for name, spec in training_params.items()]
        self._sizes = [count_candidates(space, n_iter) for _, space in self._spaces]
        self._drawn: dict[int, list[dict[str, Any]]] = {}

    def __len__(self) -> int:
        return sum(self._sizes)

    def sizes(self) -> dict[str, int]:
        """Number of candidates per trainer, in config order."""
        return {name: size for (name, _), size in zip(self._spaces, self._sizes, strict=True)}

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"candidate index {index} out of range for {len(self)} candidates")
        for t, size in enumerate(self._sizes):
            if index < size:
                return t, index
            index -= size
        raise AssertionError("unreachable: index was range-checked")  # pragma: no cover

    def trainer_of(self, index: int) -> str:
        """The trainer of candidate ``index``, known without drawing (pure Python)."""
        return self._spaces[self._locate(index)[0]][0]

    def draw(self, index: int) -> int | None:
        """The candidate's draw number within its trainer when its space has distributions (two draws may then
        be equal, and are two candidates, as in scikit-learn), else ``None`` (draws are distinct cells)."""
        t, j = self._locate(index)
        return j if has_distributions(self._spaces[t][1]) else None

    def __getitem__(self, index: int) -> tuple[str, dict[str, Any]]:
        t, j = self._locate(index)
        if t not in self._drawn:
            self._drawn[t] = sample_candidates(self._spaces[t][1], self.n_iter, self.seed)
        return self._spaces[t][0], dict(self._drawn[t][j])

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for index in range(len(self)):
            yield self[index]


def subsample_indices(y: Sequence[Any] | Any, n_resources: int, seed: int, stratified: bool) -> Any:
    """Return the rows of the training split a halving rung fits on, without cross-validation.

    This is ``sklearn.utils.resample(arange(len(y)), replace=False, n_samples=n_resources, random_state=seed,
    stratify=y if stratified else None)``: without stratification, the first ``n_resources`` of one
    seeded permutation (so each rung's rows contain the previous rung's); with it, per-class counts as
    ``StratifiedShuffleSplit`` allots them. Order is kept as drawn (some estimators depend on row order).
    With ``cv``, use :func:`halving_cv_splits` instead: that is what ``HalvingGridSearchCV`` does.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Training labels (only their number is used unless ``stratified``).
    n_resources : int
        Rows to draw, ``1 <= n_resources <= len(y)``.
    seed : int
        The run's seed.
    stratified : bool
        Keep class proportions (for classifiers).

    Returns
    -------
    numpy.ndarray of int
        Row indices into the training split.

    Examples
    --------
    >>> subsample_indices([0, 1] * 5, 4, seed=0, stratified=False).tolist()
    [2, 8, 4, 9]
    >>> sorted(subsample_indices([0, 0, 0, 0, 1, 1, 1, 1], 4, seed=0, stratified=True).tolist())
    [2, 3, 4, 6]
    """
    import numpy as np
    from sklearn.utils import resample

    n_samples = len(y)
    if isinstance(n_resources, bool) or not isinstance(n_resources, int) or not 1 <= n_resources <= n_samples:
        raise ValueError(f"n_resources must be an int in [1, {n_samples}], got {n_resources!r}")
    seed = _check_seed(seed)
    return resample(
        np.arange(n_samples),
        replace=False,
        n_samples=n_resources,
        random_state=seed,
        stratify=np.asarray(y) if stratified else None,
    )


def halving_cv_splits(y: Any, n_resources: int, seed: int, cv: Any, classifier: bool) -> list[tuple[Any, Any]]:
    """Return a rung's ``(train, test)`` folds exactly as ``HalvingGridSearchCV`` builds them for ``n_samples``.

    scikit-learn does not subsample rows and then cross-validate: it splits the whole training split with
    ``check_cv(cv, y, classifier)`` and subsamples each fold's train and test indices separately with
    ``resample(idx, replace=False, n_samples=int(n_resources / len(y) * len(idx)), random_state=seed)``
    (``_SubsampleMetaSplitter``; not stratified). Pass the result as ``cv`` to :func:`cross_validate_candidate`
    to get the rung's ``mean_test_<metric>`` of ``HalvingGridSearchCV(random_state=seed)``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Training labels.
    n_resources : int
        The rung's ``n_resources``.
    seed : int
        The run's seed (``random_state`` of ``HalvingGridSearchCV``).
    cv : int or cross-validation generator
        As for :func:`cross_validate_candidate`.
    classifier : bool
        Whether the estimator is a classifier (stratified folds for class labels).

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        One ``(train, test)`` pair per fold.

    Examples
    --------
    >>> [(tr.tolist(), te.tolist()) for tr, te in halving_cv_splits([0, 1] * 4, 4, 0, 2, classifier=False)]
    [([6, 7], [2, 3]), ([2, 3], [6, 7])]
    """
    import numpy as np
    from sklearn.model_selection import check_cv
    from sklearn.utils import resample

    y = np.asarray(y)
    seed = _check_seed(seed)
    fraction = n_resources / len(y)
    splitter = check_cv(cv, y, classifier=classifier)
    folds = []
    for train, test in splitter.split(np.zeros((len(y), 1)), y):
        folds.append(
            (
                resample(train, replace=False, random_state=seed, n_samples=int(fraction * len(train))),
                resample(test, replace=False, random_state=seed, n_samples=int(fraction * len(test))),
            )
        )
    return folds


def cross_validate_candidate(
    estimator: Any, X: Any, y: Any, metrics: Iterable[str], cv: Any, *, error_score: float | str = "raise"
) -> tuple[dict[str, float], dict[str, float]]:
    """Cross-validate one configured estimator; return each metric's fold mean and standard deviation.

    Folds are ``check_cv(cv, y, classifier=is_classifier(estimator))`` (``StratifiedKFold`` for classifiers on
    class labels, else ``KFold``; no shuffling); every metric is scored on every fold with the multimetric
    scorer ``GridSearchCV`` uses (``check_scoring(estimator, scoring=list(metrics))``, via
    ``sklearn.model_selection.cross_validate``); means and population standard deviations are aggregated with
    ``GridSearchCV``'s own expressions, so they equal its ``mean_test_<metric>`` and ``std_test_<metric>``
    bit for bit.

    Parameters
    ----------
    estimator : estimator
        An unfitted scikit-learn estimator with the candidate's parameters set (it is cloned per fold).
    X : array-like of shape (n_samples, n_features)
        Training features.
    y : array-like of shape (n_samples,)
        Training labels.
    metrics : iterable of str
        scikit-learn scorer names.
    cv : int, cross-validation generator or iterable of (train, test)
        ``K`` for K folds, or e.g. :func:`halving_cv_splits` for a halving rung.
    error_score : float or "raise", default="raise"
        As in scikit-learn; ``"raise"`` lets a failing fit fail the experiment.

    Returns
    -------
    means, stds : dict of str to float
        Keyed by metric, in the order given.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> means, stds = cross_validate_candidate(DecisionTreeClassifier(max_depth=2, random_state=0), X, y,
    ...                                        ["accuracy", "f1_macro"], cv=3)
    >>> round(means["accuracy"], 4), round(stds["accuracy"], 4)
    (0.9333, 0.0189)
    """
    import numpy as np
    from sklearn.base import is_classifier
    from sklearn.model_selection import check_cv, cross_validate

    names = list(metrics)
    if not names:
        raise ValueError("metrics must name at least one scorer")
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    result = cross_validate(estimator, X, y, scoring=names, cv=splitter, error_score=error_score)
    means: dict[str, float] = {}
    stds: dict[str, float] = {}
    for name in names:
        # BaseSearchCV._format_results._store, for one candidate (one row).
        array = np.array(result[f"test_{name}"], dtype=np.float64).reshape(1, -1)
        array_means = np.average(array, axis=1)
        array_stds = np.sqrt(np.average((array - array_means[:, np.newaxis]) ** 2, axis=1))
        means[name] = float(array_means[0])
        stds[name] = float(array_stds[0])
    return means, stds
