"""The trainer step: run one manifest item (a batch of experiments) of a run."""

from __future__ import annotations

from functools import partial

from pydantic import BaseModel

from .._workers import WorkerPool, can_fork
from ..config import parse_config
from ..errors import TunerError
from ..records import Experiment, ExperimentStatus, RunStatus
from .fan_out import BatchItem
from .services import Services, _count

__all__ = ["BatchResult", "TimeBudgetError", "train_batch"]


class TimeBudgetError(TunerError):
    """A trainer invocation ran out of time before its batch was done (not an experiment's failure)."""


class BatchResult(BaseModel):
    """Counts for one batch (small: it goes back to Step Functions and is discarded)."""

    run_id: str
    batch: int
    succeeded: int = 0
    failed: int = 0
    reused: int = 0
    skipped: int = 0
    """Experiments not looked at because the run had already closed (a late retry)."""


def train_batch(item: BatchItem, services: Services, deadline: float | None = None) -> BatchResult:
    """Run experiments ``[start, stop)`` of a run: build and save each model, write each record.

    Experiments already finished in this run (a retried invocation) or SUCCEEDED in an earlier run on the same
    data, whose model version is still in the bucket intact, are not trained again. Fits run in a forked worker,
    stopped after ``experiment_timeout`` (a FAILED record, "timed out after N s"). A failing fit is a FAILED
    record, not an error. A failure of the store (S3 or DynamoDB: :class:`~hyperparameter_tuner.errors.StoreError`)
    is not the experiment's: no record is left for it, and it fails the whole batch, which the state machine
    retries (``StoreError`` in the task's ``Retry``) and, if it persists, records with its ``Catch``; so does any
    other error here (data unreadable).

    Parameters
    ----------
    deadline : float, optional
        ``time.monotonic()`` instant by which the invocation must return (the Lambda's remaining time minus a
        margin). Work left when it comes raises :class:`TimeBudgetError`: a retry continues where this stopped.

    Raises
    ------
    StoreError
        When a model cannot be saved or a record written or read.
    """
    metadata = services.metadata()
    run = metadata.get_run(item.run_id)
    result = BatchResult(run_id=item.run_id, batch=item.batch)
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        result.skipped = item.stop - item.start  # a late retry of a closed run: its records are final
        _count(services, "BatchesSkipped")
        return result
    config = parse_config(run.config, f"run {run.run_id} config")
    tuner = services.tuner(config)
    tuner.warm_up()
    data = services.load_data(run, config.target, config.max_data_bytes)
    pending = []
    for spec in item.specs(tuner, run):
        current = metadata.get_experiment(run.run_id, spec.experiment_id)
        if current is not None and current.status is not ExperimentStatus.RUNNING:
            # Finished by an earlier attempt of this batch: a fit's failure is deterministic, never retried.
            result.reused += current.status is ExperimentStatus.SUCCEEDED
            result.failed += current.status is ExperimentStatus.FAILED
        elif tuner.reuse(spec, run.run_id) is not None:
            result.reused += 1
        else:
            pending.append(spec)

    def record(experiment: Experiment) -> None:
        if experiment.status is ExperimentStatus.SUCCEEDED:
            result.succeeded += 1
        else:
            result.failed += 1

    try:
        if not can_fork():
            for spec in pending:
                record(tuner.run_one(data, spec, run.run_id))
        else:
            with WorkerPool(partial(tuner.fit_candidate, data), 1, config.experiment_timeout,
                            deadline=deadline) as pool:
                for spec, outcome in pool.map(pending):
                    if outcome.kind == "budget":
                        raise TimeBudgetError(f"batch {item.batch}: the invocation's time ran out during "
                                              f"experiment {spec.experiment_id}; a retry continues from there")
                    record(tuner.record_outcome(spec, run.run_id, outcome, tuner.config.eval_split(data)))
                if pool.unstarted:
                    raise TimeBudgetError(f"batch {item.batch}: the invocation's time ran out with "
                                          f"{len(pool.unstarted)} experiments left; a retry continues from there")
    finally:
        _count(services, "ExperimentsSucceeded", result.succeeded)
        _count(services, "ExperimentsFailed", result.failed)
        _count(services, "ExperimentsReused", result.reused)
    return result
