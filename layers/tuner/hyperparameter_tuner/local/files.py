"""A folder of content-addressed model artifacts: the local resource version control."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from ..errors import NotFoundError, StoreError
from ..ports import ResourceVersionControl
from ..records import ArtifactRef

__all__ = ["FolderVersionControl", "artifact_path"]


def artifact_path(sha256: str) -> str:
    """The path of an artifact inside a store folder, relative to the folder (POSIX separators).

    Examples
    --------
    >>> artifact_path("ab" + "0" * 62)
    'objects/ab/ab00000000000000000000000000000000000000000000000000000000000000'
    """
    return f"objects/{sha256[:2]}/{sha256}"


class FolderVersionControl(ResourceVersionControl):
    """:class:`ResourceVersionControl` on a folder: ``objects/<sha[:2]>/<sha256>``, written atomically.

    The version id is the SHA-256 itself, so identical models are stored once. The URI of a reference is the
    file's URI in *this* folder; the SQLite metadata tracker records it relative to the store, so a store copied
    elsewhere names (and loads) its own files. A file that went missing or whose bytes no longer match is written
    again by the next ``save`` of the same bytes; a failed write leaves no ``.tmp-`` file behind.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        return self.root / artifact_path(sha256)

    def _intact(self, path: Path, sha256: str) -> bool:
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise StoreError(f"store {self.root}: cannot read {path} ({exc.strerror or exc})") from exc

    def save(self, key: str, data: bytes) -> ArtifactRef:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._path(sha256)
        if not self._intact(path, sha256):  # missing, or overwritten since: (re)write it
            tmp: str | None = None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                Path(tmp).replace(path)
                tmp = None
            except OSError as exc:
                raise StoreError(
                    f"store {self.root}: cannot save the model {key} ({exc.strerror or exc})"
                ) from exc
            finally:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        Path(tmp).unlink()
        return ArtifactRef(uri=path.resolve().as_uri(), version_id=sha256, sha256=sha256, size=len(data))

    def _read(self, ref: ArtifactRef) -> bytes:
        path = self._path(ref.version_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"artifact {path.resolve().as_uri()} not found") from None
        except OSError as exc:
            raise StoreError(f"store {self.root}: cannot read {path} ({exc.strerror or exc})") from exc
