"""Fitting in child processes that can be stopped: the one place experiments are executed.

Every fit runs in a forked worker process (the local engine keeps ``jobs`` of them, a trainer Lambda one), so
that

- a fit that outlives ``experiment_timeout`` is stopped for real (SIGKILL of its worker, whatever C loop it is
  in) and recorded FAILED, and the run goes on with a fresh worker;
- Ctrl-C, SIGTERM or a crash of the parent stops every fit at once: workers ignore SIGINT (the parent decides),
  are SIGKILLed when the parent unwinds, and die with it if it is killed (``PR_SET_PDEATHSIG``);
- what an estimator prints (``verbose=True``, libsvm's C-level output) goes to the experiment's log file, never
  to the parent's stdout;
- workers only compute: they return the scores and the pickled model, and the parent saves and records them.
  One writer per store, so a failure to save or record is the parent's error (an infrastructure failure), never
  an experiment's, and in the emulator nothing is written into a forked copy of the mocked services.

Workers are forked: they inherit the loaded data and the registered trainers, nothing is pickled but the small
spec going in and the outcome coming back. Where ``fork`` is missing (Windows, macOS' default being spawn is
fine: fork is still available there) experiments run in-process without a time limit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .records import ExperimentSpec, utcnow

if TYPE_CHECKING:  # multiprocessing is imported when a pool starts: the light Lambdas never pay for it
    from multiprocessing.connection import Connection

__all__ = ["FitOutcome", "WorkerPool", "can_fork"]

_PR_SET_PDEATHSIG = 1


@dataclass
class FitOutcome:
    """What fitting one experiment produced: scores and the pickled model, or the error.

    ``kind`` is ``"ok"``, ``"error"`` (the experiment failed: its fit, scoring or pickling raised), ``"timeout"``
    (stopped after ``experiment_timeout``), ``"died"`` (its worker process died: a segfault, or the kernel's
    out-of-memory killer) or ``"budget"`` (stopped because the caller's time budget ran out: not the experiment's
    fault, so it must not be recorded as its failure).
    """

    kind: str
    started_at: datetime = field(default_factory=utcnow)
    model: bytes | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    fit_time: float | None = None
    score_time: float | None = None
    warnings: list[str] = field(default_factory=list)
    error_type: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the experiment produced a model."""
        return self.kind == "ok"


FitFunction = Callable[[ExperimentSpec], FitOutcome]


def can_fork() -> bool:
    """Whether experiments can run in forked worker processes on this platform."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _die_with_parent(parent_pid: int) -> None:
    # Linux: the kernel SIGKILLs this process when the thread that forked it dies, even by kill -9.
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


@contextlib.contextmanager
def _output_to(path: Path | None) -> Iterator[None]:
    """Send file descriptors 1 and 2 (Python's and C's prints) to ``path`` (dropped when left empty)."""
    if path is None:
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, fd):
            os.close(descriptor)
        with contextlib.suppress(OSError):
            if path.stat().st_size == 0:
                path.unlink()


def _serve(conn: Connection, fit: FitFunction, log_dir: Path | None, parent_pid: int) -> None:
    """A worker's loop: receive a spec, fit it, send the outcome; exit at end of input."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if log_dir is None:
        os.dup2(2, 1)  # no log folder: keep what estimators print off the parent's stdout (machine output)
    try:
        while True:
            try:
                spec = conn.recv()
            except (EOFError, OSError):
                break
            if spec is None:
                break
            log = None if log_dir is None else log_dir / f"{spec.experiment_id}.log"
            with _output_to(log):
                outcome = fit(spec)
            conn.send(outcome)
    finally:
        os._exit(0)  # no atexit handlers, no flushing of buffers inherited from the parent


@dataclass
class _Worker:
    process: Any
    conn: Connection
    spec: ExperimentSpec | None = None
    deadline: float = float("inf")
    timeout: float = float("inf")
    budget_bound: bool = False


class WorkerPool:
    """``workers`` forked processes that fit experiments, each stopped after ``timeout`` seconds.

    Parameters
    ----------
    fit : callable
        ``fit(spec) -> FitOutcome``, run in a worker. It must not write to any store.
    workers : int
        Processes (started lazily, at most one per pending experiment).
    timeout : float
        Seconds one experiment may take; then its worker is killed and the outcome is ``"timeout"``.
    log_dir : Path, optional
        Where each experiment's printed output goes (``<experiment_id>.log``, kept only when not empty).
        Default: the workers' stderr.
    deadline : float, optional
        A ``clock()`` instant after which nothing may run (a Lambda's remaining time): an experiment cut by it
        gets the outcome ``"budget"``, and experiments not started yet are not yielded.
    clock : callable
        Monotonic clock, injectable for tests.
    """

    def __init__(self, fit: FitFunction, workers: int, timeout: float, *, log_dir: Path | None = None,
                 deadline: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if not can_fork():
            raise RuntimeError("WorkerPool needs the fork start method")
        self._fit = fit
        self._size = max(1, workers)
        self._timeout = timeout
        self._log_dir = log_dir
        self._deadline = float("inf") if deadline is None else deadline
        self._clock = clock
        self._workers: list[_Worker] = []
        self.unstarted: list[ExperimentSpec] = []
        """Specs left unstarted because the deadline came first."""

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        parent_conn, child_conn = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(child_conn, self._fit, self._log_dir, os.getpid()),
                                  daemon=True)
        process.start()
        child_conn.close()  # the child's end lives in the child only: its death is EOF here
        worker = _Worker(process, parent_conn)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        self._workers.remove(worker)
        with contextlib.suppress(OSError):
            worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()

    def close(self) -> None:
        """Stop every worker now (SIGKILL: a fit in C code does not wait for a polite request)."""
        while self._workers:
            self._retire(self._workers[0])

    def _assign(self, worker: _Worker, spec: ExperimentSpec) -> None:
        now = self._clock()
        worker.spec = spec
        worker.timeout = self._timeout
        own = now + self._timeout
        worker.budget_bound = self._deadline < own
        worker.deadline = min(own, self._deadline)
        worker.conn.send(spec)

    def map(self, specs: Iterable[ExperimentSpec]) -> Iterator[tuple[ExperimentSpec, FitOutcome]]:
        """Fit every spec; yield ``(spec, outcome)`` as each finishes (completion order)."""
        from multiprocessing.connection import wait

        queue = deque(specs)
        started_at: dict[str, datetime] = {}
        while queue or any(w.spec is not None for w in self._workers):
            if self._clock() >= self._deadline and queue:
                self.unstarted.extend(queue)
                queue.clear()
            idle = [w for w in self._workers if w.spec is None]
            while queue and (idle or len(self._workers) < self._size):
                worker = idle.pop() if idle else self._spawn()
                spec = queue.popleft()
                started_at[spec.experiment_id] = utcnow()
                self._assign(worker, spec)
            busy = [w for w in self._workers if w.spec is not None]
            if not busy:
                continue
            wait_for = max(0.0, min(w.deadline for w in busy) - self._clock())
            ready = wait([w.conn for w in busy], timeout=wait_for)
            for worker in busy:
                current = worker.spec
                assert current is not None
                if worker.conn in ready:
                    try:
                        outcome: FitOutcome = worker.conn.recv()
                    except (EOFError, OSError):
                        self._retire(worker)
                        outcome = FitOutcome("died", started_at[current.experiment_id], error_type="WorkerDied",
                                             error=_death(worker.process.exitcode))
                    else:
                        worker.spec = None
                    yield current, outcome
                elif self._clock() >= worker.deadline:
                    self._retire(worker)
                    if worker.budget_bound:
                        outcome = FitOutcome("budget", started_at[current.experiment_id], error_type="TimeBudget",
                                             error="stopped: the caller's time budget ran out")
                    else:
                        outcome = FitOutcome("timeout", started_at[current.experiment_id],
                                             error_type="TimeoutError",
                                             error=f"timed out after {worker.timeout:g} s (experiment_timeout)")
                    yield current, outcome


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"the process fitting it died of {name}{hint}"
    return f"the process fitting it exited with status {exitcode}"
