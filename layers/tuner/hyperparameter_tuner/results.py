"""What a finished run reports: the JSON object of the CLI contract and a ``cv_results_``-style leaderboard."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .records import Experiment, ExperimentStatus, Run

__all__ = ["RunResult", "leaderboard_rows"]


@dataclass
class RunResult:
    """A run, its experiments in grid order, and its winner (``None`` when the run failed)."""

    run: Run
    experiments: list[Experiment]

    @classmethod
    def collect(cls, run: Run, experiments: Iterable[Experiment]) -> RunResult:
        """Build a result with the experiments sorted in grid order."""
        return cls(run, sorted(experiments, key=lambda e: (e.index, e.experiment_id)))

    @property
    def winner(self) -> Experiment | None:
        """The winning experiment's record."""
        if self.run.winner is None:
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

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON object: run id, status, perf metric, direction, winner and every experiment."""
        winner = self.winner
        return {
            "run_id": self.run.run_id,
            "status": self.run.status.value,
            "reason": self.run.reason,
            "perf_metric": self.run.perf_metric,
            "direction": self.run.direction,
            "total": self.run.total,
            "reused": self.reused,
            "winner": None if winner is None else {
                "experiment_id": winner.experiment_id,
                "algo": winner.algo,
                "params": winner.params,
                "metrics": _clean(winner.metrics),
                "model_uri": winner.artifact.uri if winner.artifact else None,
            },
            "experiments": [
                {
                    "experiment_id": e.experiment_id,
                    "algo": e.algo,
                    "params": e.params,
                    "status": e.status.value,
                    "metrics": _clean(e.metrics),
                    "scores": {split: _clean(values) for split, values in e.scores.items()},
                    "fit_time": e.fit_time,
                    "reused": e.reused_from is not None,
                    "warnings": e.warnings,
                    "error": None if e.error is None else f"{e.error_type}: {e.error}",
                }
                for e in self.experiments
            ],
        }


def _clean(values: dict[str, float]) -> dict[str, float | None]:
    # JSON has no NaN: report a metric that could not be computed as null.
    return {key: None if math.isnan(value) else value for key, value in values.items()}


def _rank(experiments: list[Experiment], metric: str, maximize: bool) -> dict[str, int]:
    scored = [
        (e.metrics[metric], e.index, e.experiment_id)
        for e in experiments
        if e.status is ExperimentStatus.SUCCEEDED and not math.isnan(e.metrics.get(metric, math.nan))
    ]
    scored.sort(key=lambda item: (-item[0] if maximize else item[0], item[1]))
    ranks: dict[str, int] = {}
    previous: float | None = None
    rank = 0
    for position, (value, _, experiment_id) in enumerate(scored, start=1):
        if value != previous:
            rank, previous = position, value
        ranks[experiment_id] = rank
    return ranks


def leaderboard_rows(run: Run, experiments: Iterable[Experiment]) -> list[dict[str, Any]]:
    """Rows with ``cv_results_``-style columns, best first.

    Columns: ``rank_<split>_<perf_metric>``, ``experiment_id``, ``algo``, ``param_<name>`` for every
    parameter, ``params``, ``<split>_<metric>`` for every scored split and metric, ``fit_time``,
    ``score_time``, ``status``, ``reused``, ``error``. Failed experiments come last with an empty rank.
    """
    experiments = list(experiments)
    eval_split = next((e.eval_split for e in experiments), "test")
    rank_column = f"rank_{eval_split}_{run.perf_metric}"
    ranks = _rank(experiments, run.perf_metric, run.direction == "maximize")
    param_names = sorted({name for e in experiments for name in e.params})
    splits = [split for split in ("validation", "test") if any(split in e.scores for e in experiments)]
    metrics = list(run.config.get("metrics", [run.perf_metric]))
    rows = []
    for e in experiments:
        row: dict[str, Any] = {rank_column: ranks.get(e.experiment_id), "experiment_id": e.experiment_id,
                               "algo": e.algo}
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
