"""Bounded queues between the stream's threads, and the batcher that takes frames from every source's queue.

Each source has its own queue, so a source that stalls (a hung read, an outage, a reconnect backoff) holds
up nothing but itself: the batcher takes what the other queues have, round-robin so no source starves,
and never waits longer than ``max_wait`` for a batch to fill.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameQueue(Generic[T]):
    """A bounded FIFO that either blocks the producer (lossless) or drops its oldest item (live).

    ``close()`` lets the consumer drain what is left and then see the end; a put after close is refused.
    Queues that one consumer reads together share ``cond`` (see ``Batcher``).
    """

    def __init__(self, maxsize: int, drop_oldest: bool, cond: threading.Condition | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize, self.drop_oldest = maxsize, drop_oldest
        self._items: deque[T] = deque()
        self._cond = cond or threading.Condition()
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> int:
        """Add ``item``; return how many old items were dropped to make room (0 or 1), or -1 if closed."""
        with self._cond:
            dropped = 0
            while len(self._items) >= self.maxsize and not self.closed:
                if self.drop_oldest:
                    self._items.popleft()
                    dropped += 1
                else:
                    self._cond.wait()
            if self.closed:
                return -1
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get_many(self, n: int) -> list[T]:
        """Wait for at least one item, then take up to ``n`` without waiting more; [] once closed and empty."""
        with self._cond:
            while not self._items and not self.closed:
                self._cond.wait()
            taken = [self._items.popleft() for _ in range(min(n, len(self._items)))]
            self._cond.notify_all()
            return taken

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        """Closed and drained: nothing more will come out."""
        return self.closed and not self._items


class Batcher(Generic[T]):
    """Batches across queues that share one condition: one item per queue per turn (round-robin, starting one
    queue further each call), up to ``n``, waiting at most ``max_wait`` seconds after the first item for more."""

    def __init__(self, queues: list[FrameQueue[T]], cond: threading.Condition) -> None:
        self.queues, self.cond = queues, cond
        self._start = 0

    def get_many(self, n: int, max_wait: float = 0.0) -> list[T]:
        """Up to ``n`` items, in order per queue; [] once every queue is closed and drained."""
        with self.cond:
            while not any(q._items for q in self.queues) and not all(q.closed for q in self.queues):
                self.cond.wait()
            deadline = time.monotonic() + max_wait
            taken: list[T] = []
            while True:
                self._take(taken, n)
                left = deadline - time.monotonic()
                if len(taken) >= n or left <= 0 or all(q.done for q in self.queues):
                    break
                self.cond.wait(left)
            self._start = (self._start + 1) % len(self.queues)
            self.cond.notify_all()  # room for lossless producers waiting on a full queue
            return taken

    def _take(self, taken: list[T], n: int) -> None:
        count = len(self.queues)
        while len(taken) < n:
            before = len(taken)
            for k in range(count):
                queue = self.queues[(self._start + k) % count]
                if queue._items and len(taken) < n:
                    taken.append(queue._items.popleft())
            if len(taken) == before:
                return

    def depth(self) -> int:
        return sum(len(q) for q in self.queues)
