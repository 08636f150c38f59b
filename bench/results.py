"""What issue 16 costs on the hot paths, in-process against the emulators:

- submit with job events on (an outbox entry in the job's create, then one Publish RPC and
  one `ArrayRemove` write) against off (`IMAGEGEN_EVENTS_TOPIC=""`), interleaved;
- signing an output URL (the local stand-in key: a deployment adds one signBlob call per
  output per half URL lifetime, which the cache amortises) and a GET's `with_urls` on a
  four-output job once the cache is warm;
- one webhook delivery end to end (claim transaction, signature, POST to a local
  receiver, record transaction).

Run: `python -m bench results` (its own stack; see bench/README.md).
"""

from __future__ import annotations

import base64
import secrets
import time

from bench._common import emit, machine, ms, percentile, table
from bench._stack import BenchStack, _create_topic, local_stack

ROUNDS = 150
SMALL_ROUNDS = 3  # `--small`: proves the benchmark still runs
HOOKS, SMALL_HOOKS = 50, 2


def run(stack: BenchStack | None = None, small: bool = False) -> dict[str, object]:
    if stack is None:
        with local_stack() as own:
            return run(own, small)
    stack.apply()
    rounds = SMALL_ROUNDS if small else ROUNDS
    env = stack.env
    for topic in ("bench-events", "bench-webhook-dead-letters"):
        _create_topic(env["PUBSUB_EMULATOR_HOST"], env["GOOGLE_CLOUD_PROJECT"], topic)

    from imagegen.bootstrap import Services
    from imagegen.config import load_settings
    from imagegen.domain.job_events import cloud_event
    from imagegen.domain.job_values import PendingEvent
    from imagegen.services import webhooks
    from imagegen.services.submission import submit

    base = load_settings().model_copy(
        update=dict(
            url_signer="local",
            signed_url_endpoint=env["STORAGE_EMULATOR_HOST"],
            webhook_secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            webhook_allow_http=True,
            webhook_allowed_networks=["127.0.0.1/32"],
            webhook_dead_letter_topic="bench-webhook-dead-letters",
        )
    )
    on = Services(base.model_copy(update={"events_topic": "bench-events"}))
    off = Services(base.model_copy(update={"events_topic": ""}))
    body = {"prompt": "a benchmark teapot"}
    for services in (on, off):  # warm the clients
        submit(services, body)
    timings: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(rounds):
        for name, services in (("off", off), ("on", on)):
            start = time.perf_counter()
            submit(services, body)
            timings[name].append(time.perf_counter() - start)

    uris = [f"gs://{env['IMAGEGEN_OUTPUTS_BUCKET']}/jobs/bench/{n}.png" for n in range(200)]
    sign_cold = []
    for uri in uris:
        start = time.perf_counter()
        on.signer.sign(uri)
        sign_cold.append(time.perf_counter() - start)
    view = {"outputs": [{"uri": uri, "index": n} for n, uri in enumerate(uris[:4])]}
    warm = []
    for _ in range(rounds):
        start = time.perf_counter()
        on.signer.with_urls(view)
        warm.append(time.perf_counter() - start)

    from devstack.webhook_receiver import Receiver

    receiver = Receiver([204])
    url = receiver.url
    deliveries = []
    try:
        for n in range(SMALL_HOOKS if small else HOOKS):
            job = submit(
                on, {"prompt": f"bench hook {n}", "webhook": {"url": url, "events": ["queued"]}}
            ).job
            entry = PendingEvent(id=f"{job.id}-1", state="queued", time=job.created_at)
            event = cloud_event(job, entry, "b")
            start = time.perf_counter()
            assert webhooks.deliver(on, job.id, event, url) == "delivered"
            deliveries.append(time.perf_counter() - start)
    finally:
        receiver.close()

    def row(name: str, values: list[float]) -> list[object]:
        return [name, len(values), ms(percentile(values, 50)), ms(percentile(values, 95))]

    body_md = "\n".join(
        [
            "## Results that reach people (issue 16)",
            "",
            f"Machine: {machine()}.",
            "In-process against the emulators (`python -m bench results`); submit rounds "
            "interleaved, events off/on.",
            "",
            table(
                ["case", "n", "p50 ms", "p95 ms"],
                [
                    row("submit, job events off", timings["off"]),
                    row("submit, job events on", timings["on"]),
                    row("sign one output URL (stand-in key, uncached)", sign_cold),
                    row("with_urls, 4 outputs, cache warm", warm),
                    row("webhook delivery (claim, sign, POST, record)", deliveries),
                ],
            ),
        ]
    )
    emit("results", body_md, small)
    return {"timings": timings}
