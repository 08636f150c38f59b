"""Fault injection against the whole local stack: HTTP API, the Cloud Tasks stand-in (jobs'
queue since issue 27), generate, Vertex stand-in, Firestore and Storage emulators.

Each scenario submits a batch whose prompts carry this test's `unique` tag (so the
stand-in's per-prompt fault counters and request records are the test's own), waits
(bounded) for every job, and checks: every job terminal, none lost, none stuck, exactly
the expected objects under jobs/<id>/ in the outputs bucket, and the attempts and errors
each job recorded. The figures go into the table printed at the end (tests/faults/
conftest.py) and into docs/reliability.md.

The session stack runs with IMAGEGEN_LEASE_SECONDS=12, IMAGEGEN_CALL_BUDGET_SECONDS=8,
IMAGEGEN_REQUEUE_AFTER_SECONDS=5 and IMAGEGEN_MAX_ATTEMPTS=5 (tests/conftest.py); its queue
retries a task 1 s to 10 s apart.
Scenarios that restart a component put it back as it was in a `finally`.
"""

from __future__ import annotations

import collections
import signal
import threading
import time
import uuid

GEMINI = "gemini-3.1-flash-image"
LITE = "gemini-3.1-flash-lite-image"
PRO = "gemini-3-pro-image"  # served in global and in us-central1, us-east1
TERMINAL = {"succeeded", "blocked", "failed", "cancelled"}


def tag(unique: str, index: int) -> str:
    """A per-job marker inside the prompt: `<unique>j03 ` (the space ends it)."""
    return f"{unique}j{index:02d} "


def calls_per_job(faults, unique: str, count: int) -> list[int]:
    records = faults.calls(unique)
    return [sum(1 for r in records if tag(unique, i) in str(r["body"])) for i in range(count)]


def locations_per_job(faults, unique: str, count: int) -> list[list[str]]:
    records = faults.calls(unique)
    return [
        [r["location"] for r in records if tag(unique, i) in str(r["body"])] for i in range(count)
    ]


def body(unique: str, index: int, text: str, model: str = GEMINI, images: int = 1) -> dict:
    return {"prompt": f"{tag(unique, index)}{text}", "model": model, "number_of_images": images}


# -- 1. quota bursts ---------------------------------------------------------------------------


def test_429_bursts_are_retried_and_every_job_succeeds(faults, unique, expected_pngs):
    started = time.monotonic()
    n = 8
    bodies = []
    for i in range(n):
        directive = " [[fail:429x3]]" if i % 2 == 0 else ""
        model, images = (GEMINI, 1) if i % 4 < 2 else (LITE, 2)
        bodies.append(body(unique, i, f"a paper boat{directive}", model, images))
    ids = faults.submit_batch(bodies)
    outcome = faults.wait_all(ids, timeout=60)
    expected = {
        job_id: expected_pngs(job_id, b["number_of_images"])
        for job_id, b in zip(ids, bodies, strict=True)
    }
    calls = calls_per_job(faults, unique, n)
    faults.record(
        "1. 429 bursts",
        n,
        f"429x3 on {n // 2}/{n}",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        images = bodies[i]["number_of_images"]
        if i % 2 == 0:
            # three refusals, then successes: the backoff (full jitter, 0.5-1, 1-2, 2-4 s)
            # fits the 8 s budget or hands the job back once for a second attempt. A
            # two-image job (one call an image, the 429 counter shared): 429 429 | 429 ok |
            # ok, 5 calls: the image that came back is kept, only the missing one is asked.
            want = 4 if images == 1 else 5
            assert calls[i] == want, f"job {i}: {calls[i]} calls to Vertex, expected {want}"
            assert job["attempts"] in (1, 2), job
        else:
            assert calls[i] == images, f"job {i}: {calls[i]} calls, expected {images}"
            assert job["attempts"] == 1, job


def test_a_job_that_succeeds_after_a_hand_back_shows_no_stale_error(faults, unique, expected_pngs):
    """429x5 cannot fit the 8 s budget (4 backoffs alone take >= 7.5 s), so attempt 1
    always hands the job back and attempt 2 succeeds: 6 calls, 2 attempts."""
    started = time.monotonic()
    n = 2
    bodies = [body(unique, i, "a lighthouse [[fail:429x5]]") for i in range(n)]
    ids = faults.submit_batch(bodies)
    outcome = faults.wait_all(ids, timeout=45)
    expected = {job_id: expected_pngs(job_id, 1) for job_id in ids}
    calls = calls_per_job(faults, unique, n)
    faults.record(
        "1b. 429x5: hand-back, then success",
        n,
        f"429x5 on {n}/{n}",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        assert job["attempts"] == 2, job
        assert calls[i] == 6, f"job {i}: {calls[i]} calls to Vertex, expected 6"
        assert "error" not in job, (
            "server bug (functions/imagegen/services/worker.py, generate(): the success path "
            "never clears `error`): a job that SUCCEEDED on attempt 2 still reports attempt "
            f"1's hand-back error to GET /v1/jobs/{{id}}: {job.get('error')}"
        )


# -- 2. server errors --------------------------------------------------------------------------


def test_500_and_503_are_retried_with_backoff(faults, unique, expected_pngs):
    started = time.monotonic()
    directives = ["[[fail:503x2]]", "[[fail:500x2]]", "[[fail:503x1]]", ""]
    n = 8
    bodies = [
        body(unique, i, f"a tin robot {directives[i % 4]}", GEMINI if i < 4 else LITE)
        for i in range(n)
    ]
    ids = faults.submit_batch(bodies)
    outcome = faults.wait_all(ids, timeout=45)
    expected = {job_id: expected_pngs(job_id, 1) for job_id in ids}
    calls = calls_per_job(faults, unique, n)
    faults.record(
        "2. 500/503",
        n,
        "503x2, 500x2, 503x1 on 6/8",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    want = {0: 3, 1: 3, 2: 2, 3: 1}
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        assert calls[i] == want[i % 4], f"job {i}: {calls[i]} calls, expected {want[i % 4]}"
        assert job["attempts"] == 1, job  # 1 + 2 s of backoff fits the 8 s budget


# -- 3. latency past the call budget -> redelivery -> out of attempts -------------------------


def test_latency_past_the_budget_ends_when_the_attempts_run_out(faults, unique):
    """Each attempt runs out of its 8 s budget and hands the job back (503): the queue tries
    the task again with backoff, and the claim past IMAGEGEN_MAX_ATTEMPTS ends the job with
    the last error. Cloud Tasks has no dead-letter queue: the job's own attempt count ends
    it, and nothing is dropped silently."""
    started = time.monotonic()
    n = 3
    bodies = [body(unique, i, "a slow glacier [[latency:12000]]") for i in range(n)]
    ids = faults.submit_batch(bodies)
    # first the hand-back: the worker gives the job back, queued, with the error recorded
    handed_back = None
    end = time.monotonic() + 30
    while handed_back is None and time.monotonic() < end:
        for job_id in ids:
            job = faults.job(job_id)
            if job and job["state"] == "queued" and job.get("error"):
                handed_back = job
                break
        time.sleep(0.3)
    outcome = faults.wait_all(ids, timeout=150)
    calls = calls_per_job(faults, unique, n)
    faults.record(
        "3. latency > budget, attempts run out",
        n,
        "12 s latency vs 8 s budget, every call",
        outcome,
        faults.duplicates(outcome, {i: set() for i in ids}),
        sum(calls),
        time.monotonic() - started,
    )
    assert handed_back is not None, "no job was seen handed back (queued with an error)"
    assert handed_back["error"]["code"] == "upstream_retryable", handed_back
    assert handed_back["attempts"] >= 1
    faults.check(outcome, {i: set() for i in ids})
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "failed", job
        error = job["error"]
        assert error["code"] == "attempts_exhausted", error
        # the last error the worker saw is kept
        assert error["last_error"]["code"] == "upstream_retryable", error
        assert calls[i] == 5, f"job {i}: {calls[i]} calls"  # IMAGEGEN_MAX_ATTEMPTS
        assert job["attempts"] == 6, job  # the claim that found no attempt left


# -- 4. safety blocks --------------------------------------------------------------------------


def test_safety_blocks_end_blocked_with_reasons_and_no_objects(faults, unique, expected_pngs):
    started = time.monotonic()
    cases = [
        ("a storm [[block:IMAGE_SAFETY]]", GEMINI, 1),
        ("a storm [[block:IMAGE_SAFETY]]", GEMINI, 1),
        ("a storm [[block:prompt]]", GEMINI, 1),
        ("a storm [[block:prompt:PROHIBITED_CONTENT]]", GEMINI, 1),
        ("a storm [[block:IMAGE_SAFETY]]", LITE, 2),
    ]
    bodies = [body(unique, i, text, model, k) for i, (text, model, k) in enumerate(cases)]
    ids = faults.submit_batch(bodies)
    outcome = faults.wait_all(ids, timeout=30)
    expected = {job_id: expected_pngs(job_id, 0) for job_id in ids}
    calls = calls_per_job(faults, unique, len(ids))
    faults.record(
        "4. safety blocks",
        len(ids),
        "IMAGE_SAFETY x3 (one a 2-image job), prompt x2",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    jobs = [outcome.jobs[i] for i in ids]
    assert calls == [1, 1, 1, 1, 2], calls  # a block is final: never retried
    for job in jobs:
        assert job["state"] == "blocked", job
        assert job["error"]["code"] == "blocked", job
        assert job["attempts"] == 1
    assert "IMAGE_SAFETY" in jobs[0]["error"]["message"], jobs[0]
    assert "prompt blocked: SAFETY" in jobs[2]["error"]["message"], jobs[2]
    assert "prompt blocked: PROHIBITED_CONTENT" in jobs[3]["error"]["message"], jobs[3]
    assert len(jobs[4]["blocked_images"]) == 2, jobs[4]


# -- 5. model not served in the region ---------------------------------------------------------


def test_regional_404_fails_without_fallbacks_and_fails_over_with_them(
    faults, stack, unique, expected_pngs
):
    started = time.monotonic()
    # a) the session stack has no IMAGEGEN_FALLBACK_LOCATIONS: a final failure, one call
    plain = [body(unique, i, "a harbour [[notserved:global]]", PRO) for i in range(2)]
    plain_ids = faults.submit_batch(plain)
    first = faults.wait_all(plain_ids, timeout=30)
    # b) generate restarted with fallback locations: the same fault fails over
    n = 6
    failover = [body(unique, i, "a harbour [[notserved:global]]", PRO, 2) for i in range(2, 2 + n)]
    everywhere = body(unique, 2 + n, "a harbour [[notserved]]", PRO)
    try:
        faults.restart(
            "generate", extra_env={"IMAGEGEN_FALLBACK_LOCATIONS": "us-central1,us-east1"}
        )
        ids = faults.submit_batch([*failover, everywhere])
        second = faults.wait_all(ids, timeout=30)
    finally:
        faults.restart("generate")
    all_ids = plain_ids + ids
    expected = {i: set() for i in plain_ids} | {i: expected_pngs(i, 2) for i in ids[:n]}
    expected[ids[n]] = set()
    outcome = first
    outcome.jobs.update(second.jobs)
    outcome.objects.update(second.objects)
    outcome.lost += second.lost
    outcome.stuck += second.stuck
    locations = locations_per_job(faults, unique, len(all_ids))
    faults.record(
        "5. regional 404 + failover",
        len(all_ids),
        "404 in global (8), everywhere (1)",
        outcome,
        faults.duplicates(outcome, expected),
        sum(len(x) for x in locations),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    for index, job_id in enumerate(plain_ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "failed" and job["error"]["code"] == "upstream_final", job
        assert "no location serves the job" in job["error"]["message"], job
        assert "served_by" not in job and job["attempts"] == 1, job
        assert locations[index] == ["global"], locations[index]
    for index, job_id in enumerate(ids[:n], start=2):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        assert job["served_by"] == {"model": PRO, "location": "us-central1"}, job
        assert job["attempts"] == 1, job
        # two images: both calls meet the 404 in global, then both go to us-central1
        assert sorted(locations[index]) == ["global", "global", "us-central1", "us-central1"]
    job = outcome.jobs[ids[n]]
    assert job["state"] == "failed" and job["error"]["code"] == "upstream_final", job
    assert locations[2 + n] == ["global", "us-central1", "us-east1"]


# -- 6. duplicate and out-of-order delivery ----------------------------------------------------


def test_duplicated_dispatch_runs_each_job_once(faults, stack, unique, expected_pngs):
    """Cloud Tasks may run a task twice (https://docs.cloud.google.com/tasks/docs/common-pitfalls):
    the stand-in sends every one of these tasks twice at once; the claim makes the copy
    harmless. (Cloud Tasks promises no order either; a job's worker needs none.)"""
    started = time.monotonic()
    n = 10
    bodies = [
        body(unique, i, "a kite [[latency:300]]", GEMINI if i % 2 else LITE, 1 + i % 2)
        for i in range(n)
    ]
    faults.tasks_faults(duplicate=n)
    try:
        ids = faults.submit_batch(bodies)
        outcome = faults.wait_all(ids, timeout=40)
        time.sleep(0.5)  # let the stand-in log the last dispatches
    finally:
        faults.tasks_faults(duplicate=0)
    expected = {
        job_id: expected_pngs(job_id, b["number_of_images"])
        for job_id, b in zip(ids, bodies, strict=True)
    }
    calls = calls_per_job(faults, unique, n)
    dispatches = faults.dispatches(set(ids))
    faults.record(
        "6. every task dispatched twice",
        n,
        f"{n} duplicated dispatches",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    assert len(dispatches) == n, dispatches  # one dispatch a task (each sent twice)
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        assert job["attempts"] == 1, job  # the copies met the lease or a finished job
        want = bodies[i]["number_of_images"]  # one image a call, each made once
        assert calls[i] == want, f"job {i} ran {calls[i]} calls at Vertex, expected {want}"


# -- 7. the worker dies mid-job ----------------------------------------------------------------


def test_sigkill_mid_job_is_recovered_by_the_sweeper(faults, stack, unique, expected_pngs):
    started = time.monotonic()
    n = 6
    bodies = [body(unique, i, "a lantern [[latency:3000]]") for i in range(n)]
    ids = faults.submit_batch(bodies)
    end = time.monotonic() + 15
    while time.monotonic() < end:
        if all((faults.job(i) or {}).get("state") == "running" for i in ids):
            break
        time.sleep(0.1)
    running = sum((faults.job(i) or {}).get("state") == "running" for i in ids)
    stack.kill("generate", signal.SIGKILL)
    faults.start("generate")
    # the queue's retries meet a fresh lease and are answered 200; the sweeper queues the
    # job again once the 12 s lease has run out
    sweeps = faults.sweep_until_terminal(ids, timeout=45, every=1.5)
    outcome = faults.wait_all(ids, timeout=15)
    expected = {job_id: expected_pngs(job_id, 1) for job_id in ids}
    calls = calls_per_job(faults, unique, n)
    faults.record(
        "7. SIGKILL generate mid-job",
        n,
        f"SIGKILL with {running} running; {sweeps['republished']} queued again",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    assert running == n, f"only {running}/{n} jobs were running when generate was killed"
    faults.check(outcome, expected)
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        assert job["attempts"] >= 2, job
        assert calls[i] >= 2, f"job {i}: {calls[i]} calls"


# -- 8. Cloud Tasks loses its tasks and is down for a while -----------------------------------


def test_a_tasks_restart_loses_tasks_and_the_sweeper_recovers_them(
    faults, stack, unique, expected_pngs
):
    """The queue is paused first, so the first batch's tasks wait in the stand-in and are
    certainly lost with it; more jobs are submitted while it restarts (Cloud Tasks down at
    submit: 503 and the job withdrawn; the client retries with the same Idempotency-Key).
    Recovery is the sweeper's: a queued job idle longer than IMAGEGEN_REQUEUE_AFTER whose
    task no longer exists gets a fresh one."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2

    started = time.monotonic()
    n_before, n_during = 8, 3
    bodies = [body(unique, i, "a beacon") for i in range(n_before)]
    restart_error: list[BaseException] = []
    answers: collections.Counter = collections.Counter()
    client = tasks_v2.CloudTasksClient(
        transport="rest",
        client_options={"api_endpoint": faults.env["IMAGEGEN_TASKS_ENDPOINT"]},
        credentials=AnonymousCredentials(),
    )

    def restart() -> None:
        try:
            stack.restart("tasks")
        except BaseException as exc:
            restart_error.append(exc)

    client.pause_queue(name=faults.queue_path())
    ids = faults.submit_batch(bodies)
    restarter = threading.Thread(target=restart)
    restarter.start()
    for j in range(n_during):
        i = n_before + j
        key = f"{unique}-{uuid.uuid4().hex[:6]}"
        payload: dict = {}
        end = time.monotonic() + 45
        while time.monotonic() < end:
            status, payload = faults.submit(body(unique, i, "a beacon"), key=key, timeout=30)
            answers[status] += 1
            if status in (200, 202):
                break
            assert status == 503, f"submit during the restart answered {status}: {payload}"
            time.sleep(0.3)
        assert "id" in payload, f"never accepted: {payload}"
        ids.append(payload["id"])
    restarter.join(60)
    assert not restarter.is_alive() and not restart_error, restart_error
    queued_after = sum((faults.job(i) or {}).get("state") == "queued" for i in ids)
    sweeps = faults.sweep_until_terminal(ids, timeout=60, every=2.0)
    outcome = faults.wait_all(ids, timeout=20)
    expected = {job_id: expected_pngs(job_id, 1) for job_id in ids}
    calls = calls_per_job(faults, unique, len(ids))
    faults.record(
        "8. Cloud Tasks restart",
        len(ids),
        f"{n_before} tasks lost, {answers[503]} submit 503s; {sweeps['republished']} queued again",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    assert queued_after >= n_before, f"only {queued_after} jobs lost their task"
    assert sweeps["republished"] >= n_before
    faults.check(outcome, expected)
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        assert calls[i] == 1, f"job {i} ran {calls[i]} times at Vertex"


# -- 9. one call of a multi-image job fails ----------------------------------------------------


def test_a_failed_call_of_a_multi_image_job_reruns_only_the_missing_images(
    faults, unique, expected_pngs
):
    """Gemini makes one image a call. With 3 images and one call failing (503 once, or 12 s
    of latency past the 8 s budget so the attempt is handed back), the images that came
    back are stored at once and recorded on the job; the retry or the redelivered attempt
    asks only for the missing one. Each image is generated once and billed once."""
    started = time.monotonic()
    cases = [
        ("a comet [[fail:503x1]]", 3),
        ("a comet [[fail:503x1]]", 3),
        ("a comet [[fail:429x1]]", 2),
    ]
    bodies = [body(unique, i, text, GEMINI, k) for i, (text, k) in enumerate(cases)]
    slow = len(bodies)
    bodies.append(body(unique, slow, "a slow comet", GEMINI, 3))
    rule = {"match": {"prompt_contains": tag(unique, slow)}, "latency_ms": 12000, "times": 1}
    rules_url = f"{faults.vertex_url}/_standin/faults"
    assert faults.http.post(rules_url, json={"rules": [rule]}, timeout=10).status_code == 200
    try:
        ids = faults.submit_batch(bodies)
        outcome = faults.wait_all(ids, timeout=90)
    finally:
        faults.http.delete(rules_url, timeout=10)
    expected = {
        job_id: expected_pngs(job_id, b["number_of_images"])
        for job_id, b in zip(ids, bodies, strict=True)
    }
    calls = calls_per_job(faults, unique, len(ids))
    faults.record(
        "9. one call of a multi-image job fails",
        len(ids),
        "503x1, 503x1, 429x1, 12 s latency on one call",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        images = bodies[i]["number_of_images"]
        assert job["state"] == "succeeded", job
        assert [o["index"] for o in job["outputs"]] == list(range(images)), job
        assert job["images_produced"] == images
        assert job["cost_usd"] == round(images * 0.0672, 6), job  # billed once each
        # images + the one failed call (a re-run of the whole set would cost images more)
        assert calls[i] == images + 1, f"job {i}: {calls[i]} calls, expected {images + 1}"
    assert outcome.jobs[ids[slow]]["attempts"] == 2, outcome.jobs[ids[slow]]


# -- 10. the connection drops mid-image ----------------------------------------------------


def test_a_connection_dropped_mid_image_leaves_no_partial_object(faults, unique, expected_pngs):
    """The stand-in cuts the reply off halfway through the image's base64 (`[[drop:N]]`)
    while the worker is streaming that image into its upload: the upload is never
    finalized, the call is retried, and the job ends succeeded with exactly its images
    (a multi-image job keeps the calls that worked); when every call drops, the job ends
    failed with the reason and no object at all (issue 18)."""
    started = time.monotonic()
    cases = [("a kite [[drop:1]]", 1), ("a kite [[drop:2]]", 3), ("a kite [[drop]]", 1)]
    bodies = [body(unique, i, text, GEMINI, k) for i, (text, k) in enumerate(cases)]
    ids = faults.submit_batch(bodies)
    outcome = faults.wait_all(ids, timeout=110)
    expected = {ids[0]: expected_pngs(ids[0], 1), ids[1]: expected_pngs(ids[1], 3), ids[2]: set()}
    calls = calls_per_job(faults, unique, len(ids))
    faults.record(
        "10. connection dropped mid-image",
        len(ids),
        "drop x1, drop x2 of 3 images, drop always",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    for i in (0, 1):
        job = outcome.jobs[ids[i]]
        assert job["state"] == "succeeded", job
        images = bodies[i]["number_of_images"]
        assert [o["index"] for o in job["outputs"]] == list(range(images)), job
        assert all(o["bytes"] > 0 and o["width"] == 1024 for o in job["outputs"]), job
        assert job["cost_usd"] == round(images * 0.0672, 6), job  # billed once each
    assert calls[0] == 2 and calls[1] == 3 + 2, calls  # the dropped calls, asked again
    failed = outcome.jobs[ids[2]]
    assert failed["state"] == "failed", failed
    assert failed["error"]["last_error"]["code"] == "upstream_retryable", failed
    message = failed["error"]["last_error"]["message"]
    assert "ended prematurely" in message or "cut short" in message, failed
