"""One writer at a time across processes: an exclusive flock on a file in the data dir.

The kernel drops a flock when its process dies, so a crashed writer never leaves the
lock held. Readers never take it. In a process, one thread writes at a time and may
re-enter the lock (a rebuild holds it while ``replace_all`` takes it again): the
outermost ``held()`` takes the flock, and the flock goes when that block ends.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .store import StoreError

logger = logging.getLogger(__name__)

LOCK_NAME = "write.lock"
POLL_SECONDS = 0.05


class WriteLockTimeout(StoreError):
    """Another process kept writing for longer than we were willing to wait."""


class WriteLock:
    """The data dir's write lock; ``held()`` is a context manager, re-entrant in a thread."""

    def __init__(self, directory: Path, timeout: float) -> None:
        self.directory = directory
        self.timeout = timeout
        self._thread_lock = threading.RLock()  # one writing thread in this process
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + self.timeout
        if not self._thread_lock.acquire(timeout=self.timeout):
            raise WriteLockTimeout(self._gave_up())
        try:
            if self._depth == 0:
                self._fd = self._take(deadline)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing the descriptor releases the flock
                    self._fd = None
        finally:
            self._thread_lock.release()

    def _gave_up(self) -> str:
        return (
            f"another articlebot process kept writing to {self.directory} for "
            f"{self.timeout:g} s; try again when it is done, or wait longer with "
            "ARTICLEBOT_WRITE_LOCK_TIMEOUT"
        )

    def _take(self, deadline: float) -> int:
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                pass
            except BaseException:
                os.close(fd)
                raise
            if not said:
                logger.warning(
                    "waiting for another articlebot process that is writing to %s...",
                    self.directory,
                )
                said = True
            if time.monotonic() >= deadline:
                os.close(fd)
                raise WriteLockTimeout(self._gave_up())
            time.sleep(POLL_SECONDS)
