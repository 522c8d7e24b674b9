"""The emulator engine: the template deployed as a moto CloudFormation stack, every Lambda invocation routed to the
real handler in this process (what is moto's and what is ours: the README's "Rehearse without an account")."""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace, TracebackType
from typing import Any, TextIO
from unittest import mock

from ._runtime import (
    DEFAULT_ACCOUNT_ID,
    FaultHook,
    FunctionInvocationError,
    FunctionSpec,
    Invocation,
    LambdaContext,
    execution_status_change_event,
    s3_object_created_event,
    scheduled_event,
    target_input,
)
from ._template import EmulatorError, load_template

__all__ = ["Emulator"]

logger = logging.getLogger(__name__)

_MOCK_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# Variables that would send boto3 elsewhere than the mock (moto sets fake keys itself).
_UNSET_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_current = threading.local()  # ``sandbox``: (environment, log) of the function this thread runs, if any
_IMPORT_LOCK = threading.Lock()
_STREAMS: dict[str, RoutedStream] = {}  # one per stream for the process (see RoutedStream)


class SandboxEnviron(ChainMap[str, str]):
    """``os.environ`` as a thread sees it: the environment of the function it runs (where its writes stay, as in a
    Lambda sandbox) over ``base``, the process's own."""

    def __init__(self, base: MutableMapping[str, str]) -> None:  # no ChainMap.__init__: ``maps`` is per thread
        self.base = base

    @property
    def maps(self) -> list[MutableMapping[str, str]]:  # type: ignore[override]
        sandbox = getattr(_current, "sandbox", None)
        return [sandbox[0], self.base] if sandbox else [self.base]

    def copy(self) -> dict[str, str]:  # type: ignore[override]  # as os.environ.copy()
        return dict(self)


@contextmanager
def sandbox(environment: dict[str, str], log: list[str]) -> Iterator[None]:
    """Run a block as a function: ``environment`` in ``os.environ`` (see :class:`SandboxEnviron`), output to ``log``."""
    previous = getattr(_current, "sandbox", None)
    _current.sandbox = (environment, log)
    try:
        yield
    finally:
        _current.sandbox = previous


@dataclass(eq=False)  # hashable by identity, as a stream is
class RoutedStream:
    """``sys.stdout`` or ``sys.stderr``: what a thread writes while it runs a function goes to that function's log
    (in Lambda, not to the caller), the rest to ``base``. One per stream for the process (see ``Emulator``), so
    loggers that bound it at a cold start keep routing in later emulators."""

    base: TextIO

    def write(self, text: str) -> int:
        sandbox = getattr(_current, "sandbox", None)
        if sandbox is None:
            return self.base.write(text)
        sandbox[1].append(text)
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding...: the base stream's
        return getattr(self.base, name)


def import_file(name: str, file: Path) -> ModuleType:
    """Import ``file`` as module ``name``, its folder first on ``sys.path`` as Lambda does for a handler's."""
    module_spec = importlib.util.spec_from_file_location(name, file)
    assert module_spec is not None and module_spec.loader is not None  # a .py file always has both
    module = sys.modules[name] = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(file.parent))
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(file.parent))
    return module


class Emulator:
    """Run the AWS workflow of a SAM template locally: moto for the services, handlers in-process.

    On entry the emulator starts ``moto.mock_aws``, deploys the template as a CloudFormation stack (the SAM
    translator's output, created by moto), and routes every Lambda invocation (from Step Functions, a handler, an
    EventBridge rule, or :meth:`invoke`) to the function's real handler in this process. On exit all is undone.

    Parameters
    ----------
    template : str or Path, default "template.yaml"
        The SAM template.
    region : str, default "us-east-1"
        Region of the emulated account.
    parameters : Mapping[str, str] or None, default None
        Values of template parameters (else their defaults).
    retry_sleep : bool, default True
        When False, Step Functions retriers do not sleep; :attr:`retry_sleeps` records the intervals they asked for.

    Attributes
    ----------
    resources : dict[str, tuple[str, str]]
        Each resource of the stack: logical id to (CloudFormation type, physical id).
    functions : dict[str, FunctionSpec]
        Each ``AWS::Serverless::Function`` as deployed, by logical id, in template order.
    s3, dynamodb, sfn, lambda_client : boto3 client
        Clients bound to the mock (see :meth:`client`).
    bucket_name, table_name, state_machine_arn : str
        The physical id of the stack's only bucket, table and state machine.
    """

    _active_lock = threading.Lock()
    _active: Emulator | None = None
    stack_name = "hpt-emulator"  # the prefix of generated physical names

    def __init__(
        self, template: str | Path = "template.yaml", *, region: str = "us-east-1",
        parameters: Mapping[str, str] | None = None, retry_sleep: bool = True,
    ) -> None:  # fmt: skip
        self.template = load_template(template)
        self.region = region
        self.account_id = DEFAULT_ACCOUNT_ID
        self.retry_sleep = retry_sleep
        self.retry_sleeps: list[float] = []
        self.resources: dict[str, tuple[str, str]] = {}
        self.functions: dict[str, FunctionSpec] = {}
        self._parameters = {name: str(value) for name, value in (parameters or {}).items()}
        self._silent_buckets: dict[str, str] = {}  # name -> logical id of the stack's buckets without EventBridge
        self._exit_stack = ExitStack()
        self._logs: dict[str, list[str]] = {}
        self._clients: dict[str, Any] = {}
        self._modules: dict[str, ModuleType] = {}
        self._faults: list[FaultHook] = []
        self._invocations: list[Invocation] = []
        self._lock = threading.RLock()
        self._recorded = threading.Condition(self._lock)  # notified when an invocation is recorded

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start the mock and deploy the template; :class:`EmulatorError` if another emulator is running in this
        process or the template cannot be emulated."""
        with Emulator._active_lock:
            if Emulator._active is not None:
                raise EmulatorError("another Emulator is already running in this process")
            Emulator._active = self
        try:
            self._patch()
            self._deploy()
        except BaseException:
            self.stop()
            raise

    def _patch(self) -> None:
        """Start the mock; moto's Lambda and EventBridge deliver to the handlers, each in its function's sandbox."""
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.dynamodb.models import DynamoDBBackend
        from moto.events.models import Rule
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        stack = self._exit_stack = ExitStack()
        # Packaged code points at no S3 object: the handlers run from CodeUri (VALIDATE_LAMBDA_S3 is moto's switch).
        settings = {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region, "VALIDATE_LAMBDA_S3": "false"}
        stack.enter_context(mock.patch.dict(os.environ, settings))  # restores every variable on exit
        for name in [name for name in os.environ if name in _UNSET_VARIABLES or name.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[name]
        stack.enter_context(mock_aws(config=_MOCK_CONFIG))  # type: ignore[call-overload]
        original_invoke, original_send = LambdaSimpleBackend.invoke, Rule.send_to_targets

        def invoke(backend: Any, function_name: str, *args: Any) -> str | bytes | None:
            return self._dispatch(original_invoke, backend, function_name, *args)

        def send_to_targets(rule: Rule, event: Any, transform_input: bool = True) -> None:
            """A PutEvents: moto delivers to the targets it knows, the emulator to the Lambda targets."""
            if rule.event_pattern.get_pattern():  # moto matches every event to a rule without one (a schedule)
                others = copy.copy(rule)  # moto refuses Lambda targets
                others.targets = [target for target in rule.targets if target["Arn"].split(":")[2] != "lambda"]
                original_send(others, event, transform_input)
                try:
                    self._deliver(rule, event)
                except Exception:  # EventBridge invokes its targets asynchronously: the publisher sees no error
                    logger.warning("rule %s: a target failed", rule.name, exc_info=True)

        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", invoke))
        stack.enter_context(mock.patch.object(Rule, "send_to_targets", send_to_targets))
        # moto runs a TransactWriteItems on a copy of the tables and puts the copy back: a write of another thread in
        # between is lost when the transaction fails (two champion decisions racing). DynamoDB isolates them; here
        # every write waits for the transaction in progress.
        writes = threading.RLock()
        for method in ("put_item", "update_item", "delete_item", "transact_write_items"):
            stack.enter_context(mock.patch.object(DynamoDBBackend, method, _serialized(getattr(DynamoDBBackend, method),
                                                                                      writes)))
        if not self.retry_sleep:  # the retrier's time.sleep records the interval instead
            no_sleep = SimpleNamespace(sleep=self.retry_sleeps.append)
            stack.enter_context(mock.patch.object(retrier_decl, "time", no_sleep))
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            stream = _STREAMS.setdefault(name, RoutedStream(current))
            if current is not stream:
                stream.base = current
            stack.enter_context(mock.patch.object(sys, name, stream))
        stack.enter_context(mock.patch.object(os, "environ", SandboxEnviron(os.environ)))
        stack.callback(self._stop_running_executions)

    def stop(self) -> None:
        """Stop running executions, undo every patch, stop the mock and restore the environment."""
        try:
            self._exit_stack.close()
        finally:
            for logical_id in self._modules:
                sys.modules.pop(f"_hpt_emulated_{logical_id}", None)
            self._modules.clear()
            self._clients.clear()
            with Emulator._active_lock:
                if Emulator._active is self:
                    Emulator._active = None

    def _stop_running_executions(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for _, arn in self._of_type("AWS::StepFunctions::StateMachine"):
            for execution in self.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                execution_arn = execution["executionArn"]
                logger.warning("stopping execution %s still running at emulator shutdown", execution_arn)
                while time.monotonic() < deadline:  # moto 5.2.5 raises AttributeError until its thread has started
                    with suppress(AttributeError):
                        self.sfn.stop_execution(executionArn=execution_arn, cause="emulator shutdown")
                        break
                    time.sleep(0.05)
                else:
                    logger.warning("could not stop execution %s: it never started", execution_arn)
                with suppress(TimeoutError):
                    self.wait_for_execution(execution_arn, timeout=max(0.0, deadline - time.monotonic()))

    def _deploy(self) -> None:
        """Create the template's stack in moto, then do what moto's CloudFormation leaves undone."""
        from moto.stepfunctions import models as sfn_models
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        cfn = self.template.to_cloudformation(self._parameters, self.region, self.account_id)
        cloudformation = self.client("cloudformation")
        # moto's CloudFormation creates state machines in its Step Functions backend that does not execute them.
        with mock.patch.object(sfn_models, "stepfunctions_backends", stepfunctions_parser_backends):
            cloudformation.create_stack(
                StackName=self.stack_name,
                TemplateBody=json.dumps(cfn),
                Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in self._parameters.items()],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
        (stack,) = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise EmulatorError(f"stack {self.stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
        for resource in cloudformation.describe_stack_resources(StackName=self.stack_name)["StackResources"]:
            kind, physical_id = resource["ResourceType"], resource.get("PhysicalResourceId", "")
            self.resources[resource["LogicalResourceId"]] = (kind, physical_id)
        for logical_id, name in self._of_type("AWS::S3::Bucket"):  # moto's AWS::S3::Bucket ignores both properties
            properties = cfn["Resources"][logical_id].get("Properties") or {}
            if versioning := properties.get("VersioningConfiguration"):
                self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
            eventbridge = (properties.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration") or {}
            if str(eventbridge.get("EventBridgeEnabled")).lower() != "true":
                self._silent_buckets[name] = logical_id
        for logical_id, resource in self.template.resources.items():
            if resource.get("Type") == "AWS::Serverless::Function" and logical_id in self.resources:
                self.functions[logical_id] = self._function_spec(logical_id)

    def _function_spec(self, logical_id: str) -> FunctionSpec:
        code_uri = self.template.properties(logical_id).get("CodeUri")
        code_dir = (self.template.base_dir / code_uri).resolve() if isinstance(code_uri, str) else None
        if code_dir is None or not code_dir.is_dir():
            raise EmulatorError(f"{logical_id}: the emulator needs CodeUri to be a local folder, got {code_uri!r}")
        config = self.lambda_client.get_function_configuration(FunctionName=self.resources[logical_id][1])
        variables = (config.get("Environment") or {}).get("Variables") or {}
        return FunctionSpec(
            logical_id, config["FunctionName"], config["FunctionArn"], code_dir, config["Handler"],
            int(config["MemorySize"]), float(config["Timeout"]), {key: str(value) for key, value in variables.items()},
        )  # fmt: skip

    def _of_type(self, resource_type: str) -> list[tuple[str, str]]:
        """(logical id, physical id) of each resource of the stack of that type."""
        return [(logical_id, name) for logical_id, (kind, name) in self.resources.items() if kind == resource_type]

    def _only(self, resource_type: str) -> str:
        found = [physical_id for _, physical_id in self._of_type(resource_type)]
        if len(found) != 1:
            raise EmulatorError(f"the stack has {len(found)} {resource_type} ({found}); use Emulator.resources")
        return found[0]

    def client(self, service: str) -> Any:
        """Return a boto3 client for ``service`` bound to the mock, cached (typed ``Any``: callers need no stubs)."""
        self._require_running()
        with self._lock:
            if service not in self._clients:
                import boto3

                self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
            return self._clients[service]

    s3 = property(lambda self: self.client("s3"))
    dynamodb = property(lambda self: self.client("dynamodb"))
    sfn = property(lambda self: self.client("stepfunctions"))
    lambda_client = property(lambda self: self.client("lambda"))

    @property
    def bucket_name(self) -> str:
        return self._only("AWS::S3::Bucket")

    @property
    def table_name(self) -> str:
        return self._only("AWS::DynamoDB::Table")

    @property
    def state_machine_arn(self) -> str:
        return self._only("AWS::StepFunctions::StateMachine")

    def invoke(self, function_logical_id: str, event: Any) -> Any:
        """Invoke a function (its logical id) synchronously with a JSON-serialisable ``event`` through moto's Lambda
        API, as Lambda would; return the handler's decoded return value.

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
        """Deliver an event (e.g. from :func:`s3_object_created_event`) to the functions targeted by the enabled
        rules of the default bus that match it (the stack's rules as moto holds them; moto's matching), each invoked
        synchronously with what EventBridge sends it; return each one's result by logical id, in template order."""
        results: dict[str, Any] = {}
        for rule in self._rules().values():
            results.update(self._deliver(rule, event))
        return {logical_id: results[logical_id] for logical_id in self.functions if logical_id in results}

    def _rules(self) -> dict[str, Any]:
        """The rules of the default bus, by name, as moto's EventBridge holds them (a copy of its mapping)."""
        from moto.events.models import events_backends

        return dict(events_backends[self.account_id][self.region].event_buses["default"].rules)

    def _deliver(self, rule: Any, event: Mapping[str, Any], tick: bool = False) -> dict[str, Any]:
        """What EventBridge does with an event on one enabled rule that matches it (or at a ``tick`` of a schedule,
        a rule without a pattern, which no event matches): invoke each emulated function it targets with its input;
        return their results by logical id."""
        pattern = rule.event_pattern
        if rule.state != "ENABLED" or not (tick or pattern.get_pattern() and pattern.matches_event(dict(event))):
            return {}
        results: dict[str, Any] = {}
        for target in rule.targets:
            if (spec := self._function_named(target["Arn"])) is not None:
                results[spec.logical_id] = self.invoke(spec.logical_id, target_input(target, event))
        return results

    def deliver_s3_object_created(self, key: str, bucket: str | None = None) -> dict[str, Any]:
        """Deliver the EventBridge "Object Created" event of an existing object (in ``bucket``, by default the stack's
        only one), as S3 would; return what :meth:`deliver_event` returns.

        Raises
        ------
        EmulatorError
            If the stack's bucket does not send events to EventBridge (S3 would then deliver nothing).
        """
        bucket_name = bucket or self.bucket_name
        if bucket_name in self._silent_buckets:  # S3 would send EventBridge no event
            raise EmulatorError(f"bucket {self._silent_buckets[bucket_name]} has no NotificationConfiguration."
                                "EventBridgeConfiguration.EventBridgeEnabled: true")  # fmt: skip
        head = self.s3.head_object(Bucket=bucket_name, Key=key)
        version_id = None if head.get("VersionId") in (None, "null") else head["VersionId"]
        event = s3_object_created_event(bucket_name, key, version_id, head["ETag"], int(head["ContentLength"]),
                                        region=self.region, account_id=self.account_id)  # fmt: skip
        return self.deliver_event(event)

    def deliver_execution_status_change(self, execution_arn: str) -> dict[str, Any]:
        """Deliver the "Execution Status Change" event of an execution as it is now, as Step Functions does; return
        the results of the functions whose rules match (see :meth:`deliver_event`)."""
        now = self.sfn.describe_execution(executionArn=execution_arn)
        return self.deliver_event(execution_status_change_event(now, region=self.region, account_id=self.account_id))

    def fire_schedule(self, name: str | None = None) -> dict[str, Any]:
        """Fire a scheduled rule of the stack once, as EventBridge does at a tick: each target receives its ``Input``
        or, without one, the "Scheduled Event"; return the results by logical id. ``name`` is the event source's key
        under the function's ``Events`` (e.g. ``"Schedule"``) or the rule's name; omitted, the only schedule fires.

        Raises
        ------
        EmulatorError
            If there is no such schedule (or several, with no ``name``), or the rule is disabled.
        FunctionInvocationError
            If the handler raised.
        """
        found = [
            (logical_id, event_name, self.resources[logical_id + event_name][1])
            for logical_id in self.functions
            for event_name, source in (self.template.properties(logical_id).get("Events") or {}).items()
            if source.get("Type") == "Schedule" and logical_id + event_name in self.resources
        ]
        found = [match for match in found if name in (None, match[1], match[2])]
        if len(found) != 1:
            have = f" ({sorted(f'{lid}.{event}' for lid, event, _ in found)})" if found else ""
            what = f"schedule {name!r}" if name else "schedule"
            raise EmulatorError(f"the template has {len(found)} matching {what}s{have}")
        ((logical_id, event_name, rule_name),) = found
        rule = self._rules()[rule_name]
        if rule.state != "ENABLED":
            raise EmulatorError(f"{logical_id}.{event_name}: the rule is {rule.state}; EventBridge would not fire it")
        return self._deliver(rule, scheduled_event(rule.arn, region=self.region, account_id=self.account_id), tick=True)

    def wait_for_execution(
        self, execution_arn: str, timeout: float = 60.0, poll_interval: float = 0.05
    ) -> dict[str, Any]:
        """Poll an execution every ``poll_interval`` seconds until it is no longer ``RUNNING``; return the final
        ``DescribeExecution`` reply, or raise :class:`TimeoutError` if it still runs after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (reply := self.sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
            if time.monotonic() >= deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout} s")
            time.sleep(poll_interval)
        reply.pop("ResponseMetadata", None)
        return dict(reply)

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

    def invocation_count(self, function_logical_id: str) -> int:
        """Return how many invocations reached ``function_logical_id`` (faulted ones included)."""
        return len(self.invocations(function_logical_id))

    def wait_for_invocations(self, function_logical_id: str, count: int, timeout: float = 120.0) -> None:
        """Block until ``count`` invocations of ``function_logical_id`` have returned (woken by each one);
        :class:`TimeoutError` when they have not after ``timeout`` seconds (a safety bound, not a measurement)."""
        with self._recorded:
            if not self._recorded.wait_for(lambda: self.invocation_count(function_logical_id) >= count, timeout):
                have = self.invocation_count(function_logical_id)
                raise TimeoutError(f"{function_logical_id}: {have} invocations, not {count}")

    def handler_module(self, function_logical_id: str) -> ModuleType:
        """Return the function's handler module (one per function, shared by its warm invocations), loading it
        (its cold start) if needed, to inspect its globals."""
        self._require_running()
        spec = self._function(function_logical_id)
        with sandbox(dict(spec.environment), self._logs.setdefault(spec.logical_id, [])):
            self._handler(spec)
        return self._modules[function_logical_id]

    def function_logs(self, function_logical_id: str) -> str:
        """Return everything the function's handler wrote to stdout or stderr so far, in order (its log)."""
        return "".join(self._logs.get(function_logical_id, []))

    def _dispatch(
        self, original: Callable[..., str | bytes | None], backend: Any, function_name: str, qualifier: str | None,
        body: Any, headers: Any, response_headers: Any,
    ) -> str | bytes | None:  # fmt: skip
        """moto's ``LambdaSimpleBackend.invoke``: run the function's handler as the Lambda runtime would."""
        from moto.core.exceptions import ServiceException
        from werkzeug.exceptions import HTTPException

        spec = self._function_named(function_name)
        if spec is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        event, started = json.loads(body) if body else {}, time.monotonic()
        context = LambdaContext(spec.name, spec.arn, spec.memory_mb, spec.timeout_s)
        error, value, returned = None, None, False
        try:
            for hook in self._faults.copy():
                hook(spec.logical_id, event)
            with sandbox(dict(spec.environment), self._logs.setdefault(spec.logical_id, [])):
                value = self._handler(spec)(event, context)
            returned = True
            return json.dumps(value).encode()
        except Exception as exc:
            if isinstance(exc, HTTPException | ServiceException):  # moto's Lambda service replies with it
                error = getattr(exc, "error_type", type(exc).__name__)
                raise
            # As the Lambda Python runtime reports an exception, or a return value it cannot serialise.
            error = "Runtime.MarshalError" if returned else type(exc).__name__
            message = f"Unable to marshal response: {exc}" if returned else str(exc)
            stack_trace = [frame.rstrip("\n") for frame in traceback.format_tb(exc.__traceback__)]
            value = {"errorMessage": message, "errorType": error, "requestId": context.aws_request_id,
                     "stackTrace": stack_trace}  # fmt: skip
            logger.debug("%s raised %s", spec.logical_id, error, exc_info=exc)
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(value).encode()
        finally:
            with self._recorded:
                self._invocations.append(Invocation(spec.logical_id, event, error, value, started, time.monotonic()))
                self._recorded.notify_all()

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        """The handler of ``spec``, its module imported on first use (its cold start)."""
        module_path, _, attribute = spec.handler.rpartition(".")
        file = spec.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
        with _IMPORT_LOCK:
            if spec.logical_id not in self._modules:
                if not module_path or not file.is_file():
                    raise EmulatorError(f"{spec.logical_id}: no handler module {file} for Handler {spec.handler!r}")
                self._modules[spec.logical_id] = import_file(f"_hpt_emulated_{spec.logical_id}", file)
        function = getattr(self._modules[spec.logical_id], attribute, None)
        if not callable(function):
            raise EmulatorError(f"{spec.logical_id}: {file} has no callable {attribute!r}")
        return function

    def _require_running(self) -> None:
        if Emulator._active is not self:
            raise EmulatorError("the emulator is not running")

    def _function(self, logical_id: str) -> FunctionSpec:
        if logical_id not in self.functions:
            raise EmulatorError(f"no function {logical_id!r} in the template (have {sorted(self.functions)})")
        return self.functions[logical_id]

    def _function_named(self, function_name: str) -> FunctionSpec | None:
        """The function that a name, ARN or qualified name designates, if it is one of the template's."""
        if function_name.startswith("arn:"):
            parts = function_name.split(":")
            if parts[2] != "lambda" or len(parts) < 7:
                return None  # an SQS queue, an SNS topic...: not a function
            name = parts[6]
        else:
            name = function_name.split(":")[0]
        return next((spec for spec in self.functions.values() if spec.name == name), None)


def _serialized(method: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    """``method`` run under ``lock`` (see :meth:`Emulator._patch`)."""

    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked
