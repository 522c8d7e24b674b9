"""Closing a run: the winner among its experiments, or why the run FAILED."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from ._halving import promote
from .records import Experiment, ExperimentStatus, Run, RunStatus

__all__ = ["promote_rung", "run_verdict"]


def run_verdict(run: Run, experiments: Iterable[Experiment], max_failure_ratio: float,
                pick: Callable[[Mapping[str, float], bool], str]) -> tuple[RunStatus, str | None, str | None]:
    """Decide how ``run`` closes, from its experiment records, in one pass and O(1) memory.

    Parameters
    ----------
    run : Run
        The open run (its ``direction``, ``perf_metric`` and ``total``).
    experiments : iterable of Experiment
        The run's records, in any order.
    max_failure_ratio : float
        Largest share of failed experiments (records FAILED or missing) a SUCCEEDED run may have.
    pick : callable
        The spec's selection, ``pick({experiment_id: value}, reverse)`` -> winning id
        (:meth:`BaseHyperparameterTuner._get_winning_experiment`).

    Returns
    -------
    status : RunStatus
        SUCCEEDED or FAILED.
    winner : str or None
        The winning experiment id; ``None`` unless SUCCEEDED.
    reason : str or None
        Why the run FAILED; it names the best candidate when one scored.
    """
    reverse = run.direction == "maximize"
    best: tuple[int, str, float] | None = None  # (index, id, value): O(1) memory however large the run
    failed = total = 0
    # Successive halving: only the last rung's candidates can win (its index is the position in that rung).
    last_rung = run.rungs[-1]["rung"] if run.rungs else None
    for experiment in experiments:
        total += 1
        if experiment.status is ExperimentStatus.FAILED:
            failed += 1
            continue
        if experiment.rung != last_rung:
            continue
        value = experiment.scores.get(experiment.eval_split, {}).get(run.perf_metric)
        if experiment.status is not ExperimentStatus.SUCCEEDED or value is None or math.isnan(value):
            continue
        candidate = (experiment.index, experiment.experiment_id, value)
        if best is None:
            best = candidate
            continue
        # The spec's selection on the pair, listed in grid order: ties go to the earlier experiment,
        # whatever order the store returned the records in.
        first, second = sorted([best, candidate])
        chosen = pick({first[1]: first[2], second[1]: second[2]}, reverse)
        best = first if chosen == first[1] else second
    failed += max(run.total - total, 0)  # experiments that never got a record (a lost batch)
    ratio = failed / run.total if run.total else 1.0
    winner: str | None = None
    reason: str | None = None
    if best is None:
        status = RunStatus.FAILED
        reason = (f"all {run.total} experiments failed" if failed >= run.total
                  else "no experiment has a value for the performance metric" + (
                      f" in the last rung ({last_rung})" if last_rung is not None else ""))
    elif ratio > max_failure_ratio:
        # A FAILED run has no winner anywhere (API, CLI, reducer event, run record); the best candidate is
        # named in the reason only, so a user can see what the run would have picked.
        status = RunStatus.FAILED
        reason = (f"{failed} of {run.total} experiments failed ({ratio:.0%}), above max_failure_ratio "
                  f"{max_failure_ratio:.0%}; best candidate {best[1]} "
                  f"({run.perf_metric}={best[2]:.6g})")
    else:
        status, winner = RunStatus.SUCCEEDED, best[1]
    return status, winner, reason


def promote_rung(candidates: list[int], records: Mapping[int, Experiment | None], perf_metric: str,
                 maximize: bool, n_keep: int) -> list[int]:
    """The candidates that go on to the next halving rung, in its order (as ``HalvingGridSearchCV._top_k``).

    Parameters
    ----------
    candidates : list of int
        The rung's candidates (indices into the config's candidates), in the rung's order.
    records : mapping of int to Experiment or None
        Each candidate's record in this rung; a missing, FAILED or unscored one counts as NaN (kept last).
    perf_metric : str
        The selection metric, read on each record's ``eval_split`` (``cv`` with cross-validation).
    maximize : bool
        The run's direction.
    n_keep : int
        The next rung's ``n_candidates``.

    Returns
    -------
    list of int
        The kept candidates, worst first and best last; ties keep their rung order (``ties="stable"``, the same
        on every machine and in the light Lambdas).
    """
    scores: list[tuple[str, float | None]] = []
    for position, candidate in enumerate(candidates):
        record = records.get(candidate)
        value = None
        if record is not None and record.status is ExperimentStatus.SUCCEEDED:
            value = record.scores.get(record.eval_split, {}).get(perf_metric)
        scores.append((str(position), value))
    return [candidates[int(key)] for key in promote(scores, n_keep, maximize=maximize, ties="stable")]
