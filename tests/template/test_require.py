"""The rule for tool-dependent tests: skip locally when a tool is missing, fail when ``CI`` is set."""

from __future__ import annotations

import pytest
from _require import missing, under_ci


@pytest.mark.parametrize("value", ["true", "1", "yes", "True"])
def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)

    with pytest.raises(pytest.fail.Exception, match=r"sam is missing \(CI is set"):
        missing("sam is missing")


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_a_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)

    with pytest.raises(pytest.skip.Exception, match="^sam is missing$"):
        missing("sam is missing")
    assert not under_ci()
