"""Native: what answering synchronously costs (issue 28). On the whole local stack (submit,
Pub/Sub relay, generate, the Vertex stand-in, the emulators), in the same run and
interleaved, one request at a time:

- `stand-in`: a `:generateContent` call straight to the Vertex stand-in (the model call
  alone, the floor);
- `job API + polling`: `POST /v1/jobs`, then `GET /v1/jobs/{id}` every 0.2 s until the job
  ends (the best a client of the job API does);
- `native route`: the same request to `…/models/{m}:generateContent` on submit, which waits
  for the job itself and answers with the image.

Each round uses a new prompt (the stand-in caches rendered images by prompt). The gap
between the native route and the polling client is the price of the server-side wait
(its poll interval grows from 0.2 s to 1 s); the gap to the stand-in is the pipeline's.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench._common import emit, machine, ms, percentile, table

ROUNDS = int(os.environ.get("BENCH_NATIVE_ROUNDS", "20"))
MODEL = "gemini-3.1-flash-image"
PATH = f"/v1beta1/projects/bench/locations/global/publishers/google/models/{MODEL}"


def _native_body(prompt: str) -> dict:
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"responseModalities": ["IMAGE"]},
    }


@contextlib.contextmanager
def _whole_stack() -> Iterator[tuple[str, str, Path]]:
    """(API URL, stand-in URL, state dir) of a whole local stack: the one the environment
    points at with `BENCH_STACK=running` (never stopped here), else one started here."""
    from devstack.stack import Stack, StackConfig

    if os.environ.get("BENCH_STACK") == "running":
        certs = Path(os.environ["DEVSTACK_ID_TOKEN_CERTS"])
        yield os.environ["IMAGEGEN_API_URL"], os.environ["IMAGEGEN_VERTEX_ENDPOINT"], certs.parent
        return
    stack = Stack(StackConfig.from_env())
    stack.up()
    try:
        yield stack.config.url("submit"), stack.config.url("vertex"), stack.state_dir
    finally:
        stack.down()


def run(small: bool = False) -> None:
    import requests

    from devstack import idtokens

    rounds = 2 if small else ROUNDS
    with _whole_stack() as (api, vertex, state_dir):
        token = idtokens.mint(state_dir, "bench@example.com", api)
        auth = {"Authorization": f"Bearer {token}"}
        times: dict[str, list[float]] = {"stand-in": [], "job API + polling": [], "native": []}
        with requests.Session() as http:
            for n in range(rounds + 2):  # two warm-up rounds, not counted
                tag = f"bench-native-{uuid.uuid4().hex[:8]}"
                started = time.monotonic()
                answer = http.post(
                    f"{vertex}{PATH}:generateContent", json=_native_body(f"{tag} a"), timeout=60
                )
                direct = time.monotonic() - started
                assert answer.status_code == 200, answer.text[:300]

                started = time.monotonic()
                job = http.post(
                    f"{api}/v1/jobs",
                    json={"prompt": f"{tag} b", "model": MODEL},
                    headers=auth,
                    timeout=60,
                ).json()
                while job["state"] not in ("succeeded", "blocked", "failed", "cancelled"):
                    time.sleep(0.2)
                    job = http.get(f"{api}/v1/jobs/{job['id']}", headers=auth, timeout=60).json()
                polled = time.monotonic() - started

                started = time.monotonic()
                answer = http.post(
                    f"{api}{PATH}:generateContent",
                    json=_native_body(f"{tag} c"),
                    headers=auth,
                    timeout=120,
                )
                native = time.monotonic() - started
                assert answer.status_code == 200, answer.text[:300]
                if n >= 2:
                    times["stand-in"].append(direct)
                    times["job API + polling"].append(polled)
                    times["native"].append(native)
    rows = [
        [name, ms(percentile(v, 50)), ms(percentile(v, 95)), ms(min(v))]
        for name, v in times.items()
    ]
    gap = percentile(times["native"], 50) - percentile(times["job API + polling"], 50)
    body = "\n".join(
        [
            "## native",
            "",
            f"{machine()}; {rounds} rounds, one request at a time, interleaved "
            "(`python -m bench native`).",
            "",
            table(["path", "p50 ms", "p95 ms", "min ms"], rows),
            "",
            f"native route p50 minus job API + polling p50: {ms(gap)} ms (negative: faster).",
        ]
    )
    emit("native", body, small)
