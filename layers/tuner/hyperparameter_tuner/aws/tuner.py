"""``StepFunctionsTuner``: the spec's tuner running on the deployed AWS application.

``run_experiment`` uploads the split and config, starts the run through the fan-out function, waits for the
state machine with progress, and returns the winner's model after checking its SHA-256. Inside the Lambdas the
same class provides ``build_model``/``save_model``/``finish_run`` on DynamoDB and S3.
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
from ..errors import ConfigError, TunerError
from ..grid import ParamSpec
from ..records import ExperimentStatus, Run, RunStatus
from ..results import RunResult
from .dynamodb import DynamoDBMetadataTracker, DynamoDBMetricsTracker
from .s3 import S3VersionControl
from .s3data import upload_split

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["StackResources", "StepFunctionsTuner", "SubmitError"]

SUBMISSIONS_PREFIX = "submissions/"


class SubmitError(TunerError):
    """The deployed application refused or failed to start the run."""


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
    """

    def __init__(
        self,
        training_params: Mapping[Any, ParamSpec] | None = None,
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
        **options: Any,
    ) -> None:
        import boto3

        self.resources = resources
        self.s3 = s3 or boto3.client("s3")
        self.dynamodb = dynamodb or boto3.client("dynamodb")
        self._lambda = lambda_client
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
        """Poll the run until it is SUCCEEDED or FAILED; return its :class:`RunResult`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            counts = self.status(run_id)
            if progress is not None:
                progress(counts)
            if counts["status"] in (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value):
                run = self.metadata_tracker.get_run(run_id)
                return RunResult.collect(run, self.metadata_tracker.iter_experiments(run_id))
            if deadline is not None and time.monotonic() > deadline:
                raise TunerError(f"run {run_id} still {counts['status']} after {timeout:.0f} s")
            time.sleep(poll_seconds)

    def run_experiment(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Submit the run, wait for it, and return the winning model (checksum verified before loading).

        Raises
        ------
        SubmitError
            When the fan-out refused the run (the reason is in the message).
        TunerError
            When the run failed.
        """
        started = self.submit(data)
        if started.get("status") in ("FAILED", "REJECTED") or not started.get("run_id"):
            raise SubmitError(str(started.get("reason") or started))
        result = self.wait(started["run_id"], **kwargs)
        self.last_result = result
        if result.winner is None:
            raise TunerError(f"run {result.run.run_id} failed: {result.run.reason}")
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
