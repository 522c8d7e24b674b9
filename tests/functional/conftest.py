"""Fixtures for the handler and AWS-adapter tests: the ``events/`` files, fake AWS credentials, a Lambda context."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"

_EVENT_CACHE: dict[str, dict[str, Any]] = {}


def read_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json`` (the ``.json`` suffix is optional)."""
    filename = name if name.endswith(".json") else f"{name}.json"
    if filename not in _EVENT_CACHE:
        _EVENT_CACHE[filename] = json.loads((EVENTS_DIR / filename).read_text(encoding="utf-8"))
    return copy.deepcopy(_EVENT_CACHE[filename])


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """``load_event("fan_out_s3_npz")``: the parsed event file, a fresh copy on each call."""
    return read_event


@pytest.fixture
def lambda_context() -> Any:
    """A Lambda context object as the Python runtime passes it (what Powertools reads)."""
    from hyperparameter_tuner.emulator import LambdaContext

    return LambdaContext(
        function_name="hpt-test-function",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:hpt-test-function",
        memory_limit_in_mb=512,
        timeout_s=300.0,
    )
