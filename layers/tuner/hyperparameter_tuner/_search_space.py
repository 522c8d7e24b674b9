"""Search spaces with distributions: parsing and validation of ``training_params`` values (pure Python).

A value in a trainer's ``training_params`` is either a list of values (categorical, as in a grid) or a
distribution spec ``{distribution: loguniform|uniform|randint, low, high}``. This module validates both and
turns them into a normalised :data:`SearchSpace`. It imports no numpy, scipy or scikit-learn (the fan-out and
reducer Lambdas validate configs without them); :meth:`Distribution.to_scipy` imports scipy when called.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .errors import ConfigError
from .grid import check_values

__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "SearchSpace",
    "count_candidates",
    "has_distributions",
    "is_distribution_spec",
    "parse_distribution",
    "parse_space",
]

DistributionName: TypeAlias = Literal["loguniform", "uniform", "randint"]

#: The distribution names a spec may use, in the order error messages list them.
DISTRIBUTIONS: tuple[DistributionName, ...] = ("loguniform", "uniform", "randint")

_SPEC_KEYS = ("distribution", "low", "high")

#: One subspace maps a parameter name to a non-empty list of values or a :class:`Distribution`.
SubSpace: TypeAlias = dict[str, "list[Any] | Distribution"]
#: A normalised search space: scikit-learn's list-of-dicts form (a single mapping becomes a list of one).
SearchSpace: TypeAlias = list[SubSpace]


def _describe(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type(value).__name__} {shown}"


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    listed = ", ".join(choices)
    return f"; did you mean {close[0]!r}? (one of: {listed})" if close else f" (one of: {listed})"


@dataclass(frozen=True)
class Distribution:
    """A validated distribution spec: ``{distribution: name, low, high}``.

    Parameters
    ----------
    name : {"loguniform", "uniform", "randint"}
        The distribution.
    low, high : int or float
        Bounds with ``low < high``: ``0 < low`` for ``loguniform``; integers for ``randint``, whose ``high`` is
        exclusive.

    Notes
    -----
    Build instances with :func:`parse_distribution`, which validates; the constructor does not.

    Examples
    --------
    >>> d = parse_distribution({"distribution": "uniform", "low": 0.5, "high": 2.0}, "training_params.SVC.C")
    >>> d
    Distribution(name='uniform', low=0.5, high=2.0)
    >>> d.to_dict()
    {'distribution': 'uniform', 'low': 0.5, 'high': 2.0}
    """

    name: DistributionName
    low: int | float
    high: int | float

    def to_dict(self) -> dict[str, Any]:
        """Return the spec in config form (JSON-able), the inverse of :func:`parse_distribution`."""
        return {"distribution": self.name, "low": self.low, "high": self.high}

    def to_scipy(self) -> Any:
        """Return the frozen ``scipy.stats`` distribution (imports scipy).

        ``loguniform`` is ``scipy.stats.loguniform(low, high)``, ``uniform`` is
        ``scipy.stats.uniform(loc=low, scale=high - low)`` and ``randint`` is ``scipy.stats.randint(low, high)``.

        Examples
        --------
        >>> Distribution("randint", 1, 10).to_scipy().support()
        (np.int64(1), np.int64(9))
        """
        from scipy import stats

        if self.name == "loguniform":
            return stats.loguniform(self.low, self.high)
        if self.name == "uniform":
            return stats.uniform(loc=self.low, scale=self.high - self.low)
        return stats.randint(self.low, self.high)


def is_distribution_spec(value: Any) -> bool:
    """Tell whether a ``training_params`` value is meant as a distribution spec (any mapping is).

    Examples
    --------
    >>> is_distribution_spec({"distribution": "uniform", "low": 0, "high": 1}), is_distribution_spec([1, 2])
    (True, False)
    """
    return isinstance(value, Mapping)


def _number(spec: Mapping[str, Any], key: str, location: str) -> int | float:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                pass
            else:
                hint = " (YAML reads exponents without a dot, like 1e-3, as text: write 1.0e-3)"
        raise ConfigError(f"{location}.{key}: expected a number, got {_describe(value)}{hint}")
    if not math.isfinite(value):
        raise ConfigError(f"{location}.{key}: expected a finite number, got {value!r}")
    return value


def parse_distribution(spec: Mapping[str, Any], location: str) -> Distribution:
    """Validate a distribution spec and return it as a :class:`Distribution`.

    Parameters
    ----------
    spec : mapping
        ``{"distribution": "loguniform" | "uniform" | "randint", "low": number, "high": number}``.
    location : str
        Where the spec sits in the config (e.g. ``"training_params.SVC.C"``), used in error messages.

    Returns
    -------
    Distribution
        The validated spec.

    Raises
    ------
    ConfigError
        With a one-line message naming ``location``: unknown or missing keys, an unknown distribution name
        (with a suggestion), non-numeric or non-finite bounds, ``low >= high``, ``low <= 0`` for ``loguniform``,
        non-integer bounds for ``randint``.

    Examples
    --------
    >>> parse_distribution({"distribution": "loguniform", "low": 1e-3, "high": 1e2}, "training_params.SVC.C")
    Distribution(name='loguniform', low=0.001, high=100.0)
    >>> parse_distribution({"distribution": "logunifrom", "low": 1, "high": 2}, "training_params.SVC.C")
    Traceback (most recent call last):
    ...
    hyperparameter_tuner.errors.ConfigError: training_params.SVC.C: unknown distribution 'logunifrom'; did you \
mean 'loguniform'? (one of: loguniform, uniform, randint)
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{location}: expected a distribution spec (a mapping), got {_describe(spec)}")
    for key in spec:
        if key not in _SPEC_KEYS:
            raise ConfigError(f"{location}: unknown key {key!r} in a distribution spec{_suggest(str(key), _SPEC_KEYS)}")
    missing = [key for key in _SPEC_KEYS if key not in spec]
    if missing:
        keys = " and ".join(repr(key) for key in missing)
        raise ConfigError(f"{location}: a distribution spec needs {keys} (keys: distribution, low, high)")
    name = spec["distribution"]
    if not isinstance(name, str):
        raise ConfigError(f"{location}.distribution: expected a name, got {_describe(name)}")
    if name not in DISTRIBUTIONS:
        raise ConfigError(f"{location}: unknown distribution {name!r}{_suggest(name, DISTRIBUTIONS)}")
    low, high = _number(spec, "low", location), _number(spec, "high", location)
    if name == "randint":
        for key, value in (("low", low), ("high", high)):
            if not isinstance(value, int):
                raise ConfigError(f"{location}.{key}: randint needs integer bounds, got {_describe(value)}")
    if not low < high:
        raise ConfigError(f"{location}: {name} needs low < high, got low={low!r} and high={high!r}")
    if name == "loguniform" and low <= 0:
        raise ConfigError(f"{location}: loguniform needs 0 < low < high, got low={low!r}")
    return Distribution(name, low, high)


def _parse_subspace(subspace: Any, location: str, notes: list[str]) -> SubSpace:
    if not isinstance(subspace, Mapping):
        raise ConfigError(
            f"{location}: expected a mapping of parameter -> list of values or distribution, "
            f"got {_describe(subspace)}"
        )
    parsed: SubSpace = {}
    for key, value in subspace.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{location}: parameter names must be non-empty strings, got {key!r}")
        where = f"{location}.{key}"
        if is_distribution_spec(value):
            parsed[key] = parse_distribution(value, where)
        elif isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise ConfigError(
                f"{where}: expected a list of values or a distribution spec, got {_describe(value)}"
                f" (write [{value!r}] for a single value)"
            )
        else:
            parsed[key] = check_values(value, where, notes)  # as a grid's: JSON values, repeats tried once
    return parsed


def parse_space(space: Any, location: str = "params", notes: list[str] | None = None) -> SearchSpace:
    """Validate one trainer's search space and return it in normalised list-of-dicts form.

    Parameters
    ----------
    space : mapping or sequence of mappings
        ``{param: [values] | distribution spec}``, or a list of such mappings (scikit-learn's list-of-dicts
        form). Already-parsed :class:`Distribution` values are accepted as they are.
    location : str, default="params"
        Where the space sits in the config (e.g. ``"training_params.SVC"``), used in error messages;
        subspaces of a list are named ``location[i]``.
    notes : list of str, optional
        Receives one line per value listed twice (lists are checked and deduplicated as a grid's are).

    Returns
    -------
    SearchSpace
        A list of dicts mapping each parameter to a list of distinct values or a :class:`Distribution`.

    Raises
    ------
    ConfigError
        With a one-line message naming the parameter's location.

    Examples
    --------
    >>> parse_space({"C": {"distribution": "loguniform", "low": 0.01, "high": 10}, "kernel": ["rbf"]}, "x.SVC")
    [{'C': Distribution(name='loguniform', low=0.01, high=10), 'kernel': ['rbf']}]
    >>> parse_space([{"C": [1]}, {}], "training_params.SVC")
    [{'C': [1]}, {}]
    >>> parse_space({"C": 1.0}, "training_params.SVC")
    Traceback (most recent call last):
    ...
    hyperparameter_tuner.errors.ConfigError: training_params.SVC.C: expected a list of values or a distribution \
spec, got float 1.0 (write [1.0] for a single value)
    """
    notes = [] if notes is None else notes
    if isinstance(space, Mapping):
        return [_parse_subspace(_unparse(space), location, notes)]
    if isinstance(space, Sequence) and not isinstance(space, str | bytes):
        if len(space) == 0:
            raise ConfigError(f"{location}: the list of parameter spaces is empty")
        return [_parse_subspace(_unparse(sub), f"{location}[{i}]", notes) for i, sub in enumerate(space)]
    raise ConfigError(f"{location}: expected a mapping or a list of mappings, got {_describe(space)}")


def _unparse(subspace: Any) -> Any:
    # Accept already-parsed spaces: a Distribution goes back to config form and is validated again.
    if not isinstance(subspace, Mapping):
        return subspace
    return {key: value.to_dict() if isinstance(value, Distribution) else value for key, value in subspace.items()}


def has_distributions(space: SearchSpace) -> bool:
    """Tell whether a parsed space has any distribution (``strategy: grid`` allows none).

    Examples
    --------
    >>> has_distributions(parse_space({"C": [1, 2]})), has_distributions(parse_space({"C": {
    ...     "distribution": "uniform", "low": 0, "high": 1}}))
    (False, True)
    """
    return any(isinstance(value, Distribution) for subspace in space for value in subspace.values())


def count_candidates(space: SearchSpace, n_iter: int) -> int:
    """Return how many candidates :func:`~hyperparameter_tuner.search.sample_candidates` yields, without sampling.

    This is ``len(ParameterSampler(space, n_iter))``: ``min(n_iter, grid size)`` when every value is a list
    (sampling without replacement), else ``n_iter``. Pure Python, for planning and for the fan-out.

    Examples
    --------
    >>> count_candidates(parse_space({"a": [1, 2], "b": [1, 2, 3]}), 10)
    6
    >>> count_candidates(parse_space({"a": [1, 2], "b": {"distribution": "randint", "low": 0, "high": 3}}), 10)
    10
    """
    if has_distributions(space):
        return n_iter
    size = sum(math.prod(len(values) for values in subspace.values() if isinstance(values, list)) for subspace in space)
    return min(n_iter, size)
