"""The light Lambdas (fan-out, reducer, report) never import the ML stack: checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "scipy", "sklearn", "pandas", "joblib")
ENV = {
    "BUCKET_NAME": "bucket", "TABLE_NAME": "table", "AWS_DEFAULT_REGION": "us-east-1",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:tuning",
    "POWERTOOLS_SERVICE_NAME": "cold-start-test", "POWERTOOLS_METRICS_NAMESPACE": "HyperparameterTuner",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
}
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _imported_roots(function: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / function / "app.py")],
        env={**ENV, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True, timeout=120,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", ["fan_out", "reducer", "report"])
def test_light_handlers_import_no_ml_stack(function: str) -> None:
    roots = _imported_roots(function)

    assert "hyperparameter_tuner" in roots and "aws_lambda_powertools" in roots  # the probe did import the handler
    assert not roots & set(HEAVY), f"{function} imports {sorted(roots & set(HEAVY))}"


def test_trainer_imports_the_ml_stack_at_init() -> None:
    # The trainer does the heavy imports during the init phase, so the probe can tell the two apart.
    assert {"numpy", "sklearn", "joblib"} <= _imported_roots("trainer")
