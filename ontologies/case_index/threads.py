"""The one thread pool of the case index, and how a search hands it shares of work."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

# One share per core: the default, and what CASE_INDEX_SEARCH_THREADS=0 asks for.
PER_CORE = os.cpu_count() or 1
# Searches split the rows into this many shares (``set_workers`` changes it).
WORKERS = PER_CORE


_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    # One pool per process, created on first use; the thread calling search takes one share of
    # the work itself, so the pool needs one thread fewer than there are cores.
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, WORKERS - 1), thread_name_prefix="case-index"
            )
        return _executor


def set_workers(count: int) -> None:
    """Split each search into ``count`` shares from now on (1: the calling thread does it all).

    One per core makes a lone search fastest. A server running as many busy processes as there
    are cores does better with 1: the cores are taken anyway, and the hand-overs (the numpy
    reductions hold the GIL) cost ~10% of the CPU a search takes (docs/benchmarks.md).
    """
    global WORKERS, _executor
    if count < 1:
        raise ValueError(f"a search needs at least 1 thread, not {count}")
    with _executor_lock:
        WORKERS = count
        if _executor is not None:
            _executor.shutdown(wait=False)
            _executor = None


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def run_shares(
    work: Callable[[list[_Item]], list[_Result]], shares: list[list[_Item]]
) -> list[_Result]:
    """``work`` on every share, the calling thread taking the first rather than waiting idle."""
    futures: list[Future[list[_Result]]] = []
    if len(shares) > 1:
        executor = _get_executor()
        futures = [executor.submit(work, share) for share in shares[1:]]
    results = work(shares[0])
    for future in futures:
        results.extend(future.result())
    return results
