"""A small Python client for the imagegen HTTP API.

    from imagegen_client.client import Client, verify_webhook

    client = Client()  # IMAGEGEN_API_URL, else http://127.0.0.1:8681
    job = client.submit({"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9"})
    job = client.wait(job["id"], timeout=300)
    paths = client.download(job, "out")

    # in the app that receives the job's webhook:
    event = verify_webhook(request.get_data(), request.headers)  # IMAGEGEN_WEBHOOK_SECRET

Authentication: against an `https://` URL the client sends an identity token, either the one
given (`token=` or `IMAGEGEN_TOKEN`) or one fetched from Application Default Credentials with
the URL as audience. Against a plain `http://` URL (the local stack) it sends none; a caller
name (`caller=` or `IMAGEGEN_CALLER`) goes in the `X-Imagegen-Caller` header instead.

Only the standard library, `requests` and `standardwebhooks` are imported here (the `cli`
extra); google-auth and google-cloud-storage are imported when first needed (token fetch,
a gs:// read without a signed URL). Nothing from the server package `imagegen`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import requests
from standardwebhooks.webhooks import WebhookVerificationError

DEFAULT_URL = "http://127.0.0.1:8681"
CALLER_HEADER = "X-Imagegen-Caller"
TERMINAL_STATES = frozenset({"succeeded", "blocked", "failed", "cancelled"})
BATCH_TERMINAL_STATES = frozenset({"succeeded", "partially_succeeded", "failed", "cancelled"})
MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
_TOKEN_LIFETIME = 45 * 60  # Google identity tokens live an hour; refresh well before


class ApiError(Exception):
    """The API refused a request, or could not be reached (`status` is None then).

    `details` is the API's field list: `[{"field": ..., "message": ...}, ...]`."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(f"{status or 'no response'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])
        self.body = body

    @property
    def unavailable(self) -> bool:
        """The API or the network is down (5xx, refused, timed out): retrying may help."""
        return self.status is None or self.status >= 500

    def field_lines(self) -> list[str]:
        """One `field: message` line per problem (or the message when there are none)."""
        if not self.details:
            return [self.message]
        return [f"{d.get('field', '?')}: {d.get('message', '')}" for d in self.details]

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class WaitTimeout(Exception):
    """The job did not finish in time. It is still running: `job_id` lets you come back."""

    def __init__(self, job_id: str, job: dict[str, Any] | None, timeout: float) -> None:
        self.job_id = job_id
        self.job = job
        self.state = state_of(job or {})
        self.timeout = timeout
        waited = f" after {timeout:g} s" if timeout else ""
        super().__init__(
            f"job {job_id} is still {self.state}{waited}; "
            f"check later with: imagegen status {job_id}"
        )


def state_of(job: dict[str, Any]) -> str:
    return str(job.get("state") or job.get("status") or "unknown")


def is_terminal(job: dict[str, Any]) -> bool:
    return state_of(job) in TERMINAL_STATES


def backoff_delays(first: float = 0.25, cap: float = 2.0, factor: float = 1.5) -> Iterable[float]:
    """0.25, 0.375, 0.56, ... up to `cap`, then `cap` forever."""
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * factor)


def output_filename(output: dict[str, Any], position: int) -> str:
    """The local file name of one output: the object's base name (`0.png`), else by index."""
    uri = str(output.get("uri") or "")
    name = uri.rstrip("/").rsplit("/", 1)[-1] if uri else ""
    if not name:
        ext = str(output.get("mime_type") or "image/png").split("/")[-1].replace("jpeg", "jpg")
        name = f"{output.get('index', position)}.{ext}"
    return name


def verify_webhook(body: bytes | str, headers: Any, secret: str | None = None) -> dict[str, Any]:
    """Check a webhook the deployment sent (Standard Webhooks: `webhook-id`,
    `webhook-timestamp` within 5 minutes, `webhook-signature` over id.timestamp.body) and
    return the job event it carries (a CloudEvent; docs/events.md). Raises
    WebhookVerificationError when it does not verify. Pass the raw body bytes, before any
    JSON parsing. `secret`: the deployment's signing secret (`whsec_...`), default
    IMAGEGEN_WEBHOOK_SECRET. Dedupe on the returned event's `id`: a retried delivery
    repeats it."""
    from standardwebhooks.webhooks import Webhook

    secret = secret or os.environ.get("IMAGEGEN_WEBHOOK_SECRET") or ""
    if not secret:
        raise WebhookVerificationError("no webhook secret given (IMAGEGEN_WEBHOOK_SECRET)")
    plain = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    event = Webhook(secret).verify(body, plain)
    if not isinstance(event, dict):
        raise WebhookVerificationError("the webhook body is not a JSON object")
    return event


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error, e.g. "Connection refused"."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return match.group(1).strip() if match else text[:200]


def _strip_query(url: str) -> str:
    """A signed URL without its signature, for messages and logs."""
    return url.split("?", 1)[0]


class Client:
    """One API endpoint, one `requests.Session`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        caller: str | None = None,
        project: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.url = (url or os.environ.get("IMAGEGEN_API_URL") or DEFAULT_URL).rstrip("/")
        self.token = token or os.environ.get("IMAGEGEN_TOKEN") or None
        self.caller = caller or os.environ.get("IMAGEGEN_CALLER") or None
        self.project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        self.timeout = timeout
        self.session = session or requests.Session()
        self._adc_token: tuple[str, float] | None = None
        self._storage: Any = None

    # ----------------------------------------------------------------------- plumbing

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _identity_token(self) -> str:
        """An identity token for the deployed function, from ADC (cached ~45 min)."""
        now = time.monotonic()
        if self._adc_token and self._adc_token[1] > now:
            return self._adc_token[0]
        try:
            import google.auth.exceptions
            from google.auth.transport.requests import Request
            from google.oauth2 import id_token
        except ImportError as exc:  # pragma: no cover - google-auth ships with the package
            raise ApiError(None, "auth", f"google-auth is needed for {self.url}: {exc}") from exc
        try:
            token = id_token.fetch_id_token(Request(), audience=self.url)
        except google.auth.exceptions.GoogleAuthError as exc:
            raise ApiError(
                None,
                "auth",
                "could not get an identity token from Application Default Credentials "
                f"({exc}); run `gcloud auth application-default login` with a service "
                "account, or pass --token / IMAGEGEN_TOKEN "
                "(e.g. $(gcloud auth print-identity-token))",
            ) from exc
        self._adc_token = (token, now + _TOKEN_LIFETIME)
        return token

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "imagegen-client/0.1"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.url.startswith("https://"):
            headers["Authorization"] = f"Bearer {self._identity_token()}"
        if self.caller and not self.url.startswith("https://"):
            headers[CALLER_HEADER] = self.caller
        return headers

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        all_headers = self._headers()
        all_headers.update(headers or {})
        try:
            response = self.session.request(
                method,
                f"{self.url}{path}",
                json=json_body,
                data=data,
                params=params,
                headers=all_headers,
                timeout=self.timeout,
            )
        except requests.ConnectionError as exc:
            reason = _reason(exc)
            raise ApiError(None, "unreachable", f"cannot reach {self.url} ({reason})") from exc
        except requests.Timeout as exc:
            raise ApiError(None, "timeout", f"{self.url} did not answer in time: {exc}") from exc
        except requests.RequestException as exc:
            raise ApiError(None, "request_failed", f"{method} {path} failed: {exc}") from exc
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code == 401 and self._adc_token and not self.token:
            self._adc_token = None  # stale token: the next call fetches a fresh one
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                raise ApiError(
                    response.status_code,
                    str(error.get("code") or "error"),
                    str(error.get("message") or response.reason),
                    error.get("details") if isinstance(error.get("details"), list) else None,
                    body,
                )
            text = response.text.strip()[:500]
            raise ApiError(
                response.status_code,
                "http_error",
                f"{response.status_code} {response.reason}" + (f": {text}" if text else ""),
                body=body,
            )
        return response.status_code, body

    # ---------------------------------------------------------------------- the API

    def submit(self, request: dict[str, Any], idempotency_key: str | None = None) -> dict:
        """`POST /v1/jobs`: the queued job (or, on an idempotent replay, the earlier one)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        _, body = self._request("POST", "/v1/jobs", json_body=request, headers=headers)
        return body

    def get(self, job_id: str) -> dict[str, Any]:
        _, body = self._request("GET", f"/v1/jobs/{job_id}")
        return body

    def cancel(self, job_id: str) -> dict[str, Any]:
        """`DELETE /v1/jobs/{id}`: only a queued job can be cancelled (else ApiError 409)."""
        _, body = self._request("DELETE", f"/v1/jobs/{job_id}")
        return body

    def models(self) -> dict[str, Any]:
        """`GET /v1/models`: `{"models": [...], "default": "<model id>"}`."""
        _, body = self._request("GET", "/v1/models")
        return body

    # --- the live catalog (admins; issue 17) -------------------------------------------

    def catalog(self) -> dict[str, Any]:
        """`GET /v1/catalog`: the overlay, its version and history, every model's facts."""
        _, body = self._request("GET", "/v1/catalog")
        return body

    def catalog_diff(self, overlay: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the stored overlay changes in the code's table, or (given one) what a
        proposed overlay would change in the live catalog."""
        if overlay is None:
            _, body = self._request("GET", "/v1/catalog/diff")
        else:
            _, body = self._request("POST", "/v1/catalog/diff", json_body=overlay)
        return body

    def catalog_set(self, overlay: dict[str, Any]) -> dict[str, Any]:
        """`PUT /v1/catalog`: replace the overlay (checked by the catalog's schema)."""
        _, body = self._request("PUT", "/v1/catalog", json_body=overlay)
        return body

    def catalog_retire(self, model: str, replacement: str) -> dict[str, Any]:
        """`POST /v1/catalog/retire`: retire a model now; its requests go to `replacement`."""
        _, body = self._request(
            "POST", "/v1/catalog/retire", json_body={"model": model, "replacement": replacement}
        )
        return body

    def catalog_add(
        self,
        model: str,
        *,
        like: str | None = None,
        fields: dict[str, Any] | None = None,
        from_discovered: bool = True,
    ) -> dict[str, Any]:
        """`POST /v1/catalog/models`: add a model (e.g. one the daily Model Garden check
        found) to the live catalog: its found facts, `like`'s, then `fields`."""
        payload: dict[str, Any] = {"id": model, "from_discovered": from_discovered}
        if like:
            payload["like"] = like
        if fields:
            payload["fields"] = fields
        _, body = self._request("POST", "/v1/catalog/models", json_body=payload)
        return body

    def usage(
        self, caller: str | None = None, day: str | None = None, month: str | None = None
    ) -> dict[str, Any]:
        """`GET /v1/usage`: jobs, images and dollars for a UTC day (default today) or month,
        in total and per caller and model."""
        from urllib.parse import urlencode

        query = {k: v for k, v in (("caller", caller), ("day", day), ("month", month)) if v}
        _, body = self._request("GET", "/v1/usage" + (f"?{urlencode(query)}" if query else ""))
        return body

    def refine(
        self,
        parent_job_id: str,
        prompt: str,
        request: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """`POST /v1/jobs` continuing the conversation of job `parent_job_id` (Gemini image
        models). Without a `model` in `request` the parent's model is used."""
        body: dict[str, Any] = {**(request or {}), "prompt": prompt}
        body["parent_job_id"] = parent_job_id
        if not body.get("model"):
            parent = self.get(parent_job_id)
            model = (parent.get("served_by") or {}).get("model") or parent.get("model")
            if model:
                body["model"] = model
        return self.submit(body, idempotency_key=idempotency_key)

    def history(self, job_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The chain of jobs that ends at `job_id`, oldest first: each job's
        `parent_job_id` is followed back to the first turn (at most `limit` jobs)."""
        chain: list[dict[str, Any]] = []
        seen: set[str] = set()
        current: str | None = job_id
        while current and current not in seen and len(chain) < limit:
            seen.add(current)
            job = self.get(current)
            chain.append(job)
            current = job.get("parent_job_id") or (job.get("request") or {}).get("parent_job_id")
        chain.reverse()
        return chain

    def wait(
        self,
        job_id: str,
        timeout: float | None = 600.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        *,
        poll_first: float = 0.25,
        poll_max: float = 2.0,
        unavailable_grace: float = 30.0,
    ) -> dict[str, Any]:
        """Poll until the job is terminal and return it. `on_update(job)` is called after
        every poll. Raises WaitTimeout (with the id and the last state seen) after `timeout`
        seconds (None: no limit). Brief outages (5xx, connection errors) are retried for up
        to `unavailable_grace` seconds before the ApiError is raised."""
        return self._poll(
            lambda: self.get(job_id),
            is_terminal,
            job_id,
            timeout,
            on_update,
            (poll_first, poll_max, unavailable_grace),
        )

    def _poll(
        self,
        get: Callable[[], dict[str, Any]],
        done: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float | None,
        on_update: Callable[[dict[str, Any]], None] | None,
        pacing: tuple[float, float, float],
    ) -> dict[str, Any]:
        """`get()` until `done(answer)`: (first delay, longest delay, outage grace)."""
        poll_first, poll_max, unavailable_grace = pacing
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        last: dict[str, Any] | None = None
        outage_since: float | None = None
        for delay in backoff_delays(poll_first, poll_max):
            try:
                last = get()
                outage_since = None
            except ApiError as exc:
                if not exc.unavailable:
                    raise
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since > unavailable_grace:
                    raise
            else:
                if on_update is not None:
                    on_update(last)
                if done(last):
                    return last
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise WaitTimeout(what, last, timeout or 0.0)
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - now)))
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------- batches

    def submit_batch(
        self, requests_or_jsonl: bytes | list[dict[str, Any]], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """`POST /v1/batches` (issue 29): JSONL bytes as they are (one job request a line)
        or a list of job requests; the answer names every rejected line."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if isinstance(requests_or_jsonl, bytes | bytearray):
            headers["Content-Type"] = "application/jsonl"
            _, body = self._request(
                "POST", "/v1/batches", data=bytes(requests_or_jsonl), headers=headers
            )
        else:
            json_body = {"requests": list(requests_or_jsonl)}
            _, body = self._request("POST", "/v1/batches", json_body=json_body, headers=headers)
        return body

    def batch(self, batch_id: str, limit: int = 100, after: int = 0) -> dict[str, Any]:
        """`GET /v1/batches/{id}`: state, counts, cost and a page of its ended items."""
        params = {"limit": limit, "after": after}
        _, body = self._request("GET", f"/v1/batches/{batch_id}", params=params)
        return body

    def batch_items(self, batch_id: str, page: int = 500) -> Iterator[dict[str, Any]]:
        """Every ended item of a batch, page after page."""
        after = 0
        while True:
            answer = self.batch(batch_id, limit=page, after=after)
            yield from answer.get("items") or []
            if answer.get("next_after") is None:
                return
            after = int(answer["next_after"])

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        """`DELETE /v1/batches/{id}`: marked; the service's next sweep stops its Vertex jobs."""
        _, body = self._request("DELETE", f"/v1/batches/{batch_id}")
        return body

    def wait_batch(
        self,
        batch_id: str,
        timeout: float | None = None,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        *,
        poll_first: float = 1.0,
        poll_max: float = 15.0,
    ) -> dict[str, Any]:
        """Poll until the batch has ended (Vertex takes up to a day; None: no limit)."""
        return self._poll(
            lambda: self.batch(batch_id, limit=1),
            lambda b: str(b.get("state")) in BATCH_TERMINAL_STATES,
            batch_id,
            timeout,
            on_update,
            (poll_first, poll_max, 60.0),
        )

    # ------------------------------------------------------------------- outputs

    def _storage_client(self) -> Any:
        """google-cloud-storage's client, made when a gs:// output is first read: the
        caller's own credentials, anonymous against the local emulator."""
        if self._storage is None:
            from google.cloud import storage

            if os.environ.get("STORAGE_EMULATOR_HOST"):
                from google.auth.credentials import AnonymousCredentials

                self._storage = storage.Client(
                    project=self.project or "imagegen-local", credentials=AnonymousCredentials()
                )
            else:
                self._storage = storage.Client(project=self.project)
        return self._storage

    def _read_gs(self, uri: str) -> bytes:
        """A whole gs:// object, refused before downloading when over MAX_DOWNLOAD_BYTES."""
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        blob = self._storage_client().bucket(bucket).get_blob(name)
        if blob is None:
            raise FileNotFoundError(uri)
        if blob.size is not None and blob.size > MAX_DOWNLOAD_BYTES:
            raise ValueError(f"{uri} is {blob.size} bytes; the limit is {MAX_DOWNLOAD_BYTES}")
        return blob.download_as_bytes()

    def read_output(self, output: dict[str, Any] | str) -> bytes:
        """The bytes of one output: through its signed `url` when the API gave one (no
        Google credentials needed: invoker rights are enough), else a `gs://` read with
        google-cloud-storage (the caller's own credentials), else an http(s) URI."""
        uri = output if isinstance(output, str) else str(output.get("uri") or "")
        signed = None if isinstance(output, str) else output.get("url") or output.get("signed_url")
        if signed:
            return self._fetch(str(signed))
        if uri.startswith("gs://"):
            try:
                return self._read_gs(uri)
            except FileNotFoundError as exc:
                raise ApiError(404, "not_found", f"{uri} does not exist") from exc
            except Exception as exc:
                raise ApiError(None, "storage", f"cannot read {uri}: {exc}") from exc
        if uri.startswith(("http://", "https://")):
            return self._fetch(uri)
        raise ApiError(None, "bad_output", f"cannot download output {output!r}")

    def _fetch(self, url: str) -> bytes:
        """GET a signed URL with no credentials (the signature is the authorization), at
        most MAX_DOWNLOAD_BYTES."""
        try:
            response = requests.get(url, timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise ApiError(None, "unreachable", f"cannot fetch {_strip_query(url)}: {exc}") from exc
        with response:
            if response.status_code >= 400:
                raise ApiError(
                    response.status_code,
                    "expired" if response.status_code in (400, 403) else "http_error",
                    f"fetching {_strip_query(url)} failed (HTTP {response.status_code}); "
                    "a signed URL may have expired: get the job again for a fresh one",
                )
            data = response.raw.read(MAX_DOWNLOAD_BYTES + 1, decode_content=True)
        if len(data) > MAX_DOWNLOAD_BYTES:
            raise ApiError(
                None, "too_large", f"{_strip_query(url)} is over {MAX_DOWNLOAD_BYTES} bytes"
            )
        return data

    def download(self, job: dict[str, Any] | str, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write every output of a job (a job dict, or an id) into out_dir; return the
        paths in output order."""
        if isinstance(job, str):
            job = self.get(job)
        outputs = sorted(job.get("outputs") or [], key=lambda o: o.get("index", 0))
        target = Path(out_dir)
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for position, output in enumerate(outputs):
            path = target / output_filename(output, position)
            path.write_bytes(self.read_output(output))
            paths.append(path)
        return paths
