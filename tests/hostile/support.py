"""Helpers of the hostile suite (kept out of conftest.py so tests import one copy)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import time
from collections import Counter
from typing import Any

import flask

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
        from google.auth import crypt, jwt

        now = int(time.time())
        payload = {
            "iss": issuer,
            "aud": audience,
            "sub": f"sub-{email}",
            "email": email,
            "email_verified": True,
            "iat": now - 60,
            "exp": now + expires_in,
        }
        pem = self.attacker_pem if attacker else self.private_pem
        signer = crypt.RSASigner.from_string(pem, key_id=self.kid)
        return jwt.encode(signer, payload).decode()

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
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imagegen hostile suite")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private, cert.public_bytes(serialization.Encoding.PEM)


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
