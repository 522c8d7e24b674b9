"""An in-process stand-in for the Lambda Python runtime: handler loading, context object, per-function environment."""

from __future__ import annotations

import importlib.util
import io
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from ._template import EmulatorError

__all__ = ["FunctionSpec", "HandlerLoader", "LambdaContext", "RoutedStream", "ScopedEnviron", "error_payload"]


@dataclass(frozen=True)
class FunctionSpec:
    """What the emulator knows about one ``AWS::Serverless::Function``.

    Attributes
    ----------
    logical_id : str
        Logical id in the template (``TrainerFunction``).
    name : str
        Physical function name in moto.
    arn : str
        Function ARN in moto.
    code_dir : Path
        The resolved ``CodeUri`` folder.
    handler : str
        ``Handler`` (``app.lambda_handler``).
    memory_mb : int
        ``MemorySize``.
    timeout_s : float
        ``Timeout``.
    environment : dict[str, str]
        Resolved ``Environment.Variables`` (Globals merged).
    """

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    memory_mb: int
    timeout_s: float
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class LambdaContext:
    """The subset of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: float
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or f"emulator/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function's configured timeout."""
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_s - elapsed) * 1000))

    @classmethod
    def for_function(cls, spec: FunctionSpec) -> LambdaContext:
        """Build a fresh context for one invocation of ``spec``."""
        return cls(
            function_name=spec.name,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_s=spec.timeout_s,
        )


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """Describe a handler exception the way the Lambda Python runtime reports it.

    Parameters
    ----------
    exc : BaseException
        The exception the handler raised.
    request_id : str
        The invocation's request id.

    Returns
    -------
    dict
        ``{"errorMessage", "errorType", "requestId", "stackTrace"}``.
    """
    frames = traceback.format_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": [frame.rstrip("\n") for frame in frames],
    }


class ScopedEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-thread overlay, so concurrent handlers each see their own function's variables.

    Reads look in the calling thread's overlay first, then the real environment; writes to a name in the
    overlay stay in the overlay (as they would stay in one Lambda sandbox), others go to the real environment.

    Parameters
    ----------
    base : MutableMapping[str, str]
        The real ``os.environ``.
    """

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str] | None:
        overlay: dict[str, str] | None = getattr(self._local, "overlay", None)
        return overlay

    @contextmanager
    def scoped(self, variables: Mapping[str, str]) -> Iterator[None]:
        """Make ``variables`` visible to the calling thread for the duration of the block."""
        previous = self._overlay()
        self._local.overlay = {**(previous or {}), **variables}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            overlay[key] = value
        else:
            self.base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self.base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay() or {}
        yield from overlay
        yield from (key for key in self.base if key not in overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        """Return a plain dict of what the calling thread sees (as ``os.environ.copy()`` does)."""
        return dict(self)


class HandlerLoader:
    """Import each function's handler module once, under a module name unique to the function."""

    _import_lock = threading.Lock()

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self.modules: dict[str, ModuleType] = {}

    def handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        """Return the handler callable of ``spec``, importing its module on first use (the cold start).

        Raises
        ------
        EmulatorError
            If the module file or the handler function is missing.
        """
        cached = self._handlers.get(spec.logical_id)
        if cached is not None:
            return cached
        with self._import_lock:
            cached = self._handlers.get(spec.logical_id)
            if cached is not None:
                return cached
            module_path, _, attribute = spec.handler.rpartition(".")
            if not module_path:
                raise EmulatorError(f"{spec.logical_id}: Handler {spec.handler!r} is not 'module.function'")
            file = spec.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
            if not file.is_file():
                raise EmulatorError(f"{spec.logical_id}: handler module {file} not found")
            module = self._import(f"_hpt_emulated_{spec.logical_id}", file, spec.code_dir)
            function = getattr(module, attribute, None)
            if not callable(function):
                raise EmulatorError(f"{spec.logical_id}: {file} has no callable {attribute!r}")
            self.modules[spec.logical_id] = module
            self._handlers[spec.logical_id] = function
            return function

    @staticmethod
    def _import(name: str, file: Path, code_dir: Path) -> ModuleType:
        module_spec = importlib.util.spec_from_file_location(name, file)
        if module_spec is None or module_spec.loader is None:
            raise EmulatorError(f"cannot import {file}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        # Lambda puts the function's folder first on sys.path: sibling modules import as in the sandbox.
        sys.path.insert(0, str(code_dir))
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            sys.path.remove(str(code_dir))
        return module

    def unload(self) -> None:
        """Forget every loaded handler module."""
        for logical_id in self.modules:
            sys.modules.pop(f"_hpt_emulated_{logical_id}", None)
        self.modules.clear()
        self._handlers.clear()


class RoutedStream(io.TextIOBase):
    """A ``sys.stdout``/``sys.stderr`` stand-in that sends what handler threads write to a per-invocation sink.

    In Lambda a function's output goes to CloudWatch Logs, not to whoever invoked it; here it goes to the
    sink set with :meth:`captured` on the writing thread, and everything else goes to ``base``.
    One instance per stream lives for the whole process (see :meth:`install`), so loggers that bound it
    at a cold start keep routing correctly in later emulators.

    Parameters
    ----------
    base : TextIO
        Where writes from other threads go.
    """

    _instances: dict[str, RoutedStream] = {}

    def __init__(self, base: TextIO) -> None:
        super().__init__()
        self.base = base
        self._local = threading.local()

    @classmethod
    def install(cls, name: str) -> tuple[RoutedStream, TextIO]:
        """Make ``sys.<name>`` the process's routed stream; return it and the stream it replaced."""
        current: TextIO = getattr(sys, name)
        stream = cls._instances.get(name)
        if stream is None:
            stream = cls._instances[name] = cls(current)
        elif current is not stream:
            stream.base = current
        setattr(sys, name, stream)
        return stream, current

    def uninstall(self, name: str, replaced: TextIO) -> None:
        """Put back ``sys.<name>`` as :meth:`install` found it, unless someone replaced this stream since."""
        if getattr(sys, name) is self:
            setattr(sys, name, replaced)

    @contextmanager
    def captured(self, sink: Callable[[str], None]) -> Iterator[None]:
        """Send what the calling thread writes to ``sink`` for the duration of the block."""
        previous = getattr(self._local, "sink", None)
        self._local.sink = sink
        try:
            yield
        finally:
            self._local.sink = previous

    def write(self, text: str) -> int:
        """Write ``text`` to the calling thread's sink, or to ``base``."""
        sink: Callable[[str], None] | None = getattr(self._local, "sink", None)
        if sink is not None:
            sink(text)
            return len(text)
        return self.base.write(text)

    def flush(self) -> None:
        """Flush ``base``."""
        self.base.flush()

    def isatty(self) -> bool:
        """Tell whether ``base`` is a terminal."""
        return self.base.isatty()

    def fileno(self) -> int:
        """Return ``base``'s file descriptor."""
        return self.base.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """``base``'s encoding."""
        return getattr(self.base, "encoding", "utf-8")

