"""The local stack's own machinery: the Pub/Sub emulator, the push relay, `down`.

Real emulator, real relay process, real sockets: the relay pushes to a small HTTP receiver
started here, so this tests delivery, redelivery with backoff and the emulator's
dead-lettering without depending on the functions.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack.emulators import PrerequisiteError
from devstack.stack import Stack, StackConfig, StackError, _group_members

REPO = Path(__file__).resolve().parents[2]
PROJECT = "devstack-test"
MAX_ATTEMPTS = 5  # the emulator, like Pub/Sub, refuses fewer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """Answers per message `behaviour` attribute: ok -> 200, flaky -> 500, 500, 200,
    fail -> always 500. Records every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                attrs = body["message"].get("attributes", {})
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "body": body,
                            "t": time.monotonic(),
                            "content_type": self.headers.get("Content-Type"),
                        }
                    )
                    seen = sum(
                        1
                        for r in receiver.requests
                        if r["path"] == self.path
                        and r["body"]["message"]["messageId"] == body["message"]["messageId"]
                    )
                behaviour = attrs.get("behaviour", "ok")
                fail = self.path.startswith("/generate") and (
                    behaviour == "fail" or (behaviour == "flaky" and seen <= 2)
                )
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deliveries(self, path_prefix: str, name: str) -> list[dict]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r["path"].startswith(path_prefix)
                and r["body"]["message"]["attributes"].get("name") == name
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_config(tmp: Path, components: str, **extra: str) -> StackConfig:
    env = dict(os.environ)
    env.update(
        {
            "DEVSTACK_STATE_DIR": str(tmp),
            "DEVSTACK_PROJECT": PROJECT,
            "DEVSTACK_PUBSUB_PORT": str(free_port()),
            "DEVSTACK_STORAGE_PORT": str(free_port()),
            "DEVSTACK_COMPONENTS": components,
            "DEVSTACK_MAX_DELIVERY_ATTEMPTS": str(MAX_ATTEMPTS),
            "DEVSTACK_RETRY_MIN_BACKOFF": "1",
            "DEVSTACK_RETRY_MAX_BACKOFF": "2",
            "DEVSTACK_STARTUP_TIMEOUT": "45",
            **extra,
        }
    )
    return StackConfig.from_env(root=REPO, environ=env)


def up_or_fail(stack: Stack) -> None:
    try:
        stack.up()
    except PrerequisiteError as err:
        pytest.fail(f"local emulators unavailable: {err}", pytrace=False)


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, receiver):
    cfg = make_config(
        tmp_path_factory.mktemp("devstack"),
        "pubsub,relay",
        DEVSTACK_RELAY_GENERATE_URL=f"{receiver.url}/generate",
        DEVSTACK_RELAY_DEAD_LETTER_URL=f"{receiver.url}/dead-letter",
    )
    s = Stack(cfg)
    up_or_fail(s)
    yield s
    s.down()


@pytest.fixture(scope="module")
def publisher(stack):
    from google.cloud import pubsub_v1

    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = stack.env()["PUBSUB_EMULATOR_HOST"]
    try:
        client = pubsub_v1.PublisherClient()
    finally:  # the session's stack (tests/conftest.py) may have set it: put it back
        if previous is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = previous
    topic = client.topic_path(PROJECT, "jobs")

    def publish(name: str, behaviour: str) -> str:
        data = json.dumps({"job_id": name}).encode()
        return client.publish(topic, data, job_id=name, name=name, behaviour=behaviour).result(
            timeout=10
        )

    return publish


def test_env_names_the_stack(stack):
    env = stack.env()
    assert env["GOOGLE_CLOUD_PROJECT"] == PROJECT
    assert env["PUBSUB_EMULATOR_HOST"] == f"127.0.0.1:{stack.config.ports['pubsub']}"
    assert env["IMAGEGEN_TASKS_ENDPOINT"] == f"http://127.0.0.1:{stack.config.ports['tasks']}"
    assert env["IMAGEGEN_TASKS_QUEUE"] == "imagegen-jobs"
    assert env["IMAGEGEN_MAX_ATTEMPTS"] == str(MAX_ATTEMPTS)
    assert env["IMAGEGEN_REFERENCE_BUCKETS"] == env["IMAGEGEN_UPLOADS_BUCKET"]
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in stack._child_env()
    state = json.loads(stack.state_file.read_text())
    assert set(state["components"]) == {"pubsub", "relay"}


def test_relay_delivers_retries_and_dead_letters(stack, receiver, publisher):
    ok_id = publisher("ok-1", "ok")
    flaky_id = publisher("flaky-1", "flaky")
    publisher("fail-1", "fail")

    # a message answered 200 is pushed once, as a raw push body
    [ok] = wait_for(lambda: receiver.deliveries("/generate", "ok-1"), 20, "ok-1")
    body = ok["body"]
    assert ok["content_type"] == "application/json"
    assert body["subscription"] == f"projects/{PROJECT}/subscriptions/generate"
    message = body["message"]
    assert message["messageId"] == message["message_id"] == ok_id
    assert message["publishTime"] == message["publish_time"]
    assert message["publishTime"].endswith("Z")
    assert json.loads(base64.b64decode(message["data"])) == {"job_id": "ok-1"}
    assert message["attributes"]["job_id"] == "ok-1"
    assert body["deliveryAttempt"] == 1

    # 500, 500, 200: redelivered with growing attempts and growing backoff, then acked
    flaky = wait_for(
        lambda: (
            len(receiver.deliveries("/generate", "flaky-1")) >= 3
            and receiver.deliveries("/generate", "flaky-1")
        ),
        25,
        "3 flaky deliveries",
    )
    assert [d["body"]["deliveryAttempt"] for d in flaky] == [1, 2, 3]
    assert {d["body"]["message"]["messageId"] for d in flaky} == {flaky_id}
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(flaky)]
    assert gaps[0] >= 0.8, gaps  # backoff 1 s, then 2 s
    assert gaps[1] >= 1.8, gaps

    # always 500: after MAX_ATTEMPTS the emulator moves it to the dead-letter topic,
    # and the relay pushes that to the dead-letter route
    [dead] = wait_for(
        lambda: receiver.deliveries("/dead-letter", "fail-1"), 40, "fail-1 on the dead-letter route"
    )
    failed = receiver.deliveries("/generate", "fail-1")
    assert [d["body"]["deliveryAttempt"] for d in failed] == list(range(1, MAX_ATTEMPTS + 1))
    attrs = dead["body"]["message"]["attributes"]
    assert attrs["job_id"] == "fail-1"
    assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == str(MAX_ATTEMPTS)
    assert attrs["CloudPubSubDeadLetterSourceSubscription"] == "generate"
    assert dead["body"]["subscription"] == f"projects/{PROJECT}/subscriptions/dead-letter"

    # acked messages are not redelivered
    time.sleep(2.5)
    assert len(receiver.deliveries("/generate", "ok-1")) == 1
    assert len(receiver.deliveries("/generate", "flaky-1")) == 3
    assert len(receiver.deliveries("/generate", "fail-1")) == MAX_ATTEMPTS
    assert len(receiver.deliveries("/dead-letter", "fail-1")) == 1

    # one JSON line per delivery in the relay log
    lines = [
        json.loads(line)
        for line in (stack.log_dir / "relay.log").read_text().splitlines()
        if line.startswith("{")
    ]
    flaky_log = [e for e in lines if e.get("event") == "delivery" and e["job_id"] == "flaky-1"]
    assert [(e["status"], e["attempt"], e["outcome"]) for e in flaky_log] == [
        (500, 1, "nack"),
        (500, 2, "nack"),
        (200, 3, "ack"),
    ]


def test_relay_survives_pubsub_restart(stack, receiver, publisher):
    relay_pid = stack._state["relay"]["pid"]
    stack.restart("pubsub")  # empty emulator; topics and subscriptions recreated
    publisher("after-restart", "ok")
    wait_for(
        lambda: receiver.deliveries("/generate", "after-restart"),
        20,
        "delivery after the emulator restart",
    )
    assert stack._state["relay"]["pid"] == relay_pid


def test_port_in_use_is_named(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = Stack(make_config(tmp_path, "pubsub", DEVSTACK_PUBSUB_PORT=str(port)))
        with pytest.raises(StackError) as info:
            stack.up()
    assert str(port) in str(info.value)
    assert "DEVSTACK_PUBSUB_PORT" in str(info.value)


def test_down_from_another_process_leaves_nothing(tmp_path):
    stack = Stack(make_config(tmp_path, "pubsub,storage"))
    up_or_fail(stack)
    try:
        state = json.loads(stack.state_file.read_text())["components"]
        pgids = [entry["pgid"] for entry in state.values()]
        # the gcloud wrapper runs the emulator as a java child in the same group
        assert len(_group_members(state["pubsub"]["pgid"])) >= 2
        # buckets were created in the storage emulator
        import urllib.request

        url = f"{stack.env()['STORAGE_EMULATOR_HOST']}/storage/v1/b?project={PROJECT}"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
            names = {b["name"] for b in json.loads(resp.read()).get("items", [])}
        assert {"imagegen-outputs", "imagegen-uploads"} <= names
    except BaseException:
        stack.down()
        raise
    env = {**os.environ, "DEVSTACK_STATE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "devstack", "down"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "pubsub" in out.stdout and "storage" in out.stdout
    for entry in stack._procs.values():  # reap our direct children
        entry.wait(timeout=5)
    ps = subprocess.run(
        ["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    survivors = [
        line
        for line in ps
        if line.split() and int(line.split()[1]) in pgids and not line.split()[2].startswith("Z")
    ]
    assert survivors == []
    assert not stack.state_file.exists()


def test_a_running_stack_is_adopted_when_the_scheduler_is_off(stack):
    """The scheduler stand-in (issue 29) is started only with DEVSTACK_SWEEP_SECONDS > 0; a
    second `up` (another shell, `make up` then the tests) adopts the running stack instead
    of calling it partly running for want of a scheduler that was never started."""
    config = dataclasses.replace(stack.config, components=(*stack.config.components, "scheduler"))
    assert config.sweep_seconds == 0
    again = Stack(config)
    env = again.up()  # adopted: nothing started, nothing stopped
    assert env["PUBSUB_EMULATOR_HOST"] == stack.env()["PUBSUB_EMULATOR_HOST"]
    assert set(json.loads(stack.state_file.read_text())["components"]) == {"pubsub", "relay"}
