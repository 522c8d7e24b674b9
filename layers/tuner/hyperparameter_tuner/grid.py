"""The search space: an indexable grid of (trainer, parameters) candidates.

Like scikit-learn's ``ParameterGrid``, a grid has ``len()`` and ``grid[i]``, decoded with ``divmod``, so any
candidate can be rebuilt from an integer. A manifest can then carry index ranges instead of parameters.
This module imports nothing heavy: the fan-out Lambda expands grids without numpy or scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .errors import ConfigError

__all__ = ["ParamGrid", "TrainingGrid", "expand_grid"]

ParamSpec = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]]


def _check_subgrid(subgrid: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(subgrid, Mapping):
        raise ConfigError(f"{where}: expected a mapping of parameter -> list of values, got {type(subgrid).__name__}")
    checked: dict[str, list[Any]] = {}
    for key, values in subgrid.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: parameter names must be non-empty strings, got {key!r}")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise ConfigError(
                f"{where}.{key}: expected a list of values, got {type(values).__name__} {values!r}"
                f" (write [{values!r}] for a single value)"
            )
        if len(values) == 0:
            raise ConfigError(f"{where}.{key}: the list of values is empty")
        checked[key] = list(values)
    return checked


class ParamGrid:
    """All combinations of one trainer's parameter values, in a fixed order.

    Parameters
    ----------
    spec : mapping or sequence of mappings
        ``{param: [values]}``, or a list of such mappings (scikit-learn's conditional-grid form), whose grids
        are concatenated. An empty mapping is one candidate with the estimator's defaults.
    where : str
        Where the spec came from, used in error messages.

    Notes
    -----
    Keys are sorted and the last key varies fastest, exactly as in ``sklearn.model_selection.ParameterGrid``.

    Examples
    --------
    >>> grid = ParamGrid({"key_1": [1], "key_2": [1, 2]})
    >>> len(grid), grid[1]
    (2, {'key_1': 1, 'key_2': 2})
    >>> list(grid)
    [{'key_1': 1, 'key_2': 1}, {'key_1': 1, 'key_2': 2}]
    """

    def __init__(self, spec: ParamSpec, where: str = "params") -> None:
        if isinstance(spec, Mapping):
            subgrids = [_check_subgrid(spec, where)]
        elif isinstance(spec, Sequence) and not isinstance(spec, str | bytes):
            if len(spec) == 0:
                raise ConfigError(f"{where}: the list of grids is empty")
            subgrids = [_check_subgrid(sub, f"{where}[{i}]") for i, sub in enumerate(spec)]
        else:
            raise ConfigError(f"{where}: expected a mapping or a list of mappings, got {type(spec).__name__}")
        self._subgrids = [sorted(sub.items()) for sub in subgrids]
        self._sizes = [math.prod(len(values) for _, values in sub) for sub in self._subgrids]

    def __len__(self) -> int:
        return sum(self._sizes)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"grid index {index} out of range for a grid of {len(self)}")
        for sub, size in zip(self._subgrids, self._sizes, strict=True):
            if index >= size:
                index -= size
                continue
            params: dict[str, Any] = {}
            for key, values in reversed(sub):
                index, offset = divmod(index, len(values))
                params[key] = values[offset]
            return dict(sorted(params.items()))
        raise AssertionError("unreachable: index was range-checked")  # pragma: no cover

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]


def expand_grid(params: ParamSpec) -> list[dict[str, Any]]:
    """Return every combination of ``params`` as a list of dicts.

    Parameters
    ----------
    params : mapping or sequence of mappings
        ``{param: [values]}`` or a list of such mappings.

    Returns
    -------
    list of dict
        One dict per combination, in :class:`ParamGrid` order.

    Examples
    --------
    >>> expand_grid({"key_1": [1], "key_2": [1, 2]})
    [{'key_1': 1, 'key_2': 1}, {'key_1': 1, 'key_2': 2}]
    """
    return list(ParamGrid(params))


class TrainingGrid:
    """The whole search space: trainers in config order, each with its :class:`ParamGrid`.

    ``grid[i]`` returns ``(trainer_name, params)``; the index is stable for a given ``training_params``.

    Examples
    --------
    >>> grid = TrainingGrid({"A": {"x": [1, 2]}, "B": {}})
    >>> len(grid), grid[2]
    (3, ('B', {}))
    """

    def __init__(self, training_params: Mapping[str, ParamSpec]) -> None:
        self._grids = [(name, ParamGrid(spec, f"training_params.{name}")) for name, spec in training_params.items()]

    def __len__(self) -> int:
        return sum(len(grid) for _, grid in self._grids)

    def sizes(self) -> dict[str, int]:
        """Number of candidates per trainer, in grid order."""
        return {name: len(grid) for name, grid in self._grids}

    def __getitem__(self, index: int) -> tuple[str, dict[str, Any]]:
        if not 0 <= index < len(self):
            raise IndexError(f"grid index {index} out of range for a grid of {len(self)}")
        for name, grid in self._grids:
            if index < len(grid):
                return name, grid[index]
            index -= len(grid)
        raise AssertionError("unreachable: index was range-checked")  # pragma: no cover

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, grid in self._grids:
            for params in grid:
                yield name, params
