"""What the tests see of invocations: the record of each call, and fault hooks that fail calls on purpose."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._template import EmulatorError

__all__ = ["FaultHook", "FunctionInvocationError", "Invocation", "lambda_service_error", "throttle"]

FaultHook = Callable[[str, Any], None]
"""Called as ``hook(function_logical_id, event)`` before each invocation; raising injects a fault.

Raise a moto ``JsonRESTError`` (see :func:`lambda_service_error`) for a Lambda *service* error, which Step
Functions reports as ``Lambda.<Code>``; raise anything else for a handler error (``Unhandled``).
"""


@dataclass(frozen=True)
class Invocation:
    """One call that reached an emulated function: its ``function`` (logical id) and decoded ``event``; ``error``,
    ``None`` on success, else the error type (handler exception class, or injected service error code); ``result``,
    the return value or the error payload; ``started`` and ``finished``, ``time.monotonic()`` at both ends."""

    function: str
    event: Any
    error: str | None
    result: Any
    started: float
    finished: float


class FunctionInvocationError(EmulatorError):
    """A direct :meth:`Emulator.invoke` returned a function error (``payload``: ``errorType``, ``errorMessage``...)."""

    def __init__(self, function: str, payload: dict[str, Any]) -> None:
        self.function = function
        self.payload = payload
        super().__init__(f"{function} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")


_service_error_classes: dict[str, type[Exception]] = {}


def lambda_service_error(
    code: str = "TooManyRequestsException", message: str = "Rate exceeded", status: int = 429
) -> Exception:
    """Build a Lambda service error that moto returns to the caller instead of running the handler.

    Step Functions reports it as ``Lambda.<code>`` (``Lambda.TooManyRequestsException`` by default), which is
    what the state machine's ``Retry`` matches.

    Parameters
    ----------
    code : str, default "TooManyRequestsException"
        The service error code.
    message : str, default "Rate exceeded"
        The error message.
    status : int, default 429
        The HTTP status of the error reply.

    Returns
    -------
    Exception
        A moto ``JsonRESTError`` instance, to raise from a :data:`FaultHook`.
    """
    from moto.core.exceptions import JsonRESTError

    cls = _service_error_classes.setdefault(code, type(code, (JsonRESTError,), {}))
    error = cls(code, message)
    error.code = status  # type: ignore[attr-defined]
    return error


def throttle(times: int, *, function: str | None = None, when: Callable[[Any], bool] | None = None) -> FaultHook:
    """Return a fault hook that throttles the first ``times`` matching invocations.

    Parameters
    ----------
    times : int
        How many matching invocations fail with ``TooManyRequestsException``.
    function : str or None, default None
        Only invocations of this logical id match (any function when ``None``).
    when : callable or None, default None
        Only events for which ``when(event)`` is true match.

    Returns
    -------
    FaultHook
        The hook, for :meth:`Emulator.add_fault`.
    """
    lock = threading.Lock()
    remaining = [times]

    def hook(function_id: str, event: Any) -> None:
        if function not in (None, function_id) or (when is not None and not when(event)):
            return
        with lock:
            if remaining[0] <= 0:
                return
            remaining[0] -= 1
        raise lambda_service_error()

    return hook


def is_service_error(exc: BaseException) -> bool:
    """Tell whether ``exc`` is an error of the (moto) Lambda service rather than of the handler."""
    from moto.core.exceptions import ServiceException
    from werkzeug.exceptions import HTTPException

    return isinstance(exc, HTTPException | ServiceException)
