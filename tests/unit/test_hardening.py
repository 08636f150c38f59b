"""Pure rules behind the hardening of issue 15: document sizes, JSON depth, push-message
job ids, and who may see which job. (The same rules run end to end in tests/hostile/.)"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from imagegen.auth import Caller
from imagegen.domain import bounded_json
from imagegen.domain.document_size import document_bytes
from imagegen.errors import InvalidRequest
from imagegen.events import PUBSUB_EVENT, BadEvent, job_message


def test_document_bytes_follows_firestores_rules():
    # the worked example of https://cloud.google.com/firestore/docs/storage-size: 71 bytes
    # of fields, plus 32 a document (the name, 44 bytes there, is left out here)
    fields = {
        "type": "Personal",
        "done": False,
        "priority": 1,
        "description": "Learn Cloud Firestore",
    }
    assert document_bytes(fields) == 71 + 32
    assert document_bytes({"t": dt.datetime.now(dt.UTC), "n": None, "f": 1.5}) == 32 + 3 * 2 + 17
    deep: dict = {}
    node = deep
    for _ in range(10_000):  # iterative: no recursion limit
        node["a"] = {}
        node = node["a"]
    assert document_bytes(deep) == 32 + 10_000 * 2
    assert document_bytes({"s": "é"}) == 32 + 2 + 3  # UTF-8 bytes + 1


@pytest.mark.parametrize("depth", [33, 2000, 50_000])
def test_json_nested_too_deep_is_invalid(depth):
    with pytest.raises(InvalidRequest) as info:
        bounded_json.loads("[" * depth + "]" * depth)
    assert "nested deeper" in info.value.details[0]["message"]


def test_json_within_depth_and_constants():
    assert bounded_json.loads('{"a": [[1]]}') == {"a": [[1]]}
    assert bounded_json.depth({"a": [[1]]}) == 3
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(InvalidRequest):
            bounded_json.loads(f'{{"seed": {constant}}}')


def _event(job_id, **attributes) -> dict:
    data = base64.b64encode(json.dumps({"job_id": job_id}).encode()).decode()
    return {"message": {"data": data, "attributes": {"job_id": job_id, **attributes}}}


@pytest.mark.parametrize("job_id", ["a/b", "../x", "", "x" * 129, "é", "a b"])
def test_push_messages_that_cannot_name_a_job_are_bad_events(job_id):
    with pytest.raises(BadEvent):
        job_message(PUBSUB_EVENT, _event(job_id))


def test_a_non_numeric_delivery_count_is_ignored():
    message = job_message(
        PUBSUB_EVENT, _event("abc_123", CloudPubSubDeadLetterSourceDeliveryCount="many")
    )
    assert (message.job_id, message.delivery_attempt) == ("abc_123", None)


def test_who_may_see_which_job():
    alice, admin = Caller("alice@example.com"), Caller("root@example.com", admin=True)
    assert alice.may_see("alice@example.com") and alice.may_see("alice@example.com", change=True)
    assert not alice.may_see("bob@example.com")
    assert admin.may_see("bob@example.com", change=True)
    assert alice.may_see("upload:imagegen-uploads")
    assert not alice.may_see("upload:imagegen-uploads", change=True)
    assert not Caller("anonymous").may_see("alice@example.com")


@pytest.mark.parametrize(
    "token", ["abc.def", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.x"]
)
def test_tokens_not_signed_rs256_are_refused_before_any_key_is_fetched(token):
    from imagegen.auth import Authenticator, Unauthenticated

    keyless = Authenticator(certs_url="http://127.0.0.1:9/unreachable")
    with pytest.raises(Unauthenticated):
        keyless.verify(f"Bearer {token}", "https://imagegen.test")
