"""The search space: an indexable grid of (trainer, parameters) candidates.

Like scikit-learn's ``ParameterGrid``, a grid has ``len()`` and ``grid[i]``, decoded with ``divmod``, so any
candidate can be rebuilt from an integer. A manifest can then carry index ranges instead of parameters.
This module imports nothing heavy: the fan-out Lambda expands grids without numpy or scikit-learn.
"""

from __future__ import annotations

import datetime
import json
import math
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .errors import ConfigError

__all__ = [
    "DICT_TAG",
    "MAX_OVERLAP_CANDIDATES",
    "ParamGrid",
    "TrainingGrid",
    "canonical",
    "check_json_value",
    "check_values",
    "decode_tagged",
    "encode_tagged",
    "expand_grid",
]

ParamSpec = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]]

DICT_TAG = "__hpt_dict_items__"
"""A dict whose keys are not all strings travels through JSON as ``{DICT_TAG: [[key, value], ...]}``."""

MAX_OVERLAP_CANDIDATES = 1_000_000
"""Sub-grids of one trainer that overlap are deduplicated by enumerating the later ones (each candidate checked
against each earlier sub-grid it may repeat); past this much work in one trainer's grid, the spec is refused
(make the sub-grids disjoint instead)."""
MAX_SUBGRIDS = 1000
"""Sub-grids one trainer may list (finding overlaps compares them pairwise)."""


def encode_tagged(value: Any, sort_pairs: bool = False) -> Any:
    """Return ``value`` with every dict that has a non-string key replaced by ``{DICT_TAG: [[key, value], ...]}``.

    JSON turns dict keys into strings (``{0: 1}`` would come back as ``{"0": 1}``); the tagged form carries them
    faithfully, and :func:`decode_tagged` undoes it. Tuples become lists, as JSON would make them.

    Parameters
    ----------
    value : object
        A JSON-like value (dicts, lists, tuples, scalars).
    sort_pairs : bool
        Sort the tagged pairs by their JSON text, so the result does not depend on key order (for ids).

    Examples
    --------
    >>> encode_tagged({"class_weight": {0: 1, 1: 2}})
    {'class_weight': {'__hpt_dict_items__': [[0, 1], [1, 2]]}}
    >>> decode_tagged(encode_tagged({0: 1})) == {0: 1}
    True
    """
    if isinstance(value, Mapping):
        if all(isinstance(key, str) for key in value):
            return {key: encode_tagged(item, sort_pairs) for key, item in value.items()}
        pairs = [[encode_tagged(key, sort_pairs), encode_tagged(item, sort_pairs)] for key, item in value.items()]
        if sort_pairs:
            pairs.sort(key=lambda pair: json.dumps(pair, sort_keys=True, default=str))
        return {DICT_TAG: pairs}
    if isinstance(value, list | tuple):
        return [encode_tagged(item, sort_pairs) for item in value]
    return value


def decode_tagged(value: Any) -> Any:
    """Undo :func:`encode_tagged`: ``{DICT_TAG: [[key, value], ...]}`` becomes a dict again (recursively)."""
    if isinstance(value, Mapping):
        if len(value) == 1 and DICT_TAG in value and isinstance(value[DICT_TAG], list):
            pairs = value[DICT_TAG]
            if all(isinstance(pair, list | tuple) and len(pair) == 2 for pair in pairs):
                try:
                    return {decode_tagged(key): decode_tagged(item) for key, item in pairs}
                except TypeError:  # an unhashable key: leave the value as it is, validation names it
                    return value
        return {key: decode_tagged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_tagged(item) for item in value]
    return value


def canonical(value: Any) -> str:
    """The JSON text that identifies a value: equal texts are the same candidate (and the same content id).

    Examples
    --------
    >>> canonical({"b": 1, "a": 2}) == canonical({"a": 2, "b": 1}), canonical(1) == canonical(1.0)
    (True, False)
    """
    return json.dumps(encode_tagged(value, sort_pairs=True), sort_keys=True, separators=(",", ":"), default=str)


_JSON_SCALARS = (str, int, float, bool, type(None))


def check_json_value(value: Any, where: str) -> None:
    """Refuse a parameter value that JSON cannot carry, so it means the same on every path.

    NaN and infinities (JSON has no token for them), and sets, bytes, dates and other objects a config file can
    spell (YAML ``!!set``, ``!!binary``, ``2024-01-01``) but the run record cannot, are refused with one line.
    Dicts with non-string keys are fine: they travel tagged (:func:`encode_tagged`).

    Raises
    ------
    ConfigError
        Naming ``where`` and the value.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {value!r} is not a usable value (NaN and infinity cannot be carried in JSON)")
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, _JSON_SCALARS):
                raise ConfigError(f"{where}: dict key {key!r} ({type(key).__name__}) cannot be carried in JSON")
            check_json_value(key, f"{where}[{key!r}]")
            check_json_value(item, f"{where}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_json_value(item, f"{where}[{i}]")
        return
    if isinstance(value, datetime.date):
        raise ConfigError(f"{where}: {value!s} was read as a date; quote it if it is meant as text")
    if type(value).__module__ == "numpy" or isinstance(value, type):
        return  # Python API only (numpy scalars, estimator classes): used as given on the local path
    raise ConfigError(f"{where}: a {type(value).__name__} value ({_short(value)}) cannot be carried in JSON")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_subgrid(subgrid: Any, where: str, notes: list[str]) -> dict[str, list[Any]]:
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
        checked[key] = check_values(values, f"{where}.{key}", notes)
    return checked


def check_values(values: Sequence[Any], where: str, notes: list[str]) -> list[Any]:
    """Return one parameter's list of values with repeats dropped (noted once in ``notes``), each value checked
    with :func:`check_json_value`.

    Raises
    ------
    ConfigError
        The list is empty, or a value cannot be carried in JSON; naming ``where``.
    """
    if len(values) == 0:
        raise ConfigError(f"{where}: the list of values is empty")
    unique: dict[str, Any] = {}
    repeated: dict[str, Any] = {}
    for i, value in enumerate(values):
        check_json_value(value, f"{where}[{i}]")
        text = canonical(value)
        if text in unique:
            repeated.setdefault(text, value)
        unique.setdefault(text, value)
    if repeated:
        shown = ", ".join(_short(value) for value in repeated.values())
        notes.append(f"{where}: {shown} listed more than once; each value is tried once")
    return list(unique.values())


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
    Unlike ``ParameterGrid``, a candidate is never listed twice: a value repeated in a list, or a candidate of a
    sub-grid that an earlier sub-grid already holds, is dropped (and described in ``notes``), so every candidate
    has its own experiment id. Values are compared by their JSON text (:func:`canonical`).

    Examples
    --------
    >>> grid = ParamGrid({"key_1": [1], "key_2": [1, 2]})
    >>> len(grid), grid[1]
    (2, {'key_1': 1, 'key_2': 2})
    >>> list(grid)
    [{'key_1': 1, 'key_2': 1}, {'key_1': 1, 'key_2': 2}]
    """

    def __init__(self, spec: ParamSpec, where: str = "params") -> None:
        self.notes: list[str] = []
        """One line per duplicate found (values listed twice, sub-grids that overlap); each is tried once."""
        if isinstance(spec, Mapping):
            subgrids = [_check_subgrid(spec, where, self.notes)]
        elif isinstance(spec, Sequence) and not isinstance(spec, str | bytes):
            if len(spec) == 0:
                raise ConfigError(f"{where}: the list of grids is empty")
            if len(spec) > MAX_SUBGRIDS:
                raise ConfigError(f"{where}: {len(spec)} sub-grids, over the {MAX_SUBGRIDS} one trainer may list")
            subgrids = [_check_subgrid(sub, f"{where}[{i}]", self.notes) for i, sub in enumerate(spec)]
        else:
            raise ConfigError(f"{where}: expected a mapping or a list of mappings, got {type(spec).__name__}")
        self._subgrids = [sorted(sub.items()) for sub in subgrids]
        self._canonical = [[{canonical(value) for value in values} for _, values in sub] for sub in self._subgrids]
        self._work = 0
        raw_sizes = [math.prod(len(values) for _, values in sub) for sub in self._subgrids]
        # Candidates of a later sub-grid that an earlier one already holds are skipped: ``_kept[j]`` lists the raw
        # indices of sub-grid j that stay (None: all of them), so the grid stays indexable.
        self._kept: list[array[int] | None] = [self._unique_indices(j, raw_sizes[j], where)
                                                for j in range(len(self._subgrids))]
        self._sizes = [size if kept is None else len(kept) for size, kept in zip(raw_sizes, self._kept, strict=True)]
        for j, (size, kept) in enumerate(zip(raw_sizes, self._kept, strict=True)):
            if kept is not None:
                self.notes.append(f"{where}[{j}]: {size - len(kept)} candidate(s) repeat an earlier sub-grid,"
                                  " each is tried once")

    def _unique_indices(self, j: int, size: int, where: str) -> array[int] | None:
        sub = self._subgrids[j]
        keys = [key for key, _ in sub]
        # For each earlier sub-grid with the same keys whose values all intersect: per key, which of this
        # sub-grid's values it also lists.
        overlaps: list[list[list[bool]]] = []
        for i, earlier in enumerate(self._subgrids[:j]):
            if [key for key, _ in earlier] != keys:
                continue
            if not all(mine & theirs for mine, theirs in zip(self._canonical[j], self._canonical[i], strict=True)):
                continue
            overlaps.append([[canonical(value) in known for value in values]
                             for (_, values), known in zip(sub, self._canonical[i], strict=True)])
        if not overlaps:
            return None
        self._work += size * len(overlaps)
        if self._work > MAX_OVERLAP_CANDIDATES:
            raise ConfigError(
                f"{where}[{j}]: this sub-grid overlaps earlier ones and has {size} candidates, too many to"
                f" deduplicate (over {MAX_OVERLAP_CANDIDATES} checks); make the sub-grids disjoint"
            )
        kept: array[int] = array("q")
        lengths = [len(values) for _, values in sub]
        for raw in range(size):
            digits = []
            index = raw
            for length in reversed(lengths):
                index, offset = divmod(index, length)
                digits.append(offset)
            digits.reverse()
            if not any(all(flags[d] for flags, d in zip(member, digits, strict=True)) for member in overlaps):
                kept.append(raw)
        return kept

    def __len__(self) -> int:
        return sum(self._sizes)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"grid index {index} out of range for a grid of {len(self)}")
        for sub, size, kept in zip(self._subgrids, self._sizes, self._kept, strict=True):
            if index >= size:
                index -= size
                continue
            if kept is not None:
                index = kept[index]
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

    @property
    def notes(self) -> list[str]:
        """Duplicates dropped from the grid (values listed twice, overlapping sub-grids), one line each."""
        return [note for _, grid in self._grids for note in grid.notes]

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
