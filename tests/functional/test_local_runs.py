"""Local runs: validation-only scoring (`score_test: false`), reuse across scoring settings, interruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperparameter_tuner import LocalTuner


def _tuner(tmp_path: Path, score_test: bool) -> LocalTuner:
    return LocalTuner({"Ridge": {"alpha": [0.1, 1.0]}}, ["r2", "neg_mean_squared_error"], "r2",
                      store=tmp_path / f"store-{score_test}", jobs=1, score_test=score_test)


def test_validation_only_when_score_test_is_false(tmp_path: Path, iris_npz: Path) -> None:
    # When
    result = _tuner(tmp_path, score_test=False).run(iris_npz)

    # Then: only validation was scored, and the winner is the one the default run picks too
    assert all(set(e.scores) == {"validation"} for e in result.experiments)
    default = _tuner(tmp_path, score_test=True).run(iris_npz)
    assert all(set(e.scores) == {"validation", "test"} for e in default.experiments)
    assert result.winner is not None and default.winner is not None
    assert result.winner.params == default.winner.params
    assert result.winner.metrics == default.winner.metrics


def test_without_validation_test_is_always_scored(tmp_path: Path, iris_npz_no_val: Path) -> None:
    result = _tuner(tmp_path, score_test=False).run(iris_npz_no_val)

    assert all(set(e.scores) == {"test"} for e in result.experiments)
    assert result.winner is not None and "r2" in result.winner.metrics


def test_a_validation_only_experiment_is_not_reused_by_a_run_that_wants_test_scores(
    tmp_path: Path, iris_npz: Path
) -> None:
    # Given a run that scored validation only
    store = tmp_path / "shared"
    LocalTuner({"Ridge": {"alpha": [0.1]}}, ["r2"], "r2", store=store, jobs=1, score_test=False).run(iris_npz)

    # When the same grid runs with the default, then again
    second = LocalTuner({"Ridge": {"alpha": [0.1]}}, ["r2"], "r2", store=store, jobs=1).run(iris_npz)
    third = LocalTuner({"Ridge": {"alpha": [0.1]}}, ["r2"], "r2", store=store, jobs=1).run(iris_npz)

    # Then the second trains again (to get test scores) and the third reuses it
    assert second.reused == 0 and set(second.experiments[0].scores) == {"validation", "test"}
    assert third.reused == 1


def test_an_interrupted_run_is_closed_as_failed_and_keeps_what_finished(
    tmp_path: Path, iris_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run interrupted (Ctrl-C) while the second experiment is being recorded
    tuner = LocalTuner({"Ridge": {"alpha": [0.1, 1.0, 10.0]}}, ["r2"], "r2", store=tmp_path / "s", jobs=1)
    real = tuner.record_outcome
    calls = []

    def record_outcome(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tuner, "record_outcome", record_outcome)

    # When
    with pytest.raises(KeyboardInterrupt):
        tuner.run(iris_npz, run_id="r1")

    # Then the run is FAILED ("interrupted"), and the finished experiment is kept for a rerun to reuse
    run = tuner.metadata_tracker.get_run("r1")
    assert run.status.value == "FAILED" and run.reason == "interrupted"
    assert len(list(tuner.metadata_tracker.iter_experiments("r1"))) == 1
    monkeypatch.undo()
    assert tuner.run(iris_npz).reused == 1
