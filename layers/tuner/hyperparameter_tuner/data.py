"""The data splitter's output: train, optional validation, and test splits, and their two on-disk formats.

* an ``.npz`` file with ``X_train, y_train, X_test, y_test`` and optionally ``X_val, y_val``;
* a folder with ``train.csv``, ``test.csv``, optionally ``validation.csv``, the label in column ``target``
  (or the config's ``target``).

The data fingerprint is a SHA-256 of the file contents, so the same split has the same fingerprint on a laptop
and in S3, and experiment ids agree between ``hpt run`` and ``hpt emulate``. Checks that need only the
standard library (:func:`inspect_split`) run in the light fan-out Lambda; :func:`load_split` needs numpy.
"""

from __future__ import annotations

import array
import ast
import csv
import hashlib
import io
import math
import struct
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .errors import DataError

__all__ = [
    "CSV_FILES",
    "NPZ_ARRAYS",
    "SplitData",
    "fingerprint_bytes",
    "fingerprint_path",
    "inspect_csv_folder",
    "inspect_npz",
    "load_split",
    "split_from_arrays",
]

NPZ_ARRAYS = ("X_train", "y_train", "X_test", "y_test")
NPZ_OPTIONAL = ("X_val", "y_val")
CSV_FILES = {"train": "train.csv", "validation": "validation.csv", "test": "test.csv"}
_CHUNK = 1 << 20


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


def fingerprint_bytes(stream: BinaryIO) -> str:
    """Return the SHA-256 hex digest of a binary stream, read in chunks."""
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def _csv_set_fingerprint(file_digests: dict[str, str], target: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"target\0{target}\n".encode())  # the label column changes what is learnt
    for name in sorted(file_digests):
        digest.update(f"{name}\0{file_digests[name]}\n".encode())
    return digest.hexdigest()


def fingerprint_path(path: str | Path, target: str = "target") -> str:
    """Return the data fingerprint of an ``.npz`` file or a CSV split folder.

    For a folder, it hashes the label column name and the names and SHA-256 of the CSV files it uses, so the
    same files uploaded to S3 give the same fingerprint.
    """
    path = Path(path)
    if path.is_dir():
        digests = {}
        for name in CSV_FILES.values():
            if (path / name).is_file():
                with (path / name).open("rb") as fh:
                    digests[name] = fingerprint_bytes(fh)
        return _csv_set_fingerprint(digests, target)
    with path.open("rb") as fh:
        return fingerprint_bytes(fh)


def csv_set_fingerprint(file_digests: dict[str, str], target: str) -> str:
    """Fingerprint of a CSV split given ``{file name: sha256}`` (as computed from S3 objects) and its label."""
    return _csv_set_fingerprint(file_digests, target)


# -- standard-library inspection (no numpy): used by the fan-out Lambda ---------------------------------------


_NPY_MAGIC = b"\x93NUMPY"


def _npy_header(member: io.BufferedIOBase | Any, where: str) -> dict[str, Any]:
    magic = member.read(8)
    if magic[:6] != _NPY_MAGIC:
        raise DataError(f"{where}: not a numpy array")
    major = magic[6]
    size_bytes = member.read(2 if major == 1 else 4)
    (header_len,) = struct.unpack("<H" if major == 1 else "<I", size_bytes)
    header = ast.literal_eval(member.read(header_len).decode("latin1"))
    if not isinstance(header, dict) or "shape" not in header or "descr" not in header:
        raise DataError(f"{where}: unreadable array header")
    return header


def _check_shapes(shapes: Mapping[str, tuple[int, ...]], kinds: Mapping[str, str], source: str) -> None:
    pairs = [("X_train", "y_train"), ("X_test", "y_test")]
    if "X_val" in shapes or "y_val" in shapes:
        for name in NPZ_OPTIONAL:
            if name not in shapes:
                raise DataError(f"{source}: {name} is missing (X_val and y_val come together)")
        pairs.append(("X_val", "y_val"))
    n_features = None
    for x_name, y_name in pairs:
        x_shape, y_shape = shapes[x_name], shapes[y_name]
        if len(x_shape) != 2:
            raise DataError(f"{source}: {x_name} must be 2-D (rows, features), got shape {x_shape}")
        if len(y_shape) != 1:
            raise DataError(f"{source}: {y_name} must be 1-D, got shape {y_shape}")
        if x_shape[0] == 0:
            raise DataError(f"{source}: {x_name} has no rows")
        if x_shape[0] != y_shape[0]:
            raise DataError(f"{source}: {x_name} has {x_shape[0]} rows but {y_name} has {y_shape[0]}")
        if n_features is None:
            n_features = x_shape[1]
        elif x_shape[1] != n_features:
            raise DataError(f"{source}: {x_name} has {x_shape[1]} features but X_train has {n_features}")
        if kinds[x_name] not in "biuf":
            raise DataError(f"{source}: {x_name} must be numeric, got dtype kind {kinds[x_name]!r}")
        if kinds[y_name] == "O":
            raise DataError(f"{source}: {y_name} is an object array; store labels as numbers or fixed strings")


def _nonfinite(member: Any, header: dict[str, Any]) -> str | None:
    """Scan a float array's data after its header for NaN or inf, in chunks, with the standard library only."""
    descr = header["descr"]
    if not isinstance(descr, str) or len(descr) < 3 or descr[1] != "f" or descr[2:] not in ("4", "8"):
        return None
    itemsize, typecode = (8, "d") if descr[2:] == "8" else (4, "f")
    swap = (descr[0] == ">") != (sys.byteorder == "big")
    remaining = math.prod(header["shape"]) * itemsize
    while remaining > 0:
        chunk = member.read(min(remaining, _CHUNK))
        if not chunk:
            break
        remaining -= len(chunk)
        values = array.array(typecode, chunk[: len(chunk) - len(chunk) % itemsize])
        if swap:
            values.byteswap()
        if math.isfinite(sum(values)):  # a C loop; NaN and inf propagate, so one check per chunk suffices
            continue
        for value in values:  # rare: name the culprit (and ignore an overflowing but finite sum)
            if math.isnan(value):
                return "NaN"
            if math.isinf(value):
                return "inf"
    return None


def inspect_npz(stream: BinaryIO, source: str, check_values: bool = False) -> dict[str, tuple[int, ...]]:
    """Check an ``.npz`` split's arrays, shapes and dtypes from the array headers only (no numpy needed).

    With ``check_values``, float arrays are also scanned for NaN and inf (still without numpy), as the fan-out
    does before it starts a run.

    Returns
    -------
    dict
        Array name -> shape.

    Raises
    ------
    DataError
        Naming the file and the array that is missing, mis-shaped or of the wrong type.
    """
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{source}: not a readable .npz file ({exc})") from exc
    shapes: dict[str, tuple[int, ...]] = {}
    kinds: dict[str, str] = {}
    with archive:
        names = {name.removesuffix(".npy"): name for name in archive.namelist()}
        missing = [name for name in NPZ_ARRAYS if name not in names]
        if missing:
            raise DataError(f"{source}: array {missing[0]!r} is missing (found: {', '.join(sorted(names)) or 'none'})")
        for name in (*NPZ_ARRAYS, *NPZ_OPTIONAL):
            if name not in names:
                continue
            try:
                with archive.open(names[name]) as member:
                    header = _npy_header(member, f"{source}: {name}")
                    bad = _nonfinite(member, header) if check_values else None
            except (zipfile.BadZipFile, OSError, ValueError, SyntaxError, struct.error) as exc:
                raise DataError(f"{source}: array {name!r} is unreadable ({exc})") from exc
            if bad is not None:
                raise DataError(f"{source}: {name} contains {bad}")
            shapes[name] = tuple(header["shape"])
            descr = header["descr"]
            kinds[name] = descr[1] if isinstance(descr, str) and len(descr) > 1 else "V"
    _check_shapes(shapes, kinds, source)
    return shapes


def _parse_csv(text: io.TextIOBase | Any, source: str, target: str) -> tuple[list[str], list[list[float]], list[str]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{source}: the file is empty") from None
    except csv.Error as exc:
        raise DataError(f"{source}: not valid CSV ({exc})") from exc
    header = [column.strip() for column in header]
    if target not in header:
        raise DataError(f"{source}: label column {target!r} is missing (columns: {', '.join(header)})")
    label_at = header.index(target)
    features = [name for i, name in enumerate(header) if i != label_at]
    if not features:
        raise DataError(f"{source}: there are no feature columns besides {target!r}")
    rows: list[list[float]] = []
    labels: list[str] = []
    try:
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{source} line {line_no}: {len(row)} fields, the header has {len(header)}")
            values = []
            for i, cell in enumerate(row):
                if i == label_at:
                    continue
                try:
                    value = float(cell)
                except ValueError:
                    raise DataError(
                        f"{source} line {line_no}, column {header[i]!r}: {cell!r} is not a number"
                    ) from None
                if math.isnan(value):
                    raise DataError(f"{source} line {line_no}, column {header[i]!r}: missing value (NaN)")
                if math.isinf(value):
                    raise DataError(f"{source} line {line_no}, column {header[i]!r}: {cell.strip()!r} is infinite")
                values.append(value)
            label = row[label_at].strip()
            if not label:
                raise DataError(f"{source} line {line_no}, column {target!r}: the label is empty")
            rows.append(values)
            labels.append(label)
    except csv.Error as exc:
        raise DataError(f"{source}: not valid CSV ({exc})") from exc
    if not rows:
        raise DataError(f"{source}: there are no data rows")
    return features, rows, labels


def inspect_csv_folder(files: dict[str, BinaryIO], source: str, target: str = "target") -> dict[str, int]:
    """Check a CSV split given open binary streams by file name; returns rows per file (no numpy needed)."""
    parsed = _parse_csv_set(files, source, target)
    return {name: len(rows) for name, (_, rows, _) in parsed.items()}


def _parse_csv_set(
    files: dict[str, BinaryIO], source: str, target: str
) -> dict[str, tuple[list[str], list[list[float]], list[str]]]:
    for required in ("train.csv", "test.csv"):
        if required not in files:
            raise DataError(f"{source}: {required} is missing (found: {', '.join(sorted(files)) or 'none'})")
    parsed: dict[str, tuple[list[str], list[list[float]], list[str]]] = {}
    columns: list[str] | None = None
    for name in ("train.csv", "validation.csv", "test.csv"):
        if name not in files:
            continue
        text = io.TextIOWrapper(files[name], encoding="utf-8", newline="")
        try:
            parsed[name] = _parse_csv(text, f"{source}/{name}", target)
        except UnicodeDecodeError as exc:
            raise DataError(f"{source}/{name}: not UTF-8 text ({exc.reason})") from exc
        finally:
            text.detach()  # the caller owns (and closes) the binary stream
        if columns is None:
            columns = parsed[name][0]
        elif parsed[name][0] != columns:
            raise DataError(f"{source}/{name}: columns differ from train.csv ({', '.join(parsed[name][0])})")
    return parsed


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
    kinds = {name: np.asarray(value).dtype.kind for name, value in arrays.items() if value is not None}
    for name in NPZ_ARRAYS:
        if name not in shapes:
            raise DataError(f"{source}: array {name!r} is missing")
    _check_shapes(shapes, kinds, source)
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


def _load_npz(path: Path) -> SplitData:
    import numpy as np

    with path.open("rb") as fh:
        inspect_npz(fh, str(path))
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in (*NPZ_ARRAYS, *NPZ_OPTIONAL) if name in archive.files}
    except ValueError as exc:  # object arrays need pickle, which we never allow
        raise DataError(f"{path}: {exc}") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    return split_from_arrays(arrays, str(path), fingerprint_path(path))


def _load_csv_folder(path: Path, target: str) -> SplitData:
    import numpy as np

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


def load_split(path: str | Path, target: str = "target") -> SplitData:
    """Load and validate a split from an ``.npz`` file or a folder of CSVs.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` file or the folder holding ``train.csv``, ``test.csv`` and optionally ``validation.csv``.
    target : str
        Label column of the CSV files.

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
        return _load_csv_folder(path, target)
    if path.suffix != ".npz":
        raise DataError(f"{path}: expected an .npz file or a folder of CSV files")
    return _load_npz(path)
