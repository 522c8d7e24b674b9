"""An in-process stand-in for the Lambda Python runtime: handler loading, the context object, and a per-thread
environment and output, so that concurrent invocations of different functions each see only their own."""

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
    """One deployed ``AWS::Serverless::Function``: logical id, physical name and ARN, the ``CodeUri`` folder, and
    its ``Handler``, ``MemorySize``, ``Timeout`` and ``Environment.Variables`` as Lambda holds them."""

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
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))

    @classmethod
    def for_function(cls, spec: FunctionSpec) -> LambdaContext:
        return cls(spec.name, spec.arn, spec.memory_mb, spec.timeout_s)


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """A handler exception as the Lambda Python runtime reports it."""
    frames = [frame.rstrip("\n") for frame in traceback.format_tb(exc.__traceback__)]
    return {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": request_id, "stackTrace": frames}


class ScopedEnviron(MutableMapping[str, str]):
    """``os.environ`` with a per-thread overlay: reads look in the calling thread's overlay first; writes to a name
    in the overlay stay there (as in one Lambda sandbox), others go to ``base``, the real ``os.environ``."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str]:
        return getattr(self._local, "overlay", None) or {}

    @contextmanager
    def scoped(self, variables: Mapping[str, str]) -> Iterator[None]:
        previous = getattr(self._local, "overlay", None)
        self._local.overlay = {**(previous or {}), **variables}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        return overlay[key] if key in overlay else self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        (overlay if key in overlay else self.base)[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        del (overlay if key in overlay else self.base)[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        yield from overlay
        yield from (key for key in self.base if key not in overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


class HandlerLoader:
    """Import each function's handler module once (its cold start), under a module name of its own."""

    _import_lock = threading.Lock()

    def __init__(self) -> None:
        self.modules: dict[str, ModuleType] = {}

    def handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        """Return the handler callable of ``spec``, importing its module on first use (its cold start)."""
        module_path, _, attribute = spec.handler.rpartition(".")
        with self._import_lock:
            module = self.modules.get(spec.logical_id)
            if module is None:
                file = spec.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
                if not module_path or not file.is_file():
                    raise EmulatorError(f"{spec.logical_id}: no handler module {file} for Handler {spec.handler!r}")
                module = self.modules[spec.logical_id] = self._import(f"_hpt_emulated_{spec.logical_id}", file)
        function = getattr(module, attribute, None)
        if not callable(function):
            raise EmulatorError(f"{spec.logical_id}: {module.__file__} has no callable {attribute!r}")
        return function

    @staticmethod
    def _import(name: str, file: Path) -> ModuleType:
        module_spec = importlib.util.spec_from_file_location(name, file)
        if module_spec is None or module_spec.loader is None:
            raise EmulatorError(f"cannot import {file}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        sys.path.insert(0, str(file.parent))  # Lambda puts the function's folder first: siblings import as there
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            sys.path.remove(str(file.parent))
        return module

    def unload(self) -> None:
        for logical_id in self.modules:
            sys.modules.pop(f"_hpt_emulated_{logical_id}", None)
        self.modules.clear()


class RoutedStream(io.TextIOBase):
    """A ``sys.stdout``/``sys.stderr`` that sends what a thread writes inside :meth:`captured` to that block's sink,
    and everything else to ``base``: in Lambda a function's output goes to its log, not to whoever invoked it.

    One instance per stream lives for the whole process (see :meth:`install`), so loggers that bound it at a cold
    start keep routing correctly in later emulators.
    """

    _instances: dict[str, RoutedStream] = {}

    def __init__(self, base: TextIO) -> None:
        super().__init__()
        self.base = base
        self._local = threading.local()

    @classmethod
    def install(cls, name: str) -> tuple[RoutedStream, TextIO]:
        current: TextIO = getattr(sys, name)
        stream = cls._instances.get(name) or cls._instances.setdefault(name, cls(current))
        if current is not stream:
            stream.base = current
        setattr(sys, name, stream)
        return stream, current

    def uninstall(self, name: str, replaced: TextIO) -> None:
        if getattr(sys, name) is self:
            setattr(sys, name, replaced)

    @contextmanager
    def captured(self, sink: Callable[[str], None]) -> Iterator[None]:
        previous = getattr(self._local, "sink", None)
        self._local.sink = sink
        try:
            yield
        finally:
            self._local.sink = previous

    def write(self, text: str) -> int:
        sink: Callable[[str], None] | None = getattr(self._local, "sink", None)
        if sink is None:
            return self.base.write(text)
        sink(text)
        return len(text)

    def flush(self) -> None:
        self.base.flush()

    def isatty(self) -> bool:
        return self.base.isatty()

    def fileno(self) -> int:
        return self.base.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.base, "encoding", "utf-8")
