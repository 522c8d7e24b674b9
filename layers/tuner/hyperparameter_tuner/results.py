"""What a finished run reports: the JSON object of the CLI contract and a ``cv_results_``-style leaderboard."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .records import Experiment, ExperimentStatus, Run, RunStatus

__all__ = ["RunResult", "fit_warning_summary", "json_safe", "leaderboard_rows", "run_warnings", "to_strict_json"]


def json_safe(value: Any) -> Any:
    """Return ``value`` with every non-finite float (NaN, inf, -inf) replaced by ``None``, recursively.

    Strict JSON has no ``NaN`` or ``Infinity``: a metric that could not be computed, a parameter such as
    ``C: .inf`` or a fit time that overflowed is reported as ``null``. NumPy scalars become Python scalars;
    tuples become lists; dict keys are kept as they are.

    Examples
    --------
    >>> json_safe({"C": float("inf"), "scores": [1.0, float("nan")], "ok": 2})
    {'C': None, 'scores': [1.0, None], 'ok': 2}
    """
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    item = getattr(value, "item", None)  # NumPy scalars (float32, int64, ...)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return json_safe(item())
    return value


def to_strict_json(payload: Any, indent: int | None = 2) -> str:
    """Serialise ``payload`` as strict JSON: non-finite floats become ``null``, never ``NaN``/``Infinity``.

    Values JSON has no type for (datetimes, paths) are written as strings.

    Examples
    --------
    >>> to_strict_json({"value": float("nan")}, indent=None)
    '{"value": null}'
    """
    return json.dumps(json_safe(payload), indent=indent, default=str, allow_nan=False)


def fit_warning_summary(experiments: Iterable[Experiment]) -> str | None:
    """One line counting the experiments whose fit raised warnings, with the warning categories; ``None`` if none.

    Examples
    --------
    >>> from hyperparameter_tuner.records import Experiment
    >>> e = Experiment(run_id="r", experiment_id="e", index=0, algo="SVC", params={}, data_fingerprint="d",
    ...                warnings=["ConvergenceWarning: did not converge"])
    >>> fit_warning_summary([e])
    '1 experiment had fit warnings (ConvergenceWarning)'
    """
    count = 0
    categories: dict[str, None] = {}
    for experiment in experiments:
        if experiment.warnings:
            count += 1
            for message in experiment.warnings:
                categories[message.partition(":")[0].strip() or "Warning"] = None
    if not count:
        return None
    noun = "experiment had" if count == 1 else "experiments had"
    return f"{count} {noun} fit warnings ({', '.join(categories)})"


def run_warnings(experiments: Iterable[Experiment]) -> list[str]:
    """What a user should know about how a run's numbers were obtained, one sentence each.

    Today: selection on the test split (there was no validation split, so the winner's test score is not an
    unbiased estimate), and how many experiments had fit warnings.
    """
    experiments = list(experiments)
    found: list[str] = []
    if any(e.eval_split == "test" for e in experiments):
        found.append("no validation split: experiments were ranked on the test split, so the best test score is "
                     "optimistic; add X_val/y_val (or validation.csv) to keep test for the final evaluation")
    summary = fit_warning_summary(experiments)
    if summary is not None:
        found.append(summary)
    return found


@dataclass
class RunResult:
    """A run, its experiments in grid order, and its winner (``None`` when the run failed)."""

    run: Run
    experiments: list[Experiment]

    @classmethod
    def collect(cls, run: Run, experiments: Iterable[Experiment]) -> RunResult:
        """Build a result with the experiments sorted in grid order (with halving: by rung, then rung order)."""
        return cls(run, sorted(experiments, key=lambda e: (e.rung or 0, e.index, e.experiment_id)))

    @property
    def winner(self) -> Experiment | None:
        """The winning experiment's record; ``None`` unless the run SUCCEEDED (a FAILED run has no winner)."""
        if self.run.winner is None or self.run.status is not RunStatus.SUCCEEDED:
            return None
        return next((e for e in self.experiments if e.experiment_id == self.run.winner), None)

    @property
    def reused(self) -> int:
        """How many experiments were reused from earlier runs instead of trained again."""
        return sum(1 for e in self.experiments if e.reused_from is not None)

    @property
    def counts(self) -> dict[str, int]:
        """Experiments by status, plus ``reused``."""
        counts = {status.value: 0 for status in ExperimentStatus}
        for experiment in self.experiments:
            counts[experiment.status.value] += 1
        counts["reused"] = self.reused
        return counts

    @property
    def warnings(self) -> list[str]:
        """Run-level warnings (selection on test, fit warnings), see :func:`run_warnings`."""
        return run_warnings(self.experiments)

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON object: run id, status, perf metric, direction, winner and every experiment.

        ``winner`` is ``null`` unless the run SUCCEEDED; ``warnings`` lists run-level warnings; ``champion`` is the
        champion decision of a SUCCEEDED run (``null`` otherwise, or before one was made). Values are made
        strict-JSON safe by :func:`json_safe` (non-finite floats are ``null``).
        """
        winner = self.winner
        payload = {
            "run_id": self.run.run_id,
            "status": self.run.status.value,
            "reason": self.run.reason,
            "perf_metric": self.run.perf_metric,
            "direction": self.run.direction,
            "total": self.run.total,
            "reused": self.reused,
            "warnings": self.warnings,
            "search": self.run.search,
            "rungs": self.run.rungs,
            "winner": None if winner is None else {
                "experiment_id": winner.experiment_id,
                "algo": winner.algo,
                "params": winner.params,
                "metrics": winner.metrics,
                "model_uri": winner.artifact.uri if winner.artifact else None,
            },
            "dataset": self.run.dataset,
            "champion": self.run.champion if self.run.status is RunStatus.SUCCEEDED else None,
            "experiments": [
                {
                    "experiment_id": e.experiment_id,
                    "algo": e.algo,
                    "params": e.params,
                    "status": e.status.value,
                    "metrics": e.metrics,
                    "scores": e.scores,
                    "rung": e.rung,
                    "n_resources": e.n_resources,
                    "fit_time": e.fit_time,
                    "reused": e.reused_from is not None,
                    "warnings": e.warnings,
                    "error": None if e.error is None else f"{e.error_type}: {e.error}",
                }
                for e in self.experiments
            ],
        }
        safe: dict[str, Any] = json_safe(payload)
        return safe


def _rank(experiments: list[Experiment], metric: str, maximize: bool) -> dict[str, int]:
    # With halving, a later rung outranks an earlier one (its candidates survived it; scores of different rungs
    # are measured on different resources), then the score decides.
    scored = [
        (-(e.rung or 0), e.metrics[metric], e.index, e.experiment_id)
        for e in experiments
        if e.status is ExperimentStatus.SUCCEEDED and not math.isnan(e.metrics.get(metric, math.nan))
    ]
    scored.sort(key=lambda item: (item[0], -item[1] if maximize else item[1], item[2]))
    ranks: dict[str, int] = {}
    previous: tuple[int, float] | None = None
    rank = 0
    for position, (rung, value, _, experiment_id) in enumerate(scored, start=1):
        if (rung, value) != previous:
            rank, previous = position, (rung, value)
        ranks[experiment_id] = rank
    return ranks


def leaderboard_rows(run: Run, experiments: Iterable[Experiment]) -> list[dict[str, Any]]:
    """Rows with ``cv_results_``-style columns, best first.

    Columns: ``rank_<split>_<perf_metric>``, ``experiment_id``, ``algo``, with halving ``rung`` and
    ``n_resources`` (the last rung ranks first), ``param_<name>`` for every
    parameter, ``params``, ``<split>_<metric>`` for every scored split and metric (with ``cv``, ``cv_<metric>``
    is the fold mean and ``cv_std_<metric>`` its standard deviation, ranked by ``rank_cv_<perf_metric>``),
    ``fit_time``, ``score_time``, ``status``, ``reused``, ``error``. Failed experiments come last with an empty rank.
    """
    experiments = list(experiments)
    eval_split = next((e.eval_split for e in experiments), "test")
    rank_column = f"rank_{eval_split}_{run.perf_metric}"
    ranks = _rank(experiments, run.perf_metric, run.direction == "maximize")
    param_names = sorted({name for e in experiments for name in e.params})
    splits = [split for split in ("cv", "cv_std", "validation", "test") if any(split in e.scores for e in experiments)]
    metrics = list(run.config.get("metrics", [run.perf_metric]))
    rows = []
    for e in experiments:
        row: dict[str, Any] = {rank_column: ranks.get(e.experiment_id), "experiment_id": e.experiment_id,
                               "algo": e.algo}
        if run.rungs:
            row.update(rung=e.rung, n_resources=e.n_resources)
        for name in param_names:
            row[f"param_{name}"] = e.params.get(name)
        row["params"] = e.params
        for split in splits:
            for metric in metrics:
                row[f"{split}_{metric}"] = e.scores.get(split, {}).get(metric)
        row.update(fit_time=e.fit_time, score_time=e.score_time, status=e.status.value,
                   reused=e.reused_from is not None, error=None if e.error is None else f"{e.error_type}: {e.error}")
        rows.append(row)
    rows.sort(key=lambda r: (r[rank_column] is None, r[rank_column] or 0))
    return rows
