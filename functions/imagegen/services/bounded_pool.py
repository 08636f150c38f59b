"""A few threads for slow, independent steps (issue 29: an image's upload, an item's end
while a batch output is split), holding at most so many bytes and tasks at once: whoever
submits waits while the pool is full, so a fast reader cannot pile up a slow store's work
in memory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class BoundedPool:
    def __init__(self, workers: int, max_bytes: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._room = threading.Condition()
        self._max_bytes = max_bytes
        self._max_tasks = workers * 4
        self._held = 0
        self._futures: set[Future] = set()
        self._errors: list[BaseException] = []

    def submit(self, call: Callable[..., T], *args: Any, weight: int = 0) -> Future[T]:
        """Run `call(*args)` on a thread; `weight` is the bytes it holds until it ends.
        Waits while the pool is full (a task heavier than the bound runs alone)."""
        with self._room:
            while self._futures and (
                self._held + weight > self._max_bytes or len(self._futures) >= self._max_tasks
            ):
                self._room.wait()
            self._held += weight
            future = self._pool.submit(call, *args)
            self._futures.add(future)
        future.add_done_callback(lambda done: self._release(done, weight))
        return future

    def _release(self, future: Future, weight: int) -> None:
        error = None if future.cancelled() else future.exception()
        with self._room:
            if error is not None:
                self._errors.append(error)
            self._held -= weight
            self._futures.discard(future)
            self._room.notify_all()

    def drain(self) -> None:
        """Wait for every task; raise the first error a task raised since the last drain."""
        with self._room:
            while self._futures:
                self._room.wait()
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
