"""``StackResources``, ``StepFunctionsTuner`` and ``hpt submit/status/leaderboard --stack`` against the emulated
application: the emulator (moto) runs ``template.yaml``, and a CloudFormation stack in moto publishes its resource
names as outputs, as the deployed stack does."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import yaml

from hyperparameter_tuner.aws.tuner import (
    StackResources,
    StepFunctionsTuner,
    WaitTimeoutError,
    execution_failure_reason,
)
from hyperparameter_tuner.cli import main
from hyperparameter_tuner.config import parse_config
from hyperparameter_tuner.emulator import Emulator
from hyperparameter_tuner.errors import ConfigError, RunFailedError

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = "hpt-test-stack"
OUTPUTS = ("BucketName", "TableName", "StateMachineArn", "FanOutFunctionName")

CONFIG: dict[str, Any] = {
    "name": "iris-stack",
    "training_params": {
        "DecisionTreeClassifier": {"max_depth": [1, 3]},
        "KNeighborsClassifier": {"n_neighbors": [3, 7]},
    },
    "metrics": ["accuracy", "f1_macro"],
    "perf_metric": "accuracy",
    "seed": 7,
}


def stack_template(outputs: dict[str, str]) -> str:
    """A stack with nothing in it but the given literal outputs."""
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    })


def _allow_moto_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's CloudFormation backend imports its API Gateway backend, which imports ``openapi_spec_validator``
    (moto's ``cloudformation`` extra, not in this project's ``moto[...]`` extras). Nothing here imports OpenAPI
    specs, so when the package is absent a stand-in module lets the backend load."""
    try:
        import openapi_spec_validator  # noqa: F401
    except ImportError:
        validator = types.ModuleType("openapi_spec_validator")

        def validate(*_: Any, **__: Any) -> None:
            raise NotImplementedError("openapi_spec_validator is not installed")

        validator.validate = validator.validate_spec = validate  # type: ignore[attr-defined]
        validation = types.ModuleType("openapi_spec_validator.validation")
        exceptions = types.ModuleType("openapi_spec_validator.validation.exceptions")
        exceptions.OpenAPIValidationError = type("OpenAPIValidationError", (Exception,), {})  # type: ignore[attr-defined]
        for name, module in {"openapi_spec_validator": validator, "openapi_spec_validator.validation": validation,
                             "openapi_spec_validator.validation.exceptions": exceptions}.items():
            monkeypatch.setitem(sys.modules, name, module)


@contextlib.contextmanager
def emulated_stack() -> Iterator[Emulator]:
    """The emulator running ``template.yaml``, and the stack ``STACK`` whose outputs name its resources.

    Started in the phase that uses it: the emulator keeps handler output (logs, EMF metrics) out of the
    ``sys.stdout`` current when it starts, as Lambda keeps it out of the caller's, and pytest swaps ``sys.stdout``
    between a test's phases.
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        _allow_moto_cloudformation(monkeypatch)
        with Emulator(REPO_ROOT / "template.yaml", retry_sleep=False) as emu:
            emu.client("cloudformation").create_stack(StackName=STACK, TemplateBody=stack_template(outputs_of(emu)))
            yield emu


def outputs_of(emulator: Emulator) -> dict[str, str]:
    """The emulated deployment's names, as the real stack's outputs carry them."""
    return {
        "BucketName": emulator.bucket_name,
        "TableName": emulator.table_name,
        "StateMachineArn": emulator.state_machine_arn,
        "FanOutFunctionName": emulator.functions["FanOutFunction"].name,
    }


@pytest.fixture(scope="class")
def emulator() -> Iterator[Emulator]:
    """One emulated deployment for a test class (each run there has its own id: tests do not interfere)."""
    with emulated_stack() as emu:
        yield emu


@pytest.fixture
def outputs(emulator: Emulator) -> dict[str, str]:
    return outputs_of(emulator)


@pytest.fixture
def stack(emulator: Emulator) -> str:
    return STACK


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tuning.yaml"
    path.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    return path


def make_tuner(emulator: Emulator, stack: str, config: dict[str, Any] | None = None,
               **options: Any) -> StepFunctionsTuner:
    resources = StackResources.from_stack(stack, emulator.client("cloudformation"))
    return StepFunctionsTuner(config=parse_config(config or CONFIG), resources=resources, s3=emulator.s3,
                              dynamodb=emulator.dynamodb, lambda_client=emulator.lambda_client, **options)


class FakeClock:
    """A monotonic clock that only moves when ``sleep`` is called: waiting costs no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Held:
    """Trainer invocations held by :func:`held_trainers`: ``reached`` is set once one is held."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.reached = threading.Event()
        self.release = threading.Event()
        self.run_ids: list[str] = []

    def abort_once_reached(self) -> threading.Thread:
        """From another thread, once a trainer is held: stop the run's execution (``StopExecution``, as an operator
        would in the console), let the trainers go, and wait until the execution has ended ABORTED.

        It ends outside the state machine's ``Catch``, so the run stays RUNNING. (moto reflects a stop once the
        running state returns, hence the release.)
        """

        def abort() -> None:
            if self.reached.wait(60):
                prefix = self.emulator.state_machine_arn.replace(":stateMachine:", ":execution:")
                arn = f"{prefix}:{self.run_ids[0]}"
                self.emulator.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped  by\nhand")
                self.release.set()
                self.emulator.wait_for_execution(arn, timeout=60)

        thread = threading.Thread(target=abort, daemon=True)
        thread.start()
        return thread


@contextlib.contextmanager
def held_trainers(emulator: Emulator) -> Iterator[Held]:
    """Hold every trainer invocation until the block ends, so runs stay open for as long as a test needs."""
    held = Held(emulator)

    def hold(function: str, event: Any) -> None:
        if function == "TrainerFunction":
            held.run_ids.append(event["run_id"])
            held.reached.set()
            held.release.wait()

    emulator.add_fault(hold)
    try:
        yield held
    finally:
        held.release.set()
        emulator.clear_faults()


def wait_for_run_execution(emulator: Emulator, tuner: StepFunctionsTuner) -> None:
    """Let the last run's execution end: the reducer (and the Report function its completion event reaches) goes on
    after the run is closed, and must not print into the next test's capture."""
    assert tuner.last_result is not None
    prefix = emulator.state_machine_arn.replace(":stateMachine:", ":execution:")
    emulator.wait_for_execution(f"{prefix}:{tuner.last_result.run.run_id}", timeout=60)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


# -- StackResources and StepFunctionsTuner, on one emulated deployment ------------------------------------------


class TestOnTheStack:
    def test_stack_resources_are_read_from_the_outputs(
        self, emulator: Emulator, stack: str, outputs: dict[str, str]
    ) -> None:
        resources = StackResources.from_stack(stack, emulator.client("cloudformation"))
        assert resources == StackResources(
            bucket=outputs["BucketName"], table=outputs["TableName"], state_machine_arn=outputs["StateMachineArn"],
            fan_out_function=outputs["FanOutFunctionName"],
        )

    @pytest.mark.parametrize("missing", ["BucketName", "TableName", "FanOutFunctionName"])
    def test_stack_without_an_output_is_a_config_error_naming_it(
        self, emulator: Emulator, outputs: dict[str, str], missing: str
    ) -> None:
        # Given
        partial = {key: value for key, value in outputs.items() if key != missing}
        name = f"partial-{missing}"
        emulator.client("cloudformation").create_stack(StackName=name, TemplateBody=stack_template(partial))

        # When / Then
        with pytest.raises(ConfigError, match=rf"--stack {name}: output {missing} is missing"):
            StackResources.from_stack(name, emulator.client("cloudformation"))

    def test_unknown_stack_is_a_config_error(self, emulator: Emulator) -> None:
        with pytest.raises(ConfigError, match=r"--stack no-such-stack: .*does not exist"):
            StackResources.from_stack("no-such-stack", emulator.client("cloudformation"))

    def test_run_experiment_returns_the_winners_model(
        self, emulator: Emulator, stack: str, iris_npz: Path, iris_arrays: dict[str, np.ndarray]
    ) -> None:
        # Given
        tuner = make_tuner(emulator, stack)
        fan_outs, reducers = emulator.invocation_count("FanOutFunction"), emulator.invocation_count("ReducerFunction")

        # When
        model = tuner.run_experiment(iris_npz, poll_seconds=0.05, timeout=60)

        # Then: one run through the whole workflow
        result = tuner.last_result
        assert result is not None and result.run.status.value == "SUCCEEDED"
        assert result.run.execution_arn is not None
        # the run is closed by the reducer, whose invocation is recorded once it has returned
        assert emulator.wait_for_execution(result.run.execution_arn, timeout=30)["status"] == "SUCCEEDED"
        assert emulator.invocation_count("FanOutFunction") == fan_outs + 1
        assert emulator.invocation_count("ReducerFunction") == reducers + 1
        assert [e.status.value for e in result.experiments] == ["SUCCEEDED"] * 4
        winner = result.winner
        assert winner is not None and winner.artifact is not None
        assert winner.metrics["accuracy"] == max(e.metrics["accuracy"] for e in result.experiments)
        # and the model is the winner's artifact, as stored in S3
        key = winner.artifact.uri.removeprefix(f"s3://{tuner.resources.bucket}/")
        stored = emulator.s3.get_object(Bucket=tuner.resources.bucket, Key=key, VersionId=winner.artifact.version_id)
        reference = joblib.load(io.BytesIO(stored["Body"].read()))
        assert type(model).__name__ == winner.algo
        assert model.get_params() == reference.get_params()
        np.testing.assert_array_equal(model.predict(iris_arrays["X_test"]), reference.predict(iris_arrays["X_test"]))

    def test_status_counts_the_runs_experiments(self, emulator: Emulator, stack: str, iris_npz: Path) -> None:
        # Given
        tuner = make_tuner(emulator, stack)
        tuner.run_experiment(iris_npz, poll_seconds=0.05, timeout=60)
        assert tuner.last_result is not None
        run_id = tuner.last_result.run.run_id

        # When
        counts = tuner.status(run_id)

        # Then
        assert counts["run_id"] == run_id
        assert counts["status"] == "SUCCEEDED"
        assert (counts["total"], counts["succeeded"], counts["failed"], counts["running"], counts["pending"]) == (
            4, 4, 0, 0, 0
        )
        assert counts["winner"] == tuner.last_result.run.winner

    def test_resubmitting_a_split_reuses_every_finished_experiment(
        self, emulator: Emulator, stack: str, iris_npz: Path
    ) -> None:
        # Given: a finished run
        tuner = make_tuner(emulator, stack)
        first = tuner.submit(iris_npz)
        tuner.wait(first["run_id"], poll_seconds=0.05, timeout=60)
        models = emulator.s3.list_object_versions(Bucket=emulator.bucket_name, Prefix="models/")["Versions"]

        # When: the same bytes again (a new S3 version, so a new run)
        second = tuner.submit(iris_npz)
        result = tuner.wait(second["run_id"], poll_seconds=0.05, timeout=60)

        # Then: nothing trained again
        assert second["status"] == "STARTED"
        assert second["run_id"] != first["run_id"]
        assert result.run.status.value == "SUCCEEDED"
        assert result.reused == 4
        assert all(e.reused_from not in (None, second["run_id"]) for e in result.experiments)
        again = emulator.s3.list_object_versions(Bucket=emulator.bucket_name, Prefix="models/")["Versions"]
        assert {v["VersionId"] for v in again} == {v["VersionId"] for v in models}

    def test_wait_gives_up_at_its_timeout_and_the_run_goes_on(self, emulator: Emulator, stack: str,
                                                               iris_npz: Path) -> None:
        # Given: a run held open (its trainers wait), and a clock that moves only when wait sleeps
        clock = FakeClock()
        tuner = make_tuner(emulator, stack, clock=clock, sleep=clock.sleep)
        polls: list[dict[str, Any]] = []
        with held_trainers(emulator):
            started = tuner.submit(iris_npz)

            # When
            with pytest.raises(WaitTimeoutError, match=rf"^run {started['run_id']} is still RUNNING after 12 s$"):
                tuner.wait(started["run_id"], poll_seconds=5, timeout=12, progress=polls.append)

            # Then: polls at t = 0, 5, 10 and 12, the last sleep cut to the deadline; the run is left as it was
            assert clock.sleeps == [5, 5, 2]
            assert [poll["status"] for poll in polls] == ["RUNNING"] * 4
            assert tuner.metadata_tracker.get_run(started["run_id"]).status.value == "RUNNING"
        assert emulator.wait_for_execution(started["execution_arn"], timeout=60)["status"] == "SUCCEEDED"

    def test_wait_reports_an_execution_aborted_outside_the_catch_as_a_failed_run(
        self, emulator: Emulator, stack: str, iris_npz: Path
    ) -> None:
        # Given: the run's execution stopped by hand: nothing in the state machine closes the run
        clock = FakeClock()
        tuner = make_tuner(emulator, stack, clock=clock, sleep=clock.sleep)
        with held_trainers(emulator) as held:
            started = tuner.submit(iris_npz)
            held.abort_once_reached().join()
            assert emulator.sfn.describe_execution(executionArn=started["execution_arn"])["status"] == "ABORTED"
            assert tuner.metadata_tracker.get_run(started["run_id"]).status.value == "RUNNING"

            # When
            result = tuner.wait(started["run_id"], poll_seconds=5, timeout=3600)

        # Then: FAILED at once, with the execution's status (moto keeps no error or cause for a stop); no winner
        assert clock.sleeps == []
        assert result.run.status.value == "FAILED"
        assert result.run.reason == "execution ABORTED"
        assert result.run.winner is None and result.winner is None

    def test_run_experiment_raises_run_failed_error_when_the_execution_was_aborted(
        self, emulator: Emulator, stack: str, iris_npz: Path
    ) -> None:
        clock = FakeClock()
        tuner = make_tuner(emulator, stack, clock=clock, sleep=clock.sleep)
        with held_trainers(emulator) as held, \
                pytest.raises(RunFailedError, match=r"^run \S+ failed: execution ABORTED$"):
            aborted = held.abort_once_reached()
            # polls, with no real time passing, until the execution has been stopped
            tuner.run_experiment(iris_npz, poll_seconds=5, progress=lambda _: aborted.join())

    def test_run_experiment_raises_run_failed_error_when_every_experiment_failed(
        self, emulator: Emulator, stack: str, iris_npz: Path
    ) -> None:
        # Given: max_depth must be positive: both fits raise inside scikit-learn
        config = {**CONFIG, "training_params": {"DecisionTreeClassifier": {"max_depth": [-1, -2]}}}
        tuner = make_tuner(emulator, stack, config)

        # When / Then
        with pytest.raises(RunFailedError, match=r"^run \S+ failed: all 2 experiments failed$"):
            tuner.run_experiment(iris_npz, poll_seconds=0.05, timeout=60)
        wait_for_run_execution(emulator, tuner)

    def test_run_experiment_raises_run_failed_error_when_too_many_experiments_failed(
        self, emulator: Emulator, stack: str, iris_npz: Path
    ) -> None:
        # Given: one fit of two fails, and the config tolerates none
        config = {**CONFIG, "training_params": {"DecisionTreeClassifier": {"max_depth": [-1, 3]}},
                  "max_failure_ratio": 0}
        tuner = make_tuner(emulator, stack, config)

        # When / Then: no model comes back from a FAILED run, even though one experiment succeeded
        with pytest.raises(RunFailedError, match=r"failed: 1 of 2 experiments failed"):
            tuner.run_experiment(iris_npz, poll_seconds=0.05, timeout=60)
        assert tuner.last_result.run.status.value == "FAILED"
        wait_for_run_execution(emulator, tuner)

    def test_cli_status_of_an_unknown_run_is_a_usage_error(
        self, emulator: Emulator, stack: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = run_cli(capsys, "status", "no-such-run", "--stack", stack, "--json")
        assert code == 2
        assert out is None
        assert err.startswith("error: ") and "no-such-run" in err
        assert len(err.splitlines()) == 1

    def test_cli_with_an_unknown_stack_is_a_usage_error(
        self, emulator: Emulator, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = run_cli(capsys, "leaderboard", "run", "--stack", "no-such-stack", "--json")
        assert code == 2
        assert out is None
        assert err.startswith("error: --stack no-such-stack")
        assert len(err.splitlines()) == 1


@pytest.mark.parametrize(("reply", "reason"), [
    ({"status": "ABORTED", "error": "Operator", "cause": "stopped  by\nhand"},
     "execution ABORTED: Operator: stopped by hand"),
    ({"status": "TIMED_OUT"}, "execution TIMED_OUT"),
    ({"status": "FAILED", "error": "States.Runtime", "cause": "x" * 400},
     "execution FAILED: States.Runtime: " + "x" * (300 - len("States.Runtime: "))),
    ({"status": "SUCCEEDED", "error": "", "cause": None}, "execution SUCCEEDED"),
])
def test_execution_failure_reason_is_one_line_from_describe_execution(reply: dict[str, Any], reason: str) -> None:
    assert execution_failure_reason(reply) == reason


# -- the CLI against the stack ----------------------------------------------------------------------------------


def test_cli_submit_status_and_leaderboard(
    config_file: Path, iris_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with emulated_stack() as emulator:
        # Given / When: submit and wait
        code, submitted, err = run_cli(capsys, "submit", str(config_file), "--data", str(iris_npz), "--stack", STACK,
                                       "--wait", "--poll", "0.05", "--json")

        # Then
        assert code == 0, err
        assert submitted["status"] == "SUCCEEDED"
        assert submitted["winner"]["model_uri"].startswith(f"s3://{emulator.bucket_name}/models/")
        assert [e["status"] for e in submitted["experiments"]] == ["SUCCEEDED"] * 4
        run_id = submitted["run_id"]
        # --wait waits for the champion step too: the submission's dataset (the config's name) has its first champion
        assert (submitted["dataset"], submitted["champion"]["decision"]) == ("iris-stack", "first")
        assert submitted["champion"]["champion_experiment_id"] == submitted["winner"]["experiment_id"]

        # When: hpt champion on the stack
        code, champion, err = run_cli(capsys, "champion", "iris-stack", "--stack", STACK, "--json")

        # Then: the champion, its model on S3, and the history of one decision
        assert code == 0, err
        assert champion["champion"]["experiment_id"] == submitted["winner"]["experiment_id"]
        assert champion["champion"]["model_uri"] == submitted["winner"]["model_uri"]
        assert [entry["decision"] for entry in champion["history"]] == ["first"]

        # When: status
        code, status, err = run_cli(capsys, "status", run_id, "--stack", STACK, "--json")

        # Then
        assert code == 0, err
        assert (status["run_id"], status["status"], status["succeeded"], status["total"]) == (
            run_id, "SUCCEEDED", 4, 4
        )

        # When: leaderboard
        code, board, err = run_cli(capsys, "leaderboard", run_id, "--stack", STACK, "--json")

        # Then: the same run as submit reported
        assert code == 0, err
        assert board["run_id"] == run_id
        assert board["winner"] == submitted["winner"]
        assert [e["experiment_id"] for e in board["experiments"]] == [
            e["experiment_id"] for e in submitted["experiments"]
        ]

        # When: submit without --wait
        code, started, err = run_cli(capsys, "submit", str(config_file), "--data", str(iris_npz), "--stack", STACK,
                                     "--json")

        # Then: the fan-out's reply; the run goes on in the background
        assert code == 0, err
        assert (started["status"], started["total"]) == ("STARTED", 4)
        assert started["run_id"] != run_id
        assert emulator.wait_for_execution(started["execution_arn"], timeout=60)["status"] == "SUCCEEDED"


def test_cli_submit_wait_timeout_says_the_run_goes_on_and_how_to_follow_it(
    config_file: Path, iris_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with emulated_stack() as emulator, held_trainers(emulator):
        # When: no time to wait at all, while the run is held open
        code, counts, err = run_cli(capsys, "submit", str(config_file), "--data", str(iris_npz), "--stack", STACK,
                                    "--wait", "--timeout", "0", "--json")

        # Then: exit 3 (neither succeeded, 0, nor failed, 1), one line naming the command that follows the run
        assert code == 3, err
        run_id = counts["run_id"]
        assert counts["status"] == "RUNNING"
        assert err.splitlines() == [
            f"run {run_id} is still RUNNING after 0 s and goes on (not failed); follow it with: "
            f"hpt status {run_id} --stack {STACK}"
        ]


def test_cli_submit_wait_reports_an_aborted_execution_as_failed(
    config_file: Path, iris_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with emulated_stack() as emulator, held_trainers(emulator) as held:
        aborting = held.abort_once_reached()
        code, result, err = run_cli(capsys, "submit", str(config_file), "--data", str(iris_npz), "--stack", STACK,
                                    "--wait", "--poll", "0.05", "--timeout", "60", "--json")
        aborting.join()  # its wait for the stopped execution ends before the emulator does

    assert code == 1, err
    assert result["status"] == "FAILED"
    assert result["winner"] is None


@pytest.mark.parametrize(("argv", "message"), [
    (["--timeout", "5"], "--timeout needs --wait"),
    (["--wait", "--timeout", "-1"], "argument --timeout: expected a finite number of seconds >= 0, got '-1'"),
    (["--wait", "--timeout", "nan"], "argument --timeout: expected a finite number of seconds >= 0, got 'nan'"),
    (["--wait", "--poll", "0"], "argument --poll: expected a number of seconds > 0, got '0'"),
    (["--wait", "--timeout", "soon"], "argument --timeout: invalid float value: 'soon' (seconds)"),
])
def test_cli_submit_bad_wait_arguments_are_usage_errors(
    config_file: Path, iris_npz: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "submit", str(config_file), "--data", str(iris_npz), "--stack", STACK, *argv)
    assert (code, out) == (2, None)
    assert err == f"error: {message}\n"
