"""The ResourceVersionControl contract (``hyperparameter_tuner.ports.ResourceVersionControl``), run on every
adapter; adapter-specific checks (how each one can be tampered with or lose a version) close the module."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from hyperparameter_tuner.aws.s3 import S3VersionControl, parse_s3_uri
from hyperparameter_tuner.errors import ConfigError, IntegrityError, NotFoundError, StoreError
from hyperparameter_tuner.local.files import FolderVersionControl
from hyperparameter_tuner.ports import ResourceVersionControl
from hyperparameter_tuner.records import ArtifactRef

MODEL = b"\x80\x04pickled model bytes\x00" * 100
KEY = "models/run-1/exp-1/model.joblib"


def test_save_returns_a_reference_that_loads_the_same_bytes(version_control: ResourceVersionControl) -> None:
    ref = version_control.save(KEY, MODEL)

    assert ref.sha256 == hashlib.sha256(MODEL).hexdigest()
    assert ref.size == len(MODEL)
    assert ref.uri
    assert ref.version_id
    assert version_control.load(ref) == MODEL


def test_empty_artifact_round_trips(version_control: ResourceVersionControl) -> None:
    ref = version_control.save(KEY, b"")

    assert ref.size == 0
    assert version_control.load(ref) == b""


def test_saving_the_same_bytes_twice_is_harmless(version_control: ResourceVersionControl) -> None:
    first = version_control.save(KEY, MODEL)

    second = version_control.save(KEY, MODEL)

    assert second == first
    assert version_control.load(first) == MODEL


def test_load_returns_exactly_the_referenced_version(version_control: ResourceVersionControl) -> None:
    # Given two different artifacts saved under one key
    old = version_control.save(KEY, b"model v1")
    new = version_control.save(KEY, b"model v2")

    # Then each reference still loads its own bytes
    assert new.version_id != old.version_id
    assert version_control.load(old) == b"model v1"
    assert version_control.load(new) == b"model v2"


def test_bytes_that_do_not_match_the_reference_raise_integrity_error(
    version_control: ResourceVersionControl,
) -> None:
    # Given a reference whose version holds other bytes than its checksum says
    good = version_control.save(KEY, b"the model that was scored")
    evil = version_control.save(KEY, b"a substituted payload")
    forged = evil.model_copy(update={"sha256": good.sha256, "size": good.size})

    # When / Then
    with pytest.raises(IntegrityError, match="does not match"):
        version_control.load(forged)


def test_a_wrong_checksum_raises_integrity_error(version_control: ResourceVersionControl) -> None:
    ref = version_control.save(KEY, MODEL)

    with pytest.raises(IntegrityError, match=ref.sha256[:12]):
        version_control.load(ref.model_copy(update={"sha256": "0" * 64}))


@pytest.fixture
def missing_ref(version_control: ResourceVersionControl) -> ArtifactRef:
    """A reference to an artifact the store never held (in the store's own URI and version format)."""
    sha256 = hashlib.sha256(b"never saved").hexdigest()
    if isinstance(version_control, S3VersionControl):
        uri = f"s3://{version_control.bucket}/models/never/saved"
        return ArtifactRef(uri=uri, version_id="null", sha256=sha256, size=11)
    saved = version_control.save(KEY, MODEL)  # a real URI shape; the version is what is missing
    return saved.model_copy(update={"version_id": sha256, "sha256": sha256, "size": 11})


def test_loading_a_missing_artifact_raises_not_found(
    version_control: ResourceVersionControl, missing_ref: ArtifactRef
) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        version_control.load(missing_ref)


# Folder only -----------------------------------------------------------------------------------------------


def test_folder_refuses_a_tampered_file(tmp_path: Path) -> None:
    store = FolderVersionControl(tmp_path / "artifacts")
    ref = store.save(KEY, MODEL)
    stored = next(path for path in (tmp_path / "artifacts").rglob("*") if path.is_file())

    stored.write_bytes(b"tampered")

    with pytest.raises(IntegrityError):
        store.load(ref)


# S3 only -----------------------------------------------------------------------------------------------------


def _versions(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    return list(client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []))


def test_s3_same_key_and_bytes_keep_one_version(s3_client: Any, s3_bucket: str) -> None:
    store = S3VersionControl(s3_bucket, client=s3_client)

    first = store.save(KEY, MODEL)
    second = store.save(KEY, MODEL)

    assert second.version_id == first.version_id != "null"
    assert [v["VersionId"] for v in _versions(s3_client, s3_bucket, KEY)] == [first.version_id]
    head = s3_client.head_object(Bucket=s3_bucket, Key=KEY, VersionId=first.version_id)
    assert head["Metadata"]["sha256"] == first.sha256
    assert first.uri == f"s3://{s3_bucket}/{KEY}"


def test_s3_new_bytes_make_a_new_version(s3_client: Any, s3_bucket: str) -> None:
    store = S3VersionControl(s3_bucket, client=s3_client)

    first = store.save(KEY, b"model v1")
    second = store.save(KEY, b"model v2")
    third = store.save(KEY, b"model v1")  # same as an older version, but not the current one

    assert len({first.version_id, second.version_id, third.version_id}) == 3
    assert len(_versions(s3_client, s3_bucket, KEY)) == 3
    assert store.load(third) == b"model v1"


def test_s3_a_deleted_version_raises_not_found(s3_client: Any, s3_bucket: str) -> None:
    store = S3VersionControl(s3_bucket, client=s3_client)
    ref = store.save(KEY, MODEL)
    store.save(KEY, b"a later version")

    s3_client.delete_object(Bucket=s3_bucket, Key=KEY, VersionId=ref.version_id)

    with pytest.raises(NotFoundError, match=ref.version_id):
        store.load(ref)


def test_s3_unversioned_bucket_gives_null_versions_and_still_verifies(s3_client: Any, s3_bucket: str) -> None:
    s3_client.create_bucket(Bucket="plain")
    store = S3VersionControl("plain", client=s3_client)
    ref = store.save(KEY, MODEL)
    assert ref.version_id == "null"
    assert store.load(ref) == MODEL

    s3_client.put_object(Bucket="plain", Key=KEY, Body=b"overwritten in place")

    with pytest.raises(IntegrityError):
        store.load(ref)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key", ("bucket", "key")),
        ("s3://bucket/models/a b/c#d?e", ("bucket", "models/a b/c#d?e")),
    ],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["file:///tmp/x", "s3://bucket", "s3://bucket/", "s3:///key", "bucket/key", ""])
def test_parse_s3_uri_rejects_other_uris(uri: str) -> None:
    with pytest.raises(ConfigError, match="not an S3 object URI"):
        parse_s3_uri(uri)


# -- the store heals and never lies (run on every adapter, with each adapter's real faults) -------------------


def test_verify_is_true_for_a_saved_artifact(version_control: ResourceVersionControl) -> None:
    ref = version_control.save(KEY, MODEL)

    assert version_control.verify(ref) is True


def test_verify_is_false_for_a_reference_whose_bytes_differ(version_control: ResourceVersionControl) -> None:
    # Given a reference recording another digest (and size) than the bytes stored under its version
    ref = version_control.save(KEY, MODEL)
    other = b"not the model"
    lying = ref.model_copy(update={"sha256": hashlib.sha256(other).hexdigest(), "size": len(other)})

    assert version_control.verify(lying) is False


def test_verify_is_false_once_the_artifact_is_deleted(version_control: ResourceVersionControl,
                                                      artifact_faults: Any) -> None:
    ref = version_control.save(KEY, MODEL)

    artifact_faults.delete(ref)

    assert version_control.verify(ref) is False
    with pytest.raises(NotFoundError):
        version_control.load(ref)


def test_verify_agrees_with_load_after_the_artifact_is_overwritten(version_control: ResourceVersionControl,
                                                                   artifact_faults: Any) -> None:
    # Given the stored bytes replaced where they live (a folder: in place; S3: a new version of the key)
    ref = version_control.save(KEY, MODEL)
    artifact_faults.overwrite(ref, b"x" * len(MODEL))

    # Then verify says exactly whether the recorded version still loads
    try:
        loads = version_control.load(ref) == MODEL
    except IntegrityError:
        loads = False
    assert version_control.verify(ref) is loads
    assert loads is (artifact_faults.kind == "s3")  # an S3 version is immutable; a file is not


@pytest.mark.parametrize("fault", ["delete", "overwrite"])
def test_saving_again_after_a_loss_stores_the_bytes_again(version_control: ResourceVersionControl,
                                                          artifact_faults: Any, fault: str) -> None:
    # Given an artifact lost (deleted, or overwritten with same-sized bytes claiming its digest)
    first = version_control.save(KEY, MODEL)
    if fault == "delete":
        artifact_faults.delete(first)
    else:
        artifact_faults.overwrite(first, b"x" * len(MODEL))

    # When the same bytes are saved again (a retrained experiment)
    again = version_control.save(KEY, MODEL)

    # Then the new reference verifies and loads the model, never the planted bytes
    assert version_control.verify(again) is True
    assert version_control.load(again) == MODEL


def test_a_store_that_cannot_be_written_raises_store_error(version_control: ResourceVersionControl,
                                                           artifact_faults: Any) -> None:
    broken = artifact_faults.unwritable()

    with pytest.raises(StoreError, match="cannot save"):
        broken.save(KEY, MODEL)
