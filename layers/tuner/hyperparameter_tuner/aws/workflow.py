"""The AWS workflow's three steps as domain functions: fan out, train a batch, reduce.

Handlers parse their event and call one of these with a :class:`Services` built once at cold start. Nothing
large travels through Step Functions: the fan-out writes the manifest (index ranges into the grid) to S3 and
passes its key; trainers rebuild every experiment from its grid index.

Each step lives in its own module: :mod:`.services` (what the handlers share), :mod:`.fan_out`, :mod:`.training`
and :mod:`.reduce`. This module re-exports them (private helpers included), so imports from here keep working.
"""

from __future__ import annotations

from .fan_out import MAX_BATCH as MAX_BATCH
from .fan_out import BatchItem, FanOutResult, close_ended_run, fan_out, plan_batches, reject_event
from .fan_out import _failed_run as _failed_run
from .fan_out import _fan_out as _fan_out
from .fan_out import _find_config as _find_config
from .fan_out import _record_input_failure as _record_input_failure
from .fan_out import _reject as _reject
from .fan_out import _start_execution as _start_execution
from .reduce import COMPLETION_DETAIL_TYPE, COMPLETION_SOURCE, ReduceResult, iter_batch_failures, reduce_run
from .reduce import _describe_failure as _describe_failure
from .reduce import _publish as _publish
from .reduce import _record_batch_failures as _record_batch_failures
from .reduce import _summary as _summary
from .services import Services
from .services import _count as _count
from .training import BatchResult, TimeBudgetError, train_batch

__all__ = [
    "COMPLETION_DETAIL_TYPE",
    "COMPLETION_SOURCE",
    "BatchItem",
    "BatchResult",
    "FanOutResult",
    "ReduceResult",
    "Services",
    "TimeBudgetError",
    "close_ended_run",
    "fan_out",
    "iter_batch_failures",
    "reject_event",
    "plan_batches",
    "reduce_run",
    "train_batch",
]
