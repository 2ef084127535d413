"""Worker processes that never outlive the run that started them.

:func:`worker_pool` is a spawned :class:`~concurrent.futures.ProcessPoolExecutor` with two
guards. A SIGTERM to the parent (a scheduler's cancel, ``kill PID``) becomes
:class:`KeyboardInterrupt`, and on any exception the workers are terminated at once instead
of finishing their cells. Each worker also watches its parent and exits when the parent is
gone (``kill -9``, an out-of-memory kill), so no orphan keeps writing to the results DB.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

__all__ = ["worker_pool"]

POLL_SECONDS = 0.5


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a daemon thread that ends this process once ``parent`` is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(1)  # the parent died without shutting the pool down

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``jobs`` spawned workers (no forked torch state) that stop with the parent."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.terminate()
        raise
    finally:
        pool.shutdown(wait=True)
        if main:
            signal.signal(signal.SIGTERM, previous)
