#!/usr/bin/env python3
"""Smoke test of a deployment: submit one job and wait until it ends; exit 0 only when it
succeeded. Cloud Build's last step (cloudbuild.yaml) runs it against the submit URL it just
deployed; `make rehearse` runs it against the local stack.

    scripts/smoke_test.py URL [--model M] [--timeout S] [--auth-wait S] [--caller NAME]

Identity: a Google identity token for URL (`gcloud auth print-identity-token
--audiences=URL`, the build's own service account in Cloud Build), or with --caller the
local stack's X-Imagegen-Caller header (the local stack only: a deployment ignores it).

A first deploy grants run.invoker seconds before this runs, and IAM grants take "typically
2 minutes, potentially 7 minutes or longer" to propagate
(https://cloud.google.com/iam/docs/access-change-propagation, read 2026-12-06): a 401 or
403 is retried every --auth-retry seconds (default 10) for --auth-wait seconds (default
480) before it fails the build. So is a 503: submit answers it, having withdrawn the job,
when Cloud Tasks refuses the job's task — as it does while the enqueuer grant on the jobs'
queues (terraform/tasks.tf, made near the end of a first apply) propagates.
Standard library only: the step's image (google-cloud-cli) has python3 and nothing else.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

# The catalog's default model (functions/imagegen/domain/catalog.py DEFAULT_MODEL): GA on
# Vertex AI, which serves it until at least 2027-05-28 (docs/models.md).
DEFAULT_MODEL = "gemini-3.1-flash-image"
PROMPT = "A watercolor lighthouse on a cliff at dawn"
TERMINAL_FAILURES = {"blocked", "failed", "cancelled"}


class Failed(Exception):
    """The smoke test failed; the message says why."""


def _token(url: str) -> str:
    proc = subprocess.run(
        ["gcloud", "auth", "print-identity-token", f"--audiences={url}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise Failed(f"gcloud could not mint an identity token: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _headers(url: str, caller: str | None) -> dict[str, str]:
    if caller:
        return {"X-Imagegen-Caller": caller}
    return {"Authorization": f"Bearer {_token(url)}"}


def _call(method: str, url: str, headers: dict[str, str], body: dict | None = None):
    """(status, parsed JSON body or text) of one request; never raises for an HTTP status."""
    if not url.startswith(("https://", "http://")):
        raise Failed(f"not an http(s) URL: {url}")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (checked)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def submit(base: str, args: argparse.Namespace) -> str:
    """POST one job, retrying 401/403 while the invoker grant propagates and 503 while the
    queues' enqueuer grant does (a 503 keeps no job: the same key makes it anew); its id."""
    deadline = time.monotonic() + args.auth_wait
    body = {"prompt": PROMPT, "model": args.model}
    headers = {"Idempotency-Key": args.idempotency_key}
    while True:
        status, answer = _call(
            "POST", f"{base}/v1/jobs", {**headers, **_headers(base, args.caller)}, body
        )
        if status in (401, 403, 503) and time.monotonic() + args.auth_retry <= deadline:
            grant = "the queues' enqueuer" if status == 503 else "the invoker"
            print(f"smoke: {status} ({grant} grant may still be propagating); retrying")
            time.sleep(args.auth_retry)
            continue
        if status not in (200, 201, 202):
            raise Failed(f"POST /v1/jobs answered {status}: {answer}")
        print(f"smoke: submitted: {json.dumps(answer)}")
        return answer["id"]


def wait(base: str, job_id: str, args: argparse.Namespace) -> dict:
    """Poll the job until it is terminal or args.timeout passes; the final job."""
    deadline = time.monotonic() + args.timeout
    while True:
        status, job = _call("GET", f"{base}/v1/jobs/{job_id}", _headers(base, args.caller))
        state = job.get("status") if isinstance(job, dict) else None
        print(f"smoke: job {job_id}: HTTP {status}, {state}")
        if state == "succeeded":
            return job
        if state in TERMINAL_FAILURES:
            raise Failed(f"the job ended {state}: {json.dumps(job)}")
        if time.monotonic() >= deadline:
            raise Failed(f"the job is still {state} after {args.timeout} s")
        time.sleep(args.poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the submit API's base URL (terraform output submit_url)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the job")
    parser.add_argument("--auth-wait", type=float, default=480, help="seconds of 401/403/503")
    parser.add_argument("--auth-retry", type=float, default=10, help="seconds between them")
    parser.add_argument("--poll", type=float, default=10, help="seconds between polls")
    parser.add_argument("--caller", help="local stack only: X-Imagegen-Caller instead of a token")
    parser.add_argument("--idempotency-key", default=f"smoke-{int(time.time())}")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    try:
        job = wait(base, submit(base, args), args)
    except Failed as failure:
        print(f"smoke test failed: {failure}", file=sys.stderr)
        return 1
    print(f"smoke: succeeded: {json.dumps(job)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
