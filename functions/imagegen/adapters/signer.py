"""V4 signed URLs for outputs, so a caller with invoker rights only can download them.

Deployed (`iam`): the function signs as its own service account through the IAM
Credentials `signBlob` API, with no key file: google-cloud-storage's
`generate_signed_url(service_account_email=..., access_token=...)` sends the string to sign
there (needs `iam.serviceAccounts.signBlob` on itself: roles/iam.serviceAccountTokenCreator,
and read access to the objects it signs for; terraform/webhooks.tf and iam.tf grant both).

Local (`local`): the same library code builds the V4 canonical request, signed with an RSA
key generated in memory by this process (a stand-in for signBlob, which has no emulator);
the URL points at the storage emulator, which serves `/<bucket>/<object>` without checking
signatures. `off`: no URLs.

URLs are cached per object until half their lifetime is left: a job polled every second
costs one signBlob call per output per half-lifetime, not one per poll.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import Request
from google.cloud import storage

from imagegen.adapters.storage_gcs import split_uri
from imagegen.config import ConfigError
from imagegen.logs import get_logger

MAX_LIFETIME_SECONDS = 7 * 24 * 3600  # V4 signed URLs live at most 7 days
MODES = ("iam", "local", "off")


class UrlSigner:
    def __init__(
        self,
        project: str,
        mode: str = "iam",
        lifetime_seconds: float = 900.0,
        endpoint: str = "https://storage.googleapis.com",
        signer_email: str = "",
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"IMAGEGEN_URL_SIGNER must be one of {', '.join(MODES)}: {mode!r}")
        if not 1 <= lifetime_seconds <= MAX_LIFETIME_SECONDS:
            raise ConfigError(
                f"IMAGEGEN_SIGNED_URL_SECONDS must be 1..{MAX_LIFETIME_SECONDS} (7 days), "
                f"got {lifetime_seconds:g}"
            )
        self.project = project
        self.mode = mode
        self.lifetime = dt.timedelta(seconds=lifetime_seconds)
        self.endpoint = endpoint.rstrip("/")
        self.signer_email = signer_email
        self._client: Any = None
        self._local_credentials: Any = None
        self._cache: dict[str, tuple[str, dt.datetime]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def sign(self, uri: str, now: dt.datetime | None = None) -> tuple[str, dt.datetime] | None:
        """(URL, expiry) for reading one gs:// object; None when signing is off."""
        if not self.enabled or not uri.startswith("gs://"):
            return None
        now = now or dt.datetime.now(dt.UTC)
        with self._lock:
            cached = self._cache.get(uri)
        if cached and cached[1] - now > self.lifetime / 2:
            return cached
        expires = now + self.lifetime
        url = self._generate(uri, now)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[uri] = (url, expires)
        return url, expires

    def with_urls(self, view: dict[str, Any]) -> dict[str, Any]:
        """The job view with `url` and `url_expires_at` on each output (when signing is
        on); an output that cannot be signed is shown without them."""
        outputs = view.get("outputs")
        if not outputs or not self.enabled:
            return view
        signed = []
        for output in outputs:
            try:
                result = self.sign(str(output.get("uri") or ""))
            except Exception as exc:  # the job is still worth showing without its URLs
                get_logger("imagegen.signer").error(
                    "could not sign an output URL",
                    extra={"uri": output.get("uri"), "error": str(exc)},
                )
                result = None
            if result is None:
                signed.append(output)
                continue
            url, expires = result
            stamp = expires.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            signed.append({**output, "url": url, "url_expires_at": stamp})
        return {**view, "outputs": signed}

    def _generate(self, uri: str, now: dt.datetime) -> str:

        bucket, name = split_uri(uri)
        blob = self._storage().bucket(bucket).blob(name)
        kwargs: dict[str, Any] = {
            "version": "v4",
            "method": "GET",
            "expiration": self.lifetime,
            "api_access_endpoint": self.endpoint,
        }
        if self.mode == "local":
            kwargs["credentials"] = self._local_signer()
        else:
            credentials = self._iam_credentials()
            kwargs["service_account_email"] = self.signer_email or (
                credentials.service_account_email
            )
            kwargs["access_token"] = credentials.token
        assert isinstance(blob, storage.Blob)
        return blob.generate_signed_url(**kwargs)

    def _storage(self) -> Any:
        if self._client is None:
            if self.mode == "local":
                self._client = storage.Client(
                    project=self.project, credentials=AnonymousCredentials()
                )
            else:
                self._client = storage.Client(project=self.project)
        return self._client

    def _iam_credentials(self) -> Any:
        """The function's own credentials (metadata server), with a fresh access token."""
        credentials = self._storage()._credentials
        if not credentials.valid:
            credentials.refresh(Request())
        return credentials

    def _local_signer(self) -> Any:
        """Local stack only: service-account credentials around a key made in memory."""
        if self._local_credentials is None:
            # the local stack only: cryptography and google.oauth2 (~0.15 s on import, measured
            # with `python -X importtime`) are never needed in a deployment
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
            from google.auth import crypt
            from google.oauth2 import service_account

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            self._local_credentials = service_account.Credentials(
                signer=crypt.RSASigner.from_string(pem),
                service_account_email=f"local-signer@{self.project}.iam.gserviceaccount.com",
                token_uri="https://oauth2.googleapis.com/token",  # noqa: S106 (a URL)
            )
        return self._local_credentials
