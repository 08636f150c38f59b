"""Helpers of the hostile suite (kept out of conftest.py so tests import one copy)."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections import Counter
from typing import Any

import flask

from devstack import idtokens

AUDIENCE = "https://imagegen.test"
# one row a test, printed by conftest.pytest_terminal_summary
FIGURES: list[dict[str, Any]] = []


def record(finding: str, statuses: list[int | str], **counts: int) -> None:
    """One figures row: `statuses` holds one entry per request tried."""
    seen = Counter(str(s) for s in statuses)
    FIGURES.append(
        {
            "finding": finding,
            "requests": len(statuses),
            "statuses": ", ".join(f"{k} x{v}" for k, v in sorted(seen.items())),
            "lost": counts.get("lost", 0),
            "stuck": counts.get("stuck", 0),
            "duplicated": counts.get("duplicated", 0),
            "extra_calls": counts.get("extra_calls", 0),
        }
    )


# -- keys and tokens -----------------------------------------------------------------------


@dataclasses.dataclass
class Issuer:
    """Signs ID tokens like Google's; `certs_url` serves its certificate."""

    certs_url: str
    kid: str
    private_pem: bytes
    attacker_pem: bytes

    def token(
        self,
        email: str,
        *,
        audience: str = AUDIENCE,
        expires_in: int = 3600,
        issuer: str = "https://accounts.google.com",
        attacker: bool = False,
    ) -> str:
        """Signed like the local stack's tokens (devstack/idtokens.py)."""
        pem = self.attacker_pem if attacker else self.private_pem
        return idtokens.sign(
            pem, email, audience, kid=self.kid, expires_in=expires_in, issuer=issuer
        )

    @staticmethod
    def unsigned(email: str, audience: str = AUDIENCE) -> str:
        """A token with `alg: none`: what a forger sends."""

        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": audience, "email": email}
        claims.update({"iat": now, "exp": now + 3600})
        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def key_and_cert() -> tuple[bytes, bytes]:
    return idtokens.key_and_cert("imagegen hostile suite")


def flask_client(api):
    app = flask.Flask(__name__)
    methods = ["GET", "POST", "DELETE", "PUT"]
    app.add_url_rule("/", "api", lambda: api.handle(flask.request), methods=methods)
    app.add_url_rule(
        "/<path:path>", "api_path", lambda path: api.handle(flask.request), methods=methods
    )
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def succeeded_job(services, caller: str, unique: str, **extra) -> str:
    """A finished Gemini job of `caller`, written as the worker leaves one."""
    from imagegen.domain.job import Job, new_job_id, utcnow

    now = utcnow()
    job_id = new_job_id()
    services.jobs.create(
        Job.from_document(
            {
                "id": job_id,
                "state": "succeeded",
                "caller": caller,
                "model": "gemini-3-pro-image",
                "served_by": {"model": "gemini-3-pro-image", "location": "global"},
                "request": {"prompt": f"{unique} parent", "model": "gemini-3-pro-image"},
                "conversation": [
                    {"role": "user", "parts": [{"text": f"{unique} parent"}]},
                    {"role": "model", "parts": [{"text": "here it is"}]},
                ],
                "outputs": [],
                "created_at": now,
                "updated_at": now,
                **extra,
            }
        )
    )
    return job_id
