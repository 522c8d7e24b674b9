"""S3 resource version control: model artifacts as objects of a versioned bucket, checked by SHA-256."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import NotFoundError, StoreError
from ..ports import ResourceVersionControl
from ..records import ArtifactRef
from ._common import MISSING_CODES, error_code, parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3VersionControl", "parse_s3_uri"]

_SHA256_METADATA = "sha256"
_NULL_VERSION = "null"  # S3's version id of objects written while versioning was off


class S3VersionControl(ResourceVersionControl):
    """:class:`ResourceVersionControl` on an S3 bucket with versioning enabled.

    Object layout
    -------------
    The bytes go to ``s3://<bucket>/<key>`` as given, with the user metadata ``sha256`` (hex digest). The
    reference's ``version_id`` is the S3 version id (``"null"`` when the bucket is not versioned, in which
    case ``load`` reads the current object and still verifies it). Saving bytes equal to the object currently
    at ``key`` (same size and SHA-256, checked as :meth:`verify` does) writes nothing and returns that object's
    version, so a retried trainer does not create a second version; anything else at ``key`` gets a new version.

    Parameters
    ----------
    bucket : str
        Name of the bucket ``save`` writes to (``load`` reads the bucket named in the reference's URI).
    client : S3Client, optional
        A boto3 S3 client; ``boto3.client("s3")`` is created on first use when omitted.

    Notes
    -----
    Server-side encryption is left to the bucket's default. Uploads carry ``ChecksumSHA256``, so S3 itself
    rejects bytes corrupted in transit.
    """

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        """The injected client, or a default ``boto3.client("s3")`` created on first use."""
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def _head(self, bucket: str, key: str, version_id: str | None) -> dict[str, Any] | None:
        """HEAD of the object (of exactly ``version_id`` when given), with S3's checksum; ``None`` if missing."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id is not None and version_id != _NULL_VERSION:
            kwargs["VersionId"] = version_id
        try:
            return dict(self.client.head_object(**kwargs))
        except ClientError as exc:
            if error_code(exc) in MISSING_CODES or error_code(exc) == "400" and version_id is not None:
                return None  # missing (or a version id S3 does not know)
            raise

    def _same_bytes(self, head: dict[str, Any], bucket: str, key: str, sha256: str, size: int, *,
                    recorded: bool) -> bool:
        """Whether the object described by ``head`` holds exactly the bytes with this SHA-256 and size.

        S3's own ``ChecksumSHA256`` (computed by S3 from the bytes it stored) decides when it is returned. A
        version id names immutable bytes, so for a ``recorded`` version (one this adapter wrote and the metadata
        names) the size and the ``sha256`` metadata written with it suffice; any other object (the current one at
        a key, an unversioned ``null`` object that can be overwritten in place) is read and hashed.
        """
        if head.get("ContentLength") != size:
            return False
        checksum = head.get("ChecksumSHA256")
        if checksum:
            return bool(checksum == base64.b64encode(bytes.fromhex(sha256)).decode("ascii"))
        if head.get("Metadata", {}).get(_SHA256_METADATA) != sha256:
            return False
        version = head.get("VersionId") or _NULL_VERSION
        if recorded and version != _NULL_VERSION:
            return True
        extra: dict[str, Any] = {} if version == _NULL_VERSION else {"VersionId": version}
        body = self.client.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        return hashlib.sha256(body).hexdigest() == sha256

    def _existing(self, key: str, sha256: str, size: int) -> ArtifactRef | None:
        """The reference of the current object at ``key`` if it already holds exactly these bytes."""
        head = self._head(self.bucket, key, None)
        if head is None or not self._same_bytes(head, self.bucket, key, sha256, size, recorded=False):
            return None
        return ArtifactRef(
            uri=f"s3://{self.bucket}/{key}", version_id=head.get("VersionId") or _NULL_VERSION, sha256=sha256,
            size=size,
        )

    def verify(self, ref: ArtifactRef) -> bool:
        """Whether ``ref``'s version still exists with its recorded size and SHA-256: one HEAD of that version.

        A missing version (deleted, or a delete marker on an unversioned key) or different bytes give ``False``;
        an unversioned object without an S3 checksum is read and hashed. Access or service errors raise
        :class:`StoreError` (they say nothing about the artifact).
        """
        bucket, key = parse_s3_uri(ref.uri)
        try:
            head = self._head(bucket, key, ref.version_id)
            return head is not None and self._same_bytes(head, bucket, key, ref.sha256, ref.size, recorded=True)
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{ref.uri}: cannot check the artifact ({_describe(exc)})") from exc

    def save(self, key: str, data: bytes) -> ArtifactRef:
        digest = hashlib.sha256(data)
        sha256 = digest.hexdigest()
        uri = f"s3://{self.bucket}/{key}"
        try:
            existing = self._existing(key, sha256, len(data))
            if existing is not None:
                return existing
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, Metadata={_SHA256_METADATA: sha256},
                ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"{uri}: cannot save the artifact ({_describe(exc)})") from exc
        return ArtifactRef(uri=uri, version_id=response.get("VersionId") or _NULL_VERSION, sha256=sha256,
                           size=len(data))

    def _read(self, ref: ArtifactRef) -> bytes:
        bucket, key = parse_s3_uri(ref.uri)
        try:
            if ref.version_id == _NULL_VERSION:
                response = self.client.get_object(Bucket=bucket, Key=key)
            else:
                response = self.client.get_object(Bucket=bucket, Key=key, VersionId=ref.version_id)
            body = response["Body"].read()
        except ClientError as exc:
            if error_code(exc) in MISSING_CODES:
                raise NotFoundError(f"artifact {ref.uri} (version {ref.version_id}) not found") from exc
            raise StoreError(f"{ref.uri}: cannot read the artifact ({_describe(exc)})") from exc
        except BotoCoreError as exc:
            raise StoreError(f"{ref.uri}: cannot read the artifact ({_describe(exc)})") from exc
        data: bytes = body
        return data


def _describe(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}"
    return str(exc)
