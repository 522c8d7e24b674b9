"""The emulator engine: the template's resources in moto, every Lambda invocation routed to the real handler."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace, TracebackType
from typing import Any, TextIO

from ._events import execution_status_change_event, matches_pattern, s3_object_created_event, scheduled_event
from ._runtime import FunctionSpec, HandlerLoader, LambdaContext, RoutedStream, ScopedEnviron, error_payload
from ._template import EmulatorError, Resolver, Template, load_template, to_environment_value

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "Emulator",
    "FaultHook",
    "FunctionInvocationError",
    "Invocation",
    "lambda_service_error",
    "throttle",
]

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
_MOCK_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
_ROLE_NAME = "hpt-emulator-role"
_ASSUME_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
_FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
}
# Variables that would send boto3 elsewhere than the mock.
_UNSET_ENVIRONMENT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE")
_FUNCTION_TYPES = ("AWS::Serverless::Function",)
_STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
_TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
_BUCKET_TYPES = ("AWS::S3::Bucket",)
_EVENT_BUS_TYPES = ("AWS::Events::EventBus",)
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z0-9_:.]+\}")
_SCHEDULE_EXPRESSION = re.compile(r"^(rate|cron)\(.+\)$")

FaultHook = Callable[[str, Any], None]
"""Called as ``hook(function_logical_id, event)`` before each invocation; raising injects a fault.

Raise a moto ``JsonRESTError`` (see :func:`lambda_service_error`) for a Lambda *service* error, which Step
Functions reports as ``Lambda.<Code>``; raise anything else for a handler error (``Unhandled``).
"""


@dataclass(frozen=True)
class Invocation:
    """One call that reached an emulated function.

    Attributes
    ----------
    function : str
        Logical id of the function.
    event : Any
        The decoded payload.
    error : str or None
        ``None`` on success; else the error type (handler exception class, or the injected service error code).
    result : Any
        The handler's return value on success, else the error payload.
    started : float
        ``time.monotonic()`` when the call began.
    finished : float
        ``time.monotonic()`` when it ended.
    """

    function: str
    event: Any
    error: str | None
    result: Any
    started: float
    finished: float


class FunctionInvocationError(EmulatorError):
    """A direct :meth:`Emulator.invoke` returned a function error.

    Attributes
    ----------
    function : str
        Logical id of the function.
    payload : dict
        The error payload (``errorType``, ``errorMessage``, ...).
    """

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

    cls = _service_error_classes.get(code)
    if cls is None:
        cls = type(code, (JsonRESTError,), {})
        _service_error_classes[code] = cls
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
        if function is not None and function_id != function:
            return
        if when is not None and not when(event):
            return
        with lock:
            if remaining[0] <= 0:
                return
            remaining[0] -= 1
        raise lambda_service_error()

    return hook


class Emulator:
    """Run the AWS workflow of a SAM template locally: moto for the services, handlers in-process.

    On entry the emulator starts ``moto.mock_aws`` (Step Functions executing definitions, Lambda without
    Docker), creates the template's buckets, tables, functions and state machines, and replaces moto's
    Lambda ``invoke`` so that every invocation (from Step Functions, from a handler, or from
    :meth:`invoke`) runs the function's real handler in this process. On exit everything is undone.

    Parameters
    ----------
    template : str or Path, default "template.yaml"
        The SAM template.
    region : str, default "us-east-1"
        Region of the emulated account.
    stack_name : str, default "hpt-emulator"
        Prefix of generated physical names.
    parameters : Mapping[str, str] or None, default None
        Values of template parameters (else their defaults).
    retry_sleep : bool, default True
        When False, Step Functions retriers do not sleep between attempts (the intervals they asked for
        are recorded in :attr:`retry_sleeps`).
    log_stream : TextIO or None, default None
        Where handlers' output (stdout and stderr: Powertools logs, EMF metrics, prints) is copied as it is
        written. It never reaches the caller's stdout, as in Lambda; it is always kept for
        :meth:`function_logs`.

    Examples
    --------
    >>> with Emulator("template.yaml") as emu:  # doctest: +SKIP
    ...     emu.s3.put_object(Bucket=emu.bucket_name, Key="datasets/a.npz", Body=b"...")
    ...     emu.deliver_s3_object_created("datasets/a.npz")
    """

    _active_lock = threading.Lock()
    _active: Emulator | None = None

    def __init__(
        self,
        template: str | Path = "template.yaml",
        *,
        region: str = "us-east-1",
        stack_name: str = "hpt-emulator",
        parameters: Mapping[str, str] | None = None,
        retry_sleep: bool = True,
        log_stream: TextIO | None = None,
    ) -> None:
        self.template: Template = load_template(template)
        self.region = region
        self.account_id = DEFAULT_ACCOUNT_ID
        self.stack_name = stack_name
        self.retry_sleep = retry_sleep
        self.retry_sleeps: list[float] = []
        self.log_stream = log_stream
        self._logs: dict[str, list[str]] = {}
        self._streams: list[tuple[str, RoutedStream, TextIO]] = []
        self.physical_ids: dict[str, str] = {}
        self.functions: dict[str, FunctionSpec] = {}
        self.state_machines: dict[str, str] = {}
        self._parameters = dict(parameters or {})
        self._attributes: dict[tuple[str, str], Any] = {}
        self._clients: dict[str, Any] = {}
        self._faults: list[FaultHook] = []
        self._invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._loader = HandlerLoader()
        self._mock: Any = None
        self._saved_environment: dict[str, str | None] = {}
        self._environ: ScopedEnviron | None = None
        self._original_invoke: Any = None
        self._retrier_module: Any = None
        self._original_retrier_time: Any = None
        self._resolver: Resolver | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the mock and create the template's resources.

        Raises
        ------
        EmulatorError
            If another emulator is running in this process, or the template cannot be emulated.
        """
        with Emulator._active_lock:
            if Emulator._active is not None:
                raise EmulatorError("another Emulator is already running in this process")
            Emulator._active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        self._set_environment()
        self._mock = mock_aws(config=_MOCK_CONFIG)  # type: ignore[call-overload]
        self._mock.start()

        emulator = self
        self._original_invoke = LambdaSimpleBackend.invoke

        def invoke(
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> str | bytes | None:
            return emulator._dispatch(backend, function_name, qualifier, body, headers, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
        if not self.retry_sleep:
            self._retrier_module = retrier_decl
            self._original_retrier_time = retrier_decl.time
            retrier_decl.time = SimpleNamespace(sleep=self._record_retry_sleep)  # type: ignore[assignment]

        for name in ("stdout", "stderr"):
            stream, replaced = RoutedStream.install(name)
            self._streams.append((name, stream, replaced))
        self._environ = ScopedEnviron(os.environ)
        os.environ = self._environ  # type: ignore[assignment]  # noqa: B003 - per-thread function environments
        self._create_resources()

    def stop(self) -> None:
        """Stop running executions, undo every patch, stop the mock and restore the environment."""
        try:
            if self._mock is not None:
                self._stop_running_executions()
        finally:
            if self._environ is not None and os.environ is self._environ:
                os.environ = self._environ.base  # type: ignore[assignment]  # noqa: B003
            self._environ = None
            for name, stream, replaced in reversed(self._streams):
                if getattr(sys, name) is stream:
                    setattr(sys, name, replaced)
            self._streams.clear()
            if self._original_invoke is not None:
                from moto.awslambda_simple.models import LambdaSimpleBackend

                LambdaSimpleBackend.invoke = self._original_invoke  # type: ignore[method-assign]
                self._original_invoke = None
            if self._retrier_module is not None:
                self._retrier_module.time = self._original_retrier_time
                self._retrier_module = None
            if self._mock is not None:
                self._mock.stop()
                self._mock = None
            self._restore_environment()
            self._loader.unload()
            self._clients.clear()
            with Emulator._active_lock:
                if Emulator._active is self:
                    Emulator._active = None

    def _set_environment(self) -> None:
        updates: dict[str, str | None] = {
            **_FAKE_ENVIRONMENT,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        for name in list(os.environ):
            if name in _UNSET_ENVIRONMENT or name.startswith("AWS_ENDPOINT_URL_"):
                updates[name] = None
        for name in _UNSET_ENVIRONMENT:
            updates.setdefault(name, None)
        for name, value in updates.items():
            self._saved_environment[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    def _record_retry_sleep(self, seconds: float) -> None:
        with self._lock:
            self.retry_sleeps.append(seconds)

    def _stop_running_executions(self, timeout: float = 10.0) -> None:
        sfn = self.sfn
        running: list[str] = []
        for arn in self.state_machines.values():
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING"):
                running.extend(execution["executionArn"] for execution in page["executions"])
        for execution_arn in running:
            logger.warning("stopping execution %s still running at emulator shutdown", execution_arn)
            _stop_execution(sfn, execution_arn)
        deadline = time.monotonic() + timeout
        for execution_arn in running:
            while time.monotonic() < deadline and self._execution_status(execution_arn) == "RUNNING":
                time.sleep(0.05)

    # -- clients and names --------------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """Return a boto3 client for ``service`` bound to the mock (cached).

        Parameters
        ----------
        service : str
            boto3 service name (``s3``, ``dynamodb``, ``stepfunctions``, ``lambda``, ...).

        Returns
        -------
        botocore.client.BaseClient
            The client (typed ``Any`` so callers need no boto3 stubs).
        """
        if self._mock is None:
            raise EmulatorError("the emulator is not running")
        with self._lock:
            cached = self._clients.get(service)
            if cached is None:
                import boto3

                cached = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
                self._clients[service] = cached
            return cached

    @property
    def s3(self) -> Any:
        """A boto3 S3 client bound to the mock."""
        return self.client("s3")

    @property
    def dynamodb(self) -> Any:
        """A boto3 DynamoDB client bound to the mock."""
        return self.client("dynamodb")

    @property
    def sfn(self) -> Any:
        """A boto3 Step Functions client bound to the mock."""
        return self.client("stepfunctions")

    @property
    def lambda_client(self) -> Any:
        """A boto3 Lambda client bound to the mock."""
        return self.client("lambda")

    @property
    def bucket_name(self) -> str:
        """Name of the template's only bucket."""
        return self.physical_ids[self._only(_BUCKET_TYPES, "bucket")]

    @property
    def table_name(self) -> str:
        """Name of the template's only DynamoDB table."""
        return self.physical_ids[self._only(_TABLE_TYPES, "table")]

    @property
    def state_machine_arn(self) -> str:
        """ARN of the template's only state machine."""
        return self.state_machines[self._only(_STATE_MACHINE_TYPES, "state machine")]

    def _only(self, types: tuple[str, ...], what: str) -> str:
        candidates = [logical_id for logical_id in self._created(types)]
        if len(candidates) != 1:
            raise EmulatorError(f"the template has {len(candidates)} {what}s ({candidates}); use physical_ids")
        return candidates[0]

    def _created(self, types: tuple[str, ...]) -> list[str]:
        return [logical_id for logical_id in self.template.of_type(*types) if logical_id in self.physical_ids]

    # -- invocations --------------------------------------------------------------------------------------------

    def invoke(self, function_logical_id: str, event: Any) -> Any:
        """Invoke a function synchronously through moto's Lambda API, as Lambda would.

        Parameters
        ----------
        function_logical_id : str
            Logical id of an ``AWS::Serverless::Function``.
        event : Any
            The event (JSON-serialisable).

        Returns
        -------
        Any
            The handler's decoded return value.

        Raises
        ------
        FunctionInvocationError
            If the handler raised (the Lambda function error payload is attached).
        """
        spec = self._function(function_logical_id)
        reply = self.lambda_client.invoke(FunctionName=spec.arn, Payload=json.dumps(event).encode())
        payload = json.loads(reply["Payload"].read() or b"null")
        if reply.get("FunctionError"):
            raise FunctionInvocationError(function_logical_id, payload)
        return payload

    def deliver_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Deliver an EventBridge event to every function whose ``EventBridgeRule`` pattern matches it.

        Only rules on the default event bus are considered (where S3 and schedules deliver).

        Parameters
        ----------
        event : Mapping
            The event (e.g. from :func:`s3_object_created_event`).

        Returns
        -------
        dict
            Each matching function's logical id mapped to its result, in template order.
        """
        results: dict[str, Any] = {}
        resolver = self._require_resolver()
        for logical_id in self.functions:
            events = self.template.properties(logical_id).get("Events") or {}
            for source in events.values():
                if source.get("Type") not in ("EventBridgeRule", "CloudWatchEvent"):
                    continue
                props = resolver.resolve(source.get("Properties") or {})
                if props.get("EventBusName", "default") not in ("default", None):
                    continue
                if not matches_pattern(props.get("Pattern") or {}, event):
                    continue
                results[logical_id] = self.invoke(logical_id, _rule_input(props, event))
        return results

    def deliver_s3_object_created(self, key: str, bucket: str | None = None) -> dict[str, Any]:
        """Deliver the EventBridge "Object Created" event of an existing object, as S3 would.

        Parameters
        ----------
        key : str
            Object key.
        bucket : str or None, default None
            Bucket name (the template's only bucket when omitted).

        Returns
        -------
        dict
            Results of the matching functions (see :meth:`deliver_event`).

        Raises
        ------
        EmulatorError
            If the template's bucket does not send events to EventBridge (S3 would then deliver nothing).
        """
        bucket_name = bucket or self.bucket_name
        logical_id = next((lid for lid, name in self.physical_ids.items() if name == bucket_name), None)
        if logical_id is not None:
            notification = self._require_resolver().resolve(
                self.template.properties(logical_id).get("NotificationConfiguration") or {}
            )
            enabled = (notification.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled")
            if str(enabled).lower() != "true":
                raise EmulatorError(
                    f"bucket {logical_id} has no NotificationConfiguration.EventBridgeConfiguration."
                    "EventBridgeEnabled: true, so S3 would not send Object Created events to EventBridge"
                )
        head = self.s3.head_object(Bucket=bucket_name, Key=key)
        version_id = head.get("VersionId")
        event = s3_object_created_event(
            bucket_name,
            key,
            None if version_id in (None, "null") else version_id,
            head["ETag"],
            int(head["ContentLength"]),
            region=self.region,
            account_id=self.account_id,
        )
        return self.deliver_event(event)

    def deliver_execution_status_change(self, execution_arn: str) -> dict[str, Any]:
        """Deliver the "Execution Status Change" event of an execution as it is now, as Step Functions does.

        Parameters
        ----------
        execution_arn : str
            The execution.

        Returns
        -------
        dict
            Results of the functions whose rules match (see :meth:`deliver_event`).
        """
        reply = dict(self.sfn.describe_execution(executionArn=execution_arn))
        reply.pop("ResponseMetadata", None)
        event = execution_status_change_event(reply, region=self.region, account_id=self.account_id)
        return self.deliver_event(event)

    def fire_schedule(self, name: str | None = None) -> dict[str, Any]:
        """Fire a scheduled rule once, as EventBridge does at a tick: deliver the rule's ``Input`` to its function.

        The rule is a function's ``Schedule`` event source in the template. EventBridge sends the target the rule's
        ``Input`` exactly (parsed JSON), or, without ``Input``, the "Scheduled Event" (see
        :func:`~hyperparameter_tuner.emulator.scheduled_event`). It never fires a disabled rule.

        Parameters
        ----------
        name : str or None, default None
            The event source's key under the function's ``Events`` (e.g. ``"Schedule"``) or the rule's ``Name``;
            the template's only schedule when omitted.

        Returns
        -------
        dict
            The function's logical id mapped to its result.

        Raises
        ------
        EmulatorError
            If there is no such schedule (or several, with no ``name``), the rule is disabled, or its schedule
            expression is neither ``rate(...)`` nor ``cron(...)``.
        FunctionInvocationError
            If the handler raised.
        """
        resolver = self._require_resolver()
        found: list[tuple[str, str, dict[str, Any]]] = []
        for logical_id in self.functions:
            events = self.template.properties(logical_id).get("Events") or {}
            for event_name, source in events.items():
                if source.get("Type") != "Schedule":
                    continue
                props = resolver.resolve(source.get("Properties") or {})
                if name in (None, event_name, props.get("Name")):
                    found.append((logical_id, event_name, props))
        if len(found) != 1:
            what = f"schedule {name!r}" if name else "schedule"
            have = sorted(f"{lid}.{event}" for lid, event, _ in found)
            raise EmulatorError(f"the template has {len(found)} matching {what}s{f' ({have})' if have else ''}")
        logical_id, event_name, props = found[0]
        expression = str(props.get("Schedule", ""))
        if not _SCHEDULE_EXPRESSION.match(expression):
            raise EmulatorError(f"{logical_id}.{event_name}: Schedule {expression!r} is not rate(...) or cron(...)")
        enabled = props.get("Enabled", True)
        state = str(props.get("State") or ("ENABLED" if str(enabled).lower() == "true" else "DISABLED"))
        if state != "ENABLED":
            raise EmulatorError(f"{logical_id}.{event_name}: the rule is {state}; EventBridge would not fire it")
        if "Input" in props:
            try:
                event: Any = json.loads(props["Input"])
            except ValueError as exc:
                raise EmulatorError(f"{logical_id}.{event_name}: Input is not JSON: {exc}") from None
        else:
            rule = props.get("Name") or f"{self.stack_name}-{logical_id}{event_name}"
            rule_arn = f"arn:aws:events:{self.region}:{self.account_id}:rule/{rule}"
            event = scheduled_event(rule_arn, region=self.region, account_id=self.account_id)
        return {logical_id: self.invoke(logical_id, event)}

    def wait_for_execution(
        self, execution_arn: str, timeout: float = 60.0, poll_interval: float = 0.05
    ) -> dict[str, Any]:
        """Poll an execution until it is no longer ``RUNNING``.

        Parameters
        ----------
        execution_arn : str
            The execution.
        timeout : float, default 60.0
            Seconds to wait.
        poll_interval : float, default 0.05
            Seconds between polls.

        Returns
        -------
        dict
            The final ``DescribeExecution`` reply.

        Raises
        ------
        TimeoutError
            If the execution is still running after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            reply: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if reply["status"] != "RUNNING":
                reply.pop("ResponseMetadata", None)
                return reply
            if time.monotonic() >= deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout} s")
            time.sleep(poll_interval)

    def _execution_status(self, execution_arn: str) -> str:
        status: str = self.sfn.describe_execution(executionArn=execution_arn)["status"]
        return status

    def add_fault(self, hook: FaultHook) -> None:
        """Register a fault hook, called before every emulated invocation (see :data:`FaultHook`)."""
        with self._lock:
            self._faults.append(hook)

    def clear_faults(self) -> None:
        """Remove every fault hook."""
        with self._lock:
            self._faults.clear()

    def invocations(self, function_logical_id: str | None = None) -> list[Invocation]:
        """Return the invocations so far (of one function, or all), in completion order."""
        with self._lock:
            return [call for call in self._invocations if function_logical_id in (None, call.function)]

    def handler_module(self, function_logical_id: str) -> ModuleType:
        """Return the function's loaded handler module (to inspect its globals), loading it if needed.

        Parameters
        ----------
        function_logical_id : str
            Logical id of the function.

        Returns
        -------
        ModuleType
            The module holding the handler (one per function, shared by its warm invocations).
        """
        spec = self._function(function_logical_id)
        environ = self._environ
        if environ is None:
            raise EmulatorError("the emulator is not running")
        with environ.scoped(spec.environment):
            self._loader.handler(spec)
        return self._loader.modules[function_logical_id]

    def invocation_count(self, function_logical_id: str) -> int:
        """Return how many invocations reached ``function_logical_id`` (faulted ones included)."""
        return len(self.invocations(function_logical_id))

    def _dispatch(
        self, backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> str | bytes | None:
        spec = self._function_by_name(function_name)
        if spec is None:
            result: str | bytes | None = self._original_invoke(
                backend, function_name, qualifier, body, headers, response_headers
            )
            return result
        event = json.loads(body) if body else {}
        started = time.monotonic()
        with self._lock:
            faults = list(self._faults)
        context = LambdaContext.for_function(spec)
        error: str | None = None
        try:
            try:
                for hook in faults:
                    hook(spec.logical_id, event)
            except Exception as exc:
                if _is_service_error(exc):
                    error = getattr(exc, "error_type", type(exc).__name__)
                    self._record(Invocation(spec.logical_id, event, error, None, started, time.monotonic()))
                    raise
                raise
            environ = self._environ
            if environ is None:
                raise EmulatorError("the emulator is not running")
            with environ.scoped(spec.environment), self._captured_output(spec.logical_id):
                handler = self._loader.handler(spec)
                value = handler(event, context)
            try:
                encoded = json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise _MarshalError(f"Unable to marshal response: {exc}") from exc
        except Exception as exc:
            if _is_service_error(exc):
                raise
            payload = error_payload(exc, context.aws_request_id)
            if isinstance(exc, _MarshalError):
                payload["errorType"] = "Runtime.MarshalError"
            logger.debug("%s raised %s", spec.logical_id, payload["errorType"], exc_info=exc)
            self._record(Invocation(spec.logical_id, event, payload["errorType"], payload, started, time.monotonic()))
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(payload).encode()
        self._record(Invocation(spec.logical_id, event, None, value, started, time.monotonic()))
        return encoded.encode()

    def function_logs(self, function_logical_id: str) -> str:
        """Return everything the function's handler wrote to stdout or stderr so far (its "CloudWatch log").

        Parameters
        ----------
        function_logical_id : str
            Logical id of the function.

        Returns
        -------
        str
            The output, in the order it was written.
        """
        with self._lock:
            return "".join(self._logs.get(function_logical_id, []))

    @contextmanager
    def _captured_output(self, logical_id: str) -> Iterator[None]:
        def sink(text: str) -> None:
            with self._lock:
                self._logs.setdefault(logical_id, []).append(text)
            if self.log_stream is not None:
                self.log_stream.write(text)

        with ExitStack() as stack:
            for _name, stream, _replaced in self._streams:
                stack.enter_context(stream.captured(sink))
            yield

    def _record(self, invocation: Invocation) -> None:
        with self._lock:
            self._invocations.append(invocation)

    def _function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions[logical_id]
        except KeyError:
            raise EmulatorError(f"no function {logical_id!r} in the template (have {sorted(self.functions)})") from None

    def _function_by_name(self, function_name: str) -> FunctionSpec | None:
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name.split(":")[0]
        return next((spec for spec in self.functions.values() if spec.name == name), None)

    # -- resources ----------------------------------------------------------------------------------------------

    def _require_resolver(self) -> Resolver:
        if self._resolver is None:
            raise EmulatorError("the emulator is not running")
        return self._resolver

    def _create_resources(self) -> None:
        template = self.template
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/emulator",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        refs: dict[str, Any] = {}
        resolver = Resolver(template, pseudo, refs, self._attribute, self._parameters)
        self._resolver = resolver

        for logical_id, resource in template.resources.items():
            condition = resource.get("Condition")
            if condition is not None and not resolver.condition(condition):
                continue
            refs[logical_id] = self._name(logical_id, resource.get("Type", ""), resolver)

        role_arn = self.client("iam").create_role(RoleName=_ROLE_NAME, AssumeRolePolicyDocument=_ASSUME_ROLE_POLICY)[
            "Role"
        ]["Arn"]
        for logical_id in self._present(_BUCKET_TYPES, refs):
            self._create_bucket(logical_id, resolver)
        for logical_id in self._present(_TABLE_TYPES, refs):
            self._create_table(logical_id, resolver)
        for logical_id in self._present(_EVENT_BUS_TYPES, refs):
            self.client("events").create_event_bus(Name=self.physical_ids[logical_id])
        for logical_id in self._present(_FUNCTION_TYPES, refs):
            self._create_function(logical_id, resolver, role_arn)
        for logical_id in self._present(_STATE_MACHINE_TYPES, refs):
            self._create_state_machine(logical_id, resolver, role_arn)

    def _present(self, types: tuple[str, ...], refs: Mapping[str, Any]) -> list[str]:
        return [logical_id for logical_id in self.template.of_type(*types) if logical_id in refs]

    def _name(self, logical_id: str, resource_type: str, resolver: Resolver) -> Any:
        """Decide a resource's physical name and record its ``Ref`` value and known attributes."""
        props = self.template.properties(logical_id)
        region, account = self.region, self.account_id
        default = f"{self.stack_name}-{logical_id}"
        if resource_type in _BUCKET_TYPES:
            name = resolver.resolve(props["BucketName"]) if "BucketName" in props else _bucket_name(default, account)
            self.physical_ids[logical_id] = name
            self._attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
            self._attributes[(logical_id, "DomainName")] = f"{name}.s3.amazonaws.com"
            self._attributes[(logical_id, "RegionalDomainName")] = f"{name}.s3.{region}.amazonaws.com"
            return name
        if resource_type in _TABLE_TYPES:
            name = resolver.resolve(props["TableName"]) if "TableName" in props else default
            self.physical_ids[logical_id] = name
            self._attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            return name
        if resource_type in _FUNCTION_TYPES:
            name = resolver.resolve(props["FunctionName"]) if "FunctionName" in props else default[:64]
            self.physical_ids[logical_id] = name
            self._attributes[(logical_id, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{name}"
            return name
        if resource_type in _STATE_MACHINE_TYPES:
            key = "Name" if resource_type == "AWS::Serverless::StateMachine" else "StateMachineName"
            name = resolver.resolve(props[key]) if key in props else default[:80]
            arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            self.physical_ids[logical_id] = name
            self._attributes[(logical_id, "Name")] = name
            self._attributes[(logical_id, "Arn")] = arn
            return arn
        if resource_type in _EVENT_BUS_TYPES:
            name = resolver.resolve(props.get("Name", default))
            self.physical_ids[logical_id] = name
            self._attributes[(logical_id, "Name")] = name
            self._attributes[(logical_id, "Arn")] = f"arn:aws:events:{region}:{account}:event-bus/{name}"
            return name
        # Not emulated (roles, layers, rules, ...): a stable placeholder, so Ref/GetAtt still resolve.
        service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "emulator"
        self._attributes[(logical_id, "Arn")] = f"arn:aws:{service}:{region}:{account}:{default}"
        self._attributes[(logical_id, "Name")] = default
        return default

    def _attribute(self, logical_id: str, attribute: str) -> Any:
        return self._attributes[(logical_id, attribute)]

    def _create_bucket(self, logical_id: str, resolver: Resolver) -> None:
        props = resolver.resolve(self.template.properties(logical_id))
        name = self.physical_ids[logical_id]
        kwargs: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.s3.create_bucket(**kwargs)
        status = (props.get("VersioningConfiguration") or {}).get("Status")
        if status:
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})

    def _create_table(self, logical_id: str, resolver: Resolver) -> None:
        props = resolver.resolve(self.template.properties(logical_id))
        name = self.physical_ids[logical_id]
        if self.template.resources[logical_id]["Type"] == "AWS::Serverless::SimpleTable":
            key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
            attribute_type = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
            props = {
                "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": attribute_type}],
                "BillingMode": "PAY_PER_REQUEST" if "ProvisionedThroughput" not in props else "PROVISIONED",
                **{k: v for k, v in props.items() if k == "ProvisionedThroughput"},
            }
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
        }
        billing = props.get("BillingMode") or ("PROVISIONED" if "ProvisionedThroughput" in props else "PAY_PER_REQUEST")
        kwargs["BillingMode"] = billing
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
        for section in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(section):
                kwargs[section] = [_index(index, billing, section) for index in props[section]]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        reply = self.dynamodb.create_table(**kwargs)
        if stream:
            self._attributes[(logical_id, "StreamArn")] = reply["TableDescription"].get("LatestStreamArn")
        ttl = props.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            self.dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
            )

    def _create_function(self, logical_id: str, resolver: Resolver, role_arn: str) -> None:
        props = self.template.properties(logical_id)
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            raise EmulatorError(f"{logical_id}: the emulator needs CodeUri to be a local folder, got {code_uri!r}")
        handler = resolver.resolve(props.get("Handler", "app.lambda_handler"))
        variables = resolver.resolve((props.get("Environment") or {}).get("Variables") or {})
        environment = {name: to_environment_value(value) for name, value in variables.items()}
        spec = FunctionSpec(
            logical_id=logical_id,
            name=self.physical_ids[logical_id],
            arn=self._attributes[(logical_id, "Arn")],
            code_dir=(self.template.base_dir / code_uri).resolve(),
            handler=handler,
            memory_mb=int(resolver.resolve(props.get("MemorySize", 128))),
            timeout_s=float(resolver.resolve(props.get("Timeout", 3))),
            environment=environment,
        )
        if not spec.code_dir.is_dir():
            raise EmulatorError(f"{logical_id}: CodeUri folder {spec.code_dir} does not exist")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("README.txt", "hpt emulator: the handler runs in-process from CodeUri\n")
        self.lambda_client.create_function(
            FunctionName=spec.name,
            Runtime=str(resolver.resolve(props.get("Runtime", "python3.12"))),
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": archive.getvalue()},
            Timeout=int(spec.timeout_s),
            MemorySize=spec.memory_mb,
            Environment={"Variables": environment},
        )
        self.functions[logical_id] = spec

    def _create_state_machine(self, logical_id: str, resolver: Resolver, role_arn: str) -> None:
        props = self.template.properties(logical_id)
        serverless = self.template.resources[logical_id]["Type"] == "AWS::Serverless::StateMachine"
        if serverless and isinstance(props.get("DefinitionUri"), str):
            path = self.template.base_dir / props["DefinitionUri"]
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise EmulatorError(f"{logical_id}: cannot read DefinitionUri {path}: {exc}") from exc
        elif "Definition" in props:
            text = json.dumps(resolver.resolve(props["Definition"]))
        elif not serverless and "DefinitionString" in props:
            text = str(resolver.resolve(props["DefinitionString"]))
        else:
            raise EmulatorError(
                f"{logical_id}: the emulator needs a local DefinitionUri, Definition or DefinitionString"
            )
        substitutions = resolver.resolve(props.get("DefinitionSubstitutions") or {})
        for key, value in substitutions.items():
            text = text.replace("${" + key + "}", to_environment_value(value))
        leftover = sorted(set(_PLACEHOLDER.findall(text)))
        if leftover:
            raise EmulatorError(f"{logical_id}: no DefinitionSubstitutions for {', '.join(leftover)}")
        try:
            json.loads(text)
        except ValueError as exc:
            raise EmulatorError(f"{logical_id}: the definition is not valid JSON: {exc}") from exc
        kind_key = "Type" if serverless else "StateMachineType"
        reply = self.sfn.create_state_machine(
            name=self.physical_ids[logical_id],
            definition=text,
            roleArn=role_arn,
            type=str(resolver.resolve(props.get(kind_key, "STANDARD"))),
        )
        self.state_machines[logical_id] = reply["stateMachineArn"]


class _MarshalError(Exception):
    """The handler's return value is not JSON-serialisable."""


def _is_service_error(exc: BaseException) -> bool:
    from moto.core.exceptions import ServiceException
    from werkzeug.exceptions import HTTPException

    return isinstance(exc, HTTPException | ServiceException)


def _bucket_name(default: str, account_id: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", f"{default}-{account_id}".lower()).strip("-")
    return name[:63].rstrip("-")


def _throughput(value: Mapping[str, Any] | None) -> dict[str, int]:
    value = value or {}
    return {
        "ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5)),
    }


def _index(index: Mapping[str, Any], billing: str, section: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index.get("Projection") or {"ProjectionType": "ALL"},
    }
    if section == "GlobalSecondaryIndexes" and billing == "PROVISIONED":
        result["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
    return result


def _rule_input(props: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    if "InputTransformer" in props:
        raise EmulatorError("EventBridgeRule InputTransformer is not supported by the emulator")
    if "Input" in props:
        return json.loads(props["Input"])
    path = props.get("InputPath")
    if not path or path == "$":
        return dict(event)
    value: Any = event
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value


def _stop_execution(sfn: Any, execution_arn: str, attempts: int = 200) -> None:
    """Stop an execution, waiting for moto to have started it: moto 5.2.5's ``stop_execution`` raises
    ``AttributeError`` on an execution whose worker thread has not set up its environment yet."""
    for _ in range(attempts):
        try:
            sfn.stop_execution(executionArn=execution_arn, cause="emulator shutdown")
            return
        except AttributeError:
            time.sleep(0.05)
    logger.warning("could not stop execution %s: it never started", execution_arn)
