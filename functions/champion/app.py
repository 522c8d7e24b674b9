"""Champion: after the reducer, decide whether a SUCCEEDED run's winner replaces its dataset's champion.

It re-scores the champion's model on the run's test split, so it carries the ml layer (as the trainer does) and
imports the ML stack during init; the reducer stays light. No Powertools Tracer, for the trainer's reason: the
X-Ray SDK would pull botocore into the layer budget; ``Tracing: Active`` still records every invocation.
"""

from __future__ import annotations

from typing import Any

import joblib  # noqa: F401 - import the ML stack during the init phase, not in the first invocation
import sklearn.base  # noqa: F401
import sklearn.metrics  # noqa: F401
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from hyperparameter_tuner.aws.promotion import settle_run_champion
from hyperparameter_tuner.aws.services import Services
from hyperparameter_tuner.aws.settings import Settings

logger = Logger()
metrics = Metrics()
services = Services.create(Settings.from_env(), metrics)


class ChampionEvent(BaseModel):
    """The state machine passes the run id only."""

    run_id: str


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Settle the run's champion decision and return it."""
    request = ChampionEvent.model_validate(event)
    logger.append_keys(run_id=request.run_id)
    return settle_run_champion(request.run_id, services).model_dump(mode="json")
