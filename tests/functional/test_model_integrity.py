"""A stored model is never unpickled unless its bytes match the SHA-256 recorded for it.

A crafted pickle whose unpickling creates a marker file is planted where a stored model lives (the local store's
object file; the S3 object, or a new S3 version of it); ``load_model`` must raise IntegrityError and the marker must
never appear. A control shows the same bytes DO create the marker when unpickled directly, so the tests can fail.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import joblib
import numpy as np
import pytest
from moto import mock_aws

from hyperparameter_tuner import IntegrityError, LocalTuner
from hyperparameter_tuner.aws.s3 import S3VersionControl
from hyperparameter_tuner.aws.tuner import StackResources, StepFunctionsTuner
from hyperparameter_tuner.records import ArtifactRef, Experiment, ExperimentStatus

BUCKET = "hpt-integrity-models"
CONFIG: dict[str, Any] = {
    "training_params": {"LogisticRegression": {"C": [0.1, 1.0]}},
    "trainer_config": {"LogisticRegression": {"max_iter": 300}},
    "metrics": ["accuracy"],
    "perf_metric": "accuracy",
}


class _CreatesFile:
    """Unpickling an instance calls ``open(path, "w")``: the marker file appears."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def crafted_bytes(marker: Path) -> bytes:
    """A pickle that creates ``marker`` when loaded (by pickle or joblib)."""
    return pickle.dumps(_CreatesFile(marker))


def test_control_the_crafted_bytes_do_create_the_file_when_unpickled(tmp_path: Path) -> None:
    # Given the crafted bytes in a file, and a marker that does not exist yet
    marker = tmp_path / "pwned-control"
    payload = tmp_path / "model.joblib"
    payload.write_bytes(crafted_bytes(marker))
    assert not marker.exists()

    # When another interpreter loads them without any check
    subprocess.run([sys.executable, "-c", "import joblib, sys; joblib.load(sys.argv[1])", str(payload)],
                   check=True, capture_output=True, timeout=120)

    # Then the marker exists: these bytes are a real threat
    assert marker.exists()


# -- the local store -----------------------------------------------------------------------------------------------


@pytest.fixture
def local_run(tmp_path: Path, iris_npz: Path) -> SimpleNamespace:
    tuner = LocalTuner(**CONFIG, store=tmp_path / "store", jobs=1)
    tuner.run(iris_npz)
    assert tuner.last_result is not None and tuner.last_result.winner is not None
    winner = tuner.last_result.winner
    assert winner.artifact is not None
    path = tmp_path / "store" / "objects" / winner.artifact.sha256[:2] / winner.artifact.sha256
    assert path.is_file()
    return SimpleNamespace(tuner=tuner, winner=winner, object_path=path)


def test_local_store_loads_the_untouched_winner(local_run: SimpleNamespace) -> None:
    model = local_run.tuner.load_model(local_run.winner)

    assert type(model).__name__ == "LogisticRegression"


def test_local_store_refuses_a_planted_pickle_in_the_winners_object_file(local_run: SimpleNamespace,
                                                                         tmp_path: Path) -> None:
    # Given the winner's object file overwritten with the crafted pickle
    marker = tmp_path / "pwned-local"
    local_run.object_path.write_bytes(crafted_bytes(marker))

    # When
    with pytest.raises(IntegrityError, match="does not match the recorded .*refusing to load"):
        local_run.tuner.load_model(local_run.winner)

    # Then
    assert not marker.exists()


def test_local_store_refuses_a_record_pointing_at_planted_bytes(local_run: SimpleNamespace, tmp_path: Path) -> None:
    # Given the crafted pickle stored under its own digest and a record whose version points at it
    marker = tmp_path / "pwned-local-ref"
    body = crafted_bytes(marker)
    planted = local_run.tuner.resource_version_control.save("models/evil.joblib", body)
    tampered = local_run.winner.model_copy(update={"artifact": local_run.winner.artifact.model_copy(
        update={"version_id": planted.version_id, "uri": planted.uri})})

    # When
    with pytest.raises(IntegrityError):
        local_run.tuner.load_model(tampered)

    # Then
    assert not marker.exists()


# -- S3 (the AWS adapter) under moto ----------------------------------------------------------------------------


@pytest.fixture
def s3_models(aws_credentials: None, iris_arrays: dict[str, np.ndarray]) -> Iterator[SimpleNamespace]:
    """A versioned bucket under moto with one real model saved by ``S3VersionControl``, and a StepFunctionsTuner on
    it (its ``load_model`` is the spec's ``BaseHyperparameterTuner.load_model``)."""
    from sklearn.linear_model import LogisticRegression

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        buffer = io.BytesIO()
        joblib.dump(LogisticRegression(max_iter=300).fit(iris_arrays["X_train"], iris_arrays["y_train"]), buffer)
        version_control = S3VersionControl(BUCKET, client=s3)
        key = "models/LogisticRegression/abc123.joblib"
        artifact = version_control.save(key, buffer.getvalue())
        experiment = Experiment(run_id="r1", experiment_id="abc123", index=0, algo="LogisticRegression",
                                params={"C": 1.0}, data_fingerprint="f" * 64, status=ExperimentStatus.SUCCEEDED,
                                artifact=artifact)
        tuner = StepFunctionsTuner(**CONFIG, resources=StackResources(bucket=BUCKET, table="hpt-unused-table"),
                                   s3=s3, dynamodb=boto3.client("dynamodb", region_name="us-east-1"))
        yield SimpleNamespace(s3=s3, key=key, artifact=artifact, experiment=experiment, tuner=tuner)


def test_s3_loads_the_untouched_model(s3_models: SimpleNamespace) -> None:
    assert type(s3_models.tuner.load_model(s3_models.experiment)).__name__ == "LogisticRegression"


def test_s3_new_version_with_a_planted_pickle_is_never_loaded(s3_models: SimpleNamespace, tmp_path: Path) -> None:
    # Given a new version of the model's key holding the crafted pickle (its metadata claiming the right digest)
    marker = tmp_path / "pwned-s3-new-version"
    s3_models.s3.put_object(Bucket=BUCKET, Key=s3_models.key, Body=crafted_bytes(marker),
                            Metadata={"sha256": s3_models.artifact.sha256})
    versions = s3_models.s3.list_object_versions(Bucket=BUCKET, Prefix=s3_models.key)["Versions"]
    assert len(versions) == 2

    # When the record (pinned to its version) is loaded
    model = s3_models.tuner.load_model(s3_models.experiment)

    # Then the original model comes back, and the planted bytes were never unpickled
    assert type(model).__name__ == "LogisticRegression"
    assert not marker.exists()


def test_s3_record_pointing_at_the_planted_version_is_refused(s3_models: SimpleNamespace, tmp_path: Path) -> None:
    # Given the crafted pickle as a new version, and a record whose version id points at it
    marker = tmp_path / "pwned-s3-version-ref"
    planted = s3_models.s3.put_object(Bucket=BUCKET, Key=s3_models.key, Body=crafted_bytes(marker))
    tampered = s3_models.experiment.model_copy(update={"artifact": s3_models.artifact.model_copy(
        update={"version_id": planted["VersionId"]})})

    # When
    with pytest.raises(IntegrityError, match="does not match the recorded"):
        s3_models.tuner.load_model(tampered)

    # Then
    assert not marker.exists()


def test_s3_overwritten_object_of_an_unversioned_record_is_refused(s3_models: SimpleNamespace,
                                                                   tmp_path: Path) -> None:
    # Given a record of an object written while versioning was off ("null" version), then overwritten in place
    marker = tmp_path / "pwned-s3-overwrite"
    s3_models.s3.create_bucket(Bucket=f"{BUCKET}-plain")
    plain = S3VersionControl(f"{BUCKET}-plain", client=s3_models.s3)
    original = s3_models.s3.get_object(Bucket=BUCKET, Key=s3_models.key)["Body"].read()
    artifact = plain.save(s3_models.key, original)
    assert artifact.version_id == "null"
    s3_models.s3.put_object(Bucket=f"{BUCKET}-plain", Key=s3_models.key, Body=crafted_bytes(marker))
    tuner = StepFunctionsTuner(**CONFIG, resources=StackResources(bucket=f"{BUCKET}-plain", table="unused-table"),
                               s3=s3_models.s3, dynamodb=boto3.client("dynamodb", region_name="us-east-1"))

    # When
    with pytest.raises(IntegrityError, match="refusing to load"):
        tuner.load_model(s3_models.experiment.model_copy(update={"artifact": artifact}))

    # Then
    assert not marker.exists()


def test_s3_version_control_verifies_before_returning_bytes(s3_models: SimpleNamespace, tmp_path: Path) -> None:
    # The port itself (not only load_model) refuses: no caller can get unverified bytes from it.
    marker = tmp_path / "pwned-port"
    body = crafted_bytes(marker)
    planted = s3_models.s3.put_object(Bucket=BUCKET, Key=s3_models.key, Body=body)
    ref = ArtifactRef(uri=f"s3://{BUCKET}/{s3_models.key}", version_id=planted["VersionId"],
                      sha256=hashlib.sha256(b"what the record says").hexdigest(), size=len(body))

    with pytest.raises(IntegrityError):
        S3VersionControl(BUCKET, client=s3_models.s3).load(ref)

    assert not marker.exists()


def test_s3_overwritten_unversioned_model_is_never_verified_for_reuse(s3_models: SimpleNamespace,
                                                                      tmp_path: Path) -> None:
    # Given a model in a bucket without versioning, overwritten in place by the crafted pickle whose metadata claims
    # the recorded digest and whose size matches (the cheap checks a HEAD can make all pass)
    marker = tmp_path / "pwned-s3-reuse"
    s3_models.s3.create_bucket(Bucket=f"{BUCKET}-reuse")
    plain = S3VersionControl(f"{BUCKET}-reuse", client=s3_models.s3)
    original = s3_models.s3.get_object(Bucket=BUCKET, Key=s3_models.key)["Body"].read()
    artifact = plain.save(s3_models.key, original)
    planted = crafted_bytes(marker)
    planted = planted + b"." * (len(original) - len(planted)) if len(planted) < len(original) else planted
    s3_models.s3.put_object(Bucket=f"{BUCKET}-reuse", Key=s3_models.key, Body=planted,
                            Metadata={"sha256": artifact.sha256})

    # When a rerun asks whether the recorded model can be reused, Then it cannot (it is read and hashed)
    assert plain.verify(artifact) is False

    # and the planted bytes were never unpickled
    assert not marker.exists()
