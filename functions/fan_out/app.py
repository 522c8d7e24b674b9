"""Fan-out: start one tuning run per split (upload, schedule or direct trigger).

No Powertools Tracer here: the X-Ray SDK would triple this light function's cold start (measured in
benchmarks/cold_start.py); the function's ``Tracing: Active`` still records every invocation in X-Ray.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperparameter_tuner.aws.events import BadEventError, parse_fan_out_event
from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import Services, fan_out, reject_event

logger = Logger()
metrics = Metrics()
services = Services.create(Settings.from_env(), metrics)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the trigger, start (or recognise) the run, and return what happened."""
    try:
        request = parse_fan_out_event(event)
    except BadEventError as exc:
        # Retrying a malformed event cannot help: report it and succeed.
        logger.error("rejected event", extra={"reason": str(exc)})
        return reject_event(event, str(exc), services).model_dump(mode="json")
    result = fan_out(request, services)
    logger.info("fan-out", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")
