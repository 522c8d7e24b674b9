"""The store under real faults (issue 8, items 3 and 4).

Infrastructure failures are not experiment failures: a disk that fills up (``RLIMIT_FSIZE``: writes fail with
EFBIG), a deleted bucket, a DynamoDB write lost on the network end the run (locally) or fail the trainer batch (on
AWS) with one line; no experiment is marked FAILED or left RUNNING for them, and no ``.tmp-`` file is left.

The store heals and never lies: a deleted or overwritten model file is retrained on rerun, never reused; a copied
store names its own files; corrupt records are one line; a read-only store can be read.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from hyperparameter_tuner import LocalTuner, open_store
from hyperparameter_tuner.aws.s3data import fetch_split
from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import BatchItem, Services, train_batch
from hyperparameter_tuner.cli import main
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.errors import StoreError
from hyperparameter_tuner.records import ExperimentStatus, RunStatus

FSIZE_LIMIT = 1 << 20
"""Largest file the disk-full child may write: the database stays far below it, a KNN model far above it."""

DISK_FULL_CONFIG: dict[str, Any] = {
    "name": "disk-full",
    "training_params": {
        "DecisionTreeClassifier": {"max_depth": [1]},  # a model of a few hundred bytes: saved
        "KNeighborsClassifier": {"n_neighbors": [1, 3]},  # keeps its 3 MB training set: cannot be saved
    },
    "metrics": ["accuracy"],
    "perf_metric": "accuracy",
}

SMALL: dict[str, Any] = {
    "training_params": {"LogisticRegression": {"C": [0.1, 1.0]}, "DecisionTreeClassifier": {"max_depth": [2]}},
    "trainer_config": {"LogisticRegression": {"max_iter": 500}},
    "metrics": ["accuracy"],
    "perf_metric": "accuracy",
    "seed": 3,
}


def _hpt(*args: str | Path, fsize: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``hpt`` in a child process, optionally with a file-size limit (SIGXFSZ ignored: writes get EFBIG)."""

    def limit() -> None:
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "hyperparameter_tuner.cli", *map(str, args)], capture_output=True, text=True,
        timeout=600, preexec_fn=limit, cwd=cwd, check=False,
    )


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def _tmp_files(store: Path) -> list[Path]:
    return sorted(store.rglob(".tmp-*"))


# -- 3. infrastructure failures: disk full, for real -------------------------------------------------------------


@pytest.fixture
def big_npz(tmp_path: Path) -> Path:
    """A 2-class split whose KNN models (which keep the training set) are ~3 MB; validation and test are small."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_200, 8))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    path = tmp_path / "big.npz"
    np.savez(path, X_train=X[:40_000], y_train=y[:40_000], X_val=X[40_000:40_100], y_val=y[40_000:40_100],
             X_test=X[40_100:], y_test=y[40_100:])
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_full_disk_ends_the_run_with_one_line_and_fails_no_experiment(
    tmp_path: Path, big_npz: Path, write_config: Callable[..., Path], jobs: str,
) -> None:
    # Given a config whose KNN models are larger than the files this process may write
    config = write_config(DISK_FULL_CONFIG, "disk-full.yaml")
    store = tmp_path / "store"

    # When hpt run writes its models under that limit
    done = _hpt("run", config, "--data", big_npz, "--store", store, "--jobs", jobs, "--json", fsize=FSIZE_LIMIT)

    # Then it ends with exit 1 and one line naming the fault, not a traceback
    assert done.returncode == 1, done.stderr
    line = _one_error_line(done.stderr)
    assert "cannot save the model" in line and "File too large" in line
    assert done.stdout == ""
    # and the run is FAILED with that reason, while no experiment is FAILED (or RUNNING) for it
    metadata, _, _ = open_store(store)
    (run,) = metadata.list_runs()
    assert run.status is RunStatus.FAILED
    assert run.reason is not None and "File too large" in run.reason
    statuses = {e.algo: e.status for e in metadata.iter_experiments(run.run_id)}
    assert ExperimentStatus.FAILED not in statuses.values()
    assert ExperimentStatus.RUNNING not in statuses.values()
    if jobs == "1":  # grid order: the small tree was saved before the first KNN model failed
        assert statuses == {"DecisionTreeClassifier": ExperimentStatus.SUCCEEDED}
    # and no temporary file is left behind
    assert _tmp_files(store) == []


# -- 3. infrastructure failures on AWS: the trainer batch fails --------------------------------------------------

BUCKET = "hpt-store-faults"
TABLE = "hpt-store-faults"


def _create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "GSI1",
            "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                          {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    )


@pytest.fixture
def aws_run(aws_credentials: None, tmp_path: Path, iris_npz: Path) -> Iterator[SimpleNamespace]:
    """Under moto: the deployment's bucket and table, the iris split uploaded, a RUNNING run of ``SMALL`` recorded
    as the fan-out records it, and the trainer's :class:`Services`."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        _create_table(dynamodb)
        key = "datasets/iris/split.npz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=iris_npz.read_bytes())
        fetched = fetch_split(s3, BUCKET, key, tmp_path / "fetched")
        services = Services(Settings(bucket_name=BUCKET, table_name=TABLE, data_cache_dir=str(tmp_path / "cache")),
                            s3=s3, dynamodb=dynamodb)
        tuner = services.tuner(parse_config(SMALL))
        run = tuner.new_run("run-1", f"s3://{BUCKET}/{key}", fetched.fingerprint, status=RunStatus.RUNNING,
                            data_versions=fetched.versions, batches=1)
        services.metadata().create_run(run)
        item = BatchItem(run_id="run-1", batch=0, start=0, stop=run.total)
        yield SimpleNamespace(s3=s3, dynamodb=dynamodb, services=services, tuner=tuner, run=run, item=item)


def _statuses(aws_run: SimpleNamespace, run_id: str = "run-1") -> list[ExperimentStatus]:
    return [e.status for e in aws_run.services.metadata().iter_experiments(run_id)]


def _delete_bucket(s3: Any, bucket: str) -> None:
    listing = s3.list_object_versions(Bucket=bucket)
    for entry in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    s3.delete_bucket(Bucket=bucket)


def test_trainer_batch_fails_when_its_models_cannot_be_saved(aws_run: SimpleNamespace) -> None:
    # Given a warm trainer (the split cached) whose bucket is then deleted
    aws_run.services.load_data(aws_run.run, "target")
    _delete_bucket(aws_run.s3, BUCKET)

    # When the batch runs, Then it fails (the state machine's Retry/Catch sees it) naming the bucket
    with pytest.raises(StoreError, match=f"s3://{BUCKET}/models/.*cannot save the artifact.*NoSuchBucket"):
        train_batch(aws_run.item, aws_run.services)

    # and no experiment was recorded as FAILED, none is left RUNNING
    assert _statuses(aws_run) == []


def test_trainer_batch_fails_when_an_experiment_record_cannot_be_written(aws_run: SimpleNamespace) -> None:
    # Given the network to DynamoDB lost exactly when the first SUCCEEDED experiment record is written
    def lose_succeeded_writes(params: dict[str, Any], **_: Any) -> None:
        item = params.get("Item", {})
        if item.get("SK", {}).get("S", "").startswith("EXP#") and item["status"]["S"] == "SUCCEEDED":
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    aws_run.dynamodb.meta.events.register("before-parameter-build.dynamodb.PutItem", lose_succeeded_writes)

    # When the batch runs, Then it fails with the store's error
    with pytest.raises(StoreError, match="DynamoDB table .*cannot put experiment.*Could not connect"):
        train_batch(aws_run.item, aws_run.services)

    # and the experiment's RUNNING record was taken back: nothing FAILED, nothing RUNNING
    assert _statuses(aws_run) == []


def test_trainer_retrains_a_model_whose_s3_version_was_deleted(aws_run: SimpleNamespace) -> None:
    # Given a batch trained and saved in run-1, then one model version deleted from the bucket
    first = train_batch(aws_run.item, aws_run.services)
    assert first.succeeded == aws_run.run.total
    records = {e.experiment_id: e for e in aws_run.services.metadata().iter_experiments("run-1")}
    lost, kept = sorted(records)[:2]
    bucket, key = records[lost].artifact.uri[5:].split("/", 1)
    aws_run.s3.delete_object(Bucket=bucket, Key=key, VersionId=records[lost].artifact.version_id)

    # When a second run of the same grid on the same data trains the batch
    metadata = aws_run.services.metadata()
    metadata.create_run(aws_run.run.model_copy(update={"run_id": "run-2"}))
    second = train_batch(aws_run.item.model_copy(update={"run_id": "run-2"}), aws_run.services)

    # Then only the lost model is trained again, with a new version that loads; the others are reused
    assert (second.succeeded, second.reused) == (1, aws_run.run.total - 1)
    retrained = metadata.get_experiment("run-2", lost)
    assert retrained is not None and retrained.reused_from is None
    assert retrained.artifact is not None and retrained.artifact.version_id != records[lost].artifact.version_id
    assert aws_run.tuner.load_model(retrained).get_params() is not None
    reused = metadata.get_experiment("run-2", kept)
    assert reused is not None and reused.reused_from == "run-1"


# -- 4. the store heals: lost or altered model files are retrained, never reused ---------------------------------


def _local(store: Path) -> LocalTuner:
    return LocalTuner(**SMALL, store=store, jobs=1)


@pytest.mark.parametrize("fault", ["deleted", "overwritten"])
def test_a_lost_model_file_is_retrained_on_rerun_and_the_winner_loads(tmp_path: Path, iris_npz: Path,
                                                                      fault: str) -> None:
    # Given a finished run whose winner's model file is then deleted, or overwritten with other bytes
    store = tmp_path / "store"
    first = _local(store).run(iris_npz)
    assert first.winner is not None and first.winner.artifact is not None
    path = store / "objects" / first.winner.artifact.sha256[:2] / first.winner.artifact.sha256
    if fault == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"\x80\x04 planted bytes")

    # When the same grid runs again on the same data
    tuner = _local(store)
    model = tuner.run_experiment(iris_npz)

    # Then the winner was trained again (not reused), its file holds the model again, and it loads
    result = tuner.last_result
    assert result is not None and result.winner is not None
    assert result.winner.experiment_id == first.winner.experiment_id
    assert result.winner.reused_from is None
    assert result.reused == first.run.total - 1
    assert type(model).__name__ == first.winner.algo
    assert result.winner.artifact is not None
    assert path.read_bytes() == tuner.resource_version_control.load(result.winner.artifact)
    # and a third run reuses the healed record
    third = _local(store).run(iris_npz)
    assert third.reused == third.run.total


def test_a_copied_store_names_and_loads_its_own_model_files(tmp_path: Path, iris_npz: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Given a store written in one folder, copied to another, and the original removed
    original, copy = tmp_path / "original", tmp_path / "elsewhere" / "copy"
    first = _local(original).run(iris_npz)
    assert first.winner is not None and first.winner.artifact is not None
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    expected = (copy / "objects" / first.winner.artifact.sha256[:2] / first.winner.artifact.sha256).resolve()

    # When the copy's leaderboard is read
    assert main(["leaderboard", "--store", str(copy), "--json"]) == 0
    winner = json.loads(capsys.readouterr().out)["winner"]

    # Then its model URI is the copy's file, and the Python API loads the model from the copy
    assert winner["model_uri"] == expected.as_uri()
    metadata, version_control, _ = open_store(copy)
    record = metadata.get_experiment(first.run.run_id, winner["experiment_id"])
    assert record is not None and record.artifact is not None
    assert record.artifact.uri == expected.as_uri()
    assert version_control.verify(record.artifact)
    assert type(_local(copy).load_model(record)).__name__ == first.winner.algo


# -- 4. corrupt and read-only stores: one line, or read as they are ----------------------------------------------


@pytest.fixture
def finished_store(tmp_path: Path, iris_npz: Path, write_config: Callable[..., Path]) -> Path:
    """A store written by ``hpt run`` in its own process (which has exited, so its database is complete)."""
    store = tmp_path / "store"
    done = _hpt("run", write_config(SMALL), "--data", iris_npz, "--store", store, "--jobs", "1", "--json")
    assert done.returncode == 0, done.stderr
    return store


def _garble_experiment(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE experiments SET doc = substr(doc, 1, 40) WHERE idx = 1")


def _garbage_db(db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(os.urandom(8192))


def _truncated_db(db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.truncate(size // 2)


@pytest.mark.parametrize("damage", [_garble_experiment, _garbage_db, _truncated_db],
                         ids=["garbled-json-column", "garbage-db", "truncated-db"])
def test_a_corrupt_store_is_one_line_not_a_traceback(finished_store: Path,
                                                     damage: Callable[[Path], None]) -> None:
    # Given a store damaged on disk
    db = finished_store / "tuner.db"
    assert not Path(f"{db}-wal").exists()  # the writer checkpointed its WAL when it exited
    damage(db)

    # When it is read
    done = _hpt("leaderboard", "--store", finished_store, "--json")

    # Then one line names the store, exit 1
    assert done.returncode == 1, done.stderr
    assert _one_error_line(done.stderr).startswith(f"error: store {db}: ")
    assert done.stdout == ""


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make a folder and its files read-only for this user, root included (``chattr +i``), and undo it."""
    entries = [path, *sorted(path.rglob("*"))]
    for entry in entries:
        entry.chmod(entry.stat().st_mode & ~0o222)
    immutable = os.geteuid() == 0
    if immutable:  # root ignores permission bits: only the immutable attribute stops its writes
        chattr = shutil.which("chattr")
        assert chattr is not None, "chattr is needed to make a folder read-only for root"
        subprocess.run([chattr, "-R", "+i", str(path)], check=True)
    try:
        probe = path / "probe"
        with pytest.raises(OSError):
            probe.write_bytes(b"")  # the folder really is read-only
        yield
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr") or "chattr", "-R", "-i", str(path)], check=True)
        for entry in entries:
            entry.chmod(entry.stat().st_mode | 0o200)


def test_a_read_only_store_can_be_read(finished_store: Path, iris_npz: Path,
                                       write_config: Callable[..., Path]) -> None:
    expected = json.loads(_hpt("leaderboard", "--store", finished_store, "--json").stdout)
    files = sorted(finished_store.rglob("*"))

    with _read_only(finished_store):
        # When the read-only store's leaderboard is read, Then it is the same as before
        done = _hpt("leaderboard", "--store", finished_store, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == expected
        assert len(expected["experiments"]) == 3
        # and a run into it ends in one line, writing nothing
        refused = _hpt("run", write_config(SMALL), "--data", iris_npz, "--store", finished_store, "--json")
        assert refused.returncode == 1, refused.stderr
        assert "read-only" in _one_error_line(refused.stderr)
        assert sorted(finished_store.rglob("*")) == files


def test_store_error_pickles_across_the_worker_pool() -> None:
    # A worker's StoreError reaches the parent of the pool as itself, message intact
    import pickle

    error = pickle.loads(pickle.dumps(StoreError("store /x: disk full")))

    assert isinstance(error, StoreError)
    assert str(error) == "store /x: disk full"



# -- 3. on the emulated workflow: a transient store fault is retried by the state machine, not a failed run -------

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_transient_store_fault_in_the_trainer_is_retried_and_the_run_succeeds(
    aws_credentials: None, iris_npz: Path,
) -> None:
    from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker
    from hyperparameter_tuner.emulator import Emulator, s3_object_created_event

    config = {**SMALL, "name": "transient", "batch_size": 2}
    with Emulator(REPO_ROOT / "template.yaml", retry_sleep=False) as emu:
        # Given the trainer's connection to S3 lost once, when it saves its first model
        lost: list[str] = []
        lock = threading.Lock()

        def lose_first_model_upload(params: dict[str, Any], **_: Any) -> None:
            with lock:
                if params.get("Key", "").startswith("models/") and not lost:
                    lost.append(params["Key"])
                    raise EndpointConnectionError(endpoint_url=f"https://{emu.bucket_name}.s3.amazonaws.com")

        trainer_s3 = emu.handler_module("TrainerFunction").services.s3
        trainer_s3.meta.events.register("before-parameter-build.s3.PutObject", lose_first_model_upload)

        # When a split lands
        key = "datasets/iris/split.npz"
        emu.s3.put_object(Bucket=emu.bucket_name, Key="datasets/iris/tuning.yaml", Body=json.dumps(config).encode())
        emu.s3.put_object(Bucket=emu.bucket_name, Key=key, Body=iris_npz.read_bytes())
        head = emu.s3.head_object(Bucket=emu.bucket_name, Key=key)
        started = emu.deliver_event(s3_object_created_event(
            emu.bucket_name, key, head["VersionId"], head["ETag"], head["ContentLength"]))["FanOutFunction"]
        execution = emu.wait_for_execution(started["execution_arn"], timeout=300)

        # Then the failed batch was retried by the state machine (StoreError), and the run succeeded in full
        assert len(lost) == 1
        errors = [call.error for call in emu.invocations("TrainerFunction")]
        assert errors.count("StoreError") == 1 and errors.count(None) == 2
        assert execution["status"] == "SUCCEEDED"
        metadata = DynamoDBMetadataTracker(emu.table_name, client=emu.dynamodb)
        run = metadata.get_run(started["run_id"])
        assert run.status is RunStatus.SUCCEEDED and run.winner is not None
        assert sorted(e.status for e in metadata.iter_experiments(run.run_id)) == [ExperimentStatus.SUCCEEDED] * 3
