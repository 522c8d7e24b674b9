"""Every module a handler imports is in its function's layers or in the Lambda runtime.

The dev venv has everything, so a handler can import a package no layer ships (the X-Ray SDK, say) and pass
every other test, then fail at its first cold start on AWS. The layers are built for arm64 and cannot be
imported here, so the handler is imported in a fresh interpreter where every top-level module outside the
allowed set is blocked: the standard library, what the Lambda runtime provides, and the distributions its
layers' requirements pull in (their dependency closure, extras excluded). Optional imports that a library
guards (scikit-learn trying ``rich``) fail quietly, as they would on Lambda; a required one fails the import.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What the python3.13 Lambda runtime itself provides besides the standard library.
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "awslambdaric"}
PROBE = """
import importlib.util, json, sys
allowed = set(json.loads(sys.argv[2]))

class Block:
    def find_spec(self, name, path=None, target=None):
        root = name.split(".")[0]
        stdlib_internal = root.startswith("_sysconfigdata")  # the interpreter's build data, part of the runtime
        if root not in allowed and root not in sys.builtin_module_names and not stdlib_internal:
            raise ModuleNotFoundError(f"No module named {root!r} (not in the function's layers)", name=root)
        return None

sys.meta_path.insert(0, Block())
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print("imported")
"""
ENV = {
    "BUCKET_NAME": "bucket", "TABLE_NAME": "table", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:tuning",
    "POWERTOOLS_SERVICE_NAME": "deps", "POWERTOOLS_METRICS_NAMESPACE": "HyperparameterTuner",
}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _closure(requirements: list[str]) -> set[str]:
    """Distribution names the requirements install, following dependencies without extras."""
    seen: set[str] = set()
    todo = [_name(r) for r in requirements if r.strip() and not r.startswith("#")]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" not in requirement:
                todo.append(_name(requirement))
    return seen


def _modules_of(distributions: set[str]) -> set[str]:
    provided = metadata.packages_distributions()
    return {module for module, dists in provided.items()
            if any(d.lower().replace("_", "-") in distributions for d in dists)}


def _import_with_only(code_uri: str, allowed: set[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, str(ROOT / code_uri / "app.py"), json.dumps(sorted(allowed))],
                          env=ENV, capture_output=True, text=True, timeout=120)


FUNCTIONS = ["FanOutFunction", "TrainerFunction", "ReducerFunction", "PromoteFunction", "ChampionFunction"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_imports_only_what_its_layers_and_the_runtime_provide(template: dict[str, Any], function: str) -> None:
    # Given the function's layers, from the template
    properties = template["Resources"][function]["Properties"]
    layers = [ref["Ref"] for ref in properties["Layers"]]
    requirements: list[str] = []
    for layer in layers:
        content = ROOT / template["Resources"][layer]["Properties"]["ContentUri"]
        requirements += (content / "requirements.txt").read_text().splitlines()
    allowed = _modules_of(_closure(requirements)) | RUNTIME | set(sys.stdlib_module_names) | {"hyperparameter_tuner"}

    # When the handler is imported where nothing else can be
    result = _import_with_only(properties["CodeUri"], allowed)

    # Then it imports
    error = result.stderr.strip().splitlines()[-1:] or ["?"]
    assert result.returncode == 0 and "imported" in result.stdout, f"{function} (layers {layers}): {error[0]}"


def test_the_check_catches_a_module_no_layer_ships(tmp_path: Path) -> None:
    # A handler needing the X-Ray SDK, which no layer ships (Powertools' tracer extra is not installed)
    (tmp_path / "app.py").write_text("import aws_xray_sdk.core\n")
    allowed = _modules_of(_closure((ROOT / "layers/tuner/requirements.txt").read_text().splitlines()))

    result = _import_with_only(str(tmp_path), allowed | set(sys.stdlib_module_names))

    assert result.returncode != 0 and "aws_xray_sdk" in result.stderr
