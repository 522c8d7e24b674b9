"""Fixtures for the template tests: template.yaml as written, and as the SAM transform expands it (offline)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
TOOLS_DIR = ROOT / ".tools"
SAM_TRANSFORM_SCRIPT = Path(__file__).with_name("_sam_transform.py")


def _load_sam_transform_module() -> Any:
    spec = importlib.util.spec_from_file_location("_sam_transform", SAM_TRANSFORM_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """template.yaml decoded with cfn-lint's loader (understands !Ref, !Sub, ...), as plain dicts and lists."""
    loaded, matches = decode(str(TEMPLATE_PATH))
    assert not matches, f"template.yaml does not parse: {matches}"
    assert loaded is not None
    return json.loads(json.dumps(loaded))


@pytest.fixture(scope="session")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation that the SAM transform makes of template.yaml (roles, rules, permissions, ...).

    Uses aws-sam-translator in-process when the project venv has it, else the SAM CLI's venv from .ci/tools.sh.
    """
    if importlib.util.find_spec("samtranslator") is not None:
        return dict(_load_sam_transform_module().transform(template))
    sam_python = TOOLS_DIR / "sam" / "bin" / "python"
    if not sam_python.exists():
        from _require import missing

        missing("aws-sam-translator is not installed: add it to the venv or run `bash .ci/tools.sh`")
    proc = subprocess.run(
        [str(sam_python), str(SAM_TRANSFORM_SCRIPT)],
        input=json.dumps(template),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, f"SAM transform failed:\n{proc.stderr}"
    return dict(json.loads(proc.stdout))
