"""``hpt plan``: what a run will cost on AWS and whether it fits the limits, before anything runs.

Estimates come from measured fit times: a previous run's records in a local store (same experiment ids first,
then the same trainer), or a quick sample fit of a few candidates per trainer on the split, timed under the same
BLAS/OpenMP thread limit every experiment gets. Prices are AWS's published on-demand prices (us-east-1, arm64) and
can be overridden.

What the plan does not measure it assumes, and says so: :attr:`Plan.assumptions` lists every such figure (the
trainer's cold start, the fan-out's and reducer's cost, reply sizes, Lambda's speed relative to this machine, the
requests per experiment, a run without failed batches or retries). State transitions are counted from the state
machine as the emulator runs it (``benchmarks/transitions.py``; a test checks :data:`TRANSITIONS_PER_RUN` and
:data:`TRANSITIONS_PER_BATCH` against an emulated run).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .config import DEFAULT_MAX_EXPERIMENTS, TuningConfig
from .data import SplitData
from .errors import ConfigError
from .search import Rung

__all__ = [
    "Assumption",
    "Check",
    "Plan",
    "Prices",
    "estimate_from_records",
    "estimate_from_sample",
    "make_plan",
    "plan_rungs",
]

LAMBDA_TIMEOUT_SECONDS = 900
LAMBDA_PACKAGE_LIMIT = 262_144_000  # 250 MiB unzipped, function + layers
PACKAGE_BUDGET = 200_000_000  # our own budget, leaving users room for their trainers
PAYLOAD_BUDGET = 8 * 1024  # our own cap on any Step Functions payload (AWS's limit is 256 KiB)
# State transitions as AWS bills them (each state entered, each retried attempt, one per child execution a
# Distributed Map starts), measured on an emulated run of statemachine/tuning.asl.json (benchmarks/transitions.py):
TRANSITIONS_PER_RUN = 5  # the parent enters TrainBatches, NextRung, Reduce, RunSucceeded (Choice) and Champion (a
# SUCCEEDED run)
TRANSITIONS_PER_BATCH = 2  # the child execution started, and its TrainBatch state
TRANSITIONS_PER_RUNG = 3  # halving, each rung after the first: PromoteRung, TrainBatches, NextRung
TRANSITIONS_PER_FAILED_BATCH = 2  # DescribeBatchFailure, RecordBatchFailure (from the ASL)
# Assumed, not measured (each is listed in Plan.assumptions):
DYNAMODB_WRITES_PER_EXPERIMENT = 5  # model version, two metric splits, RUNNING and SUCCEEDED records
DYNAMODB_READS_PER_EXPERIMENT = 2  # this run's record, an earlier run's (reuse)
S3_PUTS_PER_EXPERIMENT = 1
S3_GETS_PER_EXPERIMENT = 1  # the HEAD that makes a retried save harmless
HANDLER_REPLY_BYTES = 512  # the largest reply a handler sends back into the state machine
FAN_OUT_REDUCER_SECONDS = 2.0  # each of the fan-out and the reducer, per run
FAN_OUT_REDUCER_MEMORY_MB = 512  # also the Promote function's (the template's Globals)
PROMOTE_SECONDS = 1.0  # halving, per promotion: one manifest read and written, the rung's records queried
CHAMPION_WORK_SECONDS = 2.0  # after its cold start (as a trainer's): load the champion, re-score it, record
REPORT_SECONDS = 3.0  # per report written (twice per successful run: at completion and after the decision)
REPORT_MEMORY_MB = 1024
RUN_OVERHEAD_SECONDS = 10.0  # fan-out, map start and reducer, added to the wall time


class Prices(BaseModel):
    """Unit prices in USD (AWS on-demand, us-east-1, arm64, as published in 2026)."""

    model_config = ConfigDict(extra="forbid")

    lambda_gb_second: float = Field(default=0.0000133334, ge=0)
    lambda_request: float = Field(default=0.20 / 1e6, ge=0)
    state_transition: float = Field(default=0.025 / 1000, ge=0)
    s3_put: float = Field(default=0.005 / 1000, ge=0)
    s3_get: float = Field(default=0.0004 / 1000, ge=0)
    dynamodb_write: float = Field(default=0.625 / 1e6, ge=0)
    dynamodb_read: float = Field(default=0.125 / 1e6, ge=0)


class Check(BaseModel):
    """One limit checked up front."""

    name: str
    ok: bool | None
    detail: str


class Assumption(BaseModel):
    """A figure the plan uses without having measured it: what it is, the value used, and where it matters."""

    name: str
    value: str
    detail: str


class Plan(BaseModel):
    """The estimate for one config: counts, time, GB-seconds, transitions, dollars, and limit checks."""

    experiments: int
    strategy: str = "grid"
    rungs: list[dict[str, int]] = Field(default_factory=list)
    """Halving: ``{rung, n_candidates, n_resources, batches}`` per rung (empty otherwise, or when the training
    rows are unknown: pass ``--data``)."""
    grid_equivalent_gb_seconds: float | None = None
    """Halving: the trainer GB-seconds of every candidate at the last rung's resources, for comparison."""
    saving: float | None = None
    """Halving: the share of trainer GB-seconds the rungs save against ``grid_equivalent_gb_seconds``."""
    batches: int
    batch_size: int
    max_concurrency: int
    fit_seconds: dict[str, float | None]
    fit_source: str
    trainer_memory_mb: int
    trainer_invocations: int
    invocations_per_experiment: float
    state_transitions: int
    transitions_per_experiment: float
    lambda_gb_seconds: float | None
    longest_batch_seconds: float | None
    wall_seconds: float | None
    cost_usd: dict[str, float] | None
    total_cost_usd: float | None
    checks: list[Check]
    assumptions: list[Assumption]

    @property
    def ok(self) -> bool:
        """Whether no check failed."""
        return all(check.ok is not False for check in self.checks)


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def estimate_from_records(config: TuningConfig, experiments: Iterable[Any],
                          run_cv: Mapping[str, int | None] | None = None) -> dict[str, float | None]:
    """Seconds per experiment (fit + score) for each trainer from earlier runs' records (median).

    An experiment with ``cv: K`` costs about ``K + 1`` fits (the folds, then the model on the whole training
    split). ``run_cv`` gives each earlier run's ``cv`` (by run id; missing or ``None``: no cv), so a record is
    rescaled from its run's fold count to ``config.cv``'s.
    """
    run_cv = run_cv or {}
    wanted = (config.cv or 0) + 1
    times: dict[str, list[float]] = {name: [] for name in config.training_params}
    for experiment in experiments:
        if experiment.algo in times and experiment.fit_time is not None:
            recorded = (run_cv.get(experiment.run_id) or 0) + 1
            times[experiment.algo].append((experiment.fit_time + (experiment.score_time or 0.0)) * wanted / recorded)
    return {name: _median(values) for name, values in times.items()}


SAMPLE_TIMEOUT = 60.0
"""Seconds a sample fit may take (or ``experiment_timeout``, if shorter) before ``hpt plan`` stops it."""


def plan_rungs(config: TuningConfig, data: SplitData | None = None) -> list[Rung] | None:
    """The halving rungs a plan prices: from the split when given, else when the resource is a parameter (known
    without data); ``None`` when they depend on the training rows and no split is given; ``[]`` without halving."""
    if config.search.strategy != "halving":
        return []
    if data is not None:
        return config.split_rungs(data)
    if config.search.resource != "n_samples":
        return config.halving_rungs(0, 0)
    return None


def estimate_from_sample(config: TuningConfig, data: SplitData, per_trainer: int = 3,
                         sample_timeout: float = SAMPLE_TIMEOUT) -> dict[str, float | None]:
    """Seconds per experiment for each trainer, from fitting up to ``per_trainer`` candidates spread over its grid.

    Sample fits run exactly as experiments do (:func:`~hyperparameter_tuner.base.fit_candidate` in a forked worker,
    under the config's thread limit), so they time the same computation. A sample still running after
    ``min(sample_timeout, experiment_timeout)`` is stopped and counts as ``experiment_timeout``: such an experiment
    would run until it is stopped. A candidate that fails to fit is skipped; a trainer none of whose samples fit
    gets ``None``.
    """
    from ._execution import build_spec, fit_candidate
    from ._workers import WorkerPool, can_fork
    from .trainers import get_trainer_class

    for name in config.training_params:
        get_trainer_class(name)  # import before forking: neither a sample nor its worker pays for imports
    specs = {}
    grid = config.grid()
    rungs = plan_rungs(config, data)
    first = 0
    for name, size in grid.sizes().items():
        picks = sorted({first + round(i * (size - 1) / max(per_trainer - 1, 1)) for i in range(per_trainer)})
        first += size
        for index in picks:
            # halving: timed at the last rung's resources, which plan scales down for earlier rungs
            candidate = build_spec(config, index, name, grid[index][1], data.fingerprint,
                                   rung=rungs[-1] if rungs else None)
            specs[candidate.experiment_id] = candidate
    samples: dict[str, list[float]] = {name: [] for name in config.training_params}
    timeout = min(sample_timeout, config.experiment_timeout)
    fit = partial(fit_candidate, config, data)
    if can_fork():
        with WorkerPool(fit, 1, timeout) as pool:
            outcomes = list(pool.map(specs.values()))
    else:
        outcomes = [(candidate, fit(candidate)) for candidate in specs.values()]
    for candidate, outcome in outcomes:
        if outcome.ok:
            samples[candidate.algo].append((outcome.fit_time or 0.0) + (outcome.score_time or 0.0))
        elif outcome.kind == "timeout":
            samples[candidate.algo].append(config.experiment_timeout)
    return {name: _median(values) for name, values in samples.items()}


def _package_bytes(build_dir: Path) -> int | None:
    parts = [build_dir / name for name in ("TrainerFunction", "TunerLayer", "MlLayer")]
    if not all(part.is_dir() for part in parts):
        return None
    return sum(f.stat().st_size for part in parts for f in part.rglob("*") if f.is_file())


def make_plan(
    config: TuningConfig,
    fit_seconds: dict[str, float | None],
    fit_source: str,
    *,
    max_experiments: int = DEFAULT_MAX_EXPERIMENTS,
    trainer_memory_mb: int = 3008,
    trainer_concurrency: int = 0,
    speed_factor: float = 1.0,
    init_seconds: float = 4.0,
    prices: Prices | None = None,
    build_dir: Path | None = Path(".aws-sam/build"),
    rungs: list[Rung] | None = None,
) -> Plan:
    """Estimate a run of ``config`` on AWS and check every limit.

    Parameters
    ----------
    fit_seconds : dict
        Seconds per experiment (fit + score) for each trainer, ``None`` when unknown.
    speed_factor : float
        Lambda time per second measured here (1.0: a Lambda vCPU is as fast as this machine's core).
    init_seconds : float
        Cold start of a trainer container (imports of the ML stack, loading the split).
    rungs : list of Rung, optional
        Halving: the schedule (:func:`plan_rungs`); ``None`` when unknown (the plan then prices rung 0 only and
        says so).

    Returns
    -------
    Plan
        Counts, estimates, costs and checks; :attr:`Plan.assumptions` lists every figure used without measuring it.
    """
    from .aws.fan_out import BatchItem, RungState, plan_batches

    prices = prices or Prices()
    grid = config.grid()
    counts = grid.sizes()
    halving = config.search.strategy == "halving"
    # The runs of Maps: one per rung with halving (rung 0 only while the rungs are unknown), else the one grid.
    stages = rungs or [Rung(0, len(grid), 1)]
    stage_ranges = [plan_batches(stage.n_candidates, config) for stage in stages]
    ranges = [r for stage in stage_ranges for r in stage]
    total = sum(stage.n_candidates for stage in stages)
    batch_size = ranges[0][1] - ranges[0][0] if ranges else 0
    concurrency = min(config.max_concurrency, trainer_concurrency) if trainer_concurrency else config.max_concurrency
    known = all(value is not None for value in fit_seconds.values())
    gb = trainer_memory_mb / 1024
    checks: list[Check] = [
        Check(name="experiment cap", ok=total <= max_experiments,
              detail=f"{total} experiments, cap {max_experiments} per run (MaxExperiments / --max-experiments)"),
    ]
    if halving and rungs is None:
        checks.append(Check(name="halving rungs", ok=None,
                            detail="the rungs depend on the training rows: pass --data; rung 0 only is priced"))
    execution_input = RungState(run_id="0" * 16, bucket="b" * 63, manifest_key=f"runs/{'0' * 16}/rung-99.json",
                                max_concurrency=concurrency, rung=99, last_rung=False).model_dump()
    largest_item = BatchItem(run_id="0" * 16, batch=len(ranges), start=total, stop=total,
                             rung=len(stages), n_resources=10**9,
                             candidates=[10**6] * batch_size if halving else None).model_dump_json(exclude_none=True)
    payload = max(len(json.dumps(execution_input)), len(largest_item), HANDLER_REPLY_BYTES)
    checks.append(Check(name="payload", ok=payload <= PAYLOAD_BUDGET,
                        detail=f"largest Step Functions payload ~{payload} B (budget {PAYLOAD_BUDGET} B, AWS 256 KiB);"
                               f" the manifest of {len(ranges)} items lives in S3"))
    transitions = (TRANSITIONS_PER_RUN + TRANSITIONS_PER_BATCH * len(ranges)
                   + TRANSITIONS_PER_RUNG * (len(stages) - 1))
    lambda_gb_seconds = longest = wall = grid_gb_seconds = None
    cost: dict[str, float] | None = None
    if known:
        candidate_seconds: list[float] = []
        for name, n in counts.items():
            candidate_seconds.extend([float(fit_seconds[name] or 0.0) * speed_factor] * n)
        batch_seconds: list[float] = []
        wall = RUN_OVERHEAD_SECONDS
        for stage, stage_batches in zip(stages, stage_ranges, strict=True):
            if halving and rungs:
                # A rung's candidates are the best of the one before, trainer mix unknown: the mean candidate,
                # scaled by the rung's share of the last rung's resources (fit time assumed linear in them).
                mean = sum(candidate_seconds) / max(len(candidate_seconds), 1)
                per_experiment = [mean * stage.n_resources / rungs[-1].n_resources] * stage.n_candidates
            else:
                per_experiment = candidate_seconds
            seconds = [init_seconds + sum(per_experiment[a:b]) for a, b in stage_batches]
            batch_seconds += seconds
            rounds = math.ceil(len(seconds) / max(concurrency, 1))
            wall += rounds * (sum(seconds) / max(len(seconds), 1))
        longest = max(batch_seconds, default=0.0)
        trainer_seconds = sum(batch_seconds)
        champion_seconds = init_seconds + CHAMPION_WORK_SECONDS  # it loads the ML stack and the split, as a trainer
        wall += champion_seconds  # the Champion step ends the execution; reports are written asynchronously
        # per run, whatever the strategy: fan-out, reducer, the Champion step and two reports
        fixed = (2 * FAN_OUT_REDUCER_SECONDS * FAN_OUT_REDUCER_MEMORY_MB / 1024 + champion_seconds * gb
                 + 2 * REPORT_SECONDS * REPORT_MEMORY_MB / 1024)
        promotions = (len(stages) - 1) * PROMOTE_SECONDS * FAN_OUT_REDUCER_MEMORY_MB / 1024
        lambda_gb_seconds = trainer_seconds * gb + fixed + promotions
        if halving and rungs:
            full = [init_seconds + sum(candidate_seconds[a:b]) for a, b in plan_batches(len(grid), config)]
            grid_gb_seconds = sum(full) * gb + fixed
        cost = {
            "lambda_compute": lambda_gb_seconds * prices.lambda_gb_second,
            # trainers, fan-out, reducer, champion, two reports, and a Promote per rung after the first
            "lambda_requests": (len(ranges) + 5 + len(stages) - 1) * prices.lambda_request,
            "step_functions": transitions * prices.state_transition,
            "s3": total * (S3_PUTS_PER_EXPERIMENT * prices.s3_put + S3_GETS_PER_EXPERIMENT * prices.s3_get),
            "dynamodb": total * (DYNAMODB_WRITES_PER_EXPERIMENT * prices.dynamodb_write
                                 + DYNAMODB_READS_PER_EXPERIMENT * prices.dynamodb_read),
        }
        limit = LAMBDA_TIMEOUT_SECONDS * 0.8
        advice = ""
        if longest > limit and batch_size > 1:
            slowest = max(candidate_seconds, default=1.0) or 1.0
            advice = f"; set batch_size <= {max(1, int((limit - init_seconds) // slowest))}"
        checks.append(Check(name="lambda time per batch", ok=longest <= limit,
                            detail=f"longest batch ~{longest:.0f} s of the {LAMBDA_TIMEOUT_SECONDS} s limit "
                                   f"(80% margin){advice}"))
    else:
        unknown = ", ".join(name for name, value in fit_seconds.items() if value is None)
        checks.append(Check(name="lambda time per batch", ok=None,
                            detail=f"fit time unknown for {unknown}: pass --data for a sample fit"))
    package = _package_bytes(build_dir) if build_dir is not None else None
    if package is None:
        checks.append(Check(name="package size", ok=None, detail="not built: run `make build` to check"))
    else:
        checks.append(Check(name="package size", ok=package <= PACKAGE_BUDGET,
                            detail=f"trainer + layers {package / 1e6:.1f} MB unzipped (budget "
                                   f"{PACKAGE_BUDGET / 1e6:.0f} MB, Lambda limit {LAMBDA_PACKAGE_LIMIT / 1e6:.0f} MB)"))
    assumptions = _assumptions(speed_factor=speed_factor, init_seconds=init_seconds, prices_given=prices != Prices())
    if halving:
        assumptions.append(Assumption(
            name="halving cost", value="linear in a rung's resources",
            detail="sample fits run at the last rung's resources and are scaled down for earlier rungs; every rung "
                   "after the first is priced at the mean candidate (which trainers survive is not known)"))
        assumptions.append(Assumption(
            name="halving promotions", value=f"{PROMOTE_SECONDS:g} s each at {FAN_OUT_REDUCER_MEMORY_MB} MB",
            detail="the Promote function between rungs: one manifest read and written, one query"))
    saving = (1 - lambda_gb_seconds / grid_gb_seconds
              if lambda_gb_seconds is not None and grid_gb_seconds else None)
    return Plan(
        experiments=total, strategy=config.search.strategy,
        rungs=[{**stage._asdict(), "batches": len(batches)} for stage, batches in zip(stages, stage_ranges, strict=True)
               if rungs],
        grid_equivalent_gb_seconds=grid_gb_seconds, saving=saving,
        batches=len(ranges), batch_size=batch_size, max_concurrency=concurrency,
        fit_seconds=fit_seconds, fit_source=fit_source, trainer_memory_mb=trainer_memory_mb,
        trainer_invocations=len(ranges), invocations_per_experiment=len(ranges) / total if total else 0.0,
        state_transitions=transitions, transitions_per_experiment=transitions / total if total else 0.0,
        lambda_gb_seconds=lambda_gb_seconds, longest_batch_seconds=longest, wall_seconds=wall, cost_usd=cost,
        total_cost_usd=sum(cost.values()) if cost else None, checks=checks, assumptions=assumptions,
    )


def _assumptions(*, speed_factor: float, init_seconds: float, prices_given: bool) -> list[Assumption]:
    """Every figure :func:`make_plan` uses without having measured it."""
    return [
        Assumption(name="Lambda speed", value=f"x{speed_factor:g}",
                   detail="a Lambda vCPU is assumed to fit as fast as this machine's core; --speed-factor changes it"),
        Assumption(name="trainer cold start", value=f"{init_seconds:g} s per batch",
                   detail="importing the ML stack and loading the split in a new trainer container"),
        Assumption(name="fan-out and reducer", value=f"{FAN_OUT_REDUCER_SECONDS:g} s each at "
                                                     f"{FAN_OUT_REDUCER_MEMORY_MB} MB",
                   detail="their Lambda GB-seconds; the run's wall time adds "
                          f"{RUN_OVERHEAD_SECONDS:g} s for them and the map's start"),
        Assumption(name="after the reducer", value=f"Champion {init_seconds:g} + {CHAMPION_WORK_SECONDS:g} s at the "
                                                   f"trainer's memory; 2 reports of {REPORT_SECONDS:g} s at "
                                                   f"{REPORT_MEMORY_MB} MB",
                   detail="the champion step (a trainer's cold start, then loading and re-scoring one model) ends "
                          "the execution and adds to its wall time; the Report function writes each run's report "
                          "at completion and again after the decision"),
        Assumption(name="handler replies", value=f"<= {HANDLER_REPLY_BYTES} B",
                   detail="the largest reply a handler sends into the state machine, used by the payload check"),
        Assumption(name="requests per experiment",
                   value=f"S3 {S3_PUTS_PER_EXPERIMENT} PUT + {S3_GETS_PER_EXPERIMENT} GET, DynamoDB "
                         f"{DYNAMODB_WRITES_PER_EXPERIMENT} writes + {DYNAMODB_READS_PER_EXPERIMENT} reads",
                   detail="counted from the trainer's code path, not measured"),
        Assumption(name="no failures", value="0 failed batches, 0 retries",
                   detail=f"transitions are measured on a clean run; each failed batch adds "
                          f"{TRANSITIONS_PER_FAILED_BATCH}, each retried attempt 1"),
        Assumption(name="prices", value="--prices file" if prices_given else "published, us-east-1 arm64",
                   detail="unit prices of planning.Prices, not a bill"),
    ]


def load_prices(path: str | Path) -> Prices:
    """Read price overrides from a JSON file (keys of :class:`Prices`)."""
    try:
        return Prices.model_validate(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise ConfigError(f"--prices {path}: no such file") from None
    except ValueError as exc:
        raise ConfigError(f"--prices {path}: {' '.join(str(exc).split())[:200]}") from None
