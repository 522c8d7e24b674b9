"""The data splitter's output: train, optional validation, and test splits, and their two on-disk formats.

* an ``.npz`` file with ``X_train, y_train, X_test, y_test`` and optionally ``X_val, y_val``;
* a folder with ``train.csv``, ``test.csv``, optionally ``validation.csv``, the label in column ``target``
  (or the config's ``target``).

The data fingerprint is a SHA-256 of the file contents, so the same split has the same fingerprint on a laptop
and in S3, and experiment ids agree between ``hpt run`` and ``hpt emulate``. Checks that need only the
standard library (:mod:`._split_inspect`: ``inspect_npz_split``, ``inspect_csv_split``) run in the light fan-out
Lambda; :func:`load_split` needs numpy. Fingerprints live in :mod:`._fingerprint`; both are re-exported here.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._fingerprint import _csv_set_fingerprint as _csv_set_fingerprint
from ._fingerprint import csv_set_fingerprint, fingerprint_bytes, fingerprint_path
from ._split_inspect import _CHUNK as _CHUNK
from ._split_inspect import _CSV_LABELS as _CSV_LABELS
from ._split_inspect import _FLOAT_CODES as _FLOAT_CODES
from ._split_inspect import _INT_CODES as _INT_CODES
from ._split_inspect import _NPY_MAGIC as _NPY_MAGIC
from ._split_inspect import (
    CSV_FILES,
    MAX_TRACKED_CLASSES,
    NPZ_ARRAYS,
    NPZ_OPTIONAL,
    LabelSummary,
    SplitReport,
    check_data_size,
    inspect_csv_folder,
    inspect_csv_split,
    inspect_npz,
    inspect_npz_split,
)
from ._split_inspect import _check_shapes as _check_shapes
from ._split_inspect import _csv_label_summary as _csv_label_summary
from ._split_inspect import _descr_parts as _descr_parts
from ._split_inspect import _human as _human
from ._split_inspect import _nonfinite as _nonfinite
from ._split_inspect import _npy_header as _npy_header
from ._split_inspect import _parse_csv as _parse_csv
from ._split_inspect import _parse_csv_set as _parse_csv_set
from ._split_inspect import _read_chunks as _read_chunks
from ._split_inspect import _summarise as _summarise
from .errors import DataError

__all__ = [
    "CSV_FILES",
    "DEFAULT_MAX_DATA_BYTES",
    "NPZ_ARRAYS",
    "LabelSummary",
    "SplitData",
    "SplitReport",
    "fingerprint_bytes",
    "fingerprint_path",
    "csv_set_fingerprint",
    "check_data_size",
    "inspect_csv_folder",
    "inspect_npz",
    "inspect_csv_split",
    "inspect_npz_split",
    "load_split",
    "split_from_arrays",
    "summarise_labels",
]


DEFAULT_MAX_DATA_BYTES = 1024**3
"""Default ``max_data_bytes``: 1 GiB of in-memory arrays. With the working copies a fit makes, that fits the
trainer Lambda's memory (``TrainerMemorySize``) and a laptop; a config raises it for larger splits."""
NPZ_FILE_SLACK = 1 << 20
"""An ``.npz`` file may exceed ``max_data_bytes`` by this much (array headers, the zip directory); a larger file
is refused from its size alone, before it is opened (or, on AWS, downloaded)."""

def summarise_labels(values: Any) -> LabelSummary:
    """Return the :class:`LabelSummary` of a label array (numpy array or sequence).

    Raises
    ------
    ValueError
        When the labels are Python objects of more than one type (``[1, "a"]``).
    """
    import numpy as np

    array_ = np.asarray(values)
    if array_.dtype.kind == "O":  # Python objects (a list or pandas column passed in Python): one type or refuse
        items = array_.ravel().tolist()
        if all(isinstance(item, str | bytes) for item in items):
            return _summarise([items], True)
        if all(isinstance(item, int | float) for item in items):
            return _summarise([items], False)
        kinds = sorted({type(item).__name__ for item in items})
        raise ValueError(f"mixes label types ({', '.join(kinds)}); use one type for every label")
    is_text = array_.dtype.kind in "US"
    if array_.dtype.kind == "f":
        fractional = array_[np.isfinite(array_) & (array_ != np.round(array_))]
        unique = np.unique(array_)
        summary = _summarise([unique[: MAX_TRACKED_CLASSES + 1].tolist()], False)
        return LabelSummary(False, summary.classes, float(fractional[0]) if fractional.size else None)
    unique = np.unique(array_)
    return _summarise([unique[: MAX_TRACKED_CLASSES + 1].tolist()], is_text)


@dataclass
class SplitData:
    """A split dataset: what a ``data_splitter.split_data`` returns.

    Attributes
    ----------
    X_train, y_train, X_test, y_test : array-like
        Training and test features and labels.
    X_val, y_val : array-like, optional
        Validation split; when present the performance metric is computed on it, else on test.
    fingerprint : str
        SHA-256 identifying the data version; part of every experiment id.
    source : str
        Where the split came from, for messages.
    feature_names : list of str, optional
        Column names, when the data came from CSV.
    """

    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any
    X_val: Any = None
    y_val: Any = None
    fingerprint: str = ""
    source: str = "<memory>"
    feature_names: list[str] | None = field(default=None, repr=False)

    @property
    def has_validation(self) -> bool:
        """Whether a validation split is present."""
        return self.X_val is not None

    @property
    def eval_split(self) -> str:
        """Name of the split the performance metric is computed on: ``validation`` or ``test``."""
        return "validation" if self.has_validation else "test"

    def scoring_splits(self, include_test: bool = True) -> Iterator[tuple[str, Any, Any]]:
        """Yield ``(name, X, y)`` for every split that is scored: validation (if any), then test.

        ``include_test=False`` leaves the test split out when there is a validation split (without one, test is
        the split the performance metric is computed on, so it is always scored).
        """
        if self.has_validation:
            yield "validation", self.X_val, self.y_val
        if include_test or not self.has_validation:
            yield "test", self.X_test, self.y_test

    def labels(self) -> dict[str, LabelSummary]:
        """A :class:`LabelSummary` of each label array (``y_train``, ``y_val`` when present, ``y_test``)."""
        arrays = {"y_train": self.y_train, "y_val": self.y_val, "y_test": self.y_test}
        summaries: dict[str, LabelSummary] = {}
        for name, values in arrays.items():
            if values is None:
                continue
            try:
                summaries[name] = summarise_labels(values)
            except ValueError as exc:
                raise DataError(f"{self.source}: {name} {exc}") from None
        return summaries


# -- numpy loading ---------------------------------------------------------------------------------------------


def _as_labels(labels: list[str]) -> Any:
    import numpy as np

    try:
        numbers = np.array([float(label) for label in labels])
    except ValueError:
        return np.array(labels)
    if np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return numbers


def split_from_arrays(arrays: dict[str, Any], source: str, fingerprint: str, **extra: Any) -> SplitData:
    """Build a :class:`SplitData` from named arrays after checking shapes, dtypes and NaN."""
    import numpy as np

    shapes = {name: tuple(np.shape(value)) for name, value in arrays.items() if value is not None}
    dtypes = {name: np.asarray(value).dtype for name, value in arrays.items() if value is not None}
    kinds = {name: dtype.kind for name, dtype in dtypes.items()}
    for name in NPZ_ARRAYS:
        if name not in shapes:
            raise DataError(f"{source}: array {name!r} is missing")
    _check_shapes(shapes, kinds, source, {name: dtype.itemsize for name, dtype in dtypes.items()})
    for name in ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test"):
        value = arrays.get(name)
        if value is None or np.asarray(value).dtype.kind != "f" or np.isfinite(value).all():
            continue
        bad = "NaN" if np.isnan(value).any() else "inf"
        raise DataError(f"{source}: {name} contains {bad}")
    return SplitData(
        X_train=arrays["X_train"], y_train=arrays["y_train"], X_test=arrays["X_test"], y_test=arrays["y_test"],
        X_val=arrays.get("X_val"), y_val=arrays.get("y_val"), fingerprint=fingerprint, source=source, **extra,
    )


def _load_npz(path: Path, max_bytes: int | None) -> SplitData:
    import numpy as np

    if max_bytes is not None:
        check_data_size(path.stat().st_size, max_bytes, str(path), "the file is", NPZ_FILE_SLACK)
    with path.open("rb") as fh:
        inspect_npz(fh, str(path), max_bytes=max_bytes)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in (*NPZ_ARRAYS, *NPZ_OPTIONAL) if name in archive.files}
    except ValueError as exc:  # object arrays need pickle, which we never allow
        raise DataError(f"{path}: {exc}") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    return split_from_arrays(arrays, str(path), fingerprint_path(path))


def _load_csv_folder(path: Path, target: str, max_bytes: int | None) -> SplitData:
    import numpy as np

    total = 0
    for name in CSV_FILES.values():
        if (path / name).is_file():
            total += (path / name).stat().st_size
            check_data_size(total, max_bytes, f"{path}/{name}", "the CSV files total")
    handles = {name: (path / name).open("rb") for name in CSV_FILES.values() if (path / name).is_file()}
    try:
        parsed = _parse_csv_set(handles, str(path), target)  # type: ignore[arg-type]
    finally:
        for handle in handles.values():
            handle.close()
    arrays: dict[str, Any] = {}
    for split, suffix in (("train.csv", "train"), ("validation.csv", "val"), ("test.csv", "test")):
        if split in parsed:
            _, rows, labels = parsed[split]
            arrays[f"X_{suffix}"] = np.array(rows, dtype=np.float64)
            arrays[f"y_{suffix}"] = _as_labels(labels)
    return split_from_arrays(arrays, str(path), fingerprint_path(path, target),
                             feature_names=parsed["train.csv"][0])


def load_split(path: str | Path, target: str = "target", max_data_bytes: int | None = DEFAULT_MAX_DATA_BYTES
               ) -> SplitData:
    """Load and validate a split from an ``.npz`` file or a folder of CSVs.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file or the folder holding ``train.csv``, ``test.csv`` and optionally ``validation.csv``.
    target : str
        Label column of the CSV files.
    max_data_bytes : int, optional
        Largest split accepted: the arrays' in-memory bytes (from the ``.npz`` headers) or the CSV files' total
        size, checked before anything is loaded. ``None``: no limit.

    Returns
    -------
    SplitData
        The arrays and the data fingerprint.

    Raises
    ------
    DataError
        Naming the file, array, line or column at fault.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_csv_folder(path, target, max_data_bytes)
    if path.suffix != ".npz":
        raise DataError(f"{path}: expected an .npz file or a folder of CSV files")
    return _load_npz(path, max_data_bytes)
