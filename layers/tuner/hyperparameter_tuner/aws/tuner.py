"""``StepFunctionsTuner``: the spec's tuner running on the deployed AWS application.

``run_experiment`` uploads the split and config, starts the run through the fan-out function, waits for the
state machine with progress, and returns the winner's model after checking its SHA-256. Inside the Lambdas the
same class provides ``build_model``/``save_model``/``finish_run`` on DynamoDB and S3.

Waiting never hangs and never lies: it ends at a deadline (:class:`WaitTimeoutError`, the run goes on), and
an execution that ended without closing its run (aborted, timed out, or failed outside the state machine's
``Catch``) is reported as a FAILED run with the execution's error instead of being polled forever.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import BaseHyperparameterTuner
from ..config import DEFAULT_MAX_EXPERIMENTS, TuningConfig
from ..data import SplitData
from ..errors import ConfigError, RunFailedError, TunerError
from ..records import ExperimentStatus, Run, RunStatus
from ..results import RunResult
from ._common import error_code
from .dynamodb import DynamoDBMetadataTracker, DynamoDBMetricsTracker
from .events import execution_failure_reason
from .s3 import S3VersionControl
from .s3data import upload_split

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

__all__ = [
    "StackResources",
    "StepFunctionsTuner",
    "SubmitError",
    "WaitTimeoutError",
    "execution_failure_reason",
    "run_status",
]

SUBMISSIONS_PREFIX = "submissions/"
# describe_execution statuses under which the execution may still close its run.
_EXECUTION_GOING_ON = ("RUNNING", "PENDING_REDRIVE")
_OPEN_RUN = (RunStatus.PENDING, RunStatus.RUNNING)


class SubmitError(TunerError):
    """The deployed application refused or failed to start the run."""


class WaitTimeoutError(TunerError):
    """``wait`` gave up at its deadline while the run is still going on (it has not failed).

    Attributes
    ----------
    run_id : str
        The run, to follow with ``hpt status RUN_ID --stack STACK``.
    status : str
        The run's status when waiting stopped (``PENDING`` or ``RUNNING``).
    timeout : float
        The seconds waited.
    """

    def __init__(self, run_id: str, status: str, timeout: float) -> None:
        self.run_id, self.status, self.timeout = run_id, status, timeout
        super().__init__(f"run {run_id} is still {status} after {timeout:g} s")


@dataclass(frozen=True)
class StackResources:
    """The deployed resources a client needs, as the stack's outputs name them."""

    bucket: str
    table: str
    state_machine_arn: str | None = None
    fan_out_function: str | None = None

    @classmethod
    def from_stack(cls, stack_name: str, cloudformation: Any = None, region: str | None = None) -> StackResources:
        """Read ``BucketName``, ``TableName``, ``StateMachineArn``, ``FanOutFunctionName`` from a stack's outputs.

        Raises
        ------
        ConfigError
            When the stack does not exist or lacks an output.
        """
        from botocore.exceptions import ClientError

        if cloudformation is None:
            import boto3

            cloudformation = boto3.client("cloudformation", region_name=region)
        try:
            stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as exc:
            raise ConfigError(f"--stack {stack_name}: {exc.response['Error'].get('Message', 'not found')}") from None
        outputs = {out["OutputKey"]: out["OutputValue"] for out in stacks[0].get("Outputs", [])}
        missing = [key for key in ("BucketName", "TableName", "FanOutFunctionName") if key not in outputs]
        if missing:
            raise ConfigError(
                f"--stack {stack_name}: output {missing[0]} is missing; is it a hyperparameter-tuner stack?"
            )
        return cls(bucket=outputs["BucketName"], table=outputs["TableName"],
                   state_machine_arn=outputs.get("StateMachineArn"), fan_out_function=outputs["FanOutFunctionName"])


class StepFunctionsTuner(BaseHyperparameterTuner):
    """Run the grid on the deployed Step Functions + Lambda application.

    Parameters
    ----------
    training_params, metrics, perf_metric
        As for :class:`~hyperparameter_tuner.BaseHyperparameterTuner`.
    resources : StackResources
        The deployment (``StackResources.from_stack("my-stack")``).
    s3, dynamodb, lambda_client : boto3 clients, optional
        Injected clients; created from the default session when omitted.
    dataset : str
        Folder name for submissions. Default ``"adhoc"``.
    config : TuningConfig, optional
        A validated config instead of ``training_params``/``metrics``/``perf_metric``/options.
    metrics_sink : aws_lambda_powertools.Metrics, optional
        Also emit every metric to CloudWatch through EMF (used inside the trainer Lambda).
    sfn : boto3 Step Functions client, optional
        Used by :meth:`wait` to tell whether the run's execution has ended; created (in the execution's region)
        when first needed.
    clock, sleep : callable, optional
        The monotonic clock and the sleep :meth:`wait` uses (default ``time.monotonic`` and ``time.sleep``);
        tests inject a fake pair.
    """

    def __init__(
        self,
        training_params: Mapping[Any, Any] | None = None,
        metrics: list[str] | None = None,
        perf_metric: str | None = None,
        *,
        resources: StackResources,
        s3: S3Client | None = None,
        dynamodb: DynamoDBClient | None = None,
        lambda_client: Any = None,
        dataset: str = "adhoc",
        config: TuningConfig | None = None,
        metrics_sink: Metrics | None = None,
        max_experiments: int = DEFAULT_MAX_EXPERIMENTS,
        sfn: SFNClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ) -> None:
        import boto3

        self.resources = resources
        self.s3 = s3 or boto3.client("s3")
        self.dynamodb = dynamodb or boto3.client("dynamodb")
        self._lambda = lambda_client
        self._sfn = sfn
        self._clock, self._sleep = clock, sleep
        self.dataset = dataset
        super().__init__(
            DynamoDBMetadataTracker(resources.table, client=self.dynamodb),
            S3VersionControl(resources.bucket, client=self.s3),
            DynamoDBMetricsTracker(resources.table, client=self.dynamodb, metrics=metrics_sink),
            training_params, metrics, perf_metric, config=config, max_experiments=max_experiments, **options,
        )

    # -- client side -----------------------------------------------------------------------------------------

    def submit(self, data: SplitData | str | Path) -> dict[str, Any]:
        """Upload the split and config under ``submissions/`` and start the run through the fan-out function.

        Returns
        -------
        dict
            The fan-out's result: ``status`` (STARTED, DUPLICATE, FAILED), ``run_id``, ``reason``, ``total``.
        """
        if self.resources.fan_out_function is None:
            raise ConfigError("resources.fan_out_function is required to submit a run")
        config_body = json.dumps(self.config.model_dump(mode="json")).encode()  # key order is grid order
        digest = hashlib.sha256(config_body).hexdigest()[:16]
        prefix = f"{SUBMISSIONS_PREFIX}{self.dataset}/"
        config_key = f"{prefix}config-{digest}.json"
        self.s3.put_object(Bucket=self.resources.bucket, Key=config_key, Body=config_body)
        data_key, response = self._upload_data(data, prefix)
        event = {"kind": "direct", "config_key": config_key, "data_key": data_key,
                 "data_version": response.get("VersionId")}
        if self._lambda is None:
            import boto3

            self._lambda = boto3.client("lambda")
        reply = self._lambda.invoke(FunctionName=self.resources.fan_out_function, Payload=json.dumps(event).encode())
        payload = json.loads(reply["Payload"].read() or b"{}")
        if reply.get("FunctionError"):
            raise SubmitError(f"fan-out failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
        return dict(payload)

    def _upload_data(self, data: SplitData | str | Path, prefix: str) -> tuple[str, dict[str, Any]]:
        if isinstance(data, SplitData):
            import numpy as np

            buffer = io.BytesIO()
            arrays = {"X_train": data.X_train, "y_train": data.y_train, "X_test": data.X_test, "y_test": data.y_test}
            if data.has_validation:
                arrays.update(X_val=data.X_val, y_val=data.y_val)
            np.savez(buffer, **arrays)
            key = f"{prefix}{hashlib.sha256(buffer.getvalue()).hexdigest()[:16]}.npz"
            return key, dict(self.s3.put_object(Bucket=self.resources.bucket, Key=key, Body=buffer.getvalue()))
        path = Path(data)
        if not path.exists():
            raise ConfigError(f"{path}: no such file or folder")
        key, response = upload_split(self.s3, self.resources.bucket, prefix, path)
        if key.endswith("_SUCCESS"):
            key = key[: -len("_SUCCESS")]
        return key, response

    def status(self, run_id: str) -> dict[str, Any]:
        """Live counts of a run: ``{"run_id", "status", "total", "succeeded", "failed", "running", "pending"}``."""
        run = self.metadata_tracker.get_run(run_id)
        return run_status(run, self.metadata_tracker)

    def wait(self, run_id: str, *, poll_seconds: float = 5.0, timeout: float | None = None,
             progress: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
        """Poll the run until it is closed (SUCCEEDED or FAILED) and return its :class:`RunResult`; a SUCCEEDED run
        is returned once its champion decision is recorded (or its execution ended without one).

        While the run is open, each poll also asks Step Functions about the run's execution: an execution that
        ended (ABORTED, TIMED_OUT, FAILED outside the ``Catch``, or even SUCCEEDED) without closing the run can
        never close it, so the run is returned as FAILED with the execution's status, error and cause as the
        reason, and no winner (the same reason the stack's execution-ended rule writes when it closes the stored
        record; ``wait`` itself writes nothing).

        Parameters
        ----------
        run_id : str
            The run (the fan-out's ``run_id``).
        poll_seconds : float, default 5.0
            Seconds between polls.
        timeout : float or None, default None
            Give up after this many seconds (``None``: wait as long as the run is open).
        progress : callable, optional
            Called with :func:`run_status` counts after every poll.

        Returns
        -------
        RunResult
            The closed run and its experiments.

        Raises
        ------
        WaitTimeoutError
            When ``timeout`` seconds passed and the run is still open; it goes on.
        """
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            run = self.metadata_tracker.get_run(run_id)
            if run.status in _OPEN_RUN:
                run = self._unless_execution_ended(run)
            counts = run_status(run, self.metadata_tracker)
            if progress is not None:
                progress(counts)
            if run.status not in _OPEN_RUN and not self._deciding_champion(run):
                return RunResult.collect(run, self.metadata_tracker.iter_experiments(run_id))
            pause = poll_seconds
            if deadline is not None:
                left = deadline - self._clock()
                if left <= 0:
                    raise WaitTimeoutError(run_id, run.status.value, float(timeout or 0))
                pause = min(pause, left)
            self._sleep(pause)

    def _deciding_champion(self, run: Run) -> bool:
        """Whether a SUCCEEDED run's champion step is still going on (its decision is part of the run)."""
        if run.status is not RunStatus.SUCCEEDED or run.champion is not None:
            return False
        arn = self._execution_arn(run)
        if arn is None or self._sfn is None and self.resources.state_machine_arn is None:
            return False
        from botocore.exceptions import ClientError

        if self._sfn is None:
            import boto3

            self._sfn = boto3.client("stepfunctions", region_name=arn.split(":")[3])
        try:
            return self._sfn.describe_execution(executionArn=arn)["status"] in _EXECUTION_GOING_ON
        except ClientError:
            return False  # whatever Step Functions says, the run is closed: report it

    def _execution_arn(self, run: Run) -> str | None:
        if run.execution_arn:
            return run.execution_arn
        arn = self.resources.state_machine_arn
        # The execution is named after the run: its ARN is known even before the fan-out records it.
        return f"{arn.replace(':stateMachine:', ':execution:')}:{run.run_id}" if arn else None

    def _unless_execution_ended(self, run: Run) -> Run:
        """``run``, or a FAILED copy of it when its execution ended without closing it."""
        from botocore.exceptions import ClientError

        arn = self._execution_arn(run)
        if arn is None:
            return run
        if self._sfn is None:
            import boto3

            self._sfn = boto3.client("stepfunctions", region_name=arn.split(":")[3])
        try:
            execution = self._sfn.describe_execution(executionArn=arn)
        except ClientError as exc:
            if error_code(exc) == "ExecutionDoesNotExist":
                return run  # not started yet (the fan-out records the run first)
            raise
        if execution["status"] in _EXECUTION_GOING_ON:
            return run
        fresh = self.metadata_tracker.get_run(run.run_id)  # closed in the meantime (the reducer, the Catch)?
        if fresh.status not in _OPEN_RUN:
            return fresh
        return fresh.model_copy(update={
            "status": RunStatus.FAILED, "winner": None, "reason": execution_failure_reason(execution),
        })

    def run_experiment(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Submit the run, wait for it, and return the winning model (checksum verified before loading).

        Keyword arguments go to :meth:`wait` (``poll_seconds``, ``timeout``, ``progress``).

        Raises
        ------
        SubmitError
            When the fan-out refused the run (the reason is in the message).
        RunFailedError
            When the run ended FAILED (its reason is the message; there is no winner).
        WaitTimeoutError
            When ``timeout`` passed first.
        """
        started = self.submit(data)
        if started.get("status") in ("FAILED", "REJECTED") or not started.get("run_id"):
            raise SubmitError(str(started.get("reason") or started))
        result = self.wait(started["run_id"], **kwargs)
        self.last_result = result
        if result.run.status is not RunStatus.SUCCEEDED or result.winner is None:
            raise RunFailedError(f"run {result.run.run_id} failed: {result.run.reason or 'no winner'}")
        return self.load_model(result.winner)


def run_status(run: Run, metadata: Any) -> dict[str, Any]:
    """Counts of a run's experiments by status (one paginated Query)."""
    counts = {status.value: 0 for status in ExperimentStatus}
    for experiment in metadata.iter_experiments(run.run_id):
        counts[experiment.status.value] += 1
    done = counts["SUCCEEDED"] + counts["FAILED"]
    return {
        "run_id": run.run_id, "status": run.status.value, "total": run.total,
        "succeeded": counts["SUCCEEDED"], "failed": counts["FAILED"], "running": counts["RUNNING"],
        "pending": max(run.total - done - counts["RUNNING"], 0), "reason": run.reason, "winner": run.winner,
    }
