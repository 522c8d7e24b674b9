"""The promote step of successive halving: after a rung's Map, keep its best candidates and write the next rung's
manifest (light: no numpy, scipy or scikit-learn, like the fan-out and the reducer)."""

from __future__ import annotations

import json

from .._closing import promote_rung
from ..config import parse_config
from ..errors import StoreError
from ..records import Experiment, RunStatus
from ..search import Rung
from .fan_out import BatchItem, RungState, manifest_key, plan_batches, put_manifest, rung_manifest
from .services import Services, _count

__all__ = ["RungState", "promote_step"]


def promote_step(state: RungState, services: Services) -> RungState:
    """Promote rung ``state.rung``'s best ``n_candidates`` of the next rung and write that rung's manifest.

    The rung's candidates and their order come from its manifest; each one's score from its experiment record in
    this rung (missing, FAILED or unscored: NaN, kept last, as ``HalvingGridSearchCV`` does). The result is a
    function of stored records only, so a retried or duplicated invocation writes the same manifest again.

    Returns
    -------
    RungState
        The next rung's state, or ``state`` with ``last_rung`` true when the run has closed already (the next
        step, the reducer, then summarises it) or has no further rung.
    """
    metadata = services.metadata()
    run = metadata.get_run(state.run_id)
    following = state.rung + 1
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) or following >= len(run.rungs):
        _count(services, "PromotionsSkipped")
        return state.model_copy(update={"last_rung": True})
    config = parse_config(run.config, f"run {run.run_id} config")
    try:
        body = services.s3.get_object(Bucket=state.bucket, Key=state.manifest_key)["Body"].read()
    except Exception as exc:  # noqa: BLE001 - any failure to read S3 is the store's, retried by the state machine
        raise StoreError(f"s3://{state.bucket}/{state.manifest_key}: cannot read the rung manifest ({exc})") from exc
    items = sorted((BatchItem.model_validate(item) for item in json.loads(body)), key=lambda item: item.start)
    candidates = [candidate for item in items for candidate in item.candidates or []]
    records: dict[int, Experiment | None] = {
        experiment.candidate: experiment for experiment in metadata.iter_experiments(run.run_id)
        if experiment.rung == state.rung and experiment.candidate is not None
    }
    rungs = [Rung(**rung) for rung in run.rungs]
    kept = promote_rung(candidates, records, run.perf_metric, run.direction == "maximize",
                        rungs[following].n_candidates)
    first_batch = sum(len(plan_batches(rung.n_candidates, config)) for rung in rungs[:following])
    key = manifest_key(run.run_id, following)
    put_manifest(services, state.bucket, key, rung_manifest(run.run_id, rungs[following], kept, config, first_batch))
    _count(services, "RungsPromoted")
    return state.model_copy(update={"manifest_key": key, "rung": following,
                                    "last_rung": following == len(rungs) - 1})
