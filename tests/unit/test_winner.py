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
