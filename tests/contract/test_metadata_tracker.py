"""The MetadataTracker contract (``hyperparameter_tuner.ports.MetadataTracker``), run on every adapter."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hyperparameter_tuner.errors import NotFoundError, StoreError
from hyperparameter_tuner.ports import MetadataTracker
from hyperparameter_tuner.records import ArtifactRef, Experiment, ExperimentStatus, Run, RunStatus

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_run(run_id: str = "run-1", created_at: datetime = T0, **fields: object) -> Run:
    values: dict[str, object] = {
        "run_id": run_id, "name": f"name of {run_id}", "config": {"training_params": {"Ridge": {"alpha": [0.1, 1]}},
                                                                  "metrics": ["r2"], "perf_metric": "r2"},
        "perf_metric": "r2", "direction": "maximize", "data_uri": "s3://bucket/datasets/d.npz",
        "data_fingerprint": "fp", "total": 2, "created_at": created_at,
    }
    return Run.model_validate({**values, **fields})


def make_experiment(
    experiment_id: str = "exp-1", run_id: str = "run-1", index: int = 0,
    status: ExperimentStatus = ExperimentStatus.RUNNING, finished_at: datetime | None = None, **fields: object,
) -> Experiment:
    values: dict[str, object] = {
        "run_id": run_id, "experiment_id": experiment_id, "index": index, "algo": "Ridge",
        "params": {"alpha": 0.1, "fit_intercept": True}, "data_fingerprint": "fp", "status": status,
        "started_at": T0, "finished_at": finished_at,
    }
    return Experiment.model_validate({**values, **fields})


def succeeded(experiment_id: str, run_id: str, finished_at: datetime, **fields: Any) -> Experiment:
    defaults: dict[str, Any] = {
        "scores": {"test": {"r2": 0.5}, "validation": {"r2": 0.75}}, "eval_split": "validation",
        "model_version": f"{experiment_id}.1", "fit_time": 0.25, "score_time": 0.01,
        "artifact": ArtifactRef(uri=f"s3://bucket/models/{experiment_id}", version_id="v1", sha256="ab" * 32,
                                size=10),
    }
    return make_experiment(
        experiment_id, run_id, status=ExperimentStatus.SUCCEEDED, finished_at=finished_at, **{**defaults, **fields}
    )


# runs -------------------------------------------------------------------------------------------------------


def test_create_run_stores_the_run_and_get_run_returns_it(metadata_tracker: MetadataTracker) -> None:
    run = make_run()

    assert metadata_tracker.create_run(run) is True

    assert metadata_tracker.get_run("run-1") == run


def test_create_run_twice_keeps_the_first_run(metadata_tracker: MetadataTracker) -> None:
    # Given a stored run
    first = make_run(name="first")
    assert metadata_tracker.create_run(first) is True

    # When the same run id is created again with other values
    again = metadata_tracker.create_run(make_run(name="second", total=99, created_at=T0 + timedelta(days=1)))

    # Then the second create says so and the first run is untouched
    assert again is False
    assert metadata_tracker.get_run("run-1") == first
    assert [run.run_id for run in metadata_tracker.list_runs()] == ["run-1"]


def test_get_run_of_unknown_id_raises_not_found(metadata_tracker: MetadataTracker) -> None:
    metadata_tracker.create_run(make_run("run-1"))

    with pytest.raises(NotFoundError, match="run-2"):
        metadata_tracker.get_run("run-2")


def test_update_run_changes_only_the_named_fields(metadata_tracker: MetadataTracker) -> None:
    run = make_run()
    metadata_tracker.create_run(run)
    finished = T0 + timedelta(hours=1)

    updated = metadata_tracker.update_run(
        "run-1", status=RunStatus.SUCCEEDED, winner="exp-1", finished_at=finished, name=None
    )

    expected = run.model_copy(
        update={"status": RunStatus.SUCCEEDED, "winner": "exp-1", "finished_at": finished, "name": None}
    )
    assert updated == expected
    assert metadata_tracker.get_run("run-1") == expected


def test_update_run_accepts_plain_values_for_typed_fields(metadata_tracker: MetadataTracker) -> None:
    metadata_tracker.create_run(make_run())

    updated = metadata_tracker.update_run("run-1", status="RUNNING", reused=3)

    assert updated.status is RunStatus.RUNNING
    assert metadata_tracker.get_run("run-1").reused == 3


def test_concurrent_updates_of_different_fields_are_both_kept(
    make_metadata_tracker: Callable[[], MetadataTracker],
) -> None:
    # Given a run and two trackers (two writers, each with its own connection or client)
    first, second = make_metadata_tracker(), make_metadata_tracker()
    first.create_run(make_run())
    rounds = 20
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(tracker: MetadataTracker, field: str) -> None:
        try:
            barrier.wait()
            for i in range(1, rounds + 1):
                tracker.update_run("run-1", **{field: i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    # When each writer updates a different field many times, at the same time
    threads = [
        threading.Thread(target=writer, args=(first, "reused")),
        threading.Thread(target=writer, args=(second, "total")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then no update of either field was lost
    assert not errors
    stored = first.get_run("run-1")
    assert (stored.reused, stored.total) == (rounds, rounds)


def test_update_run_of_unknown_id_raises_not_found_and_creates_nothing(metadata_tracker: MetadataTracker) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        metadata_tracker.update_run("ghost", status=RunStatus.FAILED)

    with pytest.raises(NotFoundError):
        metadata_tracker.get_run("ghost")
    assert metadata_tracker.list_runs() == []


def test_list_runs_is_newest_first_and_honours_limit(metadata_tracker: MetadataTracker) -> None:
    created = {f"run-{i}": T0 + timedelta(minutes=m) for i, m in enumerate([5, 1, 30, 12, 7])}
    for run_id, at in created.items():
        metadata_tracker.create_run(make_run(run_id, created_at=at))
    newest_first = sorted(created, key=created.__getitem__, reverse=True)

    assert [run.run_id for run in metadata_tracker.list_runs()] == newest_first
    assert [run.run_id for run in metadata_tracker.list_runs(limit=3)] == newest_first[:3]
    assert metadata_tracker.list_runs()[0] == make_run("run-2", created_at=created["run-2"])


def test_list_runs_on_an_empty_store_is_empty(metadata_tracker: MetadataTracker) -> None:
    assert metadata_tracker.list_runs() == []


# model versions ---------------------------------------------------------------------------------------------


def test_create_model_version_is_unique_per_call(metadata_tracker: MetadataTracker) -> None:
    versions = [
        metadata_tracker.create_model_version(run_id, experiment_id)
        for run_id in ("run-1", "run-2")
        for experiment_id in ("exp-1", "exp-2", "exp-1")
    ]

    assert len({(v.experiment_id, v.version) for v in versions}) == len(versions)
    assert [(v.run_id, v.experiment_id) for v in versions] == [
        (run_id, experiment_id) for run_id in ("run-1", "run-2") for experiment_id in ("exp-1", "exp-2", "exp-1")
    ]


def test_concurrent_model_versions_are_unique(make_metadata_tracker: Callable[[], MetadataTracker]) -> None:
    trackers = [make_metadata_tracker() for _ in range(4)]
    versions: list[str] = []
    lock = threading.Lock()

    def reserve(tracker: MetadataTracker) -> None:
        for _ in range(10):
            version = tracker.create_model_version("run-1", "exp-1").version
            with lock:
                versions.append(version)

    threads = [threading.Thread(target=reserve, args=(tracker,)) for tracker in trackers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(versions) == 40
    assert len(set(versions)) == 40


# experiments ------------------------------------------------------------------------------------------------


def test_put_experiment_stores_and_returns_the_record(metadata_tracker: MetadataTracker) -> None:
    record = succeeded("exp-1", "run-1", T0 + timedelta(minutes=3), params={"alpha": 0.5, "solver": None})

    assert metadata_tracker.put_experiment(record) == record

    assert metadata_tracker.get_experiment("run-1", "exp-1") == record


def test_put_experiment_replaces_a_record_that_did_not_succeed(metadata_tracker: MetadataTracker) -> None:
    metadata_tracker.put_experiment(make_experiment(status=ExperimentStatus.RUNNING))
    failed = make_experiment(status=ExperimentStatus.FAILED, error_type="ValueError", error="bad alpha",
                             finished_at=T0 + timedelta(minutes=1))

    assert metadata_tracker.put_experiment(failed) == failed
    assert metadata_tracker.get_experiment("run-1", "exp-1") == failed

    done = succeeded("exp-1", "run-1", T0 + timedelta(minutes=2))
    assert metadata_tracker.put_experiment(done) == done
    assert metadata_tracker.get_experiment("run-1", "exp-1") == done


@pytest.mark.parametrize("later_status", [ExperimentStatus.RUNNING, ExperimentStatus.FAILED,
                                          ExperimentStatus.SUCCEEDED])
def test_put_experiment_never_replaces_a_succeeded_record(
    metadata_tracker: MetadataTracker, later_status: ExperimentStatus
) -> None:
    # Given a SUCCEEDED record
    done = succeeded("exp-1", "run-1", T0 + timedelta(minutes=2))
    metadata_tracker.put_experiment(done)

    # When a retry puts another record for the same (run, experiment)
    later = make_experiment(status=later_status, index=5, error="late retry", finished_at=T0 + timedelta(hours=1))
    stored = metadata_tracker.put_experiment(later)

    # Then the SUCCEEDED record is kept and returned
    assert stored == done
    assert metadata_tracker.get_experiment("run-1", "exp-1") == done


def test_experiments_are_keyed_by_run_and_experiment(metadata_tracker: MetadataTracker) -> None:
    done = succeeded("exp-1", "run-1", T0)
    other_run = make_experiment("exp-1", "run-2", status=ExperimentStatus.FAILED)

    metadata_tracker.put_experiment(done)
    assert metadata_tracker.put_experiment(other_run) == other_run

    assert metadata_tracker.get_experiment("run-1", "exp-1") == done
    assert metadata_tracker.get_experiment("run-2", "exp-1") == other_run


def test_get_experiment_of_unknown_ids_is_none(metadata_tracker: MetadataTracker) -> None:
    metadata_tracker.put_experiment(make_experiment("exp-1", "run-1"))

    assert metadata_tracker.get_experiment("run-1", "exp-2") is None
    assert metadata_tracker.get_experiment("run-2", "exp-1") is None


def test_find_succeeded_returns_the_latest_succeeded_record_in_any_run(metadata_tracker: MetadataTracker) -> None:
    # Given the experiment succeeded in two runs, failed later in a third, and another experiment succeeded last
    older = succeeded("exp-1", "run-b", T0 + timedelta(minutes=1))
    latest = succeeded("exp-1", "run-a", T0 + timedelta(minutes=9))
    for record in (
        older,
        latest,
        make_experiment("exp-1", "run-c", status=ExperimentStatus.FAILED, finished_at=T0 + timedelta(hours=1)),
        make_experiment("exp-1", "run-d", status=ExperimentStatus.RUNNING),
        succeeded("exp-2", "run-a", T0 + timedelta(hours=2)),
    ):
        metadata_tracker.put_experiment(record)

    # When / Then
    assert metadata_tracker.find_succeeded("exp-1") == latest


def test_find_succeeded_is_none_without_a_succeeded_record(metadata_tracker: MetadataTracker) -> None:
    metadata_tracker.put_experiment(make_experiment("exp-1", "run-1", status=ExperimentStatus.FAILED,
                                                    finished_at=T0))
    metadata_tracker.put_experiment(make_experiment("exp-1", "run-2", status=ExperimentStatus.RUNNING))
    metadata_tracker.put_experiment(succeeded("exp-10", "run-1", T0))

    assert metadata_tracker.find_succeeded("exp-1") is None
    assert metadata_tracker.find_succeeded("exp-404") is None


def test_iter_experiments_yields_each_record_of_the_run_once(
    metadata_tracker: MetadataTracker, items_for_several_pages: int
) -> None:
    # Given more records than one page holds, and records of another run
    count = items_for_several_pages
    for index in range(count):
        metadata_tracker.put_experiment(make_experiment(f"exp-{index:05d}", "run-1", index=index))
    metadata_tracker.put_experiment(make_experiment("exp-00000", "run-2"))
    metadata_tracker.create_run(make_run("run-1"))
    metadata_tracker.create_model_version("run-1", "exp-00000")

    # When
    records = list(metadata_tracker.iter_experiments("run-1"))

    # Then every record of run-1 comes back exactly once, and nothing else does
    seen = Counter(record.experiment_id for record in records)
    assert len(records) == count
    assert set(seen.values()) == {1}
    assert {record.run_id for record in records} == {"run-1"}
    assert sorted(record.index for record in records) == list(range(count))


def test_iter_experiments_of_a_run_without_records_is_empty(metadata_tracker: MetadataTracker) -> None:
    metadata_tracker.create_run(make_run("run-1"))

    assert list(metadata_tracker.iter_experiments("run-1")) == []


def test_iter_experiments_returns_full_records(metadata_tracker: MetadataTracker) -> None:
    record = succeeded("exp-1", "run-1", T0)
    metadata_tracker.put_experiment(record)

    assert list(metadata_tracker.iter_experiments("run-1")) == [record]


def test_experiment_with_a_nan_score_round_trips(metadata_tracker: MetadataTracker) -> None:
    record = succeeded("exp-1", "run-1", T0, scores={"test": {"r2": float("nan")}}, eval_split="test")
    metadata_tracker.put_experiment(record)

    stored = metadata_tracker.get_experiment("run-1", "exp-1")

    assert stored is not None
    assert stored.scores["test"]["r2"] != stored.scores["test"]["r2"]  # NaN


# -- faults: a broken store is a StoreError, never a wrong answer; abandoned attempts leave nothing RUNNING -------


def test_discard_experiment_removes_a_running_record(metadata_tracker: MetadataTracker) -> None:
    metadata_tracker.put_experiment(make_experiment(status=ExperimentStatus.RUNNING))

    assert metadata_tracker.discard_experiment("run-1", "exp-1") is True

    assert metadata_tracker.get_experiment("run-1", "exp-1") is None
    assert list(metadata_tracker.iter_experiments("run-1")) == []
    assert metadata_tracker.discard_experiment("run-1", "exp-1") is False


def test_an_experiment_discarded_then_saved_again_is_stored(metadata_tracker: MetadataTracker) -> None:
    # Given an attempt abandoned after its RUNNING record was written
    metadata_tracker.put_experiment(make_experiment(status=ExperimentStatus.RUNNING))
    metadata_tracker.discard_experiment("run-1", "exp-1")

    # When a retry records the experiment again
    done = succeeded("exp-1", "run-1", T0)
    metadata_tracker.put_experiment(done)

    # Then it is read back like any record, and found for reuse
    assert metadata_tracker.get_experiment("run-1", "exp-1") == done
    assert list(metadata_tracker.iter_experiments("run-1")) == [done]
    assert metadata_tracker.find_succeeded("exp-1") == done


@pytest.mark.parametrize("record", ["succeeded", "failed", "final"])
def test_discard_experiment_keeps_finished_and_final_records(metadata_tracker: MetadataTracker, record: str) -> None:
    kept = {
        "succeeded": succeeded("exp-1", "run-1", T0),
        "failed": make_experiment(status=ExperimentStatus.FAILED, error="bad", finished_at=T0),
        "final": make_experiment(status=ExperimentStatus.RUNNING, final=True),
    }[record]
    metadata_tracker.put_experiment(kept)

    assert metadata_tracker.discard_experiment("run-1", "exp-1") is False

    assert metadata_tracker.get_experiment("run-1", "exp-1") == kept


def test_discard_experiment_of_an_unknown_record_is_false(metadata_tracker: MetadataTracker) -> None:
    assert metadata_tracker.discard_experiment("run-1", "ghost") is False


def test_a_garbled_experiment_record_raises_store_error_naming_it(metadata_tracker: MetadataTracker,
                                                                  metadata_faults: Any) -> None:
    # Given a stored SUCCEEDED record whose document was garbled on disk / in the table
    metadata_tracker.put_experiment(succeeded("exp-1", "run-1", T0))
    metadata_faults.garble_experiment("run-1", "exp-1")

    # Then every read of it says the store is corrupt, naming the record
    with pytest.raises(StoreError, match="corrupt experiment .*exp-1"):
        metadata_tracker.get_experiment("run-1", "exp-1")
    with pytest.raises(StoreError, match="corrupt experiment"):
        list(metadata_tracker.iter_experiments("run-1"))
    with pytest.raises(StoreError, match="corrupt experiment"):
        metadata_tracker.find_succeeded("exp-1")


def test_a_garbled_run_record_raises_store_error_naming_it(metadata_tracker: MetadataTracker,
                                                           metadata_faults: Any) -> None:
    metadata_tracker.create_run(make_run("run-1"))
    metadata_faults.garble_run("run-1")

    with pytest.raises(StoreError, match="corrupt run .*run-1"):
        metadata_tracker.get_run("run-1")
    with pytest.raises(StoreError, match="corrupt run"):
        metadata_tracker.list_runs()


def test_a_store_taken_away_raises_store_error_not_not_found(metadata_tracker: MetadataTracker,
                                                             metadata_faults: Any) -> None:
    # Given a run stored, then the store's tables removed under the adapter
    metadata_tracker.create_run(make_run("run-1"))
    metadata_faults.destroy()

    # Then reads and writes fail as StoreError: a broken store is never reported as "no such run"
    with pytest.raises(StoreError) as raised:
        metadata_tracker.get_run("run-1")
    assert not isinstance(raised.value, NotFoundError)
    with pytest.raises(StoreError):
        metadata_tracker.put_experiment(make_experiment())
    with pytest.raises(StoreError):
        metadata_tracker.update_run("run-1", status=RunStatus.FAILED)
