"""The split's bounded pool (services/bounded_pool.py): whoever submits waits while the
tasks hold as many bytes (or are as many) as allowed, and a task's error is raised when
the pool is drained, never lost."""

from __future__ import annotations

import threading
import time

import pytest

from imagegen.services.bounded_pool import BoundedPool


def test_submitting_waits_while_the_pool_holds_its_bytes():
    pool = BoundedPool(workers=4, max_bytes=100, name="test")
    release = threading.Event()
    held = []
    try:
        pool.submit(release.wait, weight=60)
        started = time.monotonic()
        threading.Timer(0.3, release.set).start()
        pool.submit(held.append, 1, weight=60)  # 120 > 100: waits for the first to end
        assert time.monotonic() - started >= 0.25
        pool.submit(held.append, 2, weight=500)  # heavier than the bound: runs alone
        pool.drain()
        assert held == [1, 2]
    finally:
        release.set()
        pool.close()


def test_the_number_of_tasks_is_bounded_too():
    pool = BoundedPool(workers=1, max_bytes=0, name="test")
    gate = threading.Event()
    try:
        for _ in range(4):  # workers * 4 tasks may wait
            pool.submit(gate.wait)
        waiter = threading.Thread(target=pool.submit, args=(gate.wait,))
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive()  # the fifth waits for room
        gate.set()
        waiter.join(5)
        pool.drain()
    finally:
        gate.set()
        pool.close()


def test_an_error_of_any_task_is_raised_at_the_drain():
    pool = BoundedPool(workers=2, max_bytes=10, name="test")
    try:
        pool.submit(lambda: 1 / 0)
        time.sleep(0.1)  # it has ended (and left the pool) before the drain
        pool.submit(lambda: None)
        with pytest.raises(ZeroDivisionError):
            pool.drain()
        pool.drain()  # reported once
    finally:
        pool.close()
