"""The Cloud Tasks stand-in (devstack/tasks_standin.py, issue 27) and the adapter that talks to
it (adapters/queue_tasks.py: google-cloud-tasks' client over its REST transport), in-process
over real sockets: names de-duplicate, a scheduled task waits, the queue's http_target
routes every task, a 429's Retry-After and the retry backoff are honoured, the queue's
concurrency is never exceeded, a task ends only when its retries are both used up and out of
time, and the faults tests use (duplicate, drop, unavailable) do what they say.

Timings decide nothing here: the token bucket and the backoff are checked as arithmetic, the
dispatches by what the receiver saw."""

from __future__ import annotations

import datetime as dt
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack import emulators
from devstack.tasks_standin import Queue, Retry, TasksStandin, serve
from imagegen.adapters.queue_tasks import TaskQueue
from imagegen.errors import Unavailable

PROJECT, LOCATION = "p", "us-central1"


class Receiver:
    """A local HTTP server standing in for generate: records each POST, answers with the
    statuses queued in `answers` (200 when none is left), holding each `hold` seconds."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.hold = 0.0
        self.in_flight = 0
        self.most = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"] or 0))
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.most = max(receiver.most, receiver.in_flight)
                    receiver.seen.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                time.sleep(receiver.hold)
                with receiver.lock:
                    receiver.in_flight -= 1
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < end:
            time.sleep(0.02)
        assert len(self.seen) >= count, f"{len(self.seen)} of {count} dispatches arrived"


@pytest.fixture
def stack():
    """A stand-in on a free port, a receiver, and a queue `q` dispatching to it."""
    standin = TasksStandin(dedup_seconds=3600)
    server = serve("127.0.0.1", 0, standin)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    receiver = Receiver()
    emulators.setup_tasks(
        endpoint=endpoint,
        project=PROJECT,
        location=LOCATION,
        queues={"q": 50.0},
        target=f"http://127.0.0.1:{receiver.port}/",
        concurrency=2,
        min_backoff=0.1,
        max_backoff=0.4,
    )
    queue = TaskQueue.connect(
        PROJECT, LOCATION, "q", [], target_url="https://generate.invalid/", endpoint=endpoint
    )
    yield standin, queue, receiver
    standin.stop.set()
    server.shutdown()
    receiver.server.shutdown()


def test_a_task_named_by_its_job_is_created_once_and_routed_by_the_queue(stack):
    _standin, queue, receiver = stack
    name = queue.task_name("job1", "any-model")
    assert name == f"projects/{PROJECT}/locations/{LOCATION}/queues/q/tasks/job1"
    assert queue.enqueue(name, "job1") == name
    assert queue.enqueue(name, "job1") == name  # ALREADY_EXISTS: the job is queued already
    receiver.wait(1)
    time.sleep(0.3)
    assert len(receiver.seen) == 1
    seen = receiver.seen[0]
    # the task named generate.invalid; the queue's http_target sent it to the receiver
    assert seen["path"] == "/" and seen["body"] == b'{"job_id": "job1"}'
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-cloudtasks-taskname"] == "job1"
    assert headers["x-cloudtasks-queuename"] == "q"
    assert headers["x-cloudtasks-taskretrycount"] == "0"
    # done: the name stays taken (dedup window) and the task is no longer waiting
    assert not queue.waiting(name)
    assert queue.enqueue(name, "job1") == name
    fresh = queue.task_name("job1", "any-model", fresh=True)
    assert fresh.startswith(name + "-") and fresh != queue.task_name("job1", "m", fresh=True)


def test_a_scheduled_task_waits_until_its_time(stack):
    standin, queue, receiver = stack
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    name = queue.enqueue(queue.task_name("parked", "m", fresh=True), "parked", not_before=later)
    assert queue.waiting(name)
    time.sleep(0.5)
    assert receiver.seen == []
    scheduled = standin.get_task(name)["scheduleTime"]
    assert scheduled.startswith(later.strftime("%Y-%m-%dT%H:%M:%S"))


def test_a_429_is_retried_no_sooner_than_its_retry_after(stack):
    standin, queue, receiver = stack
    receiver.answers = [(429, {"Retry-After": "30"})]
    name = queue.enqueue(queue.task_name("paced", "m"), "paced")
    receiver.wait(1)
    time.sleep(0.3)
    task = standin.get_task(name)
    assert task["dispatchCount"] == 1 and task["responseCount"] == 1
    answered_at = time.time()
    retry_at = dt.datetime.fromisoformat(task["scheduleTime"].replace("Z", "+00:00"))
    assert retry_at.timestamp() >= answered_at + 25  # Retry-After, not the 0.1 s backoff
    assert len(receiver.seen) == 1


def test_a_failed_dispatch_is_retried_with_its_count(stack):
    _standin, queue, receiver = stack
    receiver.answers = [(503, {}), (500, {})]
    queue.enqueue(queue.task_name("flaky", "m"), "flaky")
    receiver.wait(3)
    counts = [
        {k.lower(): v for k, v in s["headers"].items()}["x-cloudtasks-taskretrycount"]
        for s in receiver.seen
    ]
    assert counts == ["0", "1", "2"]


def test_the_queue_never_dispatches_more_at_once_than_it_may(stack):
    standin, queue, receiver = stack
    receiver.hold = 0.3
    for i in range(8):
        queue.enqueue(queue.task_name(f"c{i}", "m"), f"c{i}")
    receiver.wait(8)
    assert receiver.most <= 2  # maxConcurrentDispatches
    stats = standin.stats()["queues"][f"projects/{PROJECT}/locations/{LOCATION}/queues/q"]
    assert stats["max_in_flight"] <= 2 and stats["dispatched"] == 8


def test_faults_duplicate_drop_and_unavailable(stack):
    standin, queue, receiver = stack
    standin.set_faults({"duplicate": 1})
    queue.enqueue(queue.task_name("twice", "m"), "twice")
    receiver.wait(2)
    assert [s["body"] for s in receiver.seen] == [b'{"job_id": "twice"}'] * 2
    standin.set_faults({"drop": 1})
    lost = queue.enqueue(queue.task_name("lost", "m"), "lost")
    assert not queue.waiting(lost)  # created, never dispatched, not found
    standin.set_faults({"unavailable": 1000})
    with pytest.raises(Unavailable):
        queue.enqueue(queue.task_name("down", "m"), "down", timeout=0.5)
    standin.set_faults({"unavailable": 0})
    queue.enqueue(queue.task_name("up", "m"), "up")


def test_retry_backoff_doubles_then_grows_linearly_and_is_capped():
    retry = Retry(min_backoff=10, max_backoff=600, max_doublings=3)
    assert [retry.backoff(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 240, 320]
    assert Retry(min_backoff=10, max_backoff=60, max_doublings=16).backoff(9) == 60


def test_a_task_ends_only_when_out_of_attempts_and_of_time():
    unlimited = Retry(max_attempts=-1, max_retry_duration=3600)
    assert not unlimited.exhausted(10_000, first=0, now=100)
    assert not unlimited.exhausted(10_000, first=0, now=3599)
    assert not Retry(max_attempts=-1, max_retry_duration=0).exhausted(10**6, first=0, now=10**9)
    bounded = Retry(max_attempts=5, max_retry_duration=3600)
    assert not bounded.exhausted(5, first=0, now=10)  # attempts used, time left
    assert not bounded.exhausted(4, first=0, now=4000)  # time used, attempts left
    assert bounded.exhausted(5, first=0, now=4000)


def test_the_token_bucket_allows_the_rate_and_its_burst():
    queue = Queue("q", rate=2.0)  # burst max(1, ceil(2 / 5)) = 1
    queue.tokens, queue.refilled = 1.0, 100.0
    assert queue.take_token(100.0)
    assert not queue.take_token(100.1)  # 0.2 tokens
    assert queue.take_token(100.5)  # one more after 1 / rate
    fast = Queue("f", rate=100.0)  # burst 20
    fast.tokens, fast.refilled = 0.0, 0.0
    taken = sum(fast.take_token(10.0) for _ in range(50))
    assert taken == 20
