"""Worker overhead: `imagegen.services.worker.generate` in-process against the real
emulators and the Vertex stand-in (answering at once), split into its phases.

Phases are timed by wrapping a `Services` instance's adapter methods (no source edits):
claim = the job's first `jobs.transact` (the claim), Vertex call = `vertex.generate` minus
decode, decode = the REST reply turned into a dict (`json_format.MessageToDict`), images out
of it (`read_gemini`) and the provenance text spliced in (`embed_text_metadata`),
upload = `storage.write`, finalize = its later `jobs.transact`s (the progress records and
the finish; before the job store's port shrank to `transact`, progress counted as other);
other = the rest of `generate`.
Jobs are created with `services.submission.submit` on a topic nobody consumes; the same
prompt every time, so the stand-in serves its cached placeholder and costs ~nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from bench._common import emit, machine, ms, percentile, table, verdict
from bench._stack import BenchStack, local_stack

JOBS = int(os.environ.get("BENCH_WORKER_JOBS", "60"))
CONCURRENT = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "4"))
SMALL_JOBS = 4  # `--small`: proves the benchmark (and its instrumentation) still runs
TARGET_P50_S = 0.050
BODY = {
    "prompt": "a paper boat on a pond, flat illustration",
    "model": "gemini-3.1-flash-image",
    "number_of_images": 1,
    "image_size": "1K",
    "aspect_ratio": "1:1",
}
PHASES = ["claim", "vertex call", "decode", "upload", "finalize", "other"]


class Timer:
    """Per-thread, per-phase seconds of the job running on the current thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def current(self) -> dict[str, float]:
        if not hasattr(self._local, "acc"):
            self._local.acc = defaultdict(float)
        return self._local.acc

    def reset(self) -> None:
        self._local.acc = defaultdict(float)

    def wrap(self, phase: str, func):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.current()[phase] += time.perf_counter() - start

        return timed

    def wrap_first(self, phases: tuple[str, str], func):
        """The first call of a job (the reset starts one) is `phases[0]`, the rest the
        second."""

        def timed(*args, **kwargs):
            acc = self.current()
            phase = phases[1] if acc.get(phases[0]) else phases[0]
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                acc[phase] += time.perf_counter() - start

        return timed


def instrument(services, timer: Timer) -> None:
    """Wrap the adapter methods of this Services instance and the decode helpers."""
    import google.protobuf.json_format as json_format

    import imagegen.adapters.vertex as vertex_mod

    services.jobs.transact = timer.wrap_first(("claim", "finalize"), services.jobs.transact)
    services.storage.write = timer.wrap("upload", services.storage.write)
    services.vertex.generate = timer.wrap("vertex total", services.vertex.generate)
    # decode happens inside vertex.generate: module-level names. Since issue 18 each image
    # is base64-decoded and uploaded while its reply streams in, so that part of decode
    # and upload is counted in the Vertex call; `upload` is what is still written whole.
    vertex_mod.read_gemini = timer.wrap("decode", vertex_mod.read_gemini)
    json_format.MessageToDict = timer.wrap("decode", json_format.MessageToDict)


def split(acc: dict[str, float], total: float) -> dict[str, float]:
    decode = acc.get("decode", 0.0)
    embed_outside = 0.0  # embed_text_metadata runs outside vertex.generate; MessageToDict in
    out = {
        "claim": acc.get("claim", 0.0),
        "vertex call": max(0.0, acc.get("vertex total", 0.0) - decode + embed_outside),
        "decode": decode,
        "upload": acc.get("upload", 0.0),
        "finalize": acc.get("finalize", 0.0),
    }
    out["other"] = max(0.0, total - sum(out.values()))
    out["total"] = total
    return out


def run(stack: BenchStack | None = None, small: bool = False) -> dict[str, object]:
    if stack is None:
        with local_stack() as own:
            return run(own, small)
    stack.apply()
    jobs = SMALL_JOBS if small else JOBS
    from imagegen.bootstrap import Services
    from imagegen.services.submission import submit
    from imagegen.services.worker import generate

    services = Services()
    timer = Timer()
    # cold: the first job builds the Firestore, Storage and Vertex clients
    first_id = submit(services, BODY).job.id
    start = time.perf_counter()
    assert generate(services, first_id) == "succeeded"
    first_s = time.perf_counter() - start
    instrument(services, timer)
    for _ in range(1 if small else 3):  # warm-up
        generate(services, submit(services, BODY).job.id)

    ids = [submit(services, BODY).job.id for _ in range(jobs)]
    per_job: list[dict[str, float]] = []
    wall0 = time.perf_counter()
    for job_id in ids:
        timer.reset()
        start = time.perf_counter()
        outcome = generate(services, job_id)
        total = time.perf_counter() - start
        if outcome != "succeeded":
            raise RuntimeError(f"job {job_id} ended {outcome}")
        per_job.append(split(timer.current(), total))
    seq_wall = time.perf_counter() - wall0

    ids = [submit(services, BODY).job.id for _ in range(jobs)]
    conc_lat: list[float] = []

    def one(job_id: str) -> None:
        start = time.perf_counter()
        if generate(services, job_id) != "succeeded":
            raise RuntimeError(f"job {job_id} did not succeed")
        conc_lat.append(time.perf_counter() - start)

    wall0 = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        list(pool.map(one, ids))
    conc_wall = time.perf_counter() - wall0

    rows = []
    for phase in [*PHASES, "total"]:
        values = [job[phase] for job in per_job]
        p50 = percentile(values, 50)
        share = p50 / percentile([j["total"] for j in per_job], 50) * 100
        rows.append(
            [
                phase,
                ms(p50),
                ms(percentile(values, 90)),
                ms(percentile(values, 99)),
                ms(sum(values) / len(values)),
                f"{share:.0f}%",
            ]
        )
    total_p50 = percentile([j["total"] for j in per_job], 50)
    body = [
        "## Worker overhead (`services.worker.generate`, in-process)",
        "",
        f"Machine: {machine()}.",
        f"{jobs} one-image 1K jobs of gemini-3.1-flash-image run one after another in-process"
        " against the Firestore and Storage emulators and the Vertex stand-in (no injected"
        " latency, cached placeholder), after 3 warm-up jobs.",
        "",
        table(["phase", "p50 ms", "p90 ms", "p99 ms", "mean ms", "share of p50"], rows),
        "",
        table(
            ["mode", "jobs", "jobs/s", "p50 ms/job", "p99 ms/job"],
            [
                [
                    "sequential",
                    jobs,
                    f"{jobs / seq_wall:.1f}",
                    ms(total_p50),
                    ms(percentile([j["total"] for j in per_job], 99)),
                ],
                [
                    f"{CONCURRENT} threads (one instance, concurrency {CONCURRENT})",
                    jobs,
                    f"{jobs / conc_wall:.1f}",
                    ms(percentile(conc_lat, 50)),
                    ms(percentile(conc_lat, 99)),
                ],
            ],
        ),
        "",
        f"First job of a fresh `Services` (builds the clients, imports the Vertex client):"
        f" {ms(first_s)} ms.",
        "",
        table(
            ["target", "measured", "verdict"],
            [
                [
                    "≤ 50 ms p50 per 1-image 1K job",
                    f"{ms(total_p50)} ms",
                    verdict(total_p50 <= TARGET_P50_S),
                ]
            ],
        ),
    ]
    emit("worker", "\n".join(body), small)
    return {"p50_s": total_p50, "jobs_per_s": jobs / seq_wall}


if __name__ == "__main__":
    run()
