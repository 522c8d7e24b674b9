"""Reducer: pick the winner of a run, close it, and publish the completion event.

No Powertools Tracer here: the X-Ray SDK would triple this light function's cold start (measured in
benchmarks/cold_start.py); the function's ``Tracing: Active`` still records every invocation in X-Ray.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import Services, reduce_run

logger = Logger()
metrics = Metrics()
services = Services.create(Settings.from_env(), metrics)


class ReduceEvent(BaseModel):
    """The state machine passes the run id only."""

    run_id: str


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Close the run and return its summary."""
    request = ReduceEvent.model_validate(event)
    logger.append_keys(run_id=request.run_id)
    return reduce_run(request.run_id, services).model_dump(mode="json")
