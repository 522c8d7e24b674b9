"""The ChampionTracker contract (``hyperparameter_tuner.ports.ChampionTracker``), run on SQLite and on DynamoDB (moto);
and the champion decision (``champion.settle_champion``) of two runs finishing at once, on each adapter."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperparameter_tuner.aws.champions import DynamoDBChampionTracker
from hyperparameter_tuner.champion import Champion, ChampionDecision, Decision, settle_champion
from hyperparameter_tuner.data import SplitData
from hyperparameter_tuner.local.champions import SQLiteChampionTracker
from hyperparameter_tuner.local.files import FolderVersionControl
from hyperparameter_tuner.local.sqlite import SQLiteDatabase, SQLiteMetadataTracker
from hyperparameter_tuner.ports import ChampionTracker
from hyperparameter_tuner.records import Experiment, ExperimentStatus, Run, RunStatus

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def make_champion_tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], ChampionTracker]:
    """A factory of champion trackers on one store (each call: a new instance with its own connection/client)."""
    if request.param == "sqlite":
        return lambda: SQLiteChampionTracker(SQLiteDatabase(tmp_path / "tuner.db"))
    import boto3

    table = request.getfixturevalue("dynamodb_table")
    return lambda: DynamoDBChampionTracker(table, client=boto3.client("dynamodb", region_name="us-east-1"))


@pytest.fixture
def champions(make_champion_tracker: Callable[[], ChampionTracker]) -> ChampionTracker:
    return make_champion_tracker()


def decision(kind: Decision = "first", run_id: str = "run-1", champion: str = "exp-1", dataset: str = "iris",
             **fields: Any) -> ChampionDecision:
    return ChampionDecision(dataset=dataset, decision=kind, champion_experiment_id=champion, run_id=run_id,
                            perf_metric="accuracy", direction="maximize", challenger_score=0.9, decided_at=T0,
                            **fields)


def champion_of(experiment_id: str = "exp-1", run_id: str = "run-1", dataset: str = "iris") -> Champion:
    return Champion(dataset=dataset, version=1, experiment_id=experiment_id, run_id=run_id, algo="SVC",
                    params={"C": 1.0}, perf_metric="accuracy", direction="maximize", scores={"accuracy": 0.9},
                    decision="first", promoted_at=T0)


def test_a_dataset_has_no_champion_and_no_history_at_first(champions: ChampionTracker) -> None:
    assert champions.get_champion("iris") is None
    assert champions.history("iris") == []
    assert champions.get_decision("iris", "run:run-1") is None


def test_the_first_decision_stores_the_champion_at_version_1(champions: ChampionTracker) -> None:
    stored = champions.record_decision(decision(), champion_of(), expected_version=0)

    assert stored is not None and stored.version == 1
    current = champions.get_champion("iris")
    assert current == champion_of().model_copy(update={"version": 1})
    assert champions.history("iris") == [stored]
    assert champions.get_decision("iris", "run:run-1") == stored
    assert champions.get_champion("other") is None  # datasets are separate


def test_a_promotion_replaces_the_champion_and_a_kept_decision_only_counts(champions: ChampionTracker) -> None:
    champions.record_decision(decision(), champion_of(), expected_version=0)

    promoted = champions.record_decision(decision("promoted", "run-2", "exp-2", previous_experiment_id="exp-1"),
                                         champion_of("exp-2", "run-2"), expected_version=1)
    kept = champions.record_decision(decision("kept", "run-3", "exp-2"), None, expected_version=2)

    assert promoted is not None and kept is not None
    assert (promoted.version, kept.version) == (2, 3)
    current = champions.get_champion("iris")
    assert current is not None and (current.experiment_id, current.run_id, current.version) == ("exp-2", "run-2", 3)
    assert [(d.decision, d.run_id, d.version) for d in champions.history("iris")] == [
        ("first", "run-1", 1), ("promoted", "run-2", 2), ("kept", "run-3", 3)
    ]


def test_a_stale_view_records_nothing(champions: ChampionTracker) -> None:
    champions.record_decision(decision(), champion_of(), expected_version=0)

    # a second "first" (it saw no champion) and a promotion decided against version 5 are both stale
    assert champions.record_decision(decision(run_id="run-2", champion="exp-2"), champion_of("exp-2", "run-2"),
                                     expected_version=0) is None
    assert champions.record_decision(decision("promoted", "run-3", "exp-3"), champion_of("exp-3", "run-3"),
                                     expected_version=5) is None

    current = champions.get_champion("iris")
    assert current is not None and (current.experiment_id, current.version) == ("exp-1", 1)
    assert [d.run_id for d in champions.history("iris")] == ["run-1"]


def test_a_run_decides_once_a_retry_gets_the_recorded_decision(champions: ChampionTracker) -> None:
    first = champions.record_decision(decision(), champion_of(), expected_version=0)

    again = champions.record_decision(decision(champion="exp-9"), champion_of("exp-9"), expected_version=1)

    assert again == first
    current = champions.get_champion("iris")
    assert current is not None and (current.experiment_id, current.version) == ("exp-1", 1)


def test_manual_promotions_are_history_entries_of_their_own(champions: ChampionTracker) -> None:
    champions.record_decision(decision(), champion_of(), expected_version=0)

    one = champions.record_decision(decision("manual", "run-1", "exp-1"), champion_of(), expected_version=1)
    two = champions.record_decision(decision("manual", "run-1", "exp-1"), champion_of(), expected_version=2)

    assert one is not None and two is not None and (one.key, two.key) == ("manual:2", "manual:3")
    assert [d.decision for d in champions.history("iris")] == ["first", "manual", "manual"]


def test_two_writers_with_the_same_view_never_both_win(make_champion_tracker: Callable[[], ChampionTracker]) -> None:
    # Given two trackers (two processes, two Lambdas) that both saw no champion
    trackers = [make_champion_tracker(), make_champion_tracker()]
    barrier = threading.Barrier(2)
    results: dict[str, ChampionDecision | None] = {}

    def write(i: int) -> None:
        run_id = f"run-{i}"
        barrier.wait()
        results[run_id] = trackers[i].record_decision(decision(run_id=run_id, champion=f"exp-{i}"),
                                                      champion_of(f"exp-{i}", run_id), expected_version=0)

    # When both record at once
    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one is recorded, and the champion is that one's
    winners = [run_id for run_id, stored in results.items() if stored is not None]
    assert len(winners) == 1
    current = trackers[0].get_champion("iris")
    assert current is not None and current.run_id == winners[0] and current.version == 1
    assert [d.run_id for d in trackers[1].history("iris")] == winners


# -- the decision of two runs finishing at once ------------------------------------------------------------------


def _split(n_features: int = 4) -> SplitData:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(1).permutation(len(y))
    X, y = X[order][:, :n_features], y[order]
    return SplitData(X[:100], y[:100], X[100:], y[100:], fingerprint="fp", source="iris.npz")


def _finished_run(metadata: SQLiteMetadataTracker, store: FolderVersionControl, run_id: str, model: Any,
                  data: SplitData) -> tuple[Run, Experiment]:
    """A SUCCEEDED run whose winner is ``model``, saved and recorded as the engine would."""
    from sklearn.metrics import get_scorer

    experiment_id = f"exp-{run_id}"
    ref = store.save(f"models/{experiment_id}", pickle.dumps(model, protocol=5))
    test_score = float(get_scorer("accuracy")(model, data.X_test, data.y_test))
    winner = Experiment(run_id=run_id, experiment_id=experiment_id, index=0, algo=type(model).__name__,
                        params={}, data_fingerprint="fp", status=ExperimentStatus.SUCCEEDED,
                        scores={"test": {"accuracy": test_score}}, eval_split="test", artifact=ref, finished_at=T0)
    metadata.put_experiment(winner)
    run = Run(run_id=run_id, status=RunStatus.SUCCEEDED, config={}, perf_metric="accuracy", direction="maximize",
              data_uri="iris.npz", data_fingerprint="fp", total=1, winner=experiment_id, dataset="iris")
    metadata.create_run(run)
    return run, winner


def test_two_runs_finishing_at_once_on_one_dataset_cannot_both_win(
    make_champion_tracker: Callable[[], ChampionTracker], tmp_path: Path,
) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    # Given two SUCCEEDED runs of one dataset: a weak winner and a strong one, and no champion yet
    data = _split()
    metadata = SQLiteMetadataTracker(SQLiteDatabase(tmp_path / "runs.db"))
    store = FolderVersionControl(tmp_path / "objects")
    weak = _finished_run(metadata, store, "weak", DummyClassifier().fit(data.X_train, data.y_train), data)
    strong = _finished_run(metadata, store, "strong",
                           LogisticRegression(max_iter=1000).fit(data.X_train, data.y_train), data)

    # When both decide at once, each from its own tracker, after both saw "no champion" (the barrier lines up
    # their first views; later attempts pass it broken)
    barrier = threading.Barrier(2, timeout=60)
    views: dict[str, list[str | None]] = {"weak": [], "strong": []}
    outcomes: dict[str, ChampionDecision] = {}
    errors: list[BaseException] = []

    def settle(name: str, run_and_winner: tuple[Run, Experiment]) -> None:
        def on_view(current: Champion | None) -> None:
            views[name].append(None if current is None else current.experiment_id)
            if len(views[name]) == 1:
                barrier.wait()

        try:
            outcomes[name], _ = settle_champion(*run_and_winner, data, dataset="iris",
                                                champions=make_champion_tracker(), metadata=metadata,
                                                version_control=store, on_view=on_view)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=settle, args=args) for args in (("weak", weak), ("strong", strong))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one was first; the other lost the race, decided again against the new champion, and the strong winner
    # is the champion whichever order they landed in
    assert errors == []
    assert views["weak"][0] is None and views["strong"][0] is None
    assert sorted(outcome.decision for outcome in outcomes.values()) in (["first", "promoted"], ["first", "kept"])
    loser = next(name for name, outcome in outcomes.items() if outcome.decision != "first")
    assert views[loser] == [None, f"exp-{'weak' if loser == 'strong' else 'strong'}"]
    tracker = make_champion_tracker()
    current = tracker.get_champion("iris")
    assert current is not None and current.experiment_id == "exp-strong" and current.version == 2
    assert [(d.version, d.decision) for d in tracker.history("iris")] == [
        (1, "first"), (2, outcomes[loser].decision)
    ]
