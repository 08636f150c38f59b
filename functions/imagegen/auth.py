"""Who is calling, from a verified identity token only, and what they may see.

Deployed, Cloud Run checks the token of `X-Serverless-Authorization` when that header is
present and then passes `Authorization` through untouched, so the payload of
`Authorization` alone proves nothing. The code therefore never trusts a token it did not
verify itself: the signature against Google's published keys (google-auth's
`id_token.verify_token`), the issuer, the expiry, and the audience (this service's own URL
and gcloud's, as Cloud Run accepts, or only the audiences the deployment names). Verified
headers, in order: `X-Serverless-Authorization` (the invoker Cloud Run admitted), then
`Authorization`.

The local stack has no Cloud Run in front: there a plain `X-Imagegen-Caller` header names the
caller, and only where the deployment says so (IMAGEGEN_TRUST_CALLER_HEADER=1, set by the
devstack alone). A bearer token, when one is sent, is verified there too.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from imagegen.errors import ImagegenError, Unavailable

CALLER_HEADER = "X-Imagegen-Caller"
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
TOKEN_HEADERS = ("X-Serverless-Authorization", "Authorization")
# The audience of `gcloud auth print-identity-token` without --audiences (the Google Cloud
# CLI's OAuth client). Cloud Run accepts such tokens for developers
# (https://cloud.google.com/run/docs/authenticating/developers, read 2026-11-25), and the
# deploy guide's curl examples use them; a deployment that names its audiences
# (IMAGEGEN_TOKEN_AUDIENCES) accepts only those.
GCLOUD_AUDIENCE = "32555940559.apps.googleusercontent.com"
CLOCK_SKEW_SECONDS = 10
MAX_TOKEN_CHARS = 8192
UPLOAD_OWNER_PREFIX = "upload:"


class Unauthenticated(ImagegenError):
    """No usable identity: the request is refused before anything is read or written."""

    code = "unauthenticated"
    http_status = 401


@dataclass(frozen=True)
class Caller:
    """A verified caller: `id` is what jobs, keys and budgets are scoped by."""

    id: str
    admin: bool = False

    def may_see(self, owner: str | None, *, change: bool = False) -> bool:
        """Whether this caller may read (or, with `change`, cancel) a job of `owner`.
        Jobs made from uploads (`upload:<bucket>`) have no caller of their own: whoever
        dropped the file reads its status through the API, so every verified caller may
        read them, and only admins may cancel them."""
        owner = owner or "anonymous"
        if self.admin or owner == self.id:
            return True
        return not change and owner.startswith(UPLOAD_OWNER_PREFIX)


class _CachedCerts:
    """google-auth's transport, fetching the signing keys once and keeping them for a while
    (Google rotates them over days; verify_token would otherwise fetch on every request)."""

    def __init__(self, ttl_seconds: float = 300.0) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        with self._lock:
            hit = self._cache.get(url)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        from google.auth.transport.requests import Request  # see verify_jwt

        response = Request()(url, method=method, timeout=10, **kwargs)
        if response.status == 200:
            json.loads(response.data)  # only cache keys that parse
            with self._lock:
                self._cache[url] = (time.monotonic() + self._ttl, response)
        return response


@dataclass
class Authenticator:
    """Settings-driven identity: see the module docstring."""

    certs_url: str = GOOGLE_CERTS_URL
    audiences: tuple[str, ...] = ()  # empty: the URL the request was sent to
    admins: frozenset[str] = frozenset()
    trust_caller_header: bool = False

    def __post_init__(self) -> None:
        self._transport = _CachedCerts()

    def caller(self, headers: Any, base_url: str) -> Caller:
        """The verified caller of a request; Unauthenticated (401) when there is none."""
        for name in TOKEN_HEADERS:
            value = headers.get(name)
            if value:
                return self._named(self.verify(value, base_url))
        if self.trust_caller_header:
            return self._named((headers.get(CALLER_HEADER) or "anonymous")[:256])
        raise Unauthenticated(
            "send a Google identity token for this service: Authorization: Bearer <token>"
        )

    def verify(self, header: str, base_url: str) -> str:
        """The identity a `Bearer <token>` header proves (email, else subject)."""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("expected Authorization: Bearer <identity token>")
        # Google signs ID tokens with RS256; anything else (`none`!) is refused unread
        claims = verify_jwt(
            token,
            self._transport,
            JwtCheck("RS256", "the identity token", "Google", "the token's signing keys"),
            audience=list(self.audiences) or [base_url.rstrip("/"), GCLOUD_AUDIENCE],
            certs_url=self.certs_url,
            skew=CLOCK_SKEW_SECONDS,
        )
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise Unauthenticated("the identity token was not issued by Google")
        email = claims.get("email")
        if email and claims.get("email_verified", True) in (True, "true"):
            return str(email)
        if claims.get("sub"):
            return f"sub:{claims['sub']}"
        raise Unauthenticated("the identity token names nobody")

    def _named(self, caller_id: str) -> Caller:
        return Caller(caller_id, admin=caller_id in self.admins)


@dataclass(frozen=True)
class JwtCheck:
    """Who must have signed a JWT (`algorithm`, `signer`), and how errors name things."""

    algorithm: str
    what: str  # "the identity token"
    signer: str  # "Google"
    keys: str  # "the token's signing keys"


def verify_jwt(
    token: str, transport: Any, check: JwtCheck, *, audience: list[str], certs_url: str, skew: int
) -> dict[str, Any]:
    """The claims of a JWT signed with `check.algorithm` by keys at `certs_url` for
    `audience` (google-auth's verify_token: signature, expiry, audience). A token signed
    any other way (`none`!) is refused unread; a key fetch that fails is Unavailable (our
    dependency failed, not the caller: the same request may be sent again); any other
    failure is Unauthenticated with google-auth's reason (expired, wrong audience, ...)."""
    # ~0.25 s on import with transport.requests (`python -X importtime`), paid on the first
    # token verified: uploads and the worker import this module and verify none
    from google.auth import exceptions, jwt
    from google.oauth2 import id_token

    try:
        algorithm = jwt.decode_header(token).get("alg")
    except (ValueError, TypeError, AttributeError):
        raise Unauthenticated(f"{check.what} is not a JWT") from None
    if algorithm != check.algorithm:
        raise Unauthenticated(f"{check.what} is not signed by {check.signer} ({algorithm})")
    try:
        return id_token.verify_token(
            token, transport, audience=audience, certs_url=certs_url, clock_skew_in_seconds=skew
        )
    except exceptions.TransportError:
        raise Unavailable(f"{check.keys} could not be fetched; retry") from None
    except (ValueError, exceptions.GoogleAuthError) as exc:
        raise Unauthenticated(f"{check.what} is not valid: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
