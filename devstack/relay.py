"""Local stand-in for Pub/Sub push subscriptions.

Production delivers `jobs` to the generate function (and `jobs-dead-letter` to dead_letter)
by Pub/Sub push. Locally this process pulls each subscription from the emulator and POSTs
every message to the function as the raw push body; functions-framework turns that body
into a `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent.

- 2xx -> ack. Anything else (non-2xx, connection error, timeout) -> "nack with backoff":
  the message is held for min(max_backoff, min_backoff * 2**(attempt-1)) s (inside its
  ack deadline) and then nacked (`modify_ack_deadline(0)`), so the emulator redelivers it
  with `delivery_attempt + 1` (after its own retry-policy backoff on top).
- Dead-lettering is done by the emulator itself (the `generate` subscription carries a
  dead-letter policy; the emulator moves a message to the dead-letter topic after
  max_delivery_attempts, with `CloudPubSubDeadLetterSource*` attributes).
- Pulls use `return_immediately` polling: the emulator holds a waiting pull until its
  deadline and does not wake it for new messages, so a blocking pull would add seconds.
- Robust to the emulator restarting or the subscription vanishing: errors back off and
  retry (and the gRPC client is rebuilt).

Fault options (read at start): DEVSTACK_RELAY_DUPLICATES=N delivers every message N times
concurrently (acked only when every copy got 2xx); DEVSTACK_RELAY_SHUFFLE=1 shuffles each
pulled batch. DEVSTACK_RELAY_CONCURRENCY (default 8) bounds messages in flight.

One JSON line per delivery on stdout.

Run: python -m devstack.relay --project P --pubsub-host 127.0.0.1:8685 \
        --route generate=http://127.0.0.1:8682/projects/P/topics/jobs \
        --route dead-letter=http://127.0.0.1:8684/projects/P/topics/jobs-dead-letter
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

_print_lock = threading.Lock()


def log(**fields: Any) -> None:
    fields = {"ts": round(time.time(), 3), **fields}
    line = json.dumps(fields, default=str, sort_keys=False)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def backoff_seconds(attempt: int, min_backoff: float, max_backoff: float) -> float:
    """min(max_backoff, min_backoff * 2**(attempt-1)); attempt counts from 1."""
    return min(max_backoff, min_backoff * 2 ** max(0, attempt - 1))


@dataclass(frozen=True)
class Route:
    subscription: str  # short name, e.g. "generate"
    url: str


@dataclass
class RelayOptions:
    project: str
    routes: list[Route]
    concurrency: int = 8
    duplicates: int = 1
    shuffle: bool = False
    min_backoff: float = 1.0
    max_backoff: float = 10.0
    http_timeout: float = 60.0
    poll_interval: float = 0.1
    batch_size: int = 10

    @classmethod
    def from_env(cls, project: str, routes: list[Route]) -> RelayOptions:
        return cls(
            project=project,
            routes=routes,
            concurrency=max(1, _env_int("DEVSTACK_RELAY_CONCURRENCY", 8)),
            duplicates=max(1, _env_int("DEVSTACK_RELAY_DUPLICATES", 1)),
            shuffle=os.environ.get("DEVSTACK_RELAY_SHUFFLE", "").strip().lower()
            in {"1", "true", "yes", "on"},
            min_backoff=_env_float("DEVSTACK_RETRY_MIN_BACKOFF", 1.0),
            max_backoff=_env_float("DEVSTACK_RETRY_MAX_BACKOFF", 10.0),
            http_timeout=_env_float(
                "DEVSTACK_RELAY_HTTP_TIMEOUT", _env_float("DEVSTACK_ACK_DEADLINE", 60.0)
            ),
            poll_interval=_env_float("DEVSTACK_RELAY_POLL_INTERVAL", 0.1),
        )


def push_body(received: Any, subscription_path: str, attempt: int) -> dict[str, Any]:
    """The raw Pub/Sub push body for one pulled `ReceivedMessage`."""
    msg = received.message
    publish_time = msg.publish_time
    if hasattr(publish_time, "rfc3339"):
        published = publish_time.rfc3339()
    else:  # pragma: no cover - protobuf Timestamp
        published = publish_time.ToJsonString()
    message: dict[str, Any] = {
        "data": base64.b64encode(bytes(msg.data)).decode("ascii"),
        "attributes": dict(msg.attributes),
        "messageId": msg.message_id,
        "message_id": msg.message_id,
        "publishTime": published,
        "publish_time": published,
    }
    if msg.ordering_key:
        message["orderingKey"] = msg.ordering_key
    body: dict[str, Any] = {"message": message, "subscription": subscription_path}
    if attempt:
        body["deliveryAttempt"] = attempt
    return body


def _job_id(received: Any) -> str | None:
    attrs = received.message.attributes
    for key in ("job_id", "jobId", "job"):
        if key in attrs:
            return attrs[key]
    try:
        data = json.loads(bytes(received.message.data) or b"null")
    except ValueError:
        return None
    if isinstance(data, dict):
        value = data.get("job_id") or data.get("id")
        return str(value) if value is not None else None
    return None


def post(url: str, body: dict[str, Any], timeout: float) -> tuple[int | None, str]:
    """POST JSON; returns (status or None on a transport error, short detail)."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 (local http)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            resp.read()
            return resp.status, ""
    except urllib.error.HTTPError as err:
        detail = err.read()[:200].decode("utf-8", "replace")
        return err.code, detail
    except TimeoutError:
        return None, f"timeout after {timeout}s"
    except (urllib.error.URLError, OSError) as err:
        return None, f"{type(err).__name__}: {getattr(err, 'reason', err)}"


@dataclass
class _RouteState:
    route: Route
    path: str
    inflight: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)
    # local attempt counts for subscriptions without a dead-letter policy (the emulator
    # then reports delivery_attempt 0)
    attempts: collections.Counter = field(default_factory=collections.Counter)


class Relay:
    """Pull from each route's subscription and push to its URL until `stop()`."""

    def __init__(self, options: RelayOptions) -> None:
        self.options = options
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=options.concurrency * len(options.routes),
            thread_name_prefix="relay-deliver",
        )
        self._client = None
        self._client_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- client management --------------------------------------------------------------
    def _subscriber(self):
        with self._client_lock:
            if self._client is None:
                from google.cloud import pubsub_v1

                self._client = pubsub_v1.SubscriberClient()
            return self._client

    def _reset_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        for route in self.options.routes:
            path = f"projects/{self.options.project}/subscriptions/{route.subscription}"
            state = _RouteState(route=route, path=path)
            thread = threading.Thread(
                target=self._loop,
                args=(state,),
                name=f"relay-{route.subscription}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        log(
            event="relay_started",
            project=self.options.project,
            routes={r.subscription: r.url for r in self.options.routes},
            concurrency=self.options.concurrency,
            duplicates=self.options.duplicates,
            shuffle=self.options.shuffle,
            min_backoff=self.options.min_backoff,
            max_backoff=self.options.max_backoff,
        )

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._reset_client()

    def wait(self) -> None:
        while not self._stop.wait(0.5):
            pass

    # -- pull loop ----------------------------------------------------------------------
    def _loop(self, state: _RouteState) -> None:
        error_backoff = 0.25
        failing = False
        while not self._stop.is_set():
            with state.cond:
                while state.inflight >= self.options.concurrency and not self._stop.is_set():
                    state.cond.wait(0.5)
                free = self.options.concurrency - state.inflight
            if self._stop.is_set():
                return
            try:
                response = self._subscriber().pull(
                    request={
                        "subscription": state.path,
                        "max_messages": min(free, self.options.batch_size),
                        "return_immediately": True,
                    },
                    timeout=10,
                )
            except Exception as err:
                if not failing:
                    log(
                        event="pull_error",
                        subscription=state.route.subscription,
                        error=f"{type(err).__name__}: {err}"[:300],
                    )
                failing = True
                self._stop.wait(error_backoff)
                error_backoff = min(error_backoff * 2, 5.0)
                if error_backoff >= 2:
                    self._reset_client()
                continue
            if failing:
                log(event="pull_recovered", subscription=state.route.subscription)
            failing = False
            error_backoff = 0.25
            received = list(response.received_messages)
            if not received:
                self._stop.wait(self.options.poll_interval)
                continue
            if self.options.shuffle:
                random.shuffle(received)
            for item in received:
                with state.cond:
                    state.inflight += 1
                self._pool.submit(self._handle, state, item)

    def _nack(self, state: _RouteState, ack_id: str) -> None:
        try:
            self._subscriber().modify_ack_deadline(
                request={
                    "subscription": state.path,
                    "ack_ids": [ack_id],
                    "ack_deadline_seconds": 0,
                },
                timeout=10,
            )
        except Exception as err:  # emulator gone: the deadline expires on its own
            log(
                event="nack_error",
                subscription=state.route.subscription,
                error=f"{type(err).__name__}: {err}"[:300],
            )

    # -- one message --------------------------------------------------------------------
    def _handle(self, state: _RouteState, received: Any) -> None:
        try:
            self._deliver(state, received)
        except Exception as err:  # never lose the slot
            log(
                event="relay_error",
                subscription=state.route.subscription,
                message_id=received.message.message_id,
                error=repr(err)[:300],
            )
        finally:
            with state.cond:
                state.inflight -= 1
                state.cond.notify_all()

    def _deliver(self, state: _RouteState, received: Any) -> None:
        opts = self.options
        message_id = received.message.message_id
        if received.delivery_attempt:
            attempt = received.delivery_attempt
        else:
            state.attempts[message_id] += 1
            attempt = state.attempts[message_id]
        body = push_body(received, state.path, attempt)
        job_id = _job_id(received)
        copies = opts.duplicates
        results: list[tuple[int | None, str, float]] = [(None, "", 0.0)] * copies

        def one(index: int) -> None:
            started = time.monotonic()
            status, detail = post(state.route.url, body, opts.http_timeout)
            results[index] = (status, detail, (time.monotonic() - started) * 1000)

        if copies == 1:
            one(0)
        else:
            threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(copies)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        ok = all(status is not None and 200 <= status < 300 for status, _, _ in results)
        delay = 0.0 if ok else backoff_seconds(attempt, opts.min_backoff, opts.max_backoff)
        for index, (status, detail, ms) in enumerate(results):
            entry: dict[str, Any] = {
                "event": "delivery",
                "subscription": state.route.subscription,
                "message_id": message_id,
                "job_id": job_id,
                "status": status,
                "attempt": attempt,
                "ms": round(ms, 1),
                "outcome": "ack" if ok else "nack",
            }
            if copies > 1:
                entry["copy"] = index + 1
            if not ok:
                entry["retry_in_s"] = delay
            if detail and not (status is not None and 200 <= status < 300):
                entry["detail"] = detail
            log(**entry)
        try:
            client = self._subscriber()
            if ok:
                client.acknowledge(
                    request={"subscription": state.path, "ack_ids": [received.ack_id]},
                    timeout=10,
                )
                state.attempts.pop(message_id, None)
            else:
                # Hold the message (its 60 s ack deadline covers the backoff) and nack it
                # when the backoff is over. Letting a shortened ack deadline expire instead
                # (modify_ack_deadline(delay)) sometimes left a message undelivered for good
                # in emulator 0.8.20.
                timer = threading.Timer(delay, self._nack, args=(state, received.ack_id))
                timer.daemon = True
                timer.start()
        except Exception as err:  # emulator gone: the message comes back (or is lost with it)
            log(
                event="ack_error",
                subscription=state.route.subscription,
                message_id=message_id,
                ack=ok,
                error=f"{type(err).__name__}: {err}"[:300],
            )


def _parse_route(text: str) -> Route:
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise argparse.ArgumentTypeError(f"--route wants SUBSCRIPTION=URL, got {text!r}")
    return Route(subscription=name, url=url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.relay",
        description="Pull Pub/Sub emulator subscriptions and push them to local functions.",
    )
    parser.add_argument(
        "--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", "imagegen-local")
    )
    parser.add_argument(
        "--pubsub-host",
        default=os.environ.get("PUBSUB_EMULATOR_HOST"),
        help="emulator host:port (default $PUBSUB_EMULATOR_HOST)",
    )
    parser.add_argument(
        "--route",
        action="append",
        type=_parse_route,
        required=True,
        help="SUBSCRIPTION=URL; repeatable",
    )
    args = parser.parse_args(argv)
    if not args.pubsub_host:
        parser.error("--pubsub-host or PUBSUB_EMULATOR_HOST is required")
    os.environ["PUBSUB_EMULATOR_HOST"] = args.pubsub_host
    relay = Relay(RelayOptions.from_env(args.project, args.route))

    def on_signal(signum, _frame):
        log(event="relay_stopping", signal=signum)
        relay._stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    relay.start()
    relay.wait()
    relay.stop(timeout=0.2)
    sys.stdout.flush()
    # in-flight deliveries may sit in a long HTTP call; their messages come back after
    # the ack deadline, so do not wait for them (the pool's threads would block exit)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
