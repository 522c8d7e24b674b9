"""Fan-out: start one tuning run per split (upload, schedule or direct trigger)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperparameter_tuner.aws.events import BadEventError, parse_fan_out_event
from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import Services, fan_out, reject_event

logger = Logger()
tracer = Tracer()
metrics = Metrics()
services = Services.create(Settings.from_env(), metrics)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
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
