"""``_get_winning_experiment``: lower wins by default, higher with ``reverse``; ties and NaN."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hyperparameter_tuner import TunerError

NAN = math.nan


@pytest.fixture
def tuner(stub_tuner: Any) -> Any:
    return stub_tuner()


@pytest.mark.parametrize(
    ("exp_list", "reverse", "winner"),
    [
        ({"a": 1, "b": 2}, False, "a"),
        ({"a": 1, "b": 2}, True, "b"),
        ({"b": 2, "a": 1}, False, "a"),
        ({"b": 2, "a": 1}, True, "b"),
        ({"a": 0.5}, False, "a"),
        ({"a": -3.0, "b": -1.0, "c": -2.0}, True, "b"),
        ({"a": -3.0, "b": -1.0, "c": -2.0}, False, "a"),
    ],
)
def test_winner_by_direction(tuner: Any, exp_list: dict[str, float], reverse: bool, winner: str) -> None:
    assert tuner._get_winning_experiment(exp_list, reverse=reverse) == winner


def test_reverse_defaults_to_lower_is_better(tuner: Any) -> None:
    assert tuner._get_winning_experiment({"a": 1, "b": 2}) == "a"


@pytest.mark.parametrize("reverse", [False, True])
def test_ties_go_to_the_experiment_listed_first(tuner: Any, reverse: bool) -> None:
    assert tuner._get_winning_experiment({"x": 1.0, "y": 1.0, "z": 1.0}, reverse=reverse) == "x"
    assert tuner._get_winning_experiment({"z": 1.0, "y": 1.0, "x": 1.0}, reverse=reverse) == "z"


@pytest.mark.parametrize("reverse", [False, True])
def test_nan_never_wins(tuner: Any, reverse: bool) -> None:
    assert tuner._get_winning_experiment({"nan": NAN, "a": 1.0, "b": 2.0}, reverse=reverse) == ("b" if reverse else "a")
    assert tuner._get_winning_experiment({"a": 5.0, "nan": NAN}, reverse=reverse) == "a"


@pytest.mark.parametrize("exp_list", [{}, {"a": NAN}, {"a": NAN, "b": NAN}], ids=["empty", "one-nan", "all-nan"])
@pytest.mark.parametrize("reverse", [False, True])
def test_no_winner_raises(tuner: Any, exp_list: dict[str, float], reverse: bool) -> None:
    with pytest.raises(TunerError, match="no winner"):
        tuner._get_winning_experiment(exp_list, reverse=reverse)


# -- a FAILED run has no winner (finish_run, RunResult, LocalTuner.run_experiment) ------------------------------


def _closed_run(tuner: Any, outcomes: list[float | None]) -> Any:
    """Record a run whose experiments scored ``outcomes`` (None: FAILED) in grid order, then close it."""
    from hyperparameter_tuner.records import Experiment, ExperimentStatus, RunStatus

    run = tuner.new_run("run-1", "memory", "fp", status=RunStatus.RUNNING)
    tuner.metadata_tracker.create_run(run.model_copy(update={"total": len(outcomes)}))
    for index, value in enumerate(outcomes):
        failed = value is None
        tuner.metadata_tracker.put_experiment(Experiment(
            run_id="run-1", experiment_id=f"e{index}", index=index, algo="LogisticRegression", params={},
            data_fingerprint="fp", eval_split="validation",
            status=ExperimentStatus.FAILED if failed else ExperimentStatus.SUCCEEDED,
            scores={} if value is None else {"validation": {"accuracy": value}},
            error_type="ValueError" if failed else None, error="boom" if failed else None,
        ))
    return tuner.finish_run("run-1")


def test_run_failed_by_max_failure_ratio_has_no_winner_but_names_the_best_candidate(stub_tuner: Any) -> None:
    from hyperparameter_tuner.records import RunStatus

    # Given: two of three experiments scored (e1 best), one failed, and no failure is tolerated
    tuner = stub_tuner(max_failure_ratio=0.0)

    # When
    run = _closed_run(tuner, [0.5, 0.75, None])

    # Then: FAILED, no winner in the record; the reason says why and which candidate was best
    assert run.status is RunStatus.FAILED
    assert run.winner is None
    assert tuner.metadata_tracker.get_run("run-1").winner is None
    assert run.reason == ("1 of 3 experiments failed (33%), above max_failure_ratio 0%; "
                          "best candidate e1 (accuracy=0.75)")


def test_run_within_max_failure_ratio_keeps_its_winner(stub_tuner: Any) -> None:
    from hyperparameter_tuner.records import RunStatus

    run = _closed_run(stub_tuner(max_failure_ratio=0.5), [0.5, 0.75, None])

    assert (run.status, run.winner, run.reason) == (RunStatus.SUCCEEDED, "e1", None)


def test_run_result_of_a_failed_run_has_no_winner_even_if_the_record_names_one(stub_tuner: Any) -> None:
    from hyperparameter_tuner.records import RunStatus
    from hyperparameter_tuner.results import RunResult

    # Given: a FAILED run record that still names a winner (written by an earlier version of the tuner)
    tuner = stub_tuner(max_failure_ratio=0.0)
    run = _closed_run(tuner, [0.5, 0.75, None])
    legacy = tuner.metadata_tracker.update_run(run.run_id, winner="e1")
    assert (legacy.status, legacy.winner) == (RunStatus.FAILED, "e1")

    # When
    result = RunResult.collect(legacy, tuner.metadata_tracker.iter_experiments(run.run_id))

    # Then
    assert result.winner is None
    assert result.to_json()["winner"] is None


def test_local_run_experiment_raises_when_the_run_failed_by_max_failure_ratio(tmp_path: Any, iris_npz: Any) -> None:
    from hyperparameter_tuner import LocalTuner, RunFailedError

    # Given: max_depth=-1 is refused by scikit-learn, so one of three fits fails; no failure is tolerated
    tuner = LocalTuner({"DecisionTreeClassifier": {"max_depth": [2, 3, -1]}}, ["accuracy"], "accuracy",
                       store=tmp_path / "store", jobs=1, max_failure_ratio=0.0)

    # When / Then: no model comes back from a FAILED run
    with pytest.raises(RunFailedError, match=r"1 of 3 experiments failed .*; best candidate [0-9a-f]{16} "):
        tuner.run_experiment(iris_npz)
    assert tuner.last_result is not None
    assert tuner.last_result.run.winner is None and tuner.last_result.winner is None
