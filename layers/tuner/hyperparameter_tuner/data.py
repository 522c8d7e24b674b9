"""The data splitter's output: train, optional validation, and test splits, and their two on-disk formats.

* an ``.npz`` file with ``X_train, y_train, X_test, y_test`` and optionally ``X_val, y_val``;
* a folder with ``train.csv``, ``test.csv``, optionally ``validation.csv``, the label in column ``target``
  (or the config's ``target``).

The data fingerprint is a SHA-256 of the file contents, so the same split has the same fingerprint on a laptop
and in S3, and experiment ids agree between ``hpt run`` and ``hpt emulate``. Checks that need only the
standard library (:func:`inspect_split`) run in the light fan-out Lambda; :func:`load_split` needs numpy.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import math
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

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
    "check_data_size",
    "inspect_csv_folder",
    "inspect_npz",
    "inspect_csv_split",
    "inspect_npz_split",
    "load_split",
    "split_from_arrays",
    "summarise_labels",
]

NPZ_ARRAYS = ("X_train", "y_train", "X_test", "y_test")
NPZ_OPTIONAL = ("X_val", "y_val")
CSV_FILES = {"train": "train.csv", "validation": "validation.csv", "test": "test.csv"}
_CHUNK = 1 << 20
DEFAULT_MAX_DATA_BYTES = 1024**3
"""Default ``max_data_bytes``: 1 GiB of in-memory arrays. With the working copies a fit makes, that fits the
trainer Lambda's memory (``TrainerMemorySize``) and a laptop; a config raises it for larger splits."""
NPZ_FILE_SLACK = 1 << 20
"""An ``.npz`` file may exceed ``max_data_bytes`` by this much (array headers, the zip directory); a larger file
is refused from its size alone, before it is opened (or, on AWS, downloaded)."""
MAX_TRACKED_CLASSES = 1000
"""Distinct label values a :class:`LabelSummary` keeps (one more tells that there are more)."""


@dataclass(frozen=True)
class LabelSummary:
    """What one label array holds: enough to refuse a task that cannot work, computed without numpy.

    Attributes
    ----------
    is_text : bool
        Text labels (``U``/``S`` arrays, or CSV labels that are not all numbers).
    classes : frozenset
        Distinct values, at most ``MAX_TRACKED_CLASSES + 1``; integer-valued numbers as ``int``.
    non_integer : float, optional
        A label with a fractional part (``0.5``), if there is one: such labels are a regression target.
    """

    is_text: bool
    classes: frozenset[Any]
    non_integer: float | None = None


def _summarise(chunks: Iterator[Any] | list[Any], is_text: bool) -> LabelSummary:
    classes: set[Any] = set()
    non_integer: float | None = None
    for chunk in chunks:
        for value in set(chunk):  # distinct values of the chunk first: a C loop
            if not is_text:
                if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
                    if non_integer is None:
                        non_integer = value
                elif (isinstance(value, float) and math.isfinite(value)) or isinstance(value, bool):
                    value = int(value)
            if len(classes) <= MAX_TRACKED_CLASSES:
                classes.add(value)
        if len(classes) > MAX_TRACKED_CLASSES and (is_text or non_integer is not None):
            break
    return LabelSummary(is_text=is_text, classes=frozenset(classes), non_integer=non_integer)


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
class SplitReport:
    """What the standard-library inspection of a split found: shapes (or rows), bytes and label summaries."""

    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    nbytes: int = 0
    labels: dict[str, LabelSummary] = field(default_factory=dict)


def _human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def check_data_size(total: int, max_bytes: int | None, where: str, what: str, slack: int = 0) -> None:
    """Raise :class:`DataError` when ``total`` bytes exceed ``max_bytes`` (the config's ``max_data_bytes``)
    plus ``slack``.

    ``where`` names the file (and array), ``what`` says what was counted.
    """
    if max_bytes is not None and total > max_bytes + slack:
        extra = f" + {_human(slack)} for headers" if slack else ""
        raise DataError(f"{where}: {what} {_human(total)} ({total} bytes), over max_data_bytes {max_bytes}"
                        f" ({_human(max_bytes)}{extra}); raise max_data_bytes in the config to accept it")


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


def _check_shapes(shapes: Mapping[str, tuple[int, ...]], kinds: Mapping[str, str], source: str,
                  itemsizes: Mapping[str, int] | None = None) -> None:
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
        if kinds[y_name] not in "biufUS":
            raise DataError(f"{source}: {y_name} must hold numbers or text, got dtype kind {kinds[y_name]!r}")
        for name in (x_name, y_name):
            size = (itemsizes or {}).get(name)
            if kinds[name] == "f" and size is not None and size not in _FLOAT_CODES:
                raise DataError(f"{source}: {name} is float{8 * size}, which is not supported; use float64")


_FLOAT_CODES = {2: "e", 4: "f", 8: "d"}
_INT_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}


def _descr_parts(descr: Any) -> tuple[str, str, int]:
    """``(byte order, kind, itemsize)`` of a simple dtype descr such as ``'<f8'``, ``'|b1'`` or ``'<U5'``."""
    if not isinstance(descr, str) or len(descr) < 2:
        return "|", "V", 0
    kind, count = descr[1], int(descr[2:]) if descr[2:].isdigit() else 0
    return descr[0], kind, 4 * count if kind == "U" else count


def _read_chunks(member: Any, header: dict[str, Any]) -> Iterator[Any]:
    """Yield an array's values chunk by chunk (tuples of numbers, or lists of text), standard library only."""
    order, kind, itemsize = _descr_parts(header["descr"])
    if itemsize == 0:
        return
    endian = ">" if order == ">" else "<" if order == "<" else "="
    remaining = math.prod(header["shape"]) * itemsize
    step = max(itemsize, _CHUNK - _CHUNK % itemsize)
    while remaining > 0:
        chunk = member.read(min(remaining, step))
        if not chunk:
            break
        remaining -= len(chunk)
        count = len(chunk) // itemsize
        chunk = chunk[: count * itemsize]
        if kind == "f" and itemsize in _FLOAT_CODES:
            yield struct.unpack(f"{endian}{count}{_FLOAT_CODES[itemsize]}", chunk)
        elif kind in "iu" and itemsize in _INT_CODES:
            code = _INT_CODES[itemsize]
            yield struct.unpack(f"{endian}{count}{code.upper() if kind == 'u' else code}", chunk)
        elif kind == "b":
            yield tuple(bool(byte) for byte in set(chunk))
        elif kind == "U":
            encoding = "utf-32-be" if order == ">" else "utf-32-le"
            yield [chunk[i : i + itemsize].decode(encoding).rstrip("\0") for i in range(0, len(chunk), itemsize)]
        elif kind == "S":
            yield [chunk[i : i + itemsize].rstrip(b"\0") for i in range(0, len(chunk), itemsize)]
        else:
            return


def _nonfinite(member: Any, header: dict[str, Any]) -> str | None:
    """Scan a float array's data after its header for NaN or inf, in chunks, with the standard library only.

    Covers every float width the loader accepts (float16, float32, float64), in either byte order.
    """
    _, kind, itemsize = _descr_parts(header["descr"])
    if kind != "f" or itemsize not in _FLOAT_CODES:
        return None
    for values in _read_chunks(member, header):
        if math.isfinite(sum(values)):  # a C loop; NaN and inf propagate, so one check per chunk suffices
            continue
        for value in values:  # rare: name the culprit (and ignore an overflowing but finite sum)
            if math.isnan(value):
                return "NaN"
            if math.isinf(value):
                return "inf"
    return None


def inspect_npz(stream: BinaryIO, source: str, check_values: bool = False,
                max_bytes: int | None = None) -> dict[str, tuple[int, ...]]:
    """Check an ``.npz`` split's arrays, shapes and dtypes from the array headers only (no numpy needed).

    With ``check_values``, float arrays are also scanned for NaN and inf (still without numpy), as the fan-out
    does before it starts a run. With ``max_bytes``, the arrays' in-memory size (shape x itemsize, from the
    headers) is checked before anything is read.

    Returns
    -------
    dict
        Array name -> shape.

    Raises
    ------
    DataError
        Naming the file and the array that is missing, mis-shaped, of the wrong type or too large.
    """
    return inspect_npz_split(stream, source, check_values=check_values, max_bytes=max_bytes).shapes


def inspect_npz_split(stream: BinaryIO, source: str, *, check_values: bool = False, max_bytes: int | None = None,
                      labels: bool = False) -> SplitReport:
    """:func:`inspect_npz`, returning a :class:`SplitReport`; with ``labels``, the label arrays are summarised
    (:class:`LabelSummary`) too, all without numpy."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{source}: not a readable .npz file ({exc})") from exc
    report = SplitReport()
    kinds: dict[str, str] = {}
    itemsizes: dict[str, int] = {}
    headers: dict[str, dict[str, Any]] = {}
    with archive:
        names = {name.removesuffix(".npy"): name for name in archive.namelist()}
        missing = [name for name in NPZ_ARRAYS if name not in names]
        if missing:
            raise DataError(f"{source}: array {missing[0]!r} is missing (found: {', '.join(sorted(names)) or 'none'})")
        present = [name for name in (*NPZ_ARRAYS, *NPZ_OPTIONAL) if name in names]
        for name in present:  # headers first: sizes are checked before any data is read
            try:
                with archive.open(names[name]) as member:
                    header = _npy_header(member, f"{source}: {name}")
                shape = tuple(int(n) for n in header["shape"])
            except (zipfile.BadZipFile, OSError, ValueError, SyntaxError, struct.error, TypeError) as exc:
                raise DataError(f"{source}: array {name!r} is unreadable ({exc})") from exc
            headers[name] = header
            report.shapes[name] = shape
            _, kinds[name], itemsizes[name] = _descr_parts(header["descr"])
            nbytes = math.prod(shape) * itemsizes[name]
            report.nbytes += nbytes
            check_data_size(report.nbytes, max_bytes, f"{source}: array {name!r}",
                            f"shape {shape} of {header['descr']} brings the split's arrays to")
        _check_shapes(report.shapes, kinds, source, itemsizes)
        for name in present:
            if not (check_values and kinds[name] == "f") and not (labels and name.startswith("y_")):
                continue
            bad: str | None = None
            try:
                with archive.open(names[name]) as member:
                    header = _npy_header(member, f"{source}: {name}")
                    if check_values and kinds[name] == "f":
                        bad = _nonfinite(member, header)
                if labels and name.startswith("y_"):
                    with archive.open(names[name]) as member:
                        header = _npy_header(member, f"{source}: {name}")
                        report.labels[name] = _summarise(_read_chunks(member, header), kinds[name] in "US")
            except (zipfile.BadZipFile, OSError, ValueError, SyntaxError, struct.error, UnicodeDecodeError) as exc:
                raise DataError(f"{source}: array {name!r} is unreadable ({exc})") from exc
            if bad is not None:
                raise DataError(f"{source}: {name} contains {bad}")
    return report


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


_CSV_LABELS = {"train.csv": "y_train", "validation.csv": "y_val", "test.csv": "y_test"}


def inspect_csv_split(files: dict[str, BinaryIO], source: str, target: str = "target") -> SplitReport:
    """:func:`inspect_csv_folder`, returning a :class:`SplitReport` with each file's label summary."""
    parsed = _parse_csv_set(files, source, target)
    report = SplitReport()
    for name, (features, rows, labels) in parsed.items():
        report.shapes[_CSV_LABELS[name].replace("y_", "X_")] = (len(rows), len(features))
        report.labels[_CSV_LABELS[name]] = _csv_label_summary(labels)
    return report


def _csv_label_summary(labels: list[str]) -> LabelSummary:
    """Labels as the loader reads them: numbers when every label is one, else text."""
    try:
        numbers = [float(label) for label in labels]
    except ValueError:
        return _summarise([labels], True)
    return _summarise([numbers], False)


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
