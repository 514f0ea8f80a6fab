"""Dynamic batching: concurrent reads for one model are gathered into one call.

A lone request waits at most ``max_wait`` seconds for company; a batch never exceeds
``max_batch``; more than ``max_queue`` waiting pictures means overload. A picture whose future
was cancelled while it waited (its caller's deadline passed) is left out of its batch. Batchers that share a
``device`` lock run their models one at a time: on a small CPU, four colour models running at
once only split the cores and shrink every batch, while taking turns lets each queue fill
during the others' turns (a batch is taken only once its batcher holds the lock).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from .errors import Overloaded


@dataclass(frozen=True)
class BatchPolicy:
    """How a model's requests are batched; the defaults are the server's (``ServerConfig``)."""
    max_batch: int = 8
    max_wait: float = 0.0
    max_queue: int = 2048


class BatcherClosed(RuntimeError):
    """The model behind this batcher was replaced or unloaded; look it up again."""


class Batcher:
    def __init__(self, read, policy: BatchPolicy, on_batch=None, name: str = "batcher",
                 device: threading.Lock | None = None):
        self._read, self._policy, self._on_batch = read, policy, on_batch
        self._device = device or threading.Lock()
        self._items: list[tuple[np.ndarray, Future]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, image: np.ndarray) -> Future:
        return self.submit_many([image])[0]

    def submit_many(self, images: list[np.ndarray]) -> list[Future]:
        """Queues the pictures together, so that they go into the same batch where it has room."""
        futures = [Future() for _ in images]
        with self._cond:
            if self._closed:
                raise BatcherClosed("batcher is closed")
            if len(self._items) + len(images) > self._policy.max_queue:  # forget the abandoned first
                self._items = [item for item in self._items if not item[1].cancelled()]
            if len(self._items) + len(images) > self._policy.max_queue:
                raise Overloaded(f"{len(self._items)} pictures are waiting; try again shortly")
            self._items.extend(zip(images, futures))
            self._cond.notify()
        return futures

    def close(self) -> None:
        """Answers everything already submitted, then stops."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _wait_for_work(self) -> bool:
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            return bool(self._items)

    def _take(self) -> list[tuple[np.ndarray, Future]]:
        p = self._policy
        with self._cond:
            deadline = time.monotonic() + p.max_wait
            while len(self._items) < p.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, self._items = self._items[:p.max_batch], self._items[p.max_batch:]
        # a reading whose caller gave up (its future cancelled while queued) is not made
        return [(img, fut) for img, fut in batch if fut.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while self._wait_for_work():
            with self._device:
                batch = self._take()
                if not batch:
                    continue
                try:
                    readings = self._read(np.stack([img for img, _ in batch]))
                except Exception as exc:  # the model failed: every caller in the batch hears it
                    for _, fut in batch:
                        fut.set_exception(exc)
                    readings = None
            if readings is not None:
                for (_, fut), reading in zip(batch, readings):
                    fut.set_result(reading)
            if self._on_batch:
                self._on_batch(len(batch))
