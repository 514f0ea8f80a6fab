"""A caller's request as the router sees it: its deadline, and the readings queued for it, so
that they are dropped when the caller goes away (a deadline passed, a stream or a server that
stops). No grpc here: the servicer makes one per call and ends it when the call ends."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from .errors import CaptchaError

PRUNE_AT = 256  # tracked futures before the finished ones are forgotten (long streams)


class CallEnded(CaptchaError):
    """The caller went away (or the server stopped) before the picture was read."""
    code_name = "CANCELLED"

    def __init__(self, message: str = "the call ended before the picture was read"):
        super().__init__(message)


class Call:
    def __init__(self, deadline: float | None = None):
        """``deadline``: ``time.monotonic()`` seconds by which the caller wants its answer."""
        self.deadline = deadline
        self._futures: list[Future] = []
        self._ended = False
        self._lock = threading.Lock()

    @classmethod
    def within(cls, seconds: float | None) -> "Call":
        """A call whose caller waits ``seconds`` more (None: no deadline)."""
        return cls(None if seconds is None else time.monotonic() + seconds)

    def time_left(self, limit: float) -> float:
        """Seconds to wait for a reading: the caller's time left, at most ``limit``."""
        if self.deadline is None:
            return limit
        return max(0.0, min(limit, self.deadline - time.monotonic()))

    @property
    def ended(self) -> bool:
        return self._ended

    def track(self, futures: list[Future]) -> None:
        """Readings queued for this call; dropped at once if the call has already ended."""
        with self._lock:
            if not self._ended:
                if len(self._futures) >= PRUNE_AT:
                    self._futures = [f for f in self._futures if not f.done()]
                self._futures.extend(futures)
                return
        for f in futures:
            f.cancel()

    def end(self) -> None:
        """The caller is gone: readings still queued for it are dropped (running ones finish)."""
        with self._lock:
            self._ended, futures, self._futures = True, self._futures, []
        for f in futures:
            f.cancel()
