"""template.yaml through the CLI tools that .ci/tools.sh installs under .tools/ (SAM CLI, checkov, cfn-lint with the
serverless rules). Each test skips, naming the missing piece, when its tool is not installed, and fails instead when
`CI` is set (``_require.missing``); CI installs them first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _require import missing

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"


def tool(venv: str, binary: str) -> Path:
    path = TOOLS / venv / "bin" / binary
    if not path.exists():
        missing(f"{path.relative_to(ROOT)} is missing: run `bash .ci/tools.sh`")
    return path


def run(
    args: list[str | Path], env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=timeout, env=env
    )


def sam_env() -> dict[str, str]:
    """Environment for `sam build`: it needs the runtime's interpreter, python3.13, first on PATH."""
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    # A pyenv shim named python3.13 exists even when 3.13 is not the active version, so prefer the real binary.
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(pyenv_root.glob("versions/3.13*/bin/python3.13"))
    if found:
        env["PATH"] = f"{found[-1].parent}{os.pathsep}{env['PATH']}"
    elif shutil.which("python3.13", path=env.get("PATH")) is None:
        missing("sam build for python3.13 needs a Python 3.13 on PATH (none found, pyenv included)")
    return env


def du(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def test_cfn_lint_with_serverless_rules() -> None:
    proc = run([tool("cfn-lint", "cfn-lint"), "-t", "template.yaml", "-a", "cfn_lint_serverless.rules"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sam_validate_lint() -> None:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    proc = run([tool("sam", "sam"), "validate", "--lint", "--region", "us-east-1", "-t", "template.yaml"], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def assert_checkov_clean(target: Path) -> None:
    checkov = tool("checkov", "checkov")
    proc = run([checkov, "-f", target, "--framework", "cloudformation", "--skip-download", "-o", "json"])
    report: dict[str, Any] = json.loads(proc.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"].get("suppress_comment"), check["check_id"]


def test_checkov_finds_nothing_unexplained() -> None:
    assert_checkov_clean(ROOT / "template.yaml")


def test_checkov_on_the_transformed_template(transformed: dict[str, Any], tmp_path: Path) -> None:
    # SAM copies each function's Metadata (and so its checkov skips) onto the resources it generates.
    target = tmp_path / "transformed.json"
    target.write_text(json.dumps(transformed))
    assert_checkov_clean(target)


def test_sam_build_trainer_fits_lambda_size_limit(tmp_path_factory: pytest.TempPathFactory) -> None:
    # The build and the size budget live in test_package_size.py (one `sam build` per session, one budget constant).
    from test_package_size import LAMBDA_UNZIPPED_LIMIT, TRAINER_PARTS, trainer_build

    build_dir = trainer_build(tmp_path_factory)
    sizes = {name: du(build_dir / name) for name in TRAINER_PARTS}
    assert sum(sizes.values()) < LAMBDA_UNZIPPED_LIMIT, sizes
    # Layer content must sit under python/ to be importable from /opt/python.
    assert (build_dir / "TunerLayer" / "python" / "hyperparameter_tuner" / "__init__.py").is_file()
    assert (build_dir / "MlLayer" / "python" / "sklearn" / "__init__.py").is_file()
    assert not (build_dir / "TunerLayer" / "python" / "numpy").exists()
    assert not list((build_dir / "TunerLayer" / "python").glob("*.egg-info"))
