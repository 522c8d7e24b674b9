"""One BLAS/OpenMP thread budget around every fit and score, on every path.

The number of threads a BLAS or OpenMP reduction uses changes the order of floating-point additions, and so the
last bits of a score (and, for an iterative solver that stops on a tolerance, much more). Every path that fits or
scores (the serial and pooled local engine, the trainer Lambda, the emulator, ``hpt plan``'s sample fits) goes
through :func:`pinned_threads`, so one config and one split give bit-identical scores everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["pinned_threads"]


@contextmanager
def pinned_threads(threads: int) -> Iterator[None]:
    """Limit every loaded BLAS and OpenMP library to ``threads`` threads inside the ``with`` block.

    The limit is applied on entry, so libraries loaded by earlier imports are covered; the previous limits come
    back on exit.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        yield
