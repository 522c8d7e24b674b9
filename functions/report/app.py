"""Report: render a completed run's HTML report into the bucket (``reports/<run_id>.html``).

Subscribed to the reducer's ``Tuning Run Completed`` event and to the Champion step's decision events. Its own layer
ships plotly.js; the light functions never load it. No Powertools Tracer, as in the reducer: the function's
``Tracing: Active`` still records each invocation.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperparameter_tuner.aws.reporting import RunCompleted, write_run_report
from hyperparameter_tuner.aws.services import Services
from hyperparameter_tuner.aws.settings import Settings

logger = Logger()
metrics = Metrics()
services = Services.create(Settings.from_env(), metrics)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Write the report of the run the event names and return where it is."""
    request = RunCompleted.model_validate(event)
    logger.append_keys(run_id=request.detail.run_id)
    return write_run_report(request.detail.run_id, services).model_dump(mode="json")
