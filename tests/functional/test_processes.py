"""Processes die cleanly and experiments are bounded: experiment_timeout, SIGINT/SIGTERM, kill -9, fit output.

Nothing here asserts a duration. A fit that "hangs" sleeps for an hour, so a test can only finish if the tuner
really stopped it; waits for a condition have generous fail-safe limits that only matter when the code is broken.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _trainers import MARKERS_ENV, register

from hyperparameter_tuner import LocalTuner
from hyperparameter_tuner.local.engine import open_store

TRAINERS_SCRIPT = Path(__file__).with_name("_trainers.py")
FAIL_SAFE = 120.0  # seconds; reached only when the behaviour under test is broken


@pytest.fixture(autouse=True)
def _registered() -> None:
    register()


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + FAIL_SAFE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has finished; only its parent's bookkeeping remains


def _marker_pids(markers: Path) -> set[int]:
    return {int(path.name.split("-")[0]) for path in markers.iterdir()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_experiment_over_its_timeout_is_failed_and_the_run_goes_on(tmp_path: Path, iris_npz: Path,
                                                                     jobs: int) -> None:
    # Given a grid where one experiment would fit for an hour, and a 10 s experiment_timeout: far above what the
    # LogisticRegression fits take even on a loaded machine (1 s was: a fork and a fit under load can take longer)
    tuner = LocalTuner({"Sleeper": {"tag": [1]}, "LogisticRegression": {"C": [0.5, 1.0]}}, ["accuracy"], "accuracy",
                       store=tmp_path / "store", jobs=jobs, experiment_timeout=10)

    # When
    result = tuner.run(iris_npz)

    # Then it is FAILED with the reason, the others trained, and the run succeeded with a winner
    by_algo = {e.algo: e for e in result.experiments}
    assert by_algo["Sleeper"].status.value == "FAILED"
    assert by_algo["Sleeper"].error_type == "TimeoutError"
    assert by_algo["Sleeper"].error == "timed out after 10 s (experiment_timeout)"
    assert [e.status.value for e in result.experiments if e.algo == "LogisticRegression"] == ["SUCCEEDED"] * 2
    assert result.run.status.value == "SUCCEEDED" and result.winner is not None
    assert result.winner.algo == "LogisticRegression"


def _start_run(tmp_path: Path, config: dict[str, Any], data: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    markers = tmp_path / "markers"
    markers.mkdir()
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    env = {**os.environ, MARKERS_ENV: str(markers)}
    proc = subprocess.Popen(
        [sys.executable, str(TRAINERS_SCRIPT), "run", str(config_path), "--data", str(data), "--store",
         str(tmp_path / "store"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    return proc, markers


SLEEPERS = {"training_params": {"Sleeper": {"tag": [1, 2]}}, "metrics": ["accuracy"], "perf_metric": "accuracy"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_every_fit_and_closes_the_run_as_interrupted(tmp_path: Path, iris_npz: Path,
                                                                    signum: int) -> None:
    # Given a run whose two workers are each in an hour-long fit
    proc, markers = _start_run(tmp_path, SLEEPERS, iris_npz, "--jobs", "2")
    _wait_until(lambda: len(list(markers.iterdir())) == 2, "both fits to start")
    workers = _marker_pids(markers)

    # When the run is sent the signal
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=FAIL_SAFE)

    # Then it exits at once with one line, both fits are gone, and the run is closed as interrupted
    assert proc.returncode == 128 + signum
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted")
    assert "Traceback" not in stderr
    assert not any(_alive(pid) for pid in workers)
    metadata, _, _ = open_store(tmp_path / "store")
    (run,) = metadata.list_runs()
    assert run.status.value == "FAILED"
    assert run.reason == f"interrupted by {signal.Signals(signum).name}"
    assert list(metadata.iter_experiments(run.run_id)) == []  # no experiment blamed for being stopped


def test_kill_9_leaves_no_orphan_and_the_next_command_closes_the_stale_run(tmp_path: Path, iris_npz: Path) -> None:
    # Given a run whose two workers are each in an hour-long fit
    proc, markers = _start_run(tmp_path, SLEEPERS, iris_npz, "--jobs", "2")
    _wait_until(lambda: len(list(markers.iterdir())) == 2, "both fits to start")
    workers = _marker_pids(markers)

    # When the run's process is killed without a chance to clean up
    proc.kill()
    proc.communicate(timeout=FAIL_SAFE)

    # Then its workers die with it
    _wait_until(lambda: not any(_alive(pid) for pid in workers), "the workers to die with their parent")
    # and the next command that opens the store closes the run as interrupted
    metadata, _, _ = open_store(tmp_path / "store")
    (run,) = metadata.list_runs()
    assert run.status.value == "FAILED"
    assert run.reason is not None and run.reason.startswith(f"interrupted: the process that ran it ({proc.pid})")


def test_a_live_run_is_not_taken_for_a_stale_one(tmp_path: Path, iris_npz: Path) -> None:
    # Given a run in progress in another process
    proc, markers = _start_run(tmp_path, SLEEPERS, iris_npz, "--jobs", "2")
    try:
        _wait_until(lambda: len(list(markers.iterdir())) == 2, "both fits to start")

        # When another command opens the store
        metadata, _, _ = open_store(tmp_path / "store")

        # Then the run stays RUNNING
        (run,) = metadata.list_runs()
        assert run.status.value == "RUNNING"
    finally:
        proc.kill()
        proc.communicate(timeout=FAIL_SAFE)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_what_an_estimator_prints_goes_to_its_log_not_to_json_stdout(tmp_path: Path, iris_npz: Path,
                                                                   jobs: str) -> None:
    # Given trainers that print through Python and straight to file descriptor 1 while they fit
    config = {"training_params": {"Chatty": {"tag": [1, 2]}}, "metrics": ["accuracy"], "perf_metric": "accuracy"}
    proc, _ = _start_run(tmp_path, config, iris_npz, "--jobs", jobs, "--json")

    # When
    stdout, stderr = proc.communicate(timeout=FAIL_SAFE)

    # Then stdout is exactly the JSON document, and each experiment's output is in its own log
    assert proc.returncode == 0, stderr
    payload = json.loads(stdout)
    assert payload["status"] == "SUCCEEDED"
    logs = tmp_path / "store" / "logs" / payload["run_id"]
    for experiment in payload["experiments"]:
        tag = experiment["params"]["tag"]
        text = (logs / f"{experiment['experiment_id']}.log").read_text()
        assert f"chatty python print {tag}" in text and f"chatty fd write {tag}" in text
