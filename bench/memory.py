"""Memory: peak RSS of `generate` running one job, each case in a fresh subprocess, against
the size of the images and the RSS of the same process after its imports and clients.

The child imports what `generate` needs, builds its clients (Firestore, Storage, Vertex),
reads VmRSS (baseline), resets the high-water mark (/proc/self/clear_refs), runs the job,
and reads VmHWM (peak). Cases: 4 x 4K on gemini-3-pro-image and 4 x 1K on
gemini-3.1-flash-image through the worker, with the stock stand-in (flat placeholders that
compress to little) and with incompressible images (bench/_noisy_standin.py: encoded size ≈
raw pixels, an upper bound for real output). Content Credentials (issue 25): gemini-3-pro-image
carries them, so the stand-in signs its images and the worker reads each one back and
verifies it; the 4 x 4K incompressible case runs with that verification on and off in the
same run (`IMAGEGEN_VERIFY_CONTENT_CREDENTIALS=0`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench._common import ROOT, emit, machine, table, verdict
from bench._rss import reset_peak, run_child, status
from bench._stack import NOISY_PORT, BenchStack, local_stack, stop_function, wait_http

TARGET_MIB = 512
MiB = 1024 * 1024

_4K = {
    "model": "gemini-3-pro-image",
    "number_of_images": 4,
    "image_size": "4K",
    "aspect_ratio": "1:1",
}
_1K = {
    "model": "gemini-3.1-flash-image",
    "number_of_images": 4,
    "image_size": "1K",
    "aspect_ratio": "1:1",
}
# name, request, path, stand-in, verify. path: "streamed" = the code as it is (each image
# streamed to Cloud Storage as it arrives, 4K calls side by side); "streamed, 4K serial" =
# the same with 4K calls one at a time; "buffered" = main's path before issue 18's
# streaming (bench/_buffered.py: whole replies in memory, 4K one at a time), the same-run
# baseline. verify: each output's Content Credentials read back and checked (issue 25).
CASES = [
    ("4 x 4K gemini-3-pro-image, placeholder images", _4K, "streamed", "stock", True),
    ("4 x 1K gemini-3.1-flash-image, placeholder images", _1K, "streamed", "stock", True),
    ("4 x 4K gemini-3-pro-image, incompressible images", _4K, "buffered", "noisy", False),
    (
        "4 x 4K gemini-3-pro-image, incompressible images",
        _4K,
        "streamed, 4K serial",
        "noisy",
        True,
    ),
    ("4 x 4K gemini-3-pro-image, incompressible images", _4K, "streamed", "noisy", False),
    ("4 x 4K gemini-3-pro-image, incompressible images", _4K, "streamed", "noisy", True),
    ("4 x 1K gemini-3.1-flash-image, incompressible images", _1K, "streamed", "noisy", True),
]
# `--small`: every path once, on two 1K images (seconds, not minutes)
_SMALL = {**_1K, "number_of_images": 2}
_SMALL_NAME = "2 x 1K gemini-3.1-flash-image"
SMALL_CASES = [
    (f"{_SMALL_NAME}, placeholder images", _SMALL, "streamed", "stock", True),
    (f"{_SMALL_NAME}, incompressible images", _SMALL, "buffered", "noisy", False),
    (f"{_SMALL_NAME}, incompressible images", _SMALL, "streamed, 4K serial", "noisy", False),
]
PROMPT = "a harbour at night with fishing boats, oil painting"


def child(spec_json: str) -> None:
    """Runs in the fresh subprocess; prints one JSON line."""
    case = json.loads(spec_json)
    import google.cloud.aiplatform_v1
    import google.cloud.firestore
    import google.cloud.storage
    import main  # the entry point module, as deployed

    from imagegen.bootstrap import Services
    from imagegen.services.worker import generate

    del google, main
    services = Services()
    services.jobs, services.storage  # noqa: B018  (build the clients before the baseline)
    spec = services.catalog[case["request"]["model"]]
    if case["path"] == "buffered":
        from bench import _buffered

        _buffered.install(services)
        services.vertex._buffered_clients.get(spec.default_location)
    elif case["path"] == "streamed, 4K serial":
        from imagegen.adapters import vertex

        vertex.MAX_PARALLEL_4K = 1
    services.vertex._client(spec.default_location)
    written = []
    write, open_upload = services.storage.write, services.storage.open_upload

    def counting_write(bucket, name, data, *args, **kwargs):
        written.append(len(data))
        return write(bucket, name, data, *args, **kwargs)

    def counting_upload(*args, **kwargs):
        upload = open_upload(*args, **kwargs)
        send = upload.write

        def counting(data):
            written.append(len(data))
            send(data)

        upload.write = counting
        return upload

    services.storage.write = counting_write
    services.storage.open_upload = counting_upload
    baseline = status("VmRSS")
    reset = reset_peak()
    start = time.perf_counter()
    through = 0
    uris: list[str] = []
    outcome = generate(services, case["job_id"])
    through = sum(written)
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    checked = _check_outputs(services, case["job_id"])
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": peak,
                "checked": checked,
                "reset": reset,
                "outcome": outcome,
                "bytes_through": through,
                "uris": uris,
                "seconds": seconds,
            }
        )
    )


def _check_outputs(services, job_id: str) -> str:
    """After the peak is read: every output object is whole (its bytes as recorded, its
    pixel size as recorded, the pixels decode) and, where verified, its Content Credentials
    valid - the streamed path must store exactly what Vertex (the stand-in) sent."""
    import io

    from PIL import Image

    job = services.jobs.get(job_id)
    outputs = job.outputs or []
    verified = 0
    for output in outputs:
        data = services.storage.read(output.uri, 1 << 30)
        assert len(data) == output.bytes, output
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (output.width, output.height), output
            image.load()  # the pixels decode: no chunk lost or repeated
        credentials = output.content_credentials
        if credentials is not None and credentials.present:  # signed: must still validate
            assert credentials.valid, credentials
            verified += 1
    return f"{len(outputs)} ok, {verified} C2PA valid"


def pixel_bytes(request: dict) -> int:
    from imagegen.domain.catalog import load_catalog

    spec = load_catalog("", "")[request["model"]]
    width, height = spec.sizes[request["image_size"]][request["aspect_ratio"]]
    return width * height * 3 * request["number_of_images"]


def run_case(env: dict[str, str], case: dict) -> dict:
    return run_child("bench.memory", env, case, timeout=300)


def run(stack: BenchStack | None = None, small: bool = False) -> dict[str, object]:
    if stack is None:
        with local_stack() as own:
            return run(own, small)
    stack.apply()
    from imagegen.bootstrap import Services
    from imagegen.services.submission import submit

    services = Services()
    base_env = dict(os.environ)
    base_env.update(stack.env)
    base_env["LOG_LEVEL"] = "WARNING"
    noisy_env = dict(base_env)
    noisy_env["IMAGEGEN_VERTEX_ENDPOINT"] = f"http://127.0.0.1:{NOISY_PORT}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench._noisy_standin",
            "--host",
            "127.0.0.1",
            "--port",
            str(NOISY_PORT),
            "--storage-endpoint",
            stack.env["STORAGE_EMULATOR_HOST"],
        ],
        cwd=ROOT,
        env={**base_env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=open(stack.state_dir / "noisy-standin.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    rows, results = [], {}
    try:
        wait_http(f"http://127.0.0.1:{NOISY_PORT}/_standin/health", proc=proc)
        for name, request, path, standin, verify in SMALL_CASES if small else CASES:
            case = {"path": path, "request": request}
            case["job_id"] = submit(services, {"prompt": PROMPT, **request}).job.id
            env = dict(noisy_env if standin == "noisy" else base_env)
            env["IMAGEGEN_VERIFY_CONTENT_CREDENTIALS"] = "1" if verify else "0"
            out = run_case(env, case)
            results[f"{name} ({path}, C2PA {'on' if verify else 'off'})"] = out
            raw = pixel_bytes(request)
            growth = out["peak"] - out["baseline"]
            target = ""
            if "4 x 4K" in name:
                target = f"≤ {TARGET_MIB} MiB → {verdict(out['peak'] <= TARGET_MIB * MiB)}"
            rows.append(
                [
                    name,
                    path,
                    "on" if verify else "off",
                    f"{out['baseline'] / MiB:.0f}",
                    f"{out['peak'] / MiB:.0f}",
                    f"{growth / MiB:.0f}",
                    f"{raw / MiB:.0f}",
                    f"{out['bytes_through'] / MiB:.1f}",
                    f"{growth / max(1, out['bytes_through']):.1f}x"
                    if out["bytes_through"]
                    else "—",
                    f"{out['seconds']:.2f}",
                    f"{out['outcome']}, outputs {out['checked']}",
                    target,
                ]
            )
            print(
                f"[bench] memory {name} ({path}, verify {verify}): "
                f"peak {out['peak'] / MiB:.0f} MiB",
                flush=True,
            )
    finally:
        stop_function(proc)
    body = [
        "## Memory (peak RSS of one job, fresh subprocess per case)",
        "",
        f"Machine: {machine()}.",
        "Baseline = VmRSS after importing `main`, the worker, aiplatform_v1, firestore and"
        " storage and building the clients; peak = VmHWM during the job (reset to the baseline"
        " via /proc/self/clear_refs first). Image bytes = encoded bytes that passed through"
        " the function (written to storage by it); raw pixels = width x height x 3. Path:"
        " `streamed` = the code as it is (each image streamed to Cloud Storage as it"
        " arrives, 4K calls side by side); `streamed, 4K serial` = the same, 4K calls one"
        " at a time; `buffered` = main's path before the streaming (bench/_buffered.py:"
        " the REST client reads whole replies, 4K one at a time), measured in the same run"
        " as the baseline. C2PA verify: each output read back from Cloud Storage and its"
        " Content Credentials checked with c2pa-python (issue 25); gemini-3-pro-image's"
        " images are signed by the stand-in, so the check reads every 4K image. Command:"
        " `python -m bench memory`.",
        "",
        table(
            [
                "case",
                "path",
                "C2PA verify",
                "baseline MiB",
                "peak MiB",
                "peak - baseline MiB",
                "raw pixels MiB",
                "image bytes in function MiB",
                "growth / image bytes",
                "seconds",
                "outcome",
                "target",
            ],
            rows,
        ),
    ]
    emit("memory", "\n".join(body), small)
    return results


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        run()
