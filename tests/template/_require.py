"""One rule for tests that need a tool outside the project's venv (SAM CLI, checkov, cfn-lint, Python 3.13, make, the
package index): on a developer's machine a missing tool *skips* the test, naming what to install; when the ``CI``
environment variable is set (as CI systems do) it *fails* it, so a CI machine without the tools cannot pass silently.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """Whether the ``CI`` environment variable is set to anything but empty, ``0`` or ``false``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str) -> NoReturn:
    """Skip the calling test because ``reason`` (a tool is missing), or fail it when running under CI."""
    if under_ci():
        pytest.fail(f"{reason} (CI is set: a missing tool fails the test instead of skipping it)", pytrace=False)
    pytest.skip(reason)
