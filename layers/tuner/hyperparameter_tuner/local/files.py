"""A folder of content-addressed model artifacts: the local resource version control."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..errors import NotFoundError, StoreError
from ..ports import ResourceVersionControl
from ..records import ArtifactRef

__all__ = ["FolderVersionControl"]


class FolderVersionControl(ResourceVersionControl):
    """:class:`ResourceVersionControl` on a folder: ``objects/<sha[:2]>/<sha256>``, written atomically.

    The version id is the SHA-256 itself, so identical models are stored once.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256

    def save(self, key: str, data: bytes) -> ArtifactRef:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._path(sha256)
        try:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                Path(tmp).replace(path)
        except OSError as exc:
            raise StoreError(f"{path}: cannot save the artifact for {key} ({exc})") from exc
        return ArtifactRef(uri=path.resolve().as_uri(), version_id=sha256, sha256=sha256, size=len(data))

    def _read(self, ref: ArtifactRef) -> bytes:
        path = self._path(ref.version_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"artifact {ref.uri} not found") from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot read the artifact ({exc})") from exc
