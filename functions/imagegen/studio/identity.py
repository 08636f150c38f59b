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
    JwtCheck,
    Unauthenticated,
    _CachedCerts,
    verify_jwt,
)
from imagegen.config import Settings

IAP_HEADER = "x-goog-iap-jwt-assertion"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"
IAP_ISSUER = "https://cloud.google.com/iap"
# IAP allows 30 s of skew on exp/iat (signed-headers-howto).
CLOCK_SKEW_SECONDS = 30
MAX_TOKEN_CHARS = 8192
IAP_JWT = JwtCheck("ES256", "the IAP assertion", "IAP", "IAP's signing keys")


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
        if not self.audiences:
            raise Unauthenticated("IMAGEGEN_STUDIO_IAP_AUDIENCES is not set: no IAP audience")
        token = token.strip()
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the IAP assertion is too long")
        claims = verify_jwt(
            token,
            self._transport,
            IAP_JWT,  # IAP signs ES256 only; `none`/HS256 refused unread
            audience=list(self.audiences),
            certs_url=self.certs_url,
            skew=CLOCK_SKEW_SECONDS,
        )
        if claims.get("iss") != IAP_ISSUER:
            raise Unauthenticated("the assertion was not issued by IAP")
        if claims.get("email"):
            return str(claims["email"])
        if claims.get("sub"):
            return f"sub:{claims['sub']}"
        raise Unauthenticated("the IAP assertion names nobody")
