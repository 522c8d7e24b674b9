"""Promote: after a successive-halving rung, keep its best candidates and write the next rung's manifest.

Light like the reducer (no numpy, scipy or scikit-learn): it reads the rung's manifest and records, and writes a
manifest.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperparameter_tuner.aws.promote import RungState, promote_step
from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import Services

logger = Logger()
metrics = Metrics()
services = Services.create(Settings.from_env(), metrics)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Write the next rung's manifest and return the state machine's state for its Map."""
    state = RungState.model_validate(event)
    logger.append_keys(run_id=state.run_id, rung=state.rung)
    return promote_step(state, services).model_dump(mode="json")
