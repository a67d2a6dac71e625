"""Score chunks of transcripts in worker processes: in input order, a bounded number in flight.

Workers get the model the parent loaded and verified: on Linux they are forked from the
parent, so the model and the libraries stay in memory once, shared (copy-on-write); elsewhere
the model is pickled to each worker when it starts (from memory, never read from a file
here). Then only chunks go out and their results come back. At most ``jobs + 1``
chunks are in flight, so memory stays flat however long the input is. Workers ignore SIGINT:
the parent handles Ctrl-C (and SIGTERM), drops the queued chunks, and the workers exit after the
chunk in hand (under a second). A worker killed by the system raises :class:`WorkerDied`.

Forking a process that runs other threads is only safe if the children never take a lock
those threads may hold: the workers only compute and return values (no logging, no terminal
output), and the CLI's progress display refreshes from the main thread.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from typing import Any, TypeVar

from .errors import ScamclfError

__all__ = ["WorkerDied", "available_cpus", "ordered_map", "resolve_jobs"]

T = TypeVar("T")

_model: Any = None


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_jobs(jobs: int | None) -> int:
    """``None`` or ``0``: every available CPU; otherwise ``jobs`` (at least 1).

    >>> resolve_jobs(1)
    1
    """
    if jobs is None or jobs == 0:
        return available_cpus()
    if jobs < 0:
        raise ValueError(f"jobs must be 0 (all CPUs) or a positive number, not {jobs}")
    return int(jobs)


def _start_worker(payload: bytes | None, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A parent stopped by a signal shuts the pool down without waiting; if it exits before the pool's
    # thread has told the workers, they would wait on their queue for ever, orphaned, holding the
    # parent's stdout and stderr open. On Linux the kernel sends them SIGTERM when the parent dies.
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before that was set up
        os._exit(1)
    global _model
    if payload is not None:
        _model = pickle.loads(payload)  # pickled by our own parent process, not read from a file


def _die_with_parent() -> None:
    if sys.platform != "linux":
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not glibc
        pass


def _run(task: Callable[[Any, Any, dict[str, Any]], Any], payload: Any, options: dict[str, Any]) -> Any:
    try:
        return task(_model, payload, options)
    finally:
        release_memory()


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    # Looked up on first use, not at import: `scamclf --help` need not load the C library.
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


def release_memory() -> None:
    """Give the memory freed after a chunk back to the system (glibc keeps it otherwise).

    Without it, each process keeps the high-water mark of its heap for good, and memory in use
    creeps up with the length of the input.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if sys.platform == "linux" and "fork" in methods else "spawn")


def ordered_map(
    model: Any,
    items: Iterable[tuple[T, Any]],
    jobs: int,
    task: Callable[[Any, Any, dict[str, Any]], Any],
    options: dict[str, Any],
) -> Iterator[tuple[T, Any]]:
    """Yield ``(item, task(model, payload, options))`` for each ``(item, payload)``, in order.

    ``task`` runs in a worker: a module-level function (so that it can be pickled), given the
    worker's copy of ``model``. Raises :class:`WorkerDied` if a worker process is killed (e.g. by the out-of-memory killer)
    instead of waiting for its lost chunk for ever.
    """
    global _model
    context = _context()
    forked = context.get_start_method() == "fork"
    _model = model if forked else None
    if forked:
        gc.freeze()  # the collector would otherwise write to (and so copy) every shared object
    # With fork, ProcessPoolExecutor starts every worker up front, before its own thread.
    executor = ProcessPoolExecutor(
        jobs,
        mp_context=context,
        initializer=_start_worker,
        initargs=(None if forked else pickle.dumps(model), os.getpid()),
    )
    finished = False
    try:
        pending: deque[tuple[T, Future[Any]]] = deque()
        try:
            for item, payload in items:
                pending.append((item, executor.submit(_run, task, payload, options)))
                if len(pending) > jobs:  # one chunk queued per worker beyond the ones being scored
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        except BrokenProcessPool:
            # A killed worker breaks the pool: a chunk's result() finds it broken, or submit()
            # does when the worker died before the next chunk was queued. Both are this error.
            raise WorkerDied(
                "a worker process died while scoring (killed by the system, often for lack of memory); "
                "rerun with fewer --jobs, or --jobs 1"
            ) from None
        finished = True
    finally:
        # All done: wait for the idle workers to exit. Leaving them to the interpreter's exit
        # hook races with it (CPython gh-83279: a traceback about a closed pipe at exit).
        # On an error or an interrupt, queued chunks are dropped; a chunk being scored finishes
        # (under a second) and the workers exit.
        executor.shutdown(wait=finished, cancel_futures=not finished)
        _model = None
        if forked:
            gc.unfreeze()


class WorkerDied(ScamclfError):
    """A worker process ended without its result (killed, typically for lack of memory)."""
