"""Google-style ID tokens for the local stack (issue 28), so every SDK authenticates locally
the way it will deployed, through the API's own verification (imagegen/auth.py).

Deployed, Cloud Run admits only Google ID tokens, and the API verifies them itself against
Google's certificates (https://www.googleapis.com/oauth2/v1/certs: a JSON object of key id
-> PEM certificate). Locally an RSA key made once per state dir stands in for Google's: it
signs RS256 tokens with the claims Google puts in an ID token (`iss`
https://accounts.google.com, `aud`, `sub`, `email`, `email_verified`, `iat`, `exp`), and
the Vertex stand-in serves its certificate at `/oauth2/v1/certs` in the format of Google's
endpoint. The API reads that URL from IMAGEGEN_AUTH_CERTS_URL and verifies exactly as in
production: only the certificates' URL and the audience (the local submit URL) differ.

    python -m devstack token alice@example.com      # prints a token for the local API

The hostile suite signs its tokens with the same helpers (tests/hostile/support.py).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

KEY_ID = "imagegen-local-stack"
GOOGLE_ISSUER = "https://accounts.google.com"
KEY_FILE = "idtoken-key.pem"
CERTS_FILE = "idtoken-certs.json"  # {kid: PEM certificate}, as Google's endpoint answers


def key_and_cert(name: str = "imagegen local stack") -> tuple[bytes, bytes]:
    """A new RSA key (PKCS#8 PEM) and its self-signed certificate (PEM), valid for a year."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private, cert.public_bytes(serialization.Encoding.PEM)


def sign(
    private_pem: bytes,
    email: str,
    audience: str,
    *,
    kid: str = KEY_ID,
    expires_in: int = 3600,
    issuer: str = GOOGLE_ISSUER,
) -> str:
    """An RS256 JWT with the claims of a Google ID token for `email`."""
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
    signer = crypt.RSASigner.from_string(private_pem, key_id=kid)
    return jwt.encode(signer, payload).decode()


def ensure_key(state_dir: Path) -> Path:
    """Make the local stack's key and its certs file once per state dir; the certs file's
    path (what the stand-in serves)."""
    key_path, certs_path = state_dir / KEY_FILE, state_dir / CERTS_FILE
    if key_path.exists() and certs_path.exists():
        return certs_path
    state_dir.mkdir(parents=True, exist_ok=True)
    private, cert = key_and_cert()
    key_path.write_bytes(private)
    key_path.chmod(0o600)
    certs_path.write_text(json.dumps({KEY_ID: cert.decode()}))
    return certs_path


def mint(state_dir: Path, email: str, audience: str, expires_in: int = 3600) -> str:
    """An ID token for `email` signed by the local stack's key (made if missing)."""
    ensure_key(state_dir)
    return sign((state_dir / KEY_FILE).read_bytes(), email, audience, expires_in=expires_in)
