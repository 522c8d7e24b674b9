"""The champion/challenger rule (``champion.decide``), dataset names and ``promotion_margin``: hand-computed."""

from __future__ import annotations

import math
from typing import Any

import pytest

from hyperparameter_tuner.aws.events import dataset_of
from hyperparameter_tuner.champion import ChampionDecision, check_dataset_name, decide
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.errors import ConfigError

BASE = {"training_params": {"Ridge": {"alpha": [1.0]}}, "metrics": ["r2"], "perf_metric": "r2"}


@pytest.mark.parametrize(
    ("challenger", "champion", "direction", "margin", "promoted"),
    [
        (0.95, 0.90, "maximize", 0.0, True),      # better
        (0.90, 0.90, "maximize", 0.0, False),     # a tie keeps the champion
        (0.89, 0.90, "maximize", 0.0, False),     # worse
        (0.95, 0.90, "maximize", 0.05, False),    # 0.95 > 0.90 + 0.05 is false: "by more than" the margin
        (0.951, 0.90, "maximize", 0.05, True),    # 0.951 > 0.95
        (-10.0, -12.0, "maximize", 1.0, True),    # neg_mean_squared_error: -10 > -12 + 1
        (-11.5, -12.0, "maximize", 1.0, False),   # -11.5 > -11 is false
        (10.0, 12.0, "minimize", 1.0, True),      # 10 < 12 - 1
        (11.0, 12.0, "minimize", 1.0, False),     # 11 < 11 is false
        (13.0, 12.0, "minimize", 0.0, False),     # worse when minimizing
        (math.nan, 0.5, "maximize", 0.0, False),  # a challenger without a score never wins
        (0.5, math.nan, "maximize", 0.0, True),   # a champion without a score always loses
    ],
)
def test_decide_promotes_only_when_better_by_more_than_the_margin(
    challenger: float, champion: float, direction: str, margin: float, promoted: bool
) -> None:
    assert decide(challenger, champion, direction, margin) is promoted


def test_promotion_margin_defaults_to_zero_and_takes_a_finite_non_negative_number() -> None:
    assert parse_config(BASE).promotion_margin == 0.0
    assert parse_config({**BASE, "promotion_margin": 0.02}).promotion_margin == 0.02
    assert parse_config({**BASE, "promotion_margin": 1}).promotion_margin == 1.0


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, True, "0.1", None, [0.1]])
def test_promotion_margin_refuses_what_is_not_a_finite_number_at_least_zero(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^config: promotion_margin: expected a finite number >= 0") as caught:
        parse_config({**BASE, "promotion_margin": bad})
    assert "\n" not in str(caught.value)


def test_dataset_names_are_s3_folder_names() -> None:
    assert check_dataset_name("iris-v2.1_a=b") == "iris-v2.1_a=b"
    # every name the S3 trigger accepts as a datasets/<dataset>/ folder, trailing '-' or '.' included
    assert check_dataset_name("iris-") == "iris-" and check_dataset_name("v1.") == "v1."
    assert dataset_of("datasets/iris-/split.npz") == "iris-"
    with pytest.raises(ConfigError, match=r"dataset: 'my data' is not a valid dataset name.*'my-data'"):
        check_dataset_name("my data")
    with pytest.raises(ConfigError, match="not a valid dataset name"):
        check_dataset_name("../up")


def test_a_decision_is_keyed_by_its_run_and_a_manual_one_by_its_version() -> None:
    common: dict[str, Any] = {"dataset": "d", "champion_experiment_id": "e", "perf_metric": "r2",
                              "direction": "maximize"}
    assert ChampionDecision(decision="kept", run_id="r1", **common).key == "run:r1"
    assert ChampionDecision(decision="manual", run_id="r1", version=3, **common).key == "manual:3"


def test_decision_json_is_strict() -> None:
    decision = ChampionDecision(dataset="d", decision="promoted", champion_experiment_id="e", perf_metric="r2",
                                direction="maximize", challenger_score=0.5, champion_score=math.nan)
    payload = decision.to_json()
    assert payload["champion_score"] is None
    assert isinstance(payload["decided_at"], str)
