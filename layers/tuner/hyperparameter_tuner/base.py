"""``BaseHyperparameterTuner``: the spec's component. It owns the grid, ids, training, saving, tracking and
winner selection; a concrete tuner decides *where* experiments run by implementing :meth:`run_experiment`.

What one experiment runs (``derive_random_state``, ``build_spec``, ``train``, ``fit_candidate``) lives in
:mod:`._execution` and is re-exported here; how a run closes (``run_verdict``) lives in :mod:`._closing`.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ._closing import run_verdict
from ._execution import _one_line as _one_line
from ._execution import _origin as _origin
from ._execution import build_spec as build_spec
from ._execution import derive_random_state as derive_random_state
from ._execution import fit_candidate
from ._execution import train as train
from ._workers import FitOutcome
from .config import DEFAULT_MAX_EXPERIMENTS, TuningConfig, build_config, check_grid_size
from .data import SplitData, load_split
from .errors import ConfigError, StoreError, TunerError
from .grid import ParamSpec, expand_grid
from .ports import MetadataTracker, MetricsTracker, ResourceVersionControl
from .records import (
    Experiment,
    ExperimentSpec,
    ExperimentStatus,
    ModelVersion,
    Run,
    RunStatus,
    utcnow,
)
from .search import Rung, SampledCandidates
from .trainers import get_trainer_class

__all__ = ["BaseHyperparameterTuner"]

_COMPONENTS = {
    "metadata_tracker": MetadataTracker,
    "resource_version_control": ResourceVersionControl,
    "metrics_tracker": MetricsTracker,
}


_IMPORT_LOCK = threading.Lock()


class BaseHyperparameterTuner(ABC):
    """Run a grid of (model trainer x parameter combination) experiments and name the winner.

    Parameters
    ----------
    metadata_tracker : MetadataTracker
        Records runs, model versions and experiments.
    resource_version_control : ResourceVersionControl
        Stores model artifacts with their SHA-256.
    metrics_tracker : MetricsTracker
        Records every metric of every experiment.
    training_params : dict
        ``{trainer: {param: [values]}}`` (or a list of such dicts per trainer). Trainers are scikit-learn
        estimator classes or names, public ``sklearn.`` paths, or trainers registered with ``register_trainer``.
    metrics : list of str
        scikit-learn scorer names to record.
    perf_metric : str
        The metric, one of ``metrics``, that decides the winner.
    **options
        Other :class:`~hyperparameter_tuner.config.TuningConfig` fields: ``direction``, ``target``,
        ``trainer_config``, ``max_concurrency``, ``max_failure_ratio``, ``seed``, ``cv``, ``search`` (e.g.
        ``search={"strategy": "halving", "factor": 3}``), ``name``.

    Raises
    ------
    ConfigError
        When a component is missing or of the wrong type, or the configuration is invalid; the message names it.
    """

    def __init__(
        self,
        metadata_tracker: MetadataTracker | None = None,
        resource_version_control: ResourceVersionControl | None = None,
        metrics_tracker: MetricsTracker | None = None,
        training_params: Mapping[Any, Any] | None = None,
        metrics: list[str] | None = None,
        perf_metric: str | None = None,
        *,
        config: TuningConfig | None = None,
        max_experiments: int = DEFAULT_MAX_EXPERIMENTS,
        **options: Any,
    ) -> None:
        components = {
            "metadata_tracker": metadata_tracker,
            "resource_version_control": resource_version_control,
            "metrics_tracker": metrics_tracker,
        }
        for name, port in _COMPONENTS.items():
            value = components[name]
            if value is None:
                raise ConfigError(f"{name} is required")
            if not isinstance(value, port):
                raise ConfigError(f"{name} must be a {port.__name__}, got {type(value).__name__}")
        self.metadata_tracker: MetadataTracker = components["metadata_tracker"]  # type: ignore[assignment]
        self.resource_version_control: ResourceVersionControl = components[
            "resource_version_control"
        ]  # type: ignore[assignment]
        self.metrics_tracker: MetricsTracker = components["metrics_tracker"]  # type: ignore[assignment]
        if config is None:
            config = build_config(training_params, metrics, perf_metric, options)
        elif training_params is not None or metrics is not None or perf_metric is not None or options:
            raise ConfigError("pass either config= or training_params/metrics/perf_metric, not both")
        check_grid_size(config, max_experiments)
        self.config: TuningConfig = config
        self.max_experiments = max_experiments

    # -- the spec's interface -------------------------------------------------------------------------------

    @abstractmethod
    def run_experiment(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Run every experiment of the grid on ``data`` and return the winning model.

        Parameters
        ----------
        data : SplitData or path
            The output of a data splitter: a :class:`~hyperparameter_tuner.data.SplitData`, an ``.npz`` path
            or a folder of CSV files.

        Returns
        -------
        object
            The best model of the run (by ``perf_metric``), loaded after its checksum was verified.
        """

    def build_model(
        self,
        data: SplitData,
        model_version: ModelVersion,
        algo: str,
        params: dict[str, Any],
        trainer_config: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[Any, Experiment]:
        """Run one experiment: build the trainer, fit it, score every metric, and track it.

        Parameters
        ----------
        data : SplitData
            The split to train on (train) and score on (validation if present, and test).
        model_version : ModelVersion
            The version reserved by the metadata tracker for the model this builds.
        algo : str
            Allow-listed trainer name.
        params : dict
            Training parameters for this experiment.
        trainer_config : dict, optional
            Fixed constructor arguments of the trainer.
        index : int, optional (keyword)
            The experiment's grid index, recorded for ordering.

        Returns
        -------
        model : object
            The fitted trainer.
        experiment : Experiment
            The RUNNING experiment record, with scores and timings, as stored in the metadata tracker.
        """
        trainer_config = dict(trainer_config or {})
        started = utcnow()
        estimator, trained = self._train(data, algo, params, trainer_config)
        for split, values in trained["scores"].items():
            self.metrics_tracker.log_metrics(model_version.run_id, model_version.experiment_id, split, values)
        experiment = Experiment(
            run_id=model_version.run_id, experiment_id=model_version.experiment_id, index=kwargs.get("index", -1),
            algo=algo, params=params, trainer_config=trainer_config, data_fingerprint=data.fingerprint,
            model_version=model_version.version, eval_split=self.config.eval_split(data), started_at=started,
            **trained,
        )
        return estimator, self.metadata_tracker.put_experiment(experiment)

    def _train(self, data: SplitData, algo: str, params: dict[str, Any],
               trainer_config: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Build, fit and score one estimator; return it and its ``scores``, times and warnings."""
        return train(self.config, data, algo, params, trainer_config)

    def fit_candidate(self, data: SplitData, spec: ExperimentSpec) -> FitOutcome:
        """Fit, score and pickle one experiment without writing anything; a failure is an ``"error"`` outcome.

        This is what a worker process runs: the store is written by :meth:`record_outcome`, in the parent.
        """
        return fit_candidate(self.config, data, spec)

    def record_outcome(self, spec: ExperimentSpec, run_id: str, outcome: FitOutcome, eval_split: str) -> Experiment:
        """Save and record what :meth:`fit_candidate` produced: the model, its metrics and the experiment.

        A failed outcome becomes a FAILED record. Errors of the store itself (:class:`StoreError`) propagate:
        they are not the experiment's failure.
        """
        if outcome.kind == "budget":
            raise TunerError(f"experiment {spec.experiment_id} was stopped by the caller's time budget")
        model_version = self.metadata_tracker.create_model_version(run_id, spec.experiment_id)
        if not outcome.ok or outcome.model is None:
            return self.metadata_tracker.put_experiment(Experiment.from_spec(
                spec, run_id, status=ExperimentStatus.FAILED, model_version=model_version.version,
                eval_split=eval_split, error_type=outcome.error_type, error=outcome.error,
                warnings=outcome.warnings, started_at=outcome.started_at, finished_at=utcnow(),
            ))
        experiment = Experiment.from_spec(
            spec, run_id, model_version=model_version.version, scores=outcome.scores, eval_split=eval_split,
            fit_time=outcome.fit_time, score_time=outcome.score_time, warnings=outcome.warnings,
            started_at=outcome.started_at,
        )
        return self._store_model(outcome.model, experiment, log_metrics=True)

    def save_model(self, model: Any, experiment: Experiment, params: dict[str, Any], algo: str,
                   *args: Any, **kwargs: Any) -> Experiment:
        """Save the model to the resource version control and mark the experiment SUCCEEDED.

        Parameters
        ----------
        model : object
            The fitted trainer.
        experiment : Experiment
            The record returned by :meth:`build_model`.
        params : dict
            The experiment's training parameters (kept with the artifact's key).
        algo : str
            The trainer name.

        Returns
        -------
        Experiment
            The SUCCEEDED record with its artifact reference (URI, version id, SHA-256).
        """
        return self._store_model(pickle.dumps(model, protocol=5), experiment)

    def _store_model(self, payload: bytes, experiment: Experiment, log_metrics: bool = False) -> Experiment:
        """Save a pickled model, then (optionally) its metrics, then record its experiment SUCCEEDED with the
        artifact reference: a save that fails leaves no metric rows behind."""
        key = f"models/{experiment.algo}/{experiment.experiment_id}.joblib"
        artifact = self.resource_version_control.save(key, payload)
        if log_metrics:
            for split, values in experiment.scores.items():
                self.metrics_tracker.log_metrics(experiment.run_id, experiment.experiment_id, split, values)
        done = experiment.model_copy(
            update={"artifact": artifact, "status": ExperimentStatus.SUCCEEDED, "finished_at": utcnow()}
        )
        return self.metadata_tracker.put_experiment(done)

    @staticmethod
    def _build_training_grid(params: ParamSpec) -> list[dict[str, Any]]:
        """Return every combination of ``params`` (``{param: [values]}``) as a list of dicts.

        Examples
        --------
        >>> BaseHyperparameterTuner._build_training_grid({"key_1": [1], "key_2": [1, 2]})
        [{'key_1': 1, 'key_2': 1}, {'key_1': 1, 'key_2': 2}]
        """
        return expand_grid(params)

    @staticmethod
    def _get_winning_experiment(exp_list: Mapping[str, float], reverse: bool = False) -> str:
        """Return the id of the best experiment in ``{experiment_id: perf_metric_value}``.

        Lower values win unless ``reverse`` is true. Ties go to the experiment listed first; NaN never wins.

        Examples
        --------
        >>> BaseHyperparameterTuner._get_winning_experiment({"a": 1, "b": 2})
        'a'
        >>> BaseHyperparameterTuner._get_winning_experiment({"a": 1, "b": 2}, reverse=True)
        'b'
        """
        candidates = {key: value for key, value in exp_list.items() if not math.isnan(value)}
        if not candidates:
            raise TunerError("no experiment has a value for the performance metric: there is no winner")
        pick = max if reverse else min
        return pick(candidates, key=candidates.__getitem__)

    # -- shared machinery used by every concrete tuner -------------------------------------------------------

    def warm_up(self) -> None:
        """Import every trainer class, the scorers and joblib now (before workers fork, or at a cold start).

        Serialised by a process-wide lock: first imports of scikit-learn from several threads at once can see
        partially initialised modules.
        """
        with _IMPORT_LOCK:
            import joblib  # noqa: F401
            import sklearn.metrics  # noqa: F401

            for algo in self.config.training_params:
                get_trainer_class(algo)

    def load_data(self, data: SplitData | str | Path) -> SplitData:
        """Return ``data`` as :class:`SplitData`, loading it from a path when needed (within ``max_data_bytes``),
        after checking its labels against the config (:meth:`TuningConfig.check_split`)."""
        if isinstance(data, str | Path):
            data = load_split(data, self.config.target, self.config.max_data_bytes)
        if not isinstance(data, SplitData):
            raise ConfigError(f"data must be a SplitData or a path, got {type(data).__name__}")
        self.config.check_split(data)
        return data

    def spec_at(self, index: int, data_fingerprint: str) -> ExperimentSpec:
        """Rebuild the experiment at grid ``index`` (derived ``random_state`` and id included)."""
        algo, params = self.config.grid()[index]
        return self._spec(index, algo, params, data_fingerprint)

    def _spec(self, index: int, algo: str, params: dict[str, Any], data_fingerprint: str) -> ExperimentSpec:
        grid = self.config.grid()
        draw = grid.draw(index) if isinstance(grid, SampledCandidates) else None
        return build_spec(self.config, index, algo, params, data_fingerprint, draw=draw)

    def rung_specs(self, rung: Rung, candidates: list[int], data_fingerprint: str,
                   offset: int = 0) -> list[ExperimentSpec]:
        """The experiments of a halving rung: ``candidates`` (indices into ``config.grid()``, in the rung's order)
        at the rung's resources; each experiment's ``index`` is its position in the rung, ``offset`` being the
        position of the first (a manifest item holds a slice of the rung)."""
        grid = self.config.grid()
        specs = []
        for position, candidate in enumerate(candidates, start=offset):
            algo, params = grid[candidate]
            draw = grid.draw(candidate) if isinstance(grid, SampledCandidates) else None
            specs.append(build_spec(self.config, position, algo, params, data_fingerprint, draw=draw, rung=rung,
                                    candidate=candidate))
        return specs

    def iter_specs(self, data_fingerprint: str, start: int = 0, stop: int | None = None) -> Iterator[ExperimentSpec]:
        """Yield the experiments with grid index in ``[start, stop)``, in order."""
        grid = self.config.grid()
        stop = len(grid) if stop is None else min(stop, len(grid))
        for index in range(start, stop):
            algo, params = grid[index]
            yield self._spec(index, algo, params, data_fingerprint)

    def new_run(self, run_id: str, data_uri: str, data_fingerprint: str, rungs: list[Rung] | None = None,
                **fields: Any) -> Run:
        """Build (not store) the run record of this config on the given data; with halving, ``rungs`` are its
        schedule and ``total`` counts every (candidate, rung) experiment."""
        rungs = rungs or []
        total = sum(rung.n_candidates for rung in rungs) if rungs else len(self.config.grid())
        return Run(
            run_id=run_id, name=self.config.name, config=self.config.model_dump(mode="json"),
            perf_metric=self.config.perf_metric, direction=self.config.resolved_direction, data_uri=data_uri,
            data_fingerprint=data_fingerprint, total=total, search=self.config.search.normalized(),
            rungs=[rung._asdict() for rung in rungs], **fields,
        )

    def reuse(self, spec: ExperimentSpec, run_id: str) -> Experiment | None:
        """Copy a SUCCEEDED record of the same experiment from an earlier run into ``run_id``, if one has every
        metric this config asks for and its model is still stored intact.

        The model is checked with the resource version control's ``verify`` (present, and its bytes match the
        recorded SHA-256): a deleted or altered model file is never reused, the experiment is trained again and
        its new artifact recorded.

        Parameters
        ----------
        spec : ExperimentSpec
            The experiment to look up (by its content id).
        run_id : str
            The run the copied record joins.

        Returns
        -------
        Experiment or None
            The record now stored in ``run_id``, or ``None`` when the experiment must be trained.

        Raises
        ------
        StoreError
            When the store cannot be read (a fault of the store is not a reason to retrain).
        """
        previous = self.metadata_tracker.find_succeeded(spec.experiment_id)
        if previous is None or previous.artifact is None:
            return None
        if previous.run_id == run_id:
            return previous
        if (previous.eval_split == "cv") != (self.config.cv is not None):
            return None  # scored with cv and wanted without (or the reverse); ids differ already, this is a guard
        wanted = {previous.eval_split} | ({"test"} if self.config.score_test else set())
        scored = previous.scores
        if not wanted <= set(scored) or any(set(self.config.metrics) - set(scored[split]) for split in wanted):
            return None  # the earlier run scored less than this config asks for: train again
        if not self.resource_version_control.verify(previous.artifact):
            return None  # the model file is gone or was altered: train again, never name it as a result
        copy = previous.model_copy(update={"run_id": run_id, "index": spec.index, "reused_from": previous.run_id,
                                           "candidate": spec.candidate})
        for split, values in copy.scores.items():  # the run's metrics are complete, reused or not
            self.metrics_tracker.log_metrics(run_id, spec.experiment_id, split, values)
        return self.metadata_tracker.put_experiment(copy)

    def run_one(self, data: SplitData, spec: ExperimentSpec, run_id: str) -> Experiment:
        """Fit and record one experiment in this process (no time limit); a failing fit is a FAILED record.

        A failure of the store (saving the model or writing a record: disk full, S3, DynamoDB, SQLite) is not the
        experiment's: it is raised as :class:`~hyperparameter_tuner.errors.StoreError`, after any RUNNING record of
        the experiment in this run is removed (best effort), so the caller fails (a trainer batch is retried or
        caught by the state machine; a local run ends FAILED) and no experiment is marked FAILED or left RUNNING
        for it.

        Raises
        ------
        StoreError
            When the store failed.
        """
        try:
            return self.record_outcome(spec, run_id, self.fit_candidate(data, spec), self.config.eval_split(data))
        except StoreError:
            with contextlib.suppress(StoreError):  # the store may be down altogether: the first error matters
                self.metadata_tracker.discard_experiment(run_id, spec.experiment_id)
            raise

    def finish_run(self, run_id: str) -> Run:
        """Pick the winner among the run's SUCCEEDED experiments and close the run (SUCCEEDED or FAILED).

        Only a SUCCEEDED run has a winner. A run is FAILED when no experiment has a value for the performance
        metric, or when the share of failed experiments is above ``max_failure_ratio``; it is then recorded with
        ``winner=None``, and when some experiment did score, its reason names that best candidate for diagnosis
        (``"...; best candidate <experiment_id> (<perf_metric>=<value>)"``).

        Parameters
        ----------
        run_id : str
            The run to close.

        Returns
        -------
        Run
            The closed run record, as stored.
        """
        run = self.metadata_tracker.get_run(run_id)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run  # closed already (by the execution-ended rule, or an earlier reducer): never rewritten
        status, winner, reason = run_verdict(run, self.metadata_tracker.iter_experiments(run_id),
                                             self.config.max_failure_ratio, self._get_winning_experiment)
        return self.metadata_tracker.update_run(
            run_id, status=status, winner=winner, reason=reason, finished_at=utcnow()
        )

    def load_model(self, experiment: Experiment) -> Any:
        """Load an experiment's model after verifying its bytes against the recorded SHA-256."""
        from .champion import load_verified_model

        return load_verified_model(experiment, self.resource_version_control)
