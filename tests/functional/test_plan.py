"""`hpt plan`: counts, limits and costs before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hyperparameter_tuner.cli import main
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.planning import TRANSITIONS_PER_BATCH, TRANSITIONS_PER_RUN, Prices, make_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _config(**extra: object):
    base = {"training_params": {"Ridge": {"alpha": [0.1, 1.0, 10.0, 100.0]}}, "metrics": ["r2"], "perf_metric": "r2"}
    return parse_config({**base, **extra})


def test_plan_counts_batches_invocations_and_transitions() -> None:
    # Given 4 experiments, 2 per batch
    config = _config(batch_size=2)

    # When
    plan = make_plan(config, {"Ridge": 1.0}, "given", build_dir=None)

    # Then
    assert (plan.experiments, plan.batches, plan.trainer_invocations) == (4, 2, 2)
    assert plan.invocations_per_experiment == 0.5
    assert plan.state_transitions == TRANSITIONS_PER_RUN + 2 * TRANSITIONS_PER_BATCH


def test_cost_is_the_sum_of_its_parts_and_follows_the_prices() -> None:
    config = _config()
    cheap = make_plan(config, {"Ridge": 2.0}, "given", build_dir=None)
    dear = make_plan(config, {"Ridge": 2.0}, "given", build_dir=None,
                     prices=Prices(lambda_gb_second=Prices().lambda_gb_second * 10))

    assert cheap.total_cost_usd == pytest.approx(sum(cheap.cost_usd.values()))
    assert dear.cost_usd["lambda_compute"] == pytest.approx(cheap.cost_usd["lambda_compute"] * 10)
    # GB-seconds: four 2 s experiments plus one 4 s cold start per batch, at 3008 MB, plus fan-out and reducer
    expected = (4 * 2.0 + cheap.batches * 4.0) * 3008 / 1024 + 2.0
    assert cheap.lambda_gb_seconds == pytest.approx(expected)


def test_a_batch_over_the_lambda_limit_fails_the_check_and_suggests_a_batch_size() -> None:
    plan = make_plan(_config(batch_size=4), {"Ridge": 300.0}, "given", build_dir=None)

    check = next(c for c in plan.checks if c.name == "lambda time per batch")
    assert check.ok is False
    assert "batch_size <= 2" in check.detail
    assert not plan.ok


def test_unknown_fit_time_leaves_the_time_check_open() -> None:
    plan = make_plan(_config(), {"Ridge": None}, "unknown", build_dir=None)

    assert plan.lambda_gb_seconds is None and plan.total_cost_usd is None
    assert next(c for c in plan.checks if c.name == "lambda time per batch").ok is None
    assert plan.ok


def test_a_100k_grid_fans_out_into_few_invocations_and_small_payloads(capsys: pytest.CaptureFixture[str]) -> None:
    # When
    code = main(["plan", str(EXAMPLES / "scale-100k.yaml"), "--max-experiments", "100000", "--json"])

    # Then: 100 experiments per invocation, payloads far under 8 KiB, cap respected
    out = json.loads(capsys.readouterr().out)
    assert out["experiments"] == 100_000
    assert out["batches"] == 1000 and out["invocations_per_experiment"] == 0.01
    assert out["transitions_per_experiment"] < 0.05
    checks = {c["name"]: c for c in out["checks"]}
    assert checks["payload"]["ok"] and checks["experiment cap"]["ok"]
    assert code in (0, 1)  # 1 only when a built package is over budget


def test_plan_over_the_cap_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(EXAMPLES / "scale-100k.yaml"), "--json", "--max-experiments", "10000"])

    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert next(c for c in out["checks"] if c["name"] == "experiment cap")["ok"] is False


def test_plan_with_data_times_sample_fits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from examples.make_data import write_iris  # type: ignore[import-not-found]

    data = write_iris(tmp_path)
    code = main(["plan", str(EXAMPLES / "iris.yaml"), "--data", str(data), "--json"])

    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    assert set(out["fit_seconds"]) == {"LogisticRegression", "RandomForestClassifier", "KNeighborsClassifier", "SVC"}
    assert all(value is not None and value > 0 for value in out["fit_seconds"].values())
    assert out["total_cost_usd"] > 0


def test_bad_prices_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"lambda_gb_secnd": 1}')

    code = main(["plan", str(EXAMPLES / "iris.yaml"), "--prices", str(prices)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --prices") and "lambda_gb_secnd" in err and len(err.strip().splitlines()) == 1
