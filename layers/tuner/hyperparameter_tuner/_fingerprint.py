"""Data fingerprints: the SHA-256 of a split's file contents, the same on a laptop and in S3."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from ._split_inspect import _CHUNK, CSV_FILES

__all__ = ["csv_set_fingerprint", "fingerprint_bytes", "fingerprint_path"]


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
