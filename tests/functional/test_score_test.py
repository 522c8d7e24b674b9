"""`score_test: false` keeps the test split untouched when there is a validation split."""

from __future__ import annotations

from pathlib import Path

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
