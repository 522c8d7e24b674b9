"""Standard-library inspection of a split's files (no numpy): ``.npz`` array headers, CSV parsing, the NaN/inf
scan and label summaries. The light fan-out Lambda checks a split with these before it starts a run; the numpy
loaders of :mod:`hyperparameter_tuner.data` run the same checks first.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .errors import DataError

__all__ = [
    "CSV_FILES",
    "MAX_TRACKED_CLASSES",
    "NPZ_ARRAYS",
    "NPZ_OPTIONAL",
    "LabelSummary",
    "SplitReport",
    "check_data_size",
    "inspect_csv_folder",
    "inspect_csv_split",
    "inspect_npz",
    "inspect_npz_split",
]

NPZ_ARRAYS = ("X_train", "y_train", "X_test", "y_test")
NPZ_OPTIONAL = ("X_val", "y_val")
CSV_FILES = {"train": "train.csv", "validation": "validation.csv", "test": "test.csv"}
_CHUNK = 1 << 20
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
