"""Scale on the AWS path, under moto: a 100,000-experiment fan-out and a streaming reducer.

Measures, in one run: the fan-out's wall time and peak Python memory (tracemalloc) for a 100,000-experiment
grid, the largest Step Functions payloads it produces (execution input, manifest item), invocations and state
transitions per experiment, and the reducer's time and peak memory over runs of growing size (flat memory means
it streams). Nothing here is a timed test: ``tests/functional/test_scale.py`` asserts the sizes and bounds.

    .venv/bin/python benchmarks/scale.py [--experiments 100000] [--rows 2000 8000]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np

from hyperparameter_tuner.aws.events import RunRequest
from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import Services, fan_out, reduce_run
from hyperparameter_tuner.planning import TRANSITIONS_PER_BATCH, TRANSITIONS_PER_RUN
from hyperparameter_tuner.records import Experiment, ExperimentStatus, Run, RunStatus

BUCKET, TABLE = "hpt-scale", "hpt-scale"
DATASET = "scale"


def grid_of(n: int) -> dict[str, Any]:
    """A config whose grid has exactly ``n`` experiments, as a product of short lists (``n`` = 10^k or small)."""
    params: dict[str, list[Any]] = {}
    names = ["alpha", "l1_ratio", "eta0", "tol", "max_iter", "power_t", "epsilon"]
    remaining, position = n, 0
    while remaining > 1:
        factor = 10 if remaining % 10 == 0 else remaining
        params[names[position]] = [round(0.01 * (i + 1), 4) if names[position] != "max_iter" else 5 * (i + 1)
                                   for i in range(factor)]
        remaining //= factor
        position += 1
    return {"training_params": {"SGDClassifier": params}, "metrics": ["accuracy"], "perf_metric": "accuracy",
            "max_concurrency": 100}


def aws_setup() -> Services:
    """Bucket, table and state machine in moto, and the fan-out's services on them."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    dynamodb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "GSI1", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"},
                                               {"AttributeName": "GSI1SK", "KeyType": "RANGE"}]}],
    )
    machine = sfn.create_state_machine(
        name="scale", roleArn="arn:aws:iam::123456789012:role/scale",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
    )
    settings = Settings(bucket_name=BUCKET, table_name=TABLE, state_machine_arn=machine["stateMachineArn"],
                        max_experiments=1_000_000, data_cache_dir=os.environ.get("TMPDIR", "/tmp") + "/hpt-scale")
    return Services(settings, s3=s3, dynamodb=dynamodb, sfn=sfn)


def upload_split(services: Services) -> tuple[str, str]:
    """A small split; the grid size is what is being measured."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    buffer = io.BytesIO()
    np.savez(buffer, X_train=X[:120], y_train=y[:120], X_val=X[120:160], y_val=y[120:160], X_test=X[160:],
             y_test=y[160:])
    key = f"datasets/{DATASET}/split.npz"
    return services.s3.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())["VersionId"], key


def measure_fan_out(services: Services, experiments: int) -> dict[str, Any]:
    """Fan out a grid of ``experiments``; return time, peak memory and payload sizes."""
    version, key = upload_split(services)
    services.s3.put_object(Bucket=BUCKET, Key=f"datasets/{DATASET}/tuning.json", Body=json.dumps(grid_of(experiments)))
    request = RunRequest(trigger="upload", dataset=DATASET, bucket=BUCKET, data_key=key, data_version=version)
    tracemalloc.start()
    tick = time.perf_counter()
    result = fan_out(request, services)
    seconds = time.perf_counter() - tick
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.status == "STARTED", result
    body = services.s3.get_object(Bucket=BUCKET, Key=f"runs/{result.run_id}/manifest.json")["Body"].read()
    manifest = json.loads(body)
    assert result.execution_arn is not None
    execution = services.sfn.describe_execution(executionArn=result.execution_arn)
    return {
        "run_id": result.run_id, "seconds": seconds, "peak_bytes": peak, "batches": len(manifest),
        "covered": sum(item["stop"] - item["start"] for item in manifest),
        "largest_item_bytes": max(len(json.dumps(item)) for item in manifest),
        "execution_input_bytes": len(execution["input"]),
    }


def seed_run(services: Services, rows: int) -> str:
    """A RUNNING run with ``rows`` SUCCEEDED experiment records, written straight to the table."""
    metadata = services.metadata()
    run_id = f"scale-{rows}"
    config = grid_of(rows)
    metadata.create_run(Run(run_id=run_id, status=RunStatus.RUNNING, config=config, perf_metric="accuracy",
                            direction="maximize", data_uri=f"s3://{BUCKET}/x.npz", data_fingerprint="fp", total=rows))
    rng = random.Random(rows)
    for index in range(rows):
        metadata.put_experiment(Experiment(
            run_id=run_id, experiment_id=f"e{index:07d}", index=index, algo="SGDClassifier",
            params={"alpha": 0.1}, data_fingerprint="fp", status=ExperimentStatus.SUCCEEDED,
            scores={"validation": {"accuracy": rng.random()}}, eval_split="validation",
        ))
    return run_id


def measure_reduce(services: Services, rows: int) -> dict[str, Any]:
    """Reduce a run of ``rows`` experiments; return time and the memory the reducer holds while it streams.

    moto keeps deep copies of the partition's items while it answers a Query, so the process-wide peak grows
    with the run whatever the client does; what the reducer side holds (botocore's parsed page, our records)
    is the memory allocated outside moto, sampled every 500 records.
    """
    from hyperparameter_tuner.aws.dynamodb import DynamoDBMetadataTracker

    run_id = seed_run(services, rows)
    original = DynamoDBMetadataTracker.iter_experiments
    held: list[int] = []

    def sampled(self: DynamoDBMetadataTracker, run_id: str) -> Iterator[Experiment]:
        for count, experiment in enumerate(original(self, run_id)):
            if count % 500 == 0:
                gc.collect()
                snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, "*/moto/*")])
                held.append(sum(stat.size for stat in snapshot.statistics("filename")))
            yield experiment

    DynamoDBMetadataTracker.iter_experiments = sampled  # type: ignore[method-assign]
    gc.collect()
    tracemalloc.start()
    baseline = 0
    tick = time.perf_counter()
    try:
        summary = reduce_run(run_id, services)
    finally:
        DynamoDBMetadataTracker.iter_experiments = original  # type: ignore[method-assign]
    seconds = time.perf_counter() - tick
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert summary.status == "SUCCEEDED", summary
    return {"rows": rows, "seconds": seconds, "peak_bytes": peak, "held_bytes": max(held) - baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=100_000)
    parser.add_argument("--rows", type=int, nargs="+", default=[2000, 8000])
    args = parser.parse_args()
    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        services = aws_setup()
        fan = measure_fan_out(services, args.experiments)
        reduces = [measure_reduce(services, rows) for rows in args.rows]
    batches = fan["batches"]
    transitions = TRANSITIONS_PER_RUN + TRANSITIONS_PER_BATCH * batches
    print(f"fan-out of {args.experiments:,} experiments: {fan['seconds']:.2f} s, peak {fan['peak_bytes'] / 1e6:.1f} MB"
          f" (Python heap), {batches:,} batches covering {fan['covered']:,}")
    print(f"largest payloads: execution input {fan['execution_input_bytes']} B, manifest item "
          f"{fan['largest_item_bytes']} B (budget 8192 B)")
    print(f"trainer invocations per experiment {batches / args.experiments:.4f}, state transitions per experiment "
          f"{transitions / args.experiments:.4f} (per-run and per-batch counts measured by benchmarks/transitions.py)")
    for r in reduces:
        print(f"reducer over {r['rows']:,} records: {r['seconds']:.2f} s, held while streaming "
              f"{r['held_bytes'] / 1e6:.2f} MB (process peak incl. moto {r['peak_bytes'] / 1e6:.2f} MB)")
    growth = reduces[-1]["held_bytes"] / reduces[0]["held_bytes"]
    size_ratio = reduces[-1]["rows"] / reduces[0]["rows"]
    print(f"ratios: reducer peak memory x{growth:.2f} for x{size_ratio:.0f} records; "
          f"invocations/experiment {batches / args.experiments:.4f}")


if __name__ == "__main__":
    main()
