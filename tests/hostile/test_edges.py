"""Edges an outside tester found (issue 31), against the real emulators: periods whose end
overflows, prompts that show nothing, webhook addresses hidden inside IPv6 forms or behind a
port that cannot be read, and upload files that cannot be read or are named in upper case.
Each was a 5xx, a silent loss or a retry storm on the main of c08d881; each is now a
structured 4xx with nothing stored, a refusal, or an answer file naming the error. (The
body-size and missing-reference edges need the whole stack: tests/e2e/test_edges_e2e.py.)"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import pytest
from google.api_core import exceptions as gexc

from imagegen.domain.quota import counter_ids
from imagegen.events import STORAGE_FINALIZED
from imagegen.netguard import Guard, Refused
from imagegen.services.uploads import answer_name, handle_upload
from tests.hostile.support import bearer, record

# -- 1. usage periods whose end overflows ------------------------------------------------


@pytest.mark.parametrize(
    "query", ["month=9999-12", "day=9999-12-31", "month=0000-01", "day=10000-01-01"]
)
def test_usage_periods_past_the_calendar_are_400(deployed, issuer, query):
    _, client = deployed
    response = client.get(f"/v1/usage?{query}", headers=bearer(issuer.token("u@example.com")))
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"][0]["field"] == query.split("=")[0]
    record(f"usage ?{query}", [response.status_code])


def test_the_last_representable_periods_still_answer(deployed, issuer):
    _, client = deployed
    headers = bearer(issuer.token("u@example.com"))
    for query in ("month=9999-11", "day=9999-12-30", "day=0001-01-01"):
        response = client.get(f"/v1/usage?{query}", headers=headers)
        assert response.status_code == 200, (query, response.get_json())


# -- 6. a prompt that shows nothing -------------------------------------------------------

INVISIBLE = {
    "zero-width space, non-joiner, joiner, word joiner": "\u200b\u200c\u200d\u2060",
    "byte order mark and bidi overrides": "\ufeff\u202e\u202d\u061c",
    "Hangul fillers": "\u3164\u115f\uffa0",
    "zero-width space between ideographic and no-break spaces": "\u3000\u200b\u00a0",
    "variation selectors and a tag": "\ufe0f\ufe0e\U000e0041",
}


@pytest.mark.parametrize("name", INVISIBLE)
def test_a_prompt_of_invisible_characters_is_400_and_nothing_is_stored(
    deployed, issuer, unique, name
):
    services, client = deployed
    me = f"blank-{unique}@example.com"
    response = client.post(
        "/v1/jobs",
        json={"prompt": INVISIBLE[name]},
        headers={**bearer(issuer.token(me)), "Idempotency-Key": unique},
    )
    assert response.status_code == 400, response.get_json()
    detail = response.get_json()["error"]["details"][0]
    assert detail["field"] == "prompt" and "shows nothing" in detail["message"]
    assert services.jobs.of_caller(me, 5) == []
    from google.cloud import firestore

    s, now = services.settings, dt.datetime.now(dt.UTC)
    usage = firestore.Client(project=s.project, database=s.firestore_database)
    day = counter_ids(me, now)["caller_day"]
    assert not usage.collection(s.usage_collection).document(day).get().exists  # no charge
    record(f"prompt of {name}", [response.status_code])


def test_a_prompt_with_one_visible_character_among_invisible_ones_is_accepted(deployed, issuer):
    _, client = deployed
    response = client.post(
        "/v1/jobs",
        json={"prompt": "\u200b\u200b\u732b\u200b"},  # 猫 between zero-width spaces
        headers=bearer(issuer.token("cat@example.com")),
    )
    assert response.status_code == 202, response.get_json()


# -- 4. webhook addresses: IPv4 hidden in IPv6, ports that cannot be read -----------------


@pytest.mark.parametrize(
    ("form", "address"),
    [
        ("IPv4-mapped", "::ffff:169.254.169.254"),
        ("IPv4-compatible", "::a9fe:a9fe"),
        ("IPv4-compatible, private", "::a00:1"),
        ("NAT64 well-known prefix", "64:ff9b::a9fe:a9fe"),
        ("NAT64 well-known prefix, loopback", "64:ff9b::7f00:1"),
        ("NAT64 local-use prefix, /96 position", "64:ff9b:1::a9fe:a9fe"),
        ("NAT64 local-use prefix, /48 position", "64:ff9b:1:a9fe:a9:fe00::"),
        ("NAT64 local-use prefix, public IPv4", "64:ff9b:1::808:808"),
        ("6to4", "2002:a9fe:a9fe::1"),
        ("6to4, private", "2002:c0a8:101::1"),
        ("Teredo, client is the metadata server", "2001:0:4136:e378:8000:63bf:5601:5601"),
        ("Teredo, server is private", "2001:0:a00:1:8000:63bf:f7f7:f7f7"),
    ],
)
def test_ipv6_forms_that_carry_a_non_public_ipv4_address_are_refused(form, address):
    """Python 3.11 calls the compatible, NAT64 and 6to4 forms global; each reaches the
    IPv4 address it carries through a translator or tunnel."""
    assert not Guard().address_allowed(ipaddress.ip_address(address)), form
    record(f"webhook address {form}", ["refused"])


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2001:4860:4860::8888"]
)
def test_ipv6_forms_that_carry_a_public_ipv4_address_pass(address):
    assert Guard().address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com:99999/hook",  # urllib raised ValueError reading the port
        "https://example.com:abc/hook",
        "https://" + "a" * 64 + ".example.com/hook",  # IDNA refuses a 64-character label
    ],
)
def test_urls_that_cannot_be_resolved_are_refused_not_raised(url):
    """A ValueError or UnicodeError escaping the guard crashed the delivery after it was
    claimed: it was never recorded and came back until the retry window closed."""
    with pytest.raises(Refused):
        Guard().resolve(url)


@pytest.mark.parametrize("port", ["99999", "abc"])
def test_a_webhook_port_that_cannot_be_read_is_400_at_submit(deployed, issuer, unique, port):
    services, client = deployed
    me = f"hook-{unique}@example.com"
    response = client.post(
        "/v1/jobs",
        json={"prompt": unique, "webhook": {"url": f"https://example.com:{port}/hook"}},
        headers=bearer(issuer.token(me)),
    )
    assert response.status_code == 400
    detail = response.get_json()["error"]["details"][0]
    assert detail["field"] == "webhook.url" and "port" in detail["message"]
    assert services.jobs.of_caller(me, 5) == []


# -- 5. uploads: names in upper case, files that cannot be read -----------------------------


def _event(blob) -> dict:
    blob.reload()
    return {
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generation": str(blob.generation),
        "size": str(blob.size),
        "metadata": dict(blob.metadata or {}),
    }


def _answer_of(services, name: str) -> dict:
    uri = f"gs://{services.settings.outputs_bucket}/{answer_name(name)}"
    return json.loads(services.storage.read(uri, 1_000_000))


@pytest.fixture
def uploads(make_services):
    """(services, bucket): real emulators; the local trigger may deliver the same events."""
    services = make_services()
    bucket = services.storage._client.bucket(services.settings.uploads_bucket)
    return services, bucket


@pytest.mark.parametrize("suffix", [".JSON", ".Json"])
def test_a_request_file_named_in_upper_case_becomes_a_job(uploads, unique, suffix):
    services, bucket = uploads
    blob = bucket.blob(f"requests/{unique}{suffix}")
    blob.upload_from_string(json.dumps({"prompt": f"{unique} upper"}), "application/json")
    outcome = handle_upload(services, STORAGE_FINALIZED, _event(blob))
    assert outcome in {"queued", "duplicate"}  # the local trigger may have been first
    assert answer_name(blob.name) == f"results/requests/{unique}{suffix}"
    answer = _answer_of(services, blob.name)
    assert services.jobs.get(answer["job_id"]).request["prompt"] == f"{unique} upper"
    record(f"upload named *{suffix}", [outcome])


@pytest.mark.parametrize("seed", ["\u00b2", "9" * 5000])
def test_an_integer_in_metadata_that_int_refuses_is_answered(uploads, unique, seed):
    """`"²".isdigit()` is true and `int("²")` raises; so does int() of 5,000 digits: the
    ValueError escaped on_upload, and Eventarc retried it with no answer written."""
    services, bucket = uploads
    blob = bucket.blob(f"edits/{unique}.png")
    blob.metadata = {"prompt": f"{unique} edit", "seed": seed}
    blob.upload_from_string(_png(), "image/png")
    outcome = handle_upload(services, STORAGE_FINALIZED, _event(blob))
    assert outcome == "refused"
    answer = _answer_of(services, blob.name)
    assert answer["error"]["code"] == "invalid_request"
    assert [d["field"] for d in answer["error"]["details"]] == ["seed"]


class _Unreadable:
    """The real storage adapter, except that reading one object raises `error` (Cloud
    Storage's 403 or 503 cannot be provoked in the emulator)."""

    def __init__(self, storage, uri: str, error: Exception) -> None:
        self._storage, self._uri, self._error = storage, uri, error

    def read(self, uri: str, max_bytes: int) -> bytes:
        if uri == self._uri:
            raise self._error
        return self._storage.read(uri, max_bytes)

    def __getattr__(self, name: str):
        return getattr(self._storage, name)


def test_a_request_file_that_cannot_be_read_is_answered_once(make_services, unique):
    services = make_services()
    uploads = services.settings.uploads_bucket
    name = f"requests/{unique}.json"  # never uploaded: the local trigger stays out of it
    forbidden = gexc.Forbidden("on-upload@p.iam does not have storage.objects.get access")
    services.storage = _Unreadable(services.storage, f"gs://{uploads}/{name}", forbidden)
    event = {"bucket": uploads, "name": name, "generation": "1", "size": "20", "metadata": {}}
    assert handle_upload(services, STORAGE_FINALIZED, event) == "refused"  # not raised
    answer = _answer_of(services, name)
    assert answer["upload"] == f"gs://{uploads}/{name}"
    assert answer["error"]["code"] == "unreadable"
    assert (
        "Forbidden" in answer["error"]["message"]
        and "storage.objects.get" in (answer["error"]["message"])
    )
    assert "status" not in answer
    record("request file unreadable (403)", ["answered"])


def test_a_transient_read_error_is_raised_for_the_retry_and_answered_meanwhile(
    make_services, unique
):
    services = make_services()
    uploads = services.settings.uploads_bucket
    name = f"requests/{unique}.json"
    outage = gexc.ServiceUnavailable("backend unavailable")
    services.storage = _Unreadable(services.storage, f"gs://{uploads}/{name}", outage)
    event = {"bucket": uploads, "name": name, "generation": "1", "size": "20", "metadata": {}}
    with pytest.raises(gexc.ServiceUnavailable):
        handle_upload(services, STORAGE_FINALIZED, event)
    answer = _answer_of(services, name)
    assert answer["status"] == "retrying" and answer["error"]["code"] == "unreadable"


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "navy").save(buf, "PNG")
    return buf.getvalue()


def test_a_gzip_encoded_request_file_is_read_and_a_gzip_bomb_is_refused(uploads, unique):
    """Cloud Storage serves a `Content-Encoding: gzip` object decompressed, and its size is
    the compressed one: 1 MiB of gzipped zeros would have come back as a gigabyte. The file
    is read as stored and decompressed no further than the cap. (The storage emulator does
    not decompress, so on main this file was refused here as not JSON, and the bomb too.)"""
    import gzip

    services, bucket = uploads
    fine = bucket.blob(f"requests/{unique}-gz.json")
    fine.content_encoding = "gzip"
    fine.upload_from_string(gzip.compress(json.dumps({"prompt": f"{unique} gz"}).encode()))
    assert handle_upload(services, STORAGE_FINALIZED, _event(fine)) in {"queued", "duplicate"}
    assert services.jobs.get(_answer_of(services, fine.name)["job_id"]).request["prompt"] == (
        f"{unique} gz"
    )
    bomb = bucket.blob(f"requests/{unique}-bomb.json")
    bomb.content_encoding = "gzip"
    bomb.upload_from_string(gzip.compress(b" " * (64 * 1024 * 1024), 9))  # 64 MiB -> ~64 KB
    assert handle_upload(services, STORAGE_FINALIZED, _event(bomb)) == "refused"
    error = _answer_of(services, bomb.name)["error"]
    assert error["code"] == "invalid_request" and "decompressed" in error["message"]
    record("gzip-encoded request file; 64 MiB gzip bomb", ["queued", "refused"])


# -- found on the way: the studio's references to earlier outputs ---------------------------


@pytest.mark.parametrize(
    ("ref", "field"),
    [
        ({"index": [0]}, "reference_images.0.index"),  # unhashable: TypeError, a 500
        ({"index": "0"}, "reference_images.0.index"),
        ({"index": True}, "reference_images.0.index"),
        ({"job_id": ["x"]}, "reference_images.0.job_id"),
        ({"index": 0}, "reference_images.0"),  # an 8 MiB output: ValueError, a 500
    ],
)
def test_studio_references_to_earlier_outputs_are_checked(make_services, unique, ref, field):
    import os

    from imagegen.studio.api import Studio
    from tests.hostile.support import flask_client, succeeded_job

    services = make_services(studio_local_identity=True)
    me = f"studio-{unique}@example.com"
    big = services.storage.write(
        services.settings.outputs_bucket,
        f"jobs/{unique}/0.png",
        os.urandom(8 * 1024 * 1024),  # over the 7 MB a reference may be inline
        "image/png",
        {},
    )
    job_id = succeeded_job(
        services, me, unique, outputs=[{"uri": big, "mime_type": "image/png", "index": 0}]
    )
    client = flask_client(Studio(services))
    response = client.post(
        "/api/jobs",
        json={"prompt": unique, "reference_images": [{"job_id": job_id, **ref}]},
        headers={"X-Imagegen-Caller": me},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["details"][0]["field"] == field
    assert [job.id for job in services.jobs.of_caller(me, 5)] == [job_id]  # nothing new
    record(f"studio reference {json.dumps(ref)}", [response.status_code])
