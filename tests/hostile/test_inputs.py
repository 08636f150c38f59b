"""Real-sized and hostile inputs: phone-photo-sized inline references are accepted and
kept in Cloud Storage (never in the job document); decompression bombs and undecodable
images are 400s; JSON types are strict; nesting is bounded; documents are bounded."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib

import pytest
from PIL import Image

from imagegen.services.worker import generate
from tests.hostile.support import bearer, record


def _noise_png(width: int, height: int) -> bytes:
    """An incompressible PNG (random pixels): its file size is about width*height*3."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _bomb_png(side: int = 30000) -> bytes:
    """A valid 1-bit PNG of side x side pixels, all zero: about 110 KB on disk, 900
    megapixels (2.7 GB as RGB) once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" * (1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def _inline(raw: bytes) -> dict[str, str]:
    return {"data": base64.b64encode(raw).decode()}


def test_a_phone_photo_sized_reference_is_stored_in_cloud_storage(
    deployed, issuer, stack_env, unique
):
    services, client = deployed
    photo = _noise_png(1100, 1000)  # ~3.3 MB: over the old ~0.8 MB failure point
    assert len(photo) > 3_000_000
    body = {"prompt": f"{unique} make it a watercolour", "reference_images": [_inline(photo)]}
    response = client.post(
        "/v1/jobs", json=body, headers=bearer(issuer.token(f"p-{unique}@example.com"))
    )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    stored = services.jobs.get(job_id)
    ref = stored.request["reference_images"][0]
    bucket = stack_env["IMAGEGEN_OUTPUTS_BUCKET"]
    assert ref == {"gcs_uri": f"gs://{bucket}/jobs/{job_id}/inputs/0.png", "mime_type": "image/png"}
    assert "data" not in json.dumps(stored.request)
    assert services.storage.read(ref["gcs_uri"], 10_000_000) == photo
    # and the job runs: the worker sends the stored object to Vertex by reference
    assert generate(services, job_id) == "succeeded"
    finished = services.jobs.get(job_id)
    user_turn = finished.conversation[0].parts[0]
    assert user_turn.file_data.file_uri == ref["gcs_uri"]
    record("3.3 MB inline reference", [response.status_code], extra_calls=0)


def test_a_refused_or_replayed_submit_leaves_no_input_objects(deployed, issuer, unique):
    services, client = deployed
    headers = {**bearer(issuer.token(f"q-{unique}@example.com")), "Idempotency-Key": unique}
    body = {"prompt": unique, "reference_images": [_inline(_noise_png(64, 64))]}
    first = client.post("/v1/jobs", json=body, headers=headers)
    again = client.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    bucket = services.settings.outputs_bucket
    listed = services.storage._client.list_blobs(bucket, prefix="jobs/")
    inputs = [b.name for b in listed if "/inputs/" in b.name]
    job_id = first.get_json()["id"]
    # the replay's copy was removed again: only the first job's input exists
    mine = [name for name in inputs if name.startswith(f"jobs/{job_id}/")]
    assert mine == [f"jobs/{job_id}/inputs/0.png"]
    record("replay with an inline reference", [first.status_code, again.status_code])


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("decompression bomb", _bomb_png(), "pixels"),
        ("PNG signature, garbage after", b"\x89PNG\r\n\x1a\n" + os.urandom(4000), "decode"),
        ("truncated JPEG", None, "decode"),
    ],
)
def test_bombs_and_undecodable_images_are_400(deployed, issuer, unique, name, raw, message):
    _, client = deployed
    if raw is None:
        buf = io.BytesIO()
        Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3)).save(buf, "JPEG")
        raw = buf.getvalue()[: len(buf.getvalue()) // 2]
    body = {"prompt": unique, "reference_images": [_inline(raw)]}
    response = client.post(
        "/v1/jobs", json=body, headers=bearer(issuer.token(f"b-{unique}@example.com"))
    )
    assert response.status_code == 400, (name, response.status_code)
    detail = response.get_json()["error"]["details"][0]
    assert detail["field"] == "reference_images.0.data" and message in detail["message"]
    record(f"reference image: {name} ({len(raw):,} bytes)", [response.status_code])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number_of_images", "2"),
        ("number_of_images", True),
        ("number_of_images", 2.0),
        ("add_watermark", 1),
        ("add_watermark", "false"),
        ("include_thoughts", "true"),
        ("prompt", 12345),
        ("labels", {"team": 7}),
    ],
)
def test_json_types_are_strict(deployed, issuer, unique, field, value):
    _, client = deployed
    body = {"prompt": unique, field: value}
    response = client.post(
        "/v1/jobs", json=body, headers=bearer(issuer.token(f"t-{unique}@example.com"))
    )
    assert response.status_code == 400, (field, value)
    fields = [d["field"] for d in response.get_json()["error"]["details"]]
    assert any(f.split(".")[0] == field for f in fields), fields
    record(f"{field}: {json.dumps(value)}", [response.status_code])


@pytest.mark.parametrize("depth", [33, 5000, 100_000])
def test_deep_nesting_is_400(deployed, issuer, depth):
    _, client = deployed
    raw = '{"prompt": "x", "labels": ' + "[" * depth + "]" * depth + "}"
    response = client.post(
        "/v1/jobs",
        data=raw,
        content_type="application/json",
        headers=bearer(issuer.token("deep@example.com")),
    )
    assert response.status_code == 400
    assert "nested deeper" in response.get_json()["error"]["details"][0]["message"]
    record(f"JSON nested {depth:,} deep", [response.status_code])


def test_a_refine_chain_over_the_document_budget_is_400_before_any_charge(
    make_services, idle_queue, issuer, unique
):
    """A conversation too long to store again is refused with a clear 400, nothing
    written and nothing reserved against the caller's budget."""
    import datetime as dt

    from imagegen.http_api import Api
    from tests.hostile.support import AUDIENCE, flask_client, succeeded_job

    services = make_services(
        tasks_queue=idle_queue,
        trust_caller_header=False,
        auth_certs_url=issuer.certs_url,
        token_audiences=[AUDIENCE],
        caller_usd_per_day=100.0,
    )
    client = flask_client(Api(services))
    me = f"chain-{unique}@example.com"
    long_turns = [
        {"role": "user", "parts": [{"text": "u" * 300_000}]},
        {"role": "model", "parts": [{"text": "m" * 300_000}]},
    ]
    parent = succeeded_job(services, me, unique, conversation=long_turns)
    response = client.post(
        "/v1/jobs",
        json={"prompt": "and again", "parent_job_id": parent},
        headers=bearer(issuer.token(me)),
    )
    assert response.status_code == 400
    detail = response.get_json()["error"]["details"][0]
    assert detail["field"] == "parent_job_id" and "too long" in detail["message"]
    from google.cloud import firestore

    from imagegen.domain.quota import counter_ids

    s, now = services.settings, dt.datetime.now(dt.UTC)
    day = counter_ids(me, now)["caller_day"]  # one shard: the counter's own id
    usage = firestore.Client(project=s.project, database=s.firestore_database)
    assert not usage.collection(s.usage_collection).document(day).get().exists  # no charge
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    mine = services.jobs.between(start, start + dt.timedelta(days=1), me)
    assert [job.id for job in mine] == [parent]
    record("refine chain over the document budget", [response.status_code])
