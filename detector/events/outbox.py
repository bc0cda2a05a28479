"""A bounded queue of messages for a sender thread: ``offer`` never blocks (the frame path calls it);
when it is full the oldest message is dropped and counted, so a receiver that is down for long costs
memory up to the bound and then the oldest news."""
from __future__ import annotations

import collections
import threading


class Outbox:
    def __init__(self, maxlen: int = 1000):
        self._q: collections.deque = collections.deque()
        self.maxlen = maxlen
        self._cv = threading.Condition()
        self.dropped = 0
        self.offered = 0

    def offer(self, item) -> None:
        with self._cv:
            if len(self._q) >= self.maxlen:
                self._q.popleft()
                self.dropped += 1
            self._q.append(item)
            self.offered += 1
            self._cv.notify()

    def peek(self, timeout: float):
        """The oldest message (left in the queue until ``done``), or None after ``timeout``."""
        with self._cv:
            if not self._q:
                self._cv.wait(timeout)
            return self._q[0] if self._q else None

    def done(self, item) -> None:
        with self._cv:
            if self._q and self._q[0] is item:
                self._q.popleft()

    def wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def __len__(self) -> int:
        with self._cv:
            return len(self._q)
