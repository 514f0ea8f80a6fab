"""Answers waiting for their verdict: each answered picture, kept until it is reported or
expires, within a time-to-live and a memory bound (the oldest dropped first). Nothing here is
written anywhere; a dropped picture can no longer be reported (NOT_FOUND)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Pending:
    picture: bytes
    color: str
    answer: str
    confidence: float
    route: str
    model: str
    version: int
    created: float
    path_confidence: float | None = None
    reads: int = 1
    agreeing: int = 1

    @property
    def size(self) -> int:
        return len(self.picture) + len(self.answer.encode()) + 200  # the record's own fields, roughly


class AnswerCache:
    def __init__(self, ttl_s: float, max_bytes: int, on_drop: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        """``on_drop(reason)`` hears each entry dropped unreported: "expired" or "full"."""
        self.ttl_s, self.max_bytes = ttl_s, max_bytes
        self._on_drop, self._clock = on_drop or (lambda reason: None), clock
        self._items: OrderedDict[str, tuple[float, Pending]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, answer_id: str, pending: Pending) -> None:
        with self._lock:
            now = self._clock()
            self._items[answer_id] = (now, pending)
            self._bytes += pending.size
            self._expire(now)
            while self._bytes > self.max_bytes and self._items:
                self._drop_oldest("full")

    def get(self, answer_id: str) -> Pending | None:
        with self._lock:
            self._expire(self._clock())
            item = self._items.get(answer_id)
            return item[1] if item else None

    def pop(self, answer_id: str) -> None:
        with self._lock:
            item = self._items.pop(answer_id, None)
            if item:
                self._bytes -= item[1].size

    def _expire(self, now: float) -> None:
        while self._items and next(iter(self._items.values()))[0] < now - self.ttl_s:
            self._drop_oldest("expired")

    def _drop_oldest(self, reason: str) -> None:
        _, (_, pending) = self._items.popitem(last=False)
        self._bytes -= pending.size
        self._on_drop(reason)
