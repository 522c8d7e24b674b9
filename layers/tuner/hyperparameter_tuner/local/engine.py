"""The local engine: a tuner that runs the grid on a process pool, on a store directory.

A store is one folder: ``tuner.db`` (SQLite: runs, experiments, model versions, metrics) and ``objects/``
(content-addressed model files). Workers are forked, so they inherit the loaded data and the tuner; each opens
its own database connection and writes its experiments itself, exactly as a trainer Lambda does on AWS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from .._closing import promote_rung
from .._workers import WorkerPool, can_fork
from ..aws.events import dataset_name
from ..base import BaseHyperparameterTuner
from ..champion import check_dataset_name, decide_run_champion
from ..config import DEFAULT_MAX_EXPERIMENTS, TuningConfig, build_config, check_grid_size
from ..data import SplitData
from ..errors import ConfigError, RunFailedError, StoreError
from ..ports import MetadataTracker
from ..records import Experiment, ExperimentSpec, RunStatus, utcnow
from ..results import RunResult
from ..search import Rung
from .champions import SQLiteChampionTracker
from .files import FolderVersionControl
from .sqlite import SQLiteDatabase, SQLiteMetadataTracker, SQLiteMetricsTracker

__all__ = ["DEFAULT_STORE", "Interrupted", "LocalTuner", "RunFailedError", "close_stale_runs", "open_store"]

DEFAULT_STORE = ".hpt"

ProgressCallback = Callable[[Experiment], None]


def open_store(path: str | Path = DEFAULT_STORE) -> tuple[SQLiteMetadataTracker, FolderVersionControl,
                                                           SQLiteMetricsTracker]:
    """Open (creating if needed) a local store and return its three adapters.

    A store this process cannot write (a read-only folder or database) is opened read-only: it can be read
    (``hpt leaderboard``), and writing to it raises :class:`~hyperparameter_tuner.errors.StoreError`. Model URIs
    are resolved against ``path``, so a store copied or moved elsewhere names its own model files.

    Raises
    ------
    ConfigError
        When ``path`` is not a directory or cannot be created.
    StoreError
        When the database cannot be opened (for example a damaged or non-SQLite ``tuner.db``).
    """
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"store {root}: not a directory")
    if not root.is_dir():
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"store {root}: cannot create the directory ({exc.strerror})") from None
    db = SQLiteDatabase(root / "tuner.db")
    metadata = SQLiteMetadataTracker(db, artifact_root=root)
    with contextlib.suppress(StoreError):  # a read-only store can still be read
        close_stale_runs(metadata)
    return metadata, FolderVersionControl(root), SQLiteMetricsTracker(db)


def new_run_id() -> str:
    """A sortable, unique local run id: UTC time plus random hex."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"


class LocalTuner(BaseHyperparameterTuner):
    """Run every experiment on this machine, in a pool of ``jobs`` processes, tracked in a local store.

    Parameters
    ----------
    training_params, metrics, perf_metric
        As for :class:`~hyperparameter_tuner.BaseHyperparameterTuner`.
    store : str or Path
        Store directory (created on first use). Default ``.hpt``.
    jobs : int, optional
        Worker processes. Default: the machine's cores. ``1`` runs in this process.
    config : TuningConfig, optional
        A validated config instead of ``training_params``/``metrics``/``perf_metric``/options.
    metadata_tracker, resource_version_control, metrics_tracker : optional
        Components to use instead of the store's.
    **options
        Other config fields (``direction``, ``trainer_config``, ``seed``, ...).

    Examples
    --------
    >>> tuner = LocalTuner({"LogisticRegression": {"C": [0.1, 1.0]}}, ["accuracy"], "accuracy",
    ...                    store="/tmp/hpt-doc")  # doctest: +SKIP
    >>> model = tuner.run_experiment("examples/data/iris.npz")  # doctest: +SKIP
    """

    def __init__(
        self,
        training_params: Mapping[Any, Any] | None = None,
        metrics: list[str] | None = None,
        perf_metric: str | None = None,
        *,
        store: str | Path = DEFAULT_STORE,
        jobs: int | None = None,
        config: TuningConfig | None = None,
        metadata_tracker: SQLiteMetadataTracker | None = None,
        resource_version_control: FolderVersionControl | None = None,
        metrics_tracker: SQLiteMetricsTracker | None = None,
        max_experiments: int = DEFAULT_MAX_EXPERIMENTS,
        **options: Any,
    ) -> None:
        if jobs is not None and jobs < 1:
            raise ConfigError(f"jobs must be at least 1, got {jobs}")
        self.store = Path(store)
        self.jobs = jobs or os.cpu_count() or 1
        if config is None:  # validate before the store is created: bad input must leave nothing behind
            config = build_config(training_params, metrics, perf_metric, options)
            training_params = metrics = perf_metric = None
            options = {}
        check_grid_size(config, max_experiments)
        if metadata_tracker is None or resource_version_control is None or metrics_tracker is None:
            opened = open_store(self.store)
            metadata_tracker = metadata_tracker or opened[0]
            resource_version_control = resource_version_control or opened[1]
            metrics_tracker = metrics_tracker or opened[2]
        super().__init__(metadata_tracker, resource_version_control, metrics_tracker, training_params, metrics,
                         perf_metric, config=config, max_experiments=max_experiments, **options)
        self.last_result: RunResult | None = None
        # Champion/challenger needs the store's database; injected non-SQLite trackers run without it.
        self.champion_tracker: SQLiteChampionTracker | None = (
            SQLiteChampionTracker(self.metadata_tracker.db)
            if isinstance(self.metadata_tracker, SQLiteMetadataTracker) else None
        )

    def run_experiment(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the grid on ``data`` and return the winning model (checksum verified before loading).

        Keyword arguments are passed to :meth:`run`. The full :class:`RunResult` is kept in ``last_result``.

        Raises
        ------
        RunFailedError
            When the run has no winner.
        """
        result = self.run(data, **kwargs)
        winner = result.winner
        if winner is None:
            raise RunFailedError(f"run {result.run.run_id} failed: {result.run.reason}")
        return self.load_model(winner)

    def run(self, data: SplitData | str | Path, *, run_id: str | None = None,
            progress: ProgressCallback | None = None, on_start: Callable[[int, int], None] | None = None,
            dataset: str | None = None) -> RunResult:
        """Run the grid and return the :class:`RunResult`.

        Parameters
        ----------
        data : SplitData or path
            The split.
        run_id : str, optional
            Defaults to a new time-based id.
        progress : callable, optional
            Called with each finished experiment record (reused ones first).
        on_start : callable, optional
            Called once with ``(total, reused)`` before training starts.
        dataset : str, optional
            The dataset the run belongs to, whose champion its winner challenges. Default: the config's ``name``,
            else the data file's stem.
        """
        split = self.load_data(data)
        rungs = self.config.split_rungs(split)  # halving settings the split cannot serve fail here, before a run
        run_id = run_id or new_run_id()
        dataset = check_dataset_name(dataset) if dataset else dataset_name(self.config.name or Path(split.source).stem)
        run = self.new_run(run_id, split.source, split.fingerprint, rungs, status=RunStatus.RUNNING,
                           owner=process_owner(), dataset=dataset)
        self.metadata_tracker.create_run(run)
        try:  # from here on the run is closed whatever happens: Ctrl-C, SIGTERM, a store failure, a crash
            with _stop_on_signals():
                if rungs:
                    self._halve(split, rungs, run_id, progress, on_start)
                else:
                    specs = list(self.iter_specs(split.fingerprint))
                    pending = self._reuse_finished(specs, run_id, progress, on_start)
                    self._execute(split, pending, run_id, progress)
                final = self.finish_run(run_id)
        except BaseException as exc:  # finished experiments stay reusable
            reason = (str(exc) if isinstance(exc, Interrupted) else "interrupted"
                      if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(StoreError):  # the store may be what failed: the first error is the one to see
                self.metadata_tracker.update_run(run_id, status=RunStatus.FAILED, reason=reason,
                                                 finished_at=utcnow())
            raise
        if self.champion_tracker is not None:  # a SUCCEEDED run's winner challenges the dataset's champion
            final, _, _ = decide_run_champion(
                final, split, dataset=dataset, champions=self.champion_tracker, metadata=self.metadata_tracker,
                version_control=self.resource_version_control, margin=self.config.promotion_margin,
                threads=self.config.threads)
        self.last_result = RunResult.collect(final, self.metadata_tracker.iter_experiments(run_id))
        return self.last_result

    def _halve(self, data: SplitData, rungs: list[Rung], run_id: str, progress: ProgressCallback | None,
               on_start: Callable[[int, int], None] | None) -> None:
        """Successive halving: run each rung's candidates, promote the best ``n_candidates`` of the next rung."""
        candidates = list(range(len(self.config.grid())))
        maximize = self.config.resolved_direction == "maximize"
        for rung, following in zip(rungs, [*rungs[1:], None], strict=True):
            specs = self.rung_specs(rung, candidates, data.fingerprint)
            pending = self._reuse_finished(specs, run_id, progress, on_start if rung.rung == 0 else None)
            self._execute(data, pending, run_id, progress)
            if following is None:
                return
            records = {spec.candidate: self.metadata_tracker.get_experiment(run_id, spec.experiment_id)
                       for spec in specs if spec.candidate is not None}
            candidates = promote_rung(candidates, records, self.config.perf_metric, maximize,
                                      following.n_candidates)

    def _reuse_finished(self, specs: list[ExperimentSpec], run_id: str, progress: ProgressCallback | None,
                        on_start: Callable[[int, int], None] | None) -> list[ExperimentSpec]:
        """Copy verified finished experiments from earlier runs into this one; return the specs left to train."""
        pending: list[ExperimentSpec] = []
        reused: list[Experiment] = []
        for spec in specs:
            previous = self.reuse(spec, run_id)
            if previous is None:
                pending.append(spec)
            else:
                reused.append(previous)
        run = self.metadata_tracker.get_run(run_id)
        run = self.metadata_tracker.update_run(run_id, reused=run.reused + len(reused))
        if on_start is not None:
            on_start(run.total, len(reused))
        for experiment in reused:
            if progress is not None:
                progress(experiment)
        return pending

    def _execute(self, data: SplitData, specs: list[ExperimentSpec], run_id: str,
                 progress: ProgressCallback | None) -> None:
        def report(experiment: Experiment) -> None:
            if progress is not None:
                progress(experiment)

        if not specs:
            return
        if not can_fork():
            # Workers inherit the data and registered trainers by forking; without fork (Windows), run here.
            warnings.warn("this platform cannot fork: running experiments in this process, without "
                          "experiment_timeout", stacklevel=2)
            for spec in specs:
                report(self.run_one(data, spec, run_id))
            return
        self.warm_up()  # import once, before forking: workers start warm
        log_dir = self.store / "logs" / run_id
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
            with WorkerPool(partial(self.fit_candidate, data), min(self.jobs, len(specs)),
                            self.config.experiment_timeout, log_dir=log_dir) as pool:
                for spec, outcome in pool.map(specs):
                    report(self.record_outcome(spec, run_id, outcome, self.config.eval_split(data)))
        finally:
            with contextlib.suppress(OSError):
                log_dir.rmdir()  # only when no experiment printed anything


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into :class:`Interrupted` while a run trains, so it unwinds the same way."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only
        return

    def stop(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def process_owner() -> str:
    """This process's identity, ``host:pid:start``, recorded on the runs it owns (see :func:`close_stale_runs`)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start(os.getpid())}"


def _process_start(pid: int) -> str:
    """When ``pid`` started (boot id + clock ticks since boot on Linux): a recycled pid has another value."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "?"
    return f"{boot}/{stat.rsplit(')', 1)[1].split()[19]}"


def _owner_alive(owner: str) -> bool | None:
    """Whether the process named by ``owner`` still runs; ``None`` when it lives on another host."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    return started in ("?", _process_start(pid))


def close_stale_runs(metadata: MetadataTracker) -> list[str]:
    """Close as FAILED (interrupted) the RUNNING runs whose owning process on this host has died.

    A run killed with ``kill -9`` (or by a power cut) never closed itself; the next command that opens the store
    does it. Finished experiments stay SUCCEEDED and reusable. Returns the ids of the runs closed.
    """
    closed = []
    for run in metadata.list_runs(limit=1000):
        if run.status is not RunStatus.RUNNING or run.owner is None or _owner_alive(run.owner) is not False:
            continue
        metadata.update_run(run.run_id, status=RunStatus.FAILED, finished_at=utcnow(),
                            reason=f"interrupted: the process that ran it ({run.owner.split(':')[1]}) died")
        closed.append(run.run_id)
    return closed
