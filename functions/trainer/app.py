"""Trainer: run one manifest batch of experiments (fit, score, save the model, record the experiment).

No Powertools Tracer: the X-Ray SDK it needs depends on botocore, which pip would copy into the layer (~15 MB)
when the Lambda runtime already has it, breaking the 200 MB package budget; ``Tracing: Active`` still records
every invocation in X-Ray, and each experiment's fit and score times are in its record.
"""

from __future__ import annotations

import time
from typing import Any

import joblib  # noqa: F401 - import the ML stack during the init phase, not in the first invocation
import sklearn.base  # noqa: F401
import sklearn.metrics  # noqa: F401
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperparameter_tuner.aws.settings import Settings
from hyperparameter_tuner.aws.workflow import BatchItem, Services, train_batch

SAFETY_MARGIN_SECONDS = 20.0
logger = Logger()
metrics = Metrics()
services = Services.create(Settings.from_env(), metrics)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Train the batch named by the manifest item and return its counts."""
    item = BatchItem.model_validate(event)
    logger.append_keys(run_id=item.run_id, batch=item.batch)
    # Stop fitting in time to record what finished and return: a retry of the batch continues from there.
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    return train_batch(item, services, deadline=deadline).model_dump(mode="json")
