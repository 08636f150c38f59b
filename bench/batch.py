"""Batch results (issue 29): splitting a 10,000-item Vertex batch output of 1K images into
its items, streamed (the code as it is) against the buffered baseline (bench/_batch_buffered.py:
the whole file in memory, each line through json.loads), in the same run.

Setup (this process, against the bench stack): one `predictions.jsonl` in Vertex's format
(domain/batch_facts.py), N lines of one 1K PNG each (the stand-in's placeholder at the
catalog's 1K 1:1 size), written to the storage emulator; one batch per case in the batch
store, its group's Vertex job marked succeeded with that output, and its items' requests
(`items.jsonl`). Each case then runs `batch_results.split_group` in a fresh subprocess:
baseline = VmRSS after imports and clients, peak = VmHWM during the split (reset via
/proc/self/clear_refs first), items/s = N / seconds. Every item must end succeeded (the
item index's tally) and a sample of stored images is read back (bytes decode, provenance
inside). Target: the streamed split peaks at ≤ 512 MiB (generate's memory).

`python -m bench batch`; `BENCH_BATCH_ITEMS` (10000) sets N; `--small` runs 20.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
import time

from bench._common import emit, machine, table, verdict
from bench._rss import reset_peak, run_child, status
from bench._stack import BenchStack, local_stack

TARGET_MIB = 512
MiB = 1024 * 1024
MODEL = "gemini-3.1-flash-image"
CASES = ["streamed", "buffered"]
SMALL_ITEMS = 20  # `--small`: proves the benchmark still runs, in seconds
MAX_FAILED_PASSES = 3


def child(spec_json: str) -> None:
    """Runs in the fresh subprocess; prints one JSON line."""
    case = json.loads(spec_json)
    import google.cloud.firestore
    import google.cloud.storage

    from imagegen.bootstrap import Services
    from imagegen.services import batch_results

    del google
    services = Services()
    batch = services.batches.get(case["batch_id"])
    services.storage.list(batch.groups[0].output_dir)  # the clients are built and warm
    if case["path"] == "buffered":
        from bench import _batch_buffered

        _batch_buffered.install(services)
    baseline = status("VmRSS")
    reset = reset_peak()
    start = time.perf_counter()
    done, passes = _split(services, batch_results, case["batch_id"])
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": peak,
                "reset": reset,
                "seconds": seconds,
                "passes": passes,
                "state": done.state,
                "counts": done.counts.model_dump(),
                "checked": _check(services, batch.id),
            }
        )
    )


def _split(services, batch_results, batch_id: str):
    """Split the group as the sweep does: pass after pass until it is whole. A pass stops
    at a line boundary after IMAGEGEN_BATCH_SPLIT_SECONDS (the group notes where; the next
    pass reads on from there), and a pass that fails (the storage emulator stalls under
    load) is run again, the items it ended staying ended; more than MAX_FAILED_PASSES
    failures fail the benchmark."""
    passes = failed = 0
    while True:
        passes += 1
        batch = services.batches.get(batch_id)  # the group's `resume`, as the last pass left it
        try:
            done = batch_results.split_group(services, batch, batch.groups[0])
        except Exception as exc:
            failed += 1
            if failed >= MAX_FAILED_PASSES:
                raise
            print(f"[bench] pass {passes} failed ({type(exc).__name__}); resuming", flush=True)
            continue
        if done.groups[0].split:
            return done, passes


def _check(services, batch_id: str) -> str:
    """After the peak: a sample of the items' job records, their stored images whole, with
    their provenance in the object metadata."""
    import io

    from PIL import Image

    records = services.batches.items(batch_id, limit=3)
    for record in records:
        job = services.jobs.require(record["job_id"])  # the item's own job record
        [output] = job.outputs
        assert record["outputs"] == [output.uri], record
        data = services.storage.read(output.uri, 1 << 30)
        assert len(data) == output.bytes, output
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (output.width, output.height) == (1024, 1024)
            image.load()
        bucket, name = output.uri.removeprefix("gs://").split("/", 1)
        blob = services.storage._client.bucket(bucket).get_blob(name)
        assert blob.metadata["imagegen-job-id"] == job.id, blob.metadata  # issue 25's provenance
        assert blob.metadata["imagegen-batch-id"] == batch_id, blob.metadata
    return f"{len(records)} sampled ok"


def _output(services, bucket: str, name: str, batch_id: str, items: int) -> tuple[str, int]:
    """Write a predictions.jsonl of `items` lines, each one 1K image, as Vertex writes it."""
    from devstack.vertex_standin import render_image
    from imagegen.domain.batch import LineKey, item_job_id

    png = render_image("bench: a harbour at night", 1024, 1024, "image/png", None, "bench 1K")
    data = base64.b64encode(png).decode()
    blob = services.storage._client.bucket(bucket).blob(f"{name}/predictions.jsonl")
    size = 0
    with blob.open("wb", chunk_size=8 * MiB, content_type="application/octet-stream") as out:
        for line in range(1, items + 1):
            key = LineKey(line, 0, 1, item_job_id(batch_id, line))
            request = {
                "contents": [{"role": "user", "parts": [{"text": f"a harbour, take {line}"}]}],
                "generationConfig": {
                    "responseModalities": ["IMAGE"],
                    "imageConfig": {"imageSize": "1K"},
                },
                "labels": key.labels(batch_id),
            }
            response = {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}],
                        },
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1120},
                "modelVersion": MODEL,
            }
            raw = json.dumps(
                {
                    "status": "",
                    "processed_time": "2026-12-06T00:00:00Z",
                    "request": request,
                    "response": response,
                }
            ).encode()
            out.write(raw + b"\n")
            size += len(raw) + 1
    return f"gs://{bucket}/{name}", size


def _batch(services, bucket: str, batch_id: str, items: int, output_dir: str) -> None:
    from imagegen.domain.batch import Batch, BatchState, Counts, Group
    from imagegen.domain.request import Policy, validate_request

    validated = validate_request(
        {"prompt": "a harbour at night", "model": MODEL, "aspect_ratio": "1:1"},
        services.catalog,
        Policy(),
    ).to_json()
    lines = b"".join(
        json.dumps({"line": n, "request": validated}).encode() + b"\n" for n in range(1, items + 1)
    )
    base = f"bench-batches/{batch_id}/g0"
    services.storage.write(bucket, f"{base}/items.jsonl", lines, "application/octet-stream")
    now = dt.datetime.now(dt.UTC)
    group = Group(
        id="g0",
        model=MODEL,
        location="global",
        items=items,
        lines=items,
        input_uri=f"gs://{bucket}/{base}/input.jsonl",
        output_prefix=f"gs://{bucket}/{base}/output",
        vertex_job="projects/bench/locations/global/batchPredictionJobs/1",
        vertex_state="JOB_STATE_SUCCEEDED",
        output_dir=output_dir,
    )
    services.batches.create(
        Batch(
            id=batch_id,
            state=BatchState.RUNNING,
            created_at=now,
            updated_at=now,
            deadline_at=now + dt.timedelta(days=1),
            groups=[group],
            counts=Counts(total=items),
        )
    )


def run_case(env: dict[str, str], case: dict) -> dict:
    return run_child("bench.batch", env, case, timeout=3600)


def run(stack: BenchStack | None = None, small: bool = False) -> dict[str, object]:
    if stack is None:
        with local_stack() as own:
            return run(own, small)
    stack.apply()
    from imagegen.bootstrap import Services
    from imagegen.domain.batch import new_batch_id

    items = SMALL_ITEMS if small else int(os.environ.get("BENCH_BATCH_ITEMS", "10000"))
    services = Services()
    bucket = services.settings.require("outputs_bucket")
    env = {**os.environ, **stack.env, "LOG_LEVEL": "WARNING"}
    ids = {path: new_batch_id() for path in CASES}
    started = time.perf_counter()
    output_dir, size = _output(
        services, bucket, f"bench-batches/{ids['streamed']}/output", ids["streamed"], items
    )
    print(
        f"[bench] batch: {items} lines, {size / MiB:.0f} MiB written"
        f" in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    rows, results = [], {}
    for path in CASES:
        _batch(services, bucket, ids[path], items, output_dir)
        out = run_case(env, {"batch_id": ids[path], "path": path})
        results[path] = out
        ended = out["counts"]["succeeded"]
        assert ended == items and out["state"] == "succeeded", out
        target = (
            f"≤ {TARGET_MIB} MiB → {verdict(out['peak'] <= TARGET_MIB * MiB)}"
            if path == "streamed"
            else ""
        )
        rows.append(
            [
                path,
                f"{items}",
                f"{size / MiB:.0f}",
                f"{out['baseline'] / MiB:.0f}",
                f"{out['peak'] / MiB:.0f}",
                f"{(out['peak'] - out['baseline']) / MiB:.0f}",
                f"{out['seconds']:.1f}",
                f"{items / out['seconds']:.0f}",
                f"{out['state']} in {out['passes']} pass(es), {out['checked']}",
                target,
            ]
        )
        print(
            f"[bench] batch {path}: peak {out['peak'] / MiB:.0f} MiB,"
            f" {items / out['seconds']:.0f} items/s",
            flush=True,
        )
    streamed, buffered = results["streamed"], results["buffered"]
    body = [
        "## Batch results (splitting a Vertex batch output into items, fresh subprocess per case)",
        "",
        f"Machine: {machine()}.",
        f"{items} output lines of one 1K PNG each ({size / MiB:.0f} MiB of JSONL in the storage"
        " emulator), split by `batch_results.split_group`: each image streamed to the outputs"
        " bucket with its provenance, each item ended once in the batch's item index"
        " (Firestore emulator). Baseline = VmRSS after imports and clients; peak = VmHWM"
        " during the split. Path `streamed` = the code as it is (ranged reads, each line"
        " parsed as it arrives, images never held whole); `buffered` = the same split"
        " reading the whole file into memory and each line through json.loads"
        " (bench/_batch_buffered.py), measured in the same run as the baseline. Each path"
        " splits as the sweep does: pass after pass, each stopping at a line boundary after"
        " IMAGEGEN_BATCH_SPLIT_SECONDS and the next reading on from there; a pass that fails"
        " (the storage emulator stalls under load) runs again, its ended items staying ended."
        f" Streamed / buffered: peak {streamed['peak'] / max(1, buffered['peak']):.2f}x,"
        f" items/s {buffered['seconds'] / max(1e-9, streamed['seconds']):.2f}x."
        " Command: `python -m bench batch` (`BENCH_BATCH_ITEMS`).",
        "",
        table(
            [
                "path",
                "items",
                "output MiB",
                "baseline MiB",
                "peak MiB",
                "peak - baseline MiB",
                "seconds",
                "items/s",
                "outcome",
                "target",
            ],
            rows,
        ),
    ]
    emit("batch", "\n".join(body), small)
    return results


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        run()
