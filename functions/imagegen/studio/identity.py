"""Who is using the studio: the user Identity-Aware Proxy signed in, verified.

Deployed, IAP (enabled directly on the studio's Cloud Run service) puts an ES256-signed JWT
in `x-goog-iap-jwt-assertion`. Its unsigned siblings (`x-goog-authenticated-user-email`)
prove nothing if IAP is ever bypassed, so only the JWT counts: signature against IAP's
public keys, issuer `https://cloud.google.com/iap`, expiry, and the audience this service
was given (IMAGEGEN_STUDIO_IAP_AUDIENCES; Terraform sets
`/projects/<number>/locations/<region>/services/<name>`). Sources (read 2026-11-25):
https://docs.cloud.google.com/iap/docs/signed-headers-howto (header, ES256, key URLs,
claims) and https://cloud.google.com/run/docs/securing/identity-aware-proxy-cloud-run.

The user's id is the token's `email`, the same id a Google identity token of that person
gives the HTTP API (imagegen.auth), so studio jobs and API jobs of one email are one
caller's. Locally (IMAGEGEN_STUDIO_LOCAL_IDENTITY=1, set by the devstack alone) the page
names its user in `X-Imagegen-Caller`; an IAP header sent there is still verified.

Without IAP (a project outside an organization on older IAP terms, or IAP off by choice:
Terraform's `studio_iap = false`), Cloud Run IAM admits `studio_members` and
`gcloud run services proxy` forwards the user's Google identity token; the studio then
verifies that token exactly as the HTTP API does (imagegen.auth.Authenticator), enabled by
IMAGEGEN_STUDIO_ID_TOKENS=1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imagegen.auth import (
    CALLER_HEADER,
    Authenticator,
    Caller,
    Unauthenticated,
    _CachedCerts,
    _first_line,
)
from imagegen.config import Settings
from imagegen.errors import Unavailable

IAP_HEADER = "x-goog-iap-jwt-assertion"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"
IAP_ISSUER = "https://cloud.google.com/iap"
# IAP allows 30 s of skew on exp/iat (signed-headers-howto).
CLOCK_SKEW_SECONDS = 30
MAX_TOKEN_CHARS = 8192


@dataclass
class StudioIdentity:
    audiences: tuple[str, ...] = ()
    admins: frozenset[str] = frozenset()
    local: bool = False
    certs_url: str = IAP_CERTS_URL
    id_tokens: Authenticator | None = None  # the no-IAP fallback (module docstring)
    _transport: _CachedCerts = field(default_factory=_CachedCerts, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, auth: Authenticator) -> StudioIdentity:
        """The studio's sign-in, from the deployment's settings (config.py)."""
        return cls(
            audiences=tuple(settings.studio_iap_audiences),
            admins=auth.admins,
            id_tokens=auth if settings.studio_id_tokens else None,
            local=settings.studio_local_identity,
            certs_url=settings.studio_iap_certs_url or IAP_CERTS_URL,
        )

    def caller(self, headers, base_url: str = "") -> Caller:
        """The signed-in user; Unauthenticated (401) without a verified one."""
        token = headers.get(IAP_HEADER)
        if token:
            user = self.verify(token)
        elif self.id_tokens is not None:
            return self.id_tokens.caller(headers, base_url)
        elif self.local:
            user = (headers.get(CALLER_HEADER) or "").strip()[:256]
            if not user:
                raise Unauthenticated("choose a local user (X-Imagegen-Caller)")
        else:
            raise Unauthenticated("the studio is reached through Identity-Aware Proxy only")
        return Caller(user, admin=user in self.admins)

    def verify(self, token: str) -> str:
        """The email IAP's JWT proves (or `sub:<id>` without one)."""
        from google.auth import exceptions, jwt
        from google.oauth2 import id_token

        if not self.audiences:
            raise Unauthenticated("IMAGEGEN_STUDIO_IAP_AUDIENCES is not set: no IAP audience")
        token = token.strip()
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the IAP assertion is too long")
        try:
            algorithm = jwt.decode_header(token).get("alg")
        except (ValueError, TypeError, AttributeError):
            raise Unauthenticated("the IAP assertion is not a JWT") from None
        if algorithm != "ES256":  # IAP signs ES256 only; `none`/HS256 refused unread
            raise Unauthenticated(f"the IAP assertion is not signed by IAP ({algorithm})")
        try:
            claims = id_token.verify_token(
                token,
                self._transport,
                audience=list(self.audiences),
                certs_url=self.certs_url,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except exceptions.TransportError:
            raise Unavailable("IAP's signing keys could not be fetched; retry") from None
        except (ValueError, exceptions.GoogleAuthError) as exc:
            raise Unauthenticated(f"the IAP assertion is not valid: {_first_line(exc)}") from None
        if claims.get("iss") != IAP_ISSUER:
            raise Unauthenticated("the assertion was not issued by IAP")
        if claims.get("email"):
            return str(claims["email"])
        if claims.get("sub"):
            return f"sub:{claims['sub']}"
        raise Unauthenticated("the IAP assertion names nobody")
