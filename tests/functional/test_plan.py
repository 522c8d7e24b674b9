"""`hpt plan`: counts, limits and costs before anything runs.

Expected values are worked out by hand from the workflow (``statemachine/tuning.asl.json``) and AWS's published
unit prices, never from the planner's own constants; the CLI tests run in an empty folder so that no local
``.aws-sam/build`` changes the exit status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sklearn.dummy import DummyClassifier
from threadpoolctl import threadpool_info

from hyperparameter_tuner.cli import main
from hyperparameter_tuner.config import TuningConfig, parse_config
from hyperparameter_tuner.planning import Prices, make_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ASSUMED = {"Lambda speed", "trainer cold start", "fan-out and reducer", "after the reducer", "handler replies",
           "requests per experiment", "no failures", "prices"}


def _config(**extra: object) -> TuningConfig:
    base = {"training_params": {"Ridge": {"alpha": [0.1, 1.0, 10.0, 100.0]}}, "metrics": ["r2"], "perf_metric": "r2"}
    return parse_config({**base, **extra})


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the CLI in an empty folder: no `.aws-sam/build`, so the package-size check is open (not built)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_plan_counts_batches_invocations_and_transitions() -> None:
    # Given 4 experiments, 2 per batch
    config = _config(batch_size=2)

    # When
    plan = make_plan(config, {"Ridge": 1.0}, "given", build_dir=None)

    # Then 2 trainer invocations; transitions: the parent enters TrainBatches, NextRung, Reduce, RunSucceeded and
    # Champion (5), each of the 2 child executions is started (1) and enters TrainBatch (1): 5 + 2 * 2 = 9
    assert (plan.experiments, plan.batches, plan.trainer_invocations) == (4, 2, 2)
    assert plan.invocations_per_experiment == 0.5
    assert plan.state_transitions == 9
    assert plan.transitions_per_experiment == 2.25


def test_time_and_cost_of_a_small_run_worked_out_by_hand() -> None:
    # Given 4 experiments of 2 s; max_concurrency 10 spreads them one per batch: 4 batches
    plan = make_plan(_config(), {"Ridge": 2.0}, "given", build_dir=None)

    # Then: each batch is a 4 s cold start + 2 s; at 3008 MB = 2.9375 GB: 4 * 6 * 2.9375 = 70.5 GB-s, plus the
    # fan-out and the reducer, 2 s each at 0.5 GB: 2 GB-s; the Champion step, 4 + 2 s at 2.9375 GB: 17.625 GB-s;
    # two reports of 3 s at 1 GB: 6 GB-s. 96.125 GB-s
    assert plan.batches == 4
    assert plan.longest_batch_seconds == pytest.approx(6.0)
    # one round of 6 s batches + 10 s for fan-out, map, reducer + 6 s for the Champion step
    assert plan.wall_seconds == pytest.approx(22.0)
    assert plan.lambda_gb_seconds == pytest.approx(96.125)
    assert plan.cost_usd == pytest.approx({
        "lambda_compute": 96.125 * 0.0000133334,  # $ per GB-s, arm64
        "lambda_requests": 9 * 0.20e-6,  # 4 trainer + fan-out + reducer + champion + 2 reports
        "step_functions": 13 * 0.025e-3,  # 5 + 2 per batch * 4
        "s3": 4 * (0.005e-3 + 0.0004e-3),  # a PUT and a HEAD per experiment
        "dynamodb": 4 * (5 * 0.625e-6 + 2 * 0.125e-6),  # 5 writes and 2 reads per experiment
    })
    assert plan.total_cost_usd == pytest.approx(0.001643574)


def test_prices_scale_their_own_line_only() -> None:
    config = _config()
    cheap = make_plan(config, {"Ridge": 2.0}, "given", build_dir=None)
    dear = make_plan(config, {"Ridge": 2.0}, "given", build_dir=None, prices=Prices(lambda_gb_second=0.000133334))

    assert dear.cost_usd is not None and cheap.cost_usd is not None
    assert dear.cost_usd["lambda_compute"] == pytest.approx(96.125 * 0.000133334)
    assert {k: v for k, v in dear.cost_usd.items() if k != "lambda_compute"} == pytest.approx(
        {k: v for k, v in cheap.cost_usd.items() if k != "lambda_compute"})
    assert next(a for a in dear.assumptions if a.name == "prices").value == "--prices file"


def test_a_batch_over_the_lambda_limit_fails_the_check_and_suggests_a_batch_size() -> None:
    # 4 experiments of 300 s in one batch: 4 + 1200 s > 720 s (80% of 900); (720 - 4) // 300 = 2 per batch fit
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


def test_a_100k_grid_fans_out_into_few_invocations_and_small_payloads(
    empty_cwd: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # When
    code = main(["plan", str(EXAMPLES / "scale-100k.yaml"), "--max-experiments", "100000", "--json"])

    # Then: 100 experiments per invocation (at most 100 per batch), 5 + 2 * 1000 transitions, nothing failed
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["experiments"] == 100_000
    assert out["batches"] == 1000 and out["invocations_per_experiment"] == 0.01
    assert out["state_transitions"] == 2005 and out["transitions_per_experiment"] == pytest.approx(0.02005)
    checks = {c["name"]: c for c in out["checks"]}
    assert checks["payload"]["ok"] and checks["experiment cap"]["ok"]
    assert checks["package size"]["ok"] is None


def test_plan_over_the_cap_exits_1(empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(EXAMPLES / "scale-100k.yaml"), "--json", "--max-experiments", "10000"])

    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert next(c for c in out["checks"] if c["name"] == "experiment cap")["ok"] is False


def test_a_build_over_the_package_budget_exits_1(empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a "build" whose trainer + layers add up to 200,000,001 bytes (sparse files: no disk used)
    build = empty_cwd / ".aws-sam" / "build"
    for part, size in {"TrainerFunction": 1, "TunerLayer": 100_000_000, "MlLayer": 100_000_000}.items():
        (build / part).mkdir(parents=True)
        with (build / part / "blob").open("wb") as fh:
            fh.truncate(size)

    # When
    code = main(["plan", str(EXAMPLES / "iris.yaml"), "--json"])

    # Then
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    check = next(c for c in out["checks"] if c["name"] == "package size")
    assert check["ok"] is False and "200.0 MB" in check["detail"]


def test_plan_with_data_times_sample_fits(tmp_path: Path, empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from examples.make_data import write_iris

    data = write_iris(tmp_path)
    code = main(["plan", str(EXAMPLES / "iris.yaml"), "--data", str(data), "--json"])

    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out["fit_seconds"]) == {"LogisticRegression", "RandomForestClassifier", "KNeighborsClassifier", "SVC"}
    assert all(value is not None and value > 0 for value in out["fit_seconds"].values())
    assert out["fit_source"] == f"sample fits on {data}"
    assert out["total_cost_usd"] > 0


def test_everything_assumed_is_labelled_in_json_and_text(empty_cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # JSON
    assert main(["plan", str(EXAMPLES / "iris.yaml"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {a["name"] for a in out["assumptions"]} == ASSUMED
    fan = next(a for a in out["assumptions"] if a["name"] == "fan-out and reducer")
    assert fan["value"] == "2 s each at 512 MB"

    # text
    assert main(["plan", str(EXAMPLES / "iris.yaml")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "assumed, not measured:" in text
    for name in ASSUMED:
        assert f"assumption {name}:" in text


@pytest.mark.e2e
def test_planned_transitions_are_the_ones_an_emulated_run_makes(
    write_config: Callable[..., Path], iris_npz: Path,
) -> None:
    from benchmarks.transitions import measure_transitions

    # Given 5 experiments, 2 per batch: 3 batches
    mapping = {"training_params": {"DecisionTreeClassifier": {"max_depth": [1, 2, 3, 4, 5]}},
               "metrics": ["accuracy"], "perf_metric": "accuracy", "batch_size": 2}

    # When the template's state machine runs it in the emulator
    measured = measure_transitions(write_config(mapping), iris_npz, ROOT / "template.yaml")

    # Then 5 states in the parent (TrainBatches, NextRung, Reduce, RunSucceeded, Champion), 3 child executions
    # started, each entering TrainBatch once: 11, as planned
    assert (measured["experiments"], measured["batches"]) == (5, 3)
    assert (measured["parent"], measured["child_executions"], measured["children"]) == (5, 3, 3)
    assert measured["transitions"] == 11
    assert make_plan(parse_config(mapping), {"DecisionTreeClassifier": None}, "none",
                     build_dir=None).state_transitions == 11


@pytest.mark.e2e
def test_planned_transitions_of_halving_rungs_are_the_ones_an_emulated_run_makes(
    write_config: Callable[..., Path], iris_npz: Path,
) -> None:
    from benchmarks.transitions import measure_transitions
    from hyperparameter_tuner.data import load_split
    from hyperparameter_tuner.planning import plan_rungs

    # Given 9 candidates halved by 3 from 10 of iris's 90 training rows: rungs of 9, 3 and 1, 2 per batch
    mapping = {"training_params": {"KNeighborsClassifier": {"n_neighbors": [1, 2, 3, 4, 5, 6, 7, 8, 9]}},
               "metrics": ["accuracy"], "perf_metric": "accuracy", "batch_size": 2,
               "search": {"strategy": "halving", "factor": 3, "min_resources": 10}}
    config = parse_config(mapping)
    rungs = plan_rungs(config, load_split(iris_npz))
    assert [(r.n_candidates, r.n_resources) for r in rungs or []] == [(9, 10), (3, 30), (1, 90)]

    # When the template's state machine runs it in the emulator
    measured = measure_transitions(write_config(mapping), iris_npz, ROOT / "template.yaml")

    # Then the parent enters TrainBatches and NextRung per rung, PromoteRung between rungs, and Reduce, RunSucceeded
    # and Champion once (3 + 3 + 2 + 3 = 11), and 5 + 2 + 1 = 8 child executions enter TrainBatch: 11 + 16 = 27
    assert (measured["experiments"], measured["batches"]) == (13, 8)
    assert (measured["parent"], measured["child_executions"], measured["children"]) == (11, 8, 8)
    assert measured["transitions"] == 27
    plan = make_plan(config, {"KNeighborsClassifier": None}, "none", build_dir=None, rungs=rungs)
    assert plan.state_transitions == 27 and plan.experiments == 13 and plan.batches == 8


class ThreadProbe(DummyClassifier):
    """Appends the thread counts of every loaded BLAS/OpenMP pool, as its fit sees them, to ``log``."""

    log: Path | None = None

    def fit(self, X: object, y: object, sample_weight: object = None) -> ThreadProbe:
        assert self.log is not None
        with self.log.open("a") as fh:
            fh.write(json.dumps(sorted({pool["num_threads"] for pool in threadpool_info()})) + "\n")
        return super().fit(X, y, sample_weight)


def test_sample_fits_run_under_the_configs_thread_limit(monkeypatch: pytest.MonkeyPatch, iris_npz: Path,
                                                        tmp_path: Path) -> None:
    from hyperparameter_tuner import trainers
    from hyperparameter_tuner.data import load_split
    from hyperparameter_tuner.planning import estimate_from_sample

    # Given a trainer that records the BLAS/OpenMP thread counts its fit sees (in a file: sample fits run in a
    # worker process), and threads: 3 in the config
    probe_log = tmp_path / "threads.jsonl"
    monkeypatch.setattr(ThreadProbe, "log", probe_log)

    monkeypatch.setattr(trainers, "_CUSTOM", {})
    trainers.register_trainer("ThreadProbe", ThreadProbe)
    config = parse_config({"training_params": {"ThreadProbe": {"strategy": ["prior", "most_frequent", "uniform"]}},
                           "metrics": ["accuracy"], "perf_metric": "accuracy", "threads": 3})

    # When
    estimate = estimate_from_sample(config, load_split(iris_npz, config.target))

    # Then every sample fit ran with exactly 3 threads in every loaded pool (numpy's BLAS at least)
    assert estimate["ThreadProbe"] is not None
    assert [json.loads(line) for line in probe_log.read_text().splitlines()] == [[3]] * 3


def test_a_sample_fit_that_would_not_end_is_stopped_and_priced_at_experiment_timeout(tmp_path: Path,
                                                                                    iris_npz: Path) -> None:
    import subprocess
    import sys

    # Given a trainer whose fit would take an hour, and experiment_timeout: 2
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"training_params": {"Sleeper": {"tag": [1]}, "LogisticRegression": {"C": [1.0]}},
                                  "metrics": ["accuracy"], "perf_metric": "accuracy", "experiment_timeout": 2}))
    script = Path(__file__).with_name("_trainers.py")

    # When hpt plan samples it
    proc = subprocess.run([sys.executable, str(script), "plan", str(config), "--data", str(iris_npz), "--json"],
                          capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)

    # Then the plan finishes, pricing each such experiment at the time after which it would be stopped
    assert proc.returncode == 0, proc.stderr
    fit_seconds = json.loads(proc.stdout)["fit_seconds"]
    assert fit_seconds["Sleeper"] == 2.0
    assert fit_seconds["LogisticRegression"] is not None  # measured (a number, whatever the machine's load)


def test_halving_is_priced_per_rung_and_against_the_full_grid_by_hand() -> None:
    # Given 9 candidates halved by 3 on max_iter from 10 to 90 (rungs 9 x 10, 3 x 30, 1 x 90, known without data),
    # 9 s per experiment at max_iter 90, one experiment per batch (max_concurrency 10)
    config = parse_config({"training_params": {"HistGradientBoostingRegressor": {
        "learning_rate": [0.01, 0.1, 1.0], "max_leaf_nodes": [3, 7, 15]}}, "metrics": ["r2"], "perf_metric": "r2",
        "search": {"strategy": "halving", "factor": 3, "resource": "max_iter", "min_resources": 10,
                   "max_resources": 90}})
    from hyperparameter_tuner.planning import plan_rungs

    plan = make_plan(config, {"HistGradientBoostingRegressor": 9.0}, "given", build_dir=None,
                     rungs=plan_rungs(config))

    # Then an experiment costs 1, 3 and 9 s by rung; batches 9 x (4 + 1) + 3 x (4 + 3) + (4 + 9) = 79 s; with the
    # per-run functions (fan-out and reducer 2 GB-s, Champion 6 s x 2.9375 GB = 17.625, two 3 s reports at 1 GB = 6)
    # and two promotions (1 s at 0.5 GB each): 79 * 2.9375 + 25.625 + 1 = 258.6875 GB-s, against every candidate
    # at 90: 9 x (4 + 9) = 117 s, 117 * 2.9375 + 25.625 = 369.3125 GB-s
    assert plan.strategy == "halving" and plan.experiments == 13 and plan.batches == 13
    assert [(r["n_candidates"], r["n_resources"], r["batches"]) for r in plan.rungs] == [(9, 10, 9), (3, 30, 3),
                                                                                          (1, 90, 1)]
    assert plan.lambda_gb_seconds == pytest.approx(258.6875)
    assert plan.grid_equivalent_gb_seconds == pytest.approx(369.3125)
    assert plan.saving == pytest.approx(1 - 258.6875 / 369.3125)
    # One round per rung: 10 + 5 + 7 + 13 s, and 6 s for the Champion step; transitions 5 + 2 * 13 + 3 * 2
    assert plan.wall_seconds == pytest.approx(41.0)
    assert plan.state_transitions == 37
    assert {"halving cost", "halving promotions"} <= {a.name for a in plan.assumptions}


def test_halving_on_samples_without_data_prices_rung_0_and_says_so() -> None:
    config = parse_config({"training_params": {"Ridge": {"alpha": [1.0, 2.0, 3.0]}}, "metrics": ["r2"],
                           "perf_metric": "r2", "search": {"strategy": "halving"}})
    plan = make_plan(config, {"Ridge": 1.0}, "given", build_dir=None, rungs=None)
    assert plan.experiments == 3 and plan.rungs == []
    assert any(c.name == "halving rungs" and c.ok is None and "--data" in c.detail for c in plan.checks)
