"""The studio's identity: IAP's ES256 assertion verified (signature, issuer, audience,
expiry) with real keys made here; the local identity only where the stack says so."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt, jwt

from imagegen.auth import Unauthenticated
from imagegen.studio.identity import IAP_ISSUER, StudioIdentity

AUDIENCE = "/projects/123456789/locations/europe-west1/services/imagegen-studio"


class _Keys:
    """IAP's key endpoint in its format ({kid: PEM public key}), served in memory."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.body = json.dumps({"k1": pem.decode()}).encode()

    def __call__(self, url, method="GET", **kwargs):
        return type("Response", (), {"status": 200, "data": self.body, "headers": {}})()

    def token(self, **claims) -> str:
        now = int(time.time())
        payload = {
            "iss": IAP_ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 600,
            "sub": "accounts.google.com:1234",
            "email": "ada@example.com",
            **claims,
        }
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        signer = crypt.ES256Signer.from_string(pem, key_id="k1")
        return jwt.encode(signer, payload).decode()


@pytest.fixture
def keys() -> _Keys:
    return _Keys()


def _identity(keys: _Keys, **kwargs) -> StudioIdentity:
    return StudioIdentity(audiences=(AUDIENCE,), _transport=keys, **kwargs)


def _headers(token: str) -> dict[str, str]:
    return {"x-goog-iap-jwt-assertion": token}


def test_a_valid_assertion_names_the_user(keys):
    caller = _identity(keys, admins=frozenset({"ada@example.com"})).caller(_headers(keys.token()))
    assert caller.id == "ada@example.com" and caller.admin


@pytest.mark.parametrize(
    "claims, why",
    [
        ({"aud": "/projects/1/global/backendServices/2"}, "audience"),
        ({"iss": "https://accounts.google.com"}, "issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}, "expired"),
    ],
)
def test_wrong_audience_issuer_or_expiry_is_401(keys, claims, why):
    with pytest.raises(Unauthenticated):
        _identity(keys).caller(_headers(keys.token(**claims)))


def test_another_key_or_algorithm_is_401(keys):
    forged = _Keys().token()  # signed by a key IAP never published
    with pytest.raises(Unauthenticated):
        _identity(keys).caller(_headers(forged))
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(b'{"email":"eve@example.com"}').rstrip(b"=").decode()
    with pytest.raises(Unauthenticated, match="not signed by IAP"):
        _identity(keys).caller(_headers(f"{header}.{body}."))


def test_without_iap_the_studio_refuses_unless_local(keys):
    with pytest.raises(Unauthenticated):
        _identity(keys).caller({"X-Imagegen-Caller": "eve@example.com"})
    local = _identity(keys, local=True)
    assert local.caller({"X-Imagegen-Caller": "eve"}).id == "eve"
    with pytest.raises(Unauthenticated):
        local.caller({})
    with pytest.raises(Unauthenticated):  # an IAP header is still verified locally
        local.caller({**_headers(_Keys().token()), "X-Imagegen-Caller": "eve"})


def test_no_configured_audience_accepts_nobody(keys):
    with pytest.raises(Unauthenticated, match="AUDIENCES"):
        StudioIdentity(_transport=keys).caller(_headers(keys.token()))


def test_without_iap_google_id_tokens_are_verified_like_the_api(keys):
    from imagegen.auth import Authenticator

    api = Authenticator(trust_caller_header=False)
    fallback = _identity(keys, id_tokens=api)
    with pytest.raises(Unauthenticated, match="identity token"):
        fallback.caller({"X-Imagegen-Caller": "eve"}, "https://studio.example")
    assert fallback.caller(_headers(keys.token()), "https://studio.example").id == (
        "ada@example.com"
    )  # IAP's assertion still wins when present
