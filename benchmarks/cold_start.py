"""Cold-start import cost of each Lambda handler against a bare ``import boto3``, measured in the same run.

Each measurement is a fresh interpreter (as a Lambda cold start is); the median of ``--repeat`` runs is
reported. Target: fan-out and reducer at most 2x ``import boto3``; the trainer is reported (it imports the ML
stack during its init phase on purpose).

    .venv/bin/python benchmarks/cold_start.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "BUCKET_NAME": "bucket", "TABLE_NAME": "table", "AWS_DEFAULT_REGION": "us-east-1",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:tuning",
    "POWERTOOLS_SERVICE_NAME": "cold-start", "POWERTOOLS_METRICS_NAMESPACE": "HyperparameterTuner",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
}
LOAD = (
    "import importlib.util, sys; spec = importlib.util.spec_from_file_location('app', sys.argv[1]); "
    "app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)"
)
# What the first invocation adds: the fan-out's clients are created on first use (boto3 imported then).
FIRST_USE = LOAD + "; app.services.s3, app.services.dynamodb, app.services.sfn"


def _seconds(code: str, *args: str) -> float:
    tick = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], env=ENV, check=True)
    return time.perf_counter() - tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cases: dict[str, tuple[str, ...]] = {"baseline: import boto3": ("import boto3",)}
    for name in ("fan_out", "reducer", "trainer"):
        cases[f"functions/{name}/app.py"] = (LOAD, str(ROOT / "functions" / name / "app.py"))
    cases["reference: boto3 + 3 clients"] = (
        "import boto3; [boto3.client(s) for s in ('s3', 'dynamodb', 'stepfunctions')]",
    )
    cases["fan_out + its 3 clients (first call)"] = (FIRST_USE, str(ROOT / "functions" / "fan_out" / "app.py"))
    _seconds("pass")  # warm the OS file cache
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):  # interleaved, so machine noise hits every case alike
        for name, argv in cases.items():
            samples[name].append(_seconds(*argv))
    baseline = statistics.median(samples["baseline: import boto3"])
    print(f"{'case':34} {'median s':>9} {'x boto3':>8}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:34} {median:9.3f} {median / baseline:8.2f}")
    light = ("fan_out", "reducer")
    ratios = {name: statistics.median(v) / baseline for name, v in samples.items()
              if name.endswith("app.py") and any(k in name for k in light)}
    verdict = "ok" if max(ratios.values()) <= 2.0 else "OVER TARGET"
    print(f"light handlers: max {max(ratios.values()):.2f}x import boto3 (target <= 2.0): {verdict}")


if __name__ == "__main__":
    main()
