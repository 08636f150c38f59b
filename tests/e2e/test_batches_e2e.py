"""Batches end to end on the local stack (issue 29), as their users meet them: over HTTP
(`POST /v1/batches`, `GET`, `DELETE`, the items at `/v1/jobs/{id}`), from a file dropped in
the uploads bucket, and with the webhook of `batch.completed`. Vertex is the stand-in's
batch prediction; the scheduler's sweep (which follows the Vertex jobs) is run here in the
test's process, as Cloud Scheduler would call it."""

from __future__ import annotations

import json
import time

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from devstack.webhook_receiver import Receiver
from imagegen.domain.catalog import load_catalog
from imagegen.services.uploads import answer_name
from imagegen_client.client import Client, verify_webhook

pytestmark = pytest.mark.stack
NB2 = "gemini-3.1-flash-image"


def _lines(unique: str) -> bytes:
    """20 lines: 17 valid (1K images on Nano Banana 2), 3 invalid in three ways."""
    lines = []
    for n in range(1, 21):
        if n == 4:
            lines.append('{"prompt": "unclosed')  # not JSON
        elif n == 9:
            lines.append(json.dumps({"prompt": f"{unique} {n}", "aspect_ratio": "7:3"}))
        elif n == 15:
            lines.append(json.dumps({"prompt": f"{unique} {n}", "webhook": {"url": "https://x"}}))
        else:
            lines.append(json.dumps({"prompt": f"{unique} poster {n}", "model": NB2}))
    return "\n".join(lines).encode()


@pytest.fixture
def receiver():
    local = Receiver([204])
    yield local.url, local.requests
    local.close()


def test_a_20_line_batch_with_3_invalid_lines_makes_17_readable_jobs_at_the_batch_price(
    api_url, unique, sweep_until_ended
):
    owner = Client(api_url, caller=f"batch-{unique}")
    price = load_catalog()[NB2].price("1K") / 2  # Vertex batch prediction: half price
    submitted = owner.submit_batch(_lines(unique), idempotency_key=unique)
    assert submitted["status"] == "queued" and submitted["items"] == 17
    assert submitted["status_url"].endswith(f"/v1/batches/{submitted['id']}")
    assert [r["line"] for r in submitted["rejected"]] == [4, 9, 15]
    fields = [r["error"]["details"][0]["field"] for r in submitted["rejected"]]
    assert fields == ["body", "aspect_ratio", "webhook"]
    assert submitted["estimated_cost_usd"] == pytest.approx(17 * price)
    assert owner.submit_batch(_lines(unique), idempotency_key=unique)["id"] == submitted["id"]

    # another caller sees nothing of it
    stranger = Client(api_url, caller=f"other-{unique}")
    with pytest.raises(Exception) as hidden:
        stranger.batch(submitted["id"])
    assert getattr(hidden.value, "status", None) == 404

    done = sweep_until_ended(lambda: owner.batch(submitted["id"]))
    assert done["state"] == "succeeded"
    assert done["counts"] == {
        "total": 17, "succeeded": 17, "failed": 0, "blocked": 0, "cancelled": 0, "pending": 0,
    }  # fmt: skip
    assert done["cost_usd"] == pytest.approx(17 * price)  # cost = the batch price
    items = list(owner.batch_items(submitted["id"], page=10))
    assert [i["line"] for i in items] == [n for n in range(1, 21) if n not in (4, 9, 15)]
    first = owner.batch(submitted["id"], limit=10)
    assert len(first["items"]) == 10 and first["next_after"] == items[9]["line"]

    for item in items:  # every item is an ordinary job, its image stored and readable
        job = owner.get(item["job_id"])
        assert (job["state"], job["batch_id"], job["source"]) == ("succeeded", done["id"], "batch")
        [output] = job["outputs"]
        assert output["cost_usd"] == pytest.approx(price) and output["url"]
        assert requests.get(output["url"], timeout=10).content[:8] == b"\x89PNG\r\n\x1a\n"
        with pytest.raises(Exception) as other:
            stranger.get(item["job_id"])
        assert getattr(other.value, "status", None) == 404

    # usage reports count the items at their batch price
    usage = owner.usage()
    assert usage["total"]["cost_usd"] == pytest.approx(17 * price)


def test_a_batch_webhook_gets_batch_completed_once_signed(
    api_url, stack_env, unique, receiver, sweep_until_ended
):
    url, got = receiver
    owner = Client(api_url, caller=f"hook-{unique}")
    submitted = owner._request(
        "POST",
        "/v1/batches",
        json_body={
            "requests": [{"prompt": f"{unique} a"}, {"prompt": f"{unique} b"}],
            "webhook": {"url": url},
        },
    )[1]
    sweep_until_ended(lambda: owner.batch(submitted["id"]))
    end = time.monotonic() + 30
    while not got and time.monotonic() < end:
        time.sleep(0.2)
    time.sleep(1.0)  # a duplicate would come now
    [(headers, body)] = got
    event = verify_webhook(body, headers, stack_env["IMAGEGEN_WEBHOOK_SECRET"])
    assert event["type"] == "com.imagegen.batch.v1.completed"
    assert event["subject"] == submitted["id"] and event["id"] == f"{submitted['id']}-completed"
    assert event["data"]["counts"]["succeeded"] == 2 and event["data"]["state"] == "succeeded"


def test_a_dropped_batch_file_is_answered_and_its_answer_rewritten_at_the_end(
    stack_env, api_url, unique, sweep_until_ended
):
    gcs = storage.Client(
        project=stack_env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    name = f"batches/{unique}.jsonl"
    lines = [{"prompt": f"{unique} a fox"}, {"prompt": ""}, {"prompt": f"{unique} an owl"}]
    gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name).upload_from_string(
        "\n".join(json.dumps(line) for line in lines), content_type="application/jsonl"
    )
    answer_blob = gcs.bucket(stack_env["IMAGEGEN_OUTPUTS_BUCKET"]).blob(answer_name(name))
    end = time.monotonic() + 60
    while not answer_blob.exists():
        assert time.monotonic() < end, "no answer"
        time.sleep(0.3)
    first = json.loads(answer_blob.download_as_bytes())
    assert first["items"] == 2 and [r["line"] for r in first["rejected"]] == [2]
    assert first["status"] == "queued" and first["status_url"].endswith(first["batch_id"])
    reader = Client(api_url, caller=f"reader-{unique}")  # an upload's batch: any caller reads it
    done = sweep_until_ended(lambda: reader.batch(first["batch_id"]))
    assert done["state"] == "succeeded" and done["source"] == "upload"
    end = time.monotonic() + 60
    while True:  # deliver_webhooks rewrites it on batch.completed
        final = json.loads(answer_blob.download_as_bytes())
        if final["status"] == "succeeded" or time.monotonic() > end:
            break
        time.sleep(0.3)
    assert final["status"] == "succeeded" and final["counts"]["succeeded"] == 2
    assert [i["line"] for i in final["items"]] == [1, 3]
    assert all(
        len(i["outputs"]) == 1 and i["outputs"][0].startswith("gs://") for i in final["items"]
    )
    assert [r["line"] for r in final["rejected"]] == [2]
    with pytest.raises(Exception) as refused:  # only admins cancel an upload's batch
        reader.cancel_batch(first["batch_id"])
    assert getattr(refused.value, "status", None) == 404


def test_cancelling_a_batch_mid_run_over_http(api_url, unique, sweep_until_ended):
    owner = Client(api_url, caller=f"cancel-{unique}")
    lines = [
        {"prompt": f"{unique} c {n}" + (" [[batch:slow:3]]" if n == 0 else "")} for n in range(5)
    ]
    submitted = owner.submit_batch(lines)
    from imagegen.bootstrap import Services
    from imagegen.config import load_settings
    from imagegen.services.upkeep import sweep

    services = Services(load_settings())
    end = time.monotonic() + 30
    while owner.batch(submitted["id"])["groups"][0].get("vertex_state") != "JOB_STATE_RUNNING":
        assert time.monotonic() < end
        sweep(services)
        time.sleep(0.2)
    cancelled = owner._request("DELETE", f"/v1/batches/{submitted['id']}")
    assert cancelled[0] == 202 and cancelled[1]["cancel_requested"] is True
    done = sweep_until_ended(lambda: owner.batch(submitted["id"]))
    assert done["state"] == "cancelled"
    states = [i["state"] for i in owner.batch_items(submitted["id"])]
    assert len(states) == 5 and set(states) <= {"succeeded", "cancelled"} and "cancelled" in states
    again = owner._request
    with pytest.raises(Exception) as ended:
        again("DELETE", f"/v1/batches/{submitted['id']}")
    assert getattr(ended.value, "status", None) == 409
