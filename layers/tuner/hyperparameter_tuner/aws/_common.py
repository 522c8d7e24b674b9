"""What every AWS adapter needs once: S3 URIs taken apart, and the error code of a botocore ``ClientError``."""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["MISSING_CODES", "error_code", "parse_s3_uri"]

MISSING_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket"})
"""botocore error codes by which S3 says an object (or its version, or bucket) is not there."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into ``(bucket, key)``; the key is taken verbatim (not URL-decoded).

    Raises
    ------
    ConfigError
        When ``uri`` is not an ``s3://`` URI with both a bucket and a key.

    Examples
    --------
    >>> parse_s3_uri("s3://my-bucket/models/abc/model.joblib")
    ('my-bucket', 'models/abc/model.joblib')
    >>> parse_s3_uri("s3://my-bucket/datasets/iris/split-1/")
    ('my-bucket', 'datasets/iris/split-1/')
    """
    scheme, sep, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if not sep or scheme != "s3" or not bucket or not key:
        raise ConfigError(f"{uri!r} is not an S3 object URI (expected s3://<bucket>/<key>)")
    return bucket, key


def error_code(exc: BaseException) -> str:
    """Return the service's error code of a botocore ``ClientError`` (``""`` for any other exception).

    Examples
    --------
    >>> from botocore.exceptions import ClientError
    >>> error_code(ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject"))
    'NoSuchKey'
    >>> error_code(ValueError("no response"))
    ''
    """
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
