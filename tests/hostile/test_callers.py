"""Callers are isolated: identity only from a verified token; jobs, cancels, refines,
idempotency keys and usage are the caller's own; admins see all; ids are not guessable."""

from __future__ import annotations

import datetime as dt
import hashlib

from imagegen.auth import GCLOUD_AUDIENCE
from tests.hostile.support import (
    AUDIENCE,
    Issuer,
    bearer,
    flask_client,
    record,
    succeeded_job,
)

BODY = {"prompt": "a lighthouse at dusk"}  # the default model (Gemini)


def test_forged_expired_foreign_and_wrong_audience_tokens_are_401(deployed, issuer, unique):
    services, client = deployed
    alice = f"alice-{unique}@example.com"
    tries = {
        "unsigned (alg none)": Issuer.unsigned(alice),
        "signed by another key": issuer.token(alice, attacker=True),
        "expired": issuer.token(alice, expires_in=-600),
        "wrong audience": issuer.token(alice, audience="https://someone-else.example"),
        "not Google's issuer": issuer.token(alice, issuer="https://evil.example"),
        "not a JWT": "abc.def",
    }
    statuses = []
    for name, token in tries.items():
        response = client.post("/v1/jobs", json={"prompt": unique}, headers=bearer(token))
        statuses.append(response.status_code)
        assert response.status_code == 401, (name, response.get_json())
        assert response.get_json()["error"]["code"] == "unauthenticated"
    # no token at all (deployed: no trusted header either)
    for headers in ({}, {"X-Imagegen-Caller": alice}):
        response = client.post("/v1/jobs", json={"prompt": unique}, headers=headers)
        statuses.append(response.status_code)
        assert response.status_code == 401
    good = client.post("/v1/jobs", json={"prompt": unique}, headers=bearer(issuer.token(alice)))
    statuses.append(good.status_code)
    assert good.status_code == 202
    assert services.jobs.get(good.get_json()["id"]).caller == alice
    # nothing was written for the refused tries: alice has exactly the one good job
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    mine = services.jobs.between(today, today + dt.timedelta(days=1), alice)
    assert [job.id for job in mine] == [good.get_json()["id"]]
    record("forged / expired / foreign / wrong-audience tokens", statuses)


def test_audience_defaults_to_the_url_the_request_was_sent_to(make_services, issuer, unique):
    from imagegen.http_api import Api

    services = make_services(
        trust_caller_header=False, auth_certs_url=issuer.certs_url, token_audiences=[]
    )
    client = flask_client(Api(services))
    me = f"carol-{unique}@example.com"
    mine = client.get("/v1/usage", headers=bearer(issuer.token(me, audience="http://localhost")))
    gcloud = client.get("/v1/usage", headers=bearer(issuer.token(me, audience=GCLOUD_AUDIENCE)))
    theirs = client.get("/v1/usage", headers=bearer(issuer.token(me, audience=AUDIENCE)))
    statuses = [mine.status_code, gcloud.status_code, theirs.status_code]
    assert statuses == [200, 200, 401]
    assert theirs.headers["WWW-Authenticate"].startswith("Bearer")
    record("audience = this service's URL (or gcloud's, as Cloud Run)", statuses)


def test_local_stack_header_does_not_make_a_forged_token_valid(make_services, idle_queue, unique):
    """The local stack trusts X-Imagegen-Caller, but a bearer token is still verified: a
    forged token naming alice does not act as alice (refine, replay of her key)."""
    from imagegen.http_api import Api

    client = flask_client(Api(make_services(tasks_queue=idle_queue, trust_caller_header=True)))
    alice = f"alice-{unique}@example.com"
    headers = {"Idempotency-Key": unique, "X-Imagegen-Caller": alice}
    first = client.post("/v1/jobs", json=BODY, headers=headers)
    assert first.status_code == 202
    forged = client.post(
        "/v1/jobs",
        json=BODY,
        headers={"Idempotency-Key": unique, **bearer(Issuer.unsigned(alice))},
    )
    assert forged.status_code == 401
    record("forged token in the local stack", [first.status_code, forged.status_code])


def test_another_callers_job_is_404_and_cannot_be_cancelled(deployed, issuer, unique):
    services, client = deployed
    alice = bearer(issuer.token(f"alice-{unique}@example.com"))
    bob = bearer(issuer.token(f"bob-{unique}@example.com"))
    admin = bearer(issuer.token("admin@example.com"))
    job = client.post("/v1/jobs", json=BODY, headers=alice).get_json()
    statuses = []

    peek = client.get(f"/v1/jobs/{job['id']}", headers=bob)
    missing = client.get("/v1/jobs/nosuchjob0000", headers=bob)
    statuses += [peek.status_code, missing.status_code]
    assert peek.status_code == missing.status_code == 404
    # the same answer as a job that does not exist, but for the id
    assert peek.get_json()["error"]["message"].replace(job["id"], "X") == missing.get_json()[
        "error"
    ]["message"].replace("nosuchjob0000", "X")
    cancel = client.delete(f"/v1/jobs/{job['id']}", headers=bob)
    statuses.append(cancel.status_code)
    assert cancel.status_code == 404
    assert services.jobs.get(job["id"]).state == "queued"

    own = client.get(f"/v1/jobs/{job['id']}", headers=alice)
    seen_by_admin = client.get(f"/v1/jobs/{job['id']}", headers=admin)
    statuses += [own.status_code, seen_by_admin.status_code]
    assert own.status_code == seen_by_admin.status_code == 200
    assert "caller" not in own.get_json()  # the owner's identity is not shown
    cancelled = client.delete(f"/v1/jobs/{job['id']}", headers=alice)
    statuses.append(cancelled.status_code)
    assert cancelled.get_json()["state"] == "cancelled"
    record("another caller's job: read, cancel", statuses)


def test_usage_is_the_callers_own_unless_admin(deployed, issuer, unique):
    _, client = deployed
    alice_id = f"alice-{unique}@example.com"
    alice = bearer(issuer.token(alice_id))
    bob = bearer(issuer.token(f"bob-{unique}@example.com"))
    client.post("/v1/jobs", json=BODY, headers=alice)
    statuses = []
    spy = client.get(f"/v1/usage?caller={alice_id}", headers=bob)
    everyone = client.get("/v1/usage", headers=bob)
    statuses += [spy.status_code, everyone.status_code]
    assert spy.status_code == 403
    assert everyone.status_code == 200
    assert everyone.get_json()["caller"] == f"bob-{unique}@example.com"
    assert alice_id not in everyone.get_json().get("by_caller", {})
    admin = client.get(
        f"/v1/usage?caller={alice_id}", headers=bearer(issuer.token("admin@example.com"))
    )
    statuses.append(admin.status_code)
    assert admin.status_code == 200 and admin.get_json()["total"]["jobs"] >= 1
    record("another caller's usage", statuses)


def test_keyed_job_ids_are_not_computable_and_keys_are_per_caller(deployed, issuer, unique):
    services, client = deployed
    alice_id = f"alice-{unique}@example.com"
    alice = {**bearer(issuer.token(alice_id)), "Idempotency-Key": unique}
    bob = {**bearer(issuer.token(f"bob-{unique}@example.com")), "Idempotency-Key": unique}
    first = client.post("/v1/jobs", json=BODY, headers=alice)
    again = client.post("/v1/jobs", json=BODY, headers=alice)
    other_body = client.post("/v1/jobs", json={"prompt": "x"}, headers=alice)
    bobs = client.post("/v1/jobs", json=BODY, headers=bob)
    statuses = [r.status_code for r in (first, again, other_body, bobs)]
    assert statuses == [202, 200, 409, 202]
    job_id = first.get_json()["id"]
    assert again.get_json()["id"] == job_id != bobs.get_json()["id"]
    # the old derivation, sha256(caller, key), no longer names the job
    guessed = hashlib.sha256(f"{alice_id}\x00{unique}".encode()).hexdigest()
    assert job_id not in (guessed, guessed[:24])
    assert services.jobs.get(guessed[:24]) is None
    record("idempotency keys: replay, conflict, other caller, guessing", statuses, duplicated=0)


def test_refine_of_another_callers_job_is_404(deployed, issuer, unique):
    services, client = deployed
    alice_id = f"alice-{unique}@example.com"
    parent = succeeded_job(services, alice_id, unique)
    bob = bearer(issuer.token(f"bob-{unique}@example.com"))
    body = {"prompt": "mine now", "parent_job_id": parent}
    theirs = client.post("/v1/jobs", json=body, headers=bob)
    own = client.post("/v1/jobs", json=body, headers=bearer(issuer.token(alice_id)))
    assert (theirs.status_code, own.status_code) == (404, 202)
    record("refine another caller's job", [theirs.status_code, own.status_code])
