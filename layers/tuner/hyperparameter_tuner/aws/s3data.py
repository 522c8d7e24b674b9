"""Split data in S3: find, identify, download (pinned to versions and ETags), fingerprint and upload splits.

A split is an ``.npz`` object, or a folder (prefix) holding ``train.csv``, ``test.csv`` and optionally
``validation.csv``, completed by a ``_SUCCESS`` marker written last.

Two identities: :func:`split_objects` names the objects a split is made of *as stored* (key, version id, ETag),
which the fan-out puts into the run id, so a CSV file rewritten in place is a new run whatever the marker or
the trigger says; the *fingerprint* is a hash of the bytes read, which experiment ids use, so the same bytes
uploaded again reuse finished experiments.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import MAX_CONFIG_BYTES
from ..data import (
    CSV_FILES,
    DEFAULT_MAX_DATA_BYTES,
    NPZ_FILE_SLACK,
    LabelSummary,
    check_data_size,
    csv_set_fingerprint,
    inspect_csv_split,
    inspect_npz_split,
)
from ..errors import ConfigError, DataError, NotFoundError, StoreError
from ._common import error_code
from .events import DATASETS_PREFIX, SUCCESS_MARKER

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "FetchedSplit",
    "SplitObject",
    "fetch_split",
    "latest_split",
    "read_text",
    "split_identity",
    "split_objects",
    "upload_split",
]

_CHUNK = 1 << 20


@dataclass
class FetchedSplit:
    """A split downloaded from S3 into a local path, with its fingerprint, the versions read and its labels'
    summaries (for the fan-out's label checks, made without numpy)."""

    path: Path
    fingerprint: str
    uri: str
    versions: dict[str, str] = field(default_factory=dict)
    labels: dict[str, LabelSummary] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Array shapes (for CSV, ``(rows, features)`` of each ``X_``), read from headers: halving's row counts."""


@dataclass(frozen=True)
class SplitObject:
    """One stored object of a split, as ``HeadObject`` describes it."""

    key: str
    version: str | None
    """Version id; ``None`` in a bucket that is not versioned."""
    etag: str
    """ETag without the surrounding quotes."""


def _download(s3: S3Client, bucket: str, key: str, version: str | None, dest: Path,
              etag: str | None = None, max_bytes: int | None = None, counted: int = 0,
              slack: int = 0) -> tuple[str, str]:
    """Download one object to ``dest``; return (sha256, version id).

    With ``etag``, an object whose ETag changed is not read. With ``max_bytes``, an object that would bring the
    split (``counted`` bytes so far) over it is refused from its ``ContentLength``, before its body is read.
    """
    from botocore.exceptions import ClientError

    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version and version != "null":
        args["VersionId"] = version
    if etag:
        args["IfMatch"] = f'"{etag}"'
    try:
        response = s3.get_object(**args)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "NoSuchVersion", "404", "InvalidArgument"):
            raise DataError(f"s3://{bucket}/{key}: no such object") from None
        if error_code(exc) in ("PreconditionFailed", "412"):
            # Overwritten since it was identified (unversioned bucket): a retry identifies the new bytes.
            raise StoreError(f"s3://{bucket}/{key}: changed while the run was being started; try again") from None
        raise StoreError(f"s3://{bucket}/{key}: cannot read ({error_code(exc)})") from exc
    length = int(response.get("ContentLength") or 0)
    if max_bytes is not None and counted + length > max_bytes + slack:
        response["Body"].close()
        what = "the file is" if slack else "the CSV files total"
        check_data_size(counted + length, max_bytes, f"s3://{bucket}/{key}", what, slack)
    digest = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Write aside and rename: a reader never sees a half-written file (concurrent invocations share /tmp).
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    with os.fdopen(fd, "wb") as fh:
        for chunk in response["Body"].iter_chunks(_CHUNK):
            digest.update(chunk)
            fh.write(chunk)
    Path(tmp).replace(dest)
    return digest.hexdigest(), str(response.get("VersionId") or "null")


def fetch_split(
    s3: S3Client, bucket: str, data_key: str, dest: Path, *, version: str | None = None,
    versions: dict[str, str] | None = None, target: str = "target", etags: dict[str, str] | None = None,
    max_data_bytes: int | None = DEFAULT_MAX_DATA_BYTES,
) -> FetchedSplit:
    """Download a split to ``dest`` and check it with the standard library only (no numpy).

    The checks are the local loader's: shapes, dtypes, NaN/inf in float arrays of every width, and the size
    limit (objects' ``ContentLength`` before download, then the ``.npz`` arrays' in-memory size from their
    headers); the labels are summarised for the config's label checks.

    Parameters
    ----------
    data_key : str
        ``.npz`` key, or CSV folder prefix ending with ``/``.
    version : str, optional
        Version id of the ``.npz``.
    versions : dict, optional
        Version id per CSV key, to read exactly what a run recorded.
    etags : dict, optional
        ETag per key (see :func:`split_objects`): an object whose ETag changed is not read.
    max_data_bytes : int, optional
        The config's ``max_data_bytes``; ``None`` for no limit.

    Raises
    ------
    DataError
        Naming the object that is missing or the array/line at fault.
    StoreError
        When S3 fails, or an object no longer has the ETag given in ``etags``.
    """
    etags = etags or {}
    if data_key.endswith(".npz"):
        path = dest / "split.npz"
        sha, version_id = _download(s3, bucket, data_key, version, path, etags.get(data_key), max_data_bytes,
                                    slack=NPZ_FILE_SLACK)
        with path.open("rb") as fh:
            report = inspect_npz_split(fh, f"s3://{bucket}/{data_key}", check_values=True, max_bytes=max_data_bytes,
                                       labels=True)
        return FetchedSplit(path, sha, f"s3://{bucket}/{data_key}", {data_key: version_id}, report.labels,
                            report.shapes)
    folder = dest / "split"
    digests: dict[str, str] = {}
    read_versions: dict[str, str] = {}
    counted = 0
    listed = _list_keys(s3, bucket, data_key)
    for name in CSV_FILES.values():
        key = data_key + name
        if key not in listed and not (versions and key in versions):
            continue
        digests[name], read_versions[key] = _download(s3, bucket, key, (versions or {}).get(key), folder / name,
                                                      etags.get(key), max_data_bytes, counted)
        counted += (folder / name).stat().st_size
    source = f"s3://{bucket}/{data_key}"
    handles = {name: (folder / name).open("rb") for name in digests}
    try:
        report = inspect_csv_split(handles, source.rstrip("/"), target)  # type: ignore[arg-type]
    finally:
        for handle in handles.values():
            handle.close()
    return FetchedSplit(folder, csv_set_fingerprint(digests, target), source, read_versions, report.labels,
                        report.shapes)


def split_objects(s3: S3Client, bucket: str, data_key: str, *, version: str | None = None) -> list[SplitObject]:
    """The objects a split is made of, as stored now: the ``.npz`` (at ``version`` when given) or the folder's
    ``train.csv``, ``validation.csv`` and ``test.csv`` (the ``_SUCCESS`` marker says nothing about their bytes).

    Missing objects are left out (reading the split then names them).

    Raises
    ------
    StoreError
        When S3 fails otherwise (permissions, throttling).
    """
    from botocore.exceptions import ClientError

    keys = [data_key] if data_key.endswith(".npz") else [data_key + name for name in CSV_FILES.values()]
    objects: list[SplitObject] = []
    for key in keys:
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version and version != "null" and key == data_key:
            args["VersionId"] = version
        try:
            head = s3.head_object(**args)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchVersion", "400"):
                continue
            raise StoreError(f"s3://{bucket}/{key}: cannot read ({error_code(exc)})") from exc
        found = head.get("VersionId")
        objects.append(SplitObject(key, None if found in (None, "null") else str(found), head["ETag"].strip('"')))
    return objects


def split_identity(objects: list[SplitObject]) -> list[list[str | None]]:
    """A JSON-able identity of a split's stored objects, for the run id: it changes whenever any object is
    rewritten (new version id, or new ETag in a bucket that is not versioned).

    Examples
    --------
    >>> split_identity([SplitObject("d/a/train.csv", None, "e1"), SplitObject("d/a/test.csv", "v2", "e2")])
    [['d/a/test.csv', 'v2', 'e2'], ['d/a/train.csv', None, 'e1']]
    """
    return [[obj.key, obj.version, obj.etag] for obj in sorted(objects, key=lambda obj: obj.key)]


def _list_keys(s3: S3Client, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def latest_split(s3: S3Client, bucket: str, dataset: str) -> tuple[str, str | None]:
    """Return ``(data_key, version)`` of a dataset's most recent split (``.npz`` or completed CSV folder).

    Raises
    ------
    NotFoundError
        When the dataset has no split.
    """
    best: tuple[Any, str, str | None] | None = None
    prefix = f"{DATASETS_PREFIX}{dataset}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith(".npz"):
                split = key
            elif key.endswith("/" + SUCCESS_MARKER):
                split = key[: -len(SUCCESS_MARKER)]
            else:
                continue
            if best is None or item["LastModified"] > best[0]:
                best = (item["LastModified"], split, None)
                if split.endswith(".npz"):
                    head = s3.head_object(Bucket=bucket, Key=key)
                    best = (item["LastModified"], split, head.get("VersionId"))
    if best is None:
        raise NotFoundError(f"dataset {dataset!r} has no split under s3://{bucket}/{prefix}")
    return best[1], best[2]


def read_text(s3: S3Client, bucket: str, key: str, max_bytes: int = MAX_CONFIG_BYTES) -> str | None:
    """Return an object's text (a config), or ``None`` when it does not exist.

    At most ``max_bytes + 1`` bytes are read: a larger object is refused in one line without being downloaded.
    """
    from botocore.exceptions import ClientError

    try:
        stream = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            body = stream.read(max_bytes + 1)
        finally:
            stream.close()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise StoreError(f"s3://{bucket}/{key}: cannot read ({error_code(exc)})") from exc
    if len(body) > max_bytes:
        raise ConfigError(f"s3://{bucket}/{key}: the config is over the {max_bytes // 1024} KiB limit")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"s3://{bucket}/{key}: not UTF-8 text") from None


def upload_split(s3: S3Client, bucket: str, prefix: str, path: Path) -> tuple[str, dict[str, Any]]:
    """Upload a local split under ``prefix`` as a user would; return ``(trigger key, put_object response)``.

    An ``.npz`` is one object; a CSV folder is its CSV files then a ``_SUCCESS`` marker, written last.
    """
    if path.is_dir():
        folder = f"{prefix}{path.name}/"
        found = False
        for name in CSV_FILES.values():
            if (path / name).is_file():
                found = True
                s3.put_object(Bucket=bucket, Key=folder + name, Body=(path / name).read_bytes())
        if not found:
            raise DataError(f"{path}: no train.csv, validation.csv or test.csv to upload")
        key = folder + SUCCESS_MARKER
        return key, dict(s3.put_object(Bucket=bucket, Key=key, Body=b""))
    key = f"{prefix}{path.name}"
    return key, dict(s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes()))
