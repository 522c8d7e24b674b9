"""Run the AWS workflow of ``template.yaml`` locally: the template deployed as CloudFormation would (AWS's SAM
translator, then moto's CloudFormation), every Lambda invocation routed to the function's real handler in this
process (the README's "Rehearse without an account"). Importing this package does not import moto (the ``emulator``
extra); starting an :class:`Emulator` does.

>>> with Emulator("template.yaml", retry_sleep=False) as emu:  # doctest: +SKIP
...     emu.add_fault(throttle(2, function="TrainerFunction"))
...     emu.s3.put_object(Bucket=emu.bucket_name, Key="datasets/iris/split.npz", Body=data)
...     (started,) = emu.deliver_s3_object_created("datasets/iris/split.npz").values()
...     emu.wait_for_execution(started["execution_arn"])["status"]
'SUCCEEDED'
"""

from __future__ import annotations

from ._engine import Emulator
from ._runtime import (
    FunctionInvocationError,
    Invocation,
    LambdaContext,
    execution_status_change_event,
    lambda_service_error,
    s3_object_created_event,
    throttle,
)
from ._template import NOT_IN_MOTO, EmulatorError, Template, load_template, loads_template

__all__ = [
    "NOT_IN_MOTO",
    "Emulator",
    "EmulatorError",
    "FunctionInvocationError",
    "Invocation",
    "LambdaContext",
    "Template",
    "execution_status_change_event",
    "lambda_service_error",
    "load_template",
    "loads_template",
    "s3_object_created_event",
    "throttle",
]
