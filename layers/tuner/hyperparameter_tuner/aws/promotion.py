"""The champion step, after the reducer: a SUCCEEDED run's winner challenges its dataset's champion.

It runs in its own function, on the trainer's ml layer: re-scoring the champion needs scikit-learn, which the
reducer's cold start must not pay for. The decision is recorded with a DynamoDB transaction conditional on the
champion's version (:class:`~hyperparameter_tuner.aws.champions.DynamoDBChampionTracker`), on the run record
(``champion``), and published on EventBridge as ``Champion Promoted`` (``first`` and ``promoted``) or
``Champion Kept``, next to ``Tuning Run Completed``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from ..champion import ChampionDecision, decide_run_champion
from ..config import parse_config
from ..records import Run, RunStatus
from .events import DATASETS_PREFIX, dataset_name, dataset_of
from .reduce import COMPLETION_SOURCE
from .services import Services, _count

__all__ = ["CHAMPION_KEPT", "CHAMPION_PROMOTED", "ChampionResult", "run_dataset", "settle_run_champion"]

CHAMPION_PROMOTED = "Champion Promoted"
CHAMPION_KEPT = "Champion Kept"


class ChampionResult(BaseModel):
    """The champion step's reply: the run, its status and its decision (``None`` for a run that did not succeed)."""

    run_id: str
    status: str
    champion: dict[str, Any] | None = None


def run_dataset(run: Run) -> str:
    """The dataset a run belongs to: recorded by the fan-out; for older runs, the ``datasets/<dataset>/`` folder of
    its split, else the config's ``name`` (submissions), else ``adhoc``.

    Examples
    --------
    >>> from hyperparameter_tuner.records import Run
    >>> run = Run(run_id="r", config={}, perf_metric="r2", direction="maximize",
    ...           data_uri="s3://b/datasets/iris/iris.npz", data_fingerprint="f", total=1)
    >>> run_dataset(run)
    'iris'
    """
    if run.dataset:
        return run.dataset
    key = run.data_uri.split("/", 3)[3] if run.data_uri.count("/") >= 3 else ""
    if key.startswith(DATASETS_PREFIX):
        return dataset_of(key)
    return dataset_name(str(run.config.get("name") or "adhoc"))


def settle_run_champion(run_id: str, services: Services) -> ChampionResult:
    """Decide a closed run's champion, record it, and publish ``Champion Promoted`` or ``Champion Kept``.

    A run that did not succeed never promotes (nothing is written or published). Idempotent: a retry returns the
    decision recorded before, and publishes nothing again.
    """
    from .champions import DynamoDBChampionTracker

    metadata = services.metadata()
    run = metadata.get_run(run_id)
    if run.status is not RunStatus.SUCCEEDED:
        return ChampionResult(run_id=run_id, status=run.status.value)
    config = parse_config(run.config, f"run {run_id} config")
    tuner = services.tuner(config)
    run, decision, recorded = decide_run_champion(
        run, lambda: services.load_data(run, config.target, config.max_data_bytes), dataset=run_dataset(run),
        champions=DynamoDBChampionTracker(services.settings.table_name, client=services.dynamodb),
        metadata=tuner.metadata_tracker, version_control=tuner.resource_version_control,
        margin=config.promotion_margin, threads=config.threads,
    )
    assert decision is not None, "a SUCCEEDED run has a winner"
    if recorded:
        _publish(services, decision, run)
        _count(services, f"Champion{decision.decision.title()}")
    return ChampionResult(run_id=run_id, status=run.status.value, champion=decision.to_json())


def _publish(services: Services, decision: ChampionDecision, run: Run) -> None:
    detail = {**decision.to_json(), "run_status": run.status.value}
    services.events.put_events(Entries=[{
        "Source": COMPLETION_SOURCE,
        "DetailType": CHAMPION_KEPT if decision.decision == "kept" else CHAMPION_PROMOTED,
        "Detail": json.dumps(detail, allow_nan=False),
        "EventBusName": services.settings.event_bus_name,
    }])
