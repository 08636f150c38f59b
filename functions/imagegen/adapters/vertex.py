"""Vertex AI through `google.cloud.aiplatform_v1.PredictionServiceClient` (REST transport),
one client per API host, created on first use and kept for the instance's life.

Production authenticates with Application Default Credentials (the function's service
account). `IMAGEGEN_VERTEX_ENDPOINT` points the very same client and transport at the local
stand-in instead; only then are credentials anonymous.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from imagegen.adapters.rest_clients import RestClients
from imagegen.adapters.vertex_wire import (
    Generation,
    gemini_body,
    model_path,
    read_gemini,
)
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.request import JobRequest
from imagegen.errors import Blocked, FinalUpstream, RetryableUpstream

# One 4K call at a time (issue 18): an incompressible 4K reply is ~48 MiB of PNG, ~64 MiB of
# base64 JSON, and the REST transport holds the body, its text, the parsed dict and the
# proto at once (~250 MiB a call); two at once peaked at 701 MiB, one stays under 512 MiB
# (bench/RESULTS.md, memory). Each image is stored the moment its reply arrives (on_reply).
MAX_PARALLEL_4K = 1
PROMPT_REFUSAL = "Responsible AI"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class VertexClient:
    def __init__(self, project: str, endpoint_override: str = "", timeout: float = 120.0):
        self._project = project
        self._override = endpoint_override
        self._timeout = timeout
        self._clients = RestClients("PredictionServiceClient", endpoint_override)

    def _client(self, location: str):
        return self._clients.get(location)

    def generate(
        self,
        spec: ModelSpec,
        req: JobRequest,
        location: str,
        labels: dict[str, str] | None = None,
        timeout: float | None = None,
        history: list[dict] | None = None,
        on_reply: Callable[[Generation], None] | None = None,
    ) -> Generation:
        """`req.number_of_images` images in one location; raises Retryable/FinalUpstream.
        Gemini image models answer one image a call: the calls run side by side and each
        reply goes to `on_reply` as soon as it arrives (the worker stores it), so when one
        call fails the others' images are kept and a retry asks only for the missing ones.
        `timeout` bounds each HTTP call (the worker passes the time it has left).
        `history`: the conversation turns a Gemini job continues (sent before its own)."""
        timeout = min(timeout or self._timeout, self._timeout)
        body = gemini_body(req, spec, history)
        if labels:
            body["labels"] = labels
        count = req.number_of_images
        # Each reply is read in its own thread so only decoded images outlive it. 4K replies
        # are tens of MB each, so they run one at a time (MAX_PARALLEL_4K).
        parallel = min(count, MAX_PARALLEL_4K if req.image_size == "4K" else count)
        result = Generation()
        failure: Exception | None = None
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            calls = [
                pool.submit(self._generate_content, spec, location, body, timeout)
                for _ in range(count)
            ]
            for call in as_completed(calls):
                try:
                    reply = call.result()
                except Exception as exc:
                    # keep the first error; a final one (400) outranks a retryable one
                    if failure is None or (
                        isinstance(exc, FinalUpstream) and not isinstance(failure, FinalUpstream)
                    ):
                        failure = exc
                    continue
                if on_reply is not None:
                    on_reply(reply)
                result.merge(reply)
        if failure is not None:
            raise failure
        return result

    def _generate_content(self, spec, location, body, timeout) -> Generation:
        from google.cloud.aiplatform_v1.types import GenerateContentRequest
        from google.protobuf import json_format

        payload = {**body, "model": model_path(self._project, location, spec.id)}
        request = GenerateContentRequest.from_json(json.dumps(payload))
        client = self._client(location)
        response = self._call(client.generate_content, request, spec, location, timeout)
        # Take the image bytes out of the reply before it becomes JSON (see read_gemini).
        inline: list[bytes] = []
        for candidate in response._pb.candidates:
            for part in candidate.content.parts:
                if part.HasField("inline_data"):
                    inline.append(part.inline_data.data)
                    part.inline_data.data = b""
        reply = json_format.MessageToDict(response._pb)
        del response
        return read_gemini(reply, inline)

    def _call(self, method, request, spec: ModelSpec, location: str, timeout: float):
        from google.api_core import exceptions as gexc

        try:
            return method(request=request, timeout=timeout, retry=None)
        except gexc.GoogleAPICallError as exc:
            raise classify(exc, spec.id, location) from exc
        except Exception as exc:  # connection reset, read timeout, DNS: all transient
            if _is_transport_error(exc):
                raise RetryableUpstream(
                    f"{spec.id} in {location}: {type(exc).__name__}: {exc}"
                ) from exc
            raise


def _is_transport_error(exc: Exception) -> bool:
    import requests
    from google.auth.exceptions import TransportError

    return isinstance(exc, requests.RequestException | TransportError | TimeoutError)


def _retry_after(exc) -> float | None:
    response = getattr(exc, "response", None)
    header = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


def classify(exc, model: str, location: str) -> Exception:
    """429/5xx/timeouts are retryable; 400/403/404 are final (404 = not served here)."""
    from google.api_core import exceptions as gexc

    status = exc.code if isinstance(exc.code, int) else None
    message = f"{model} in {location}: HTTP {status}: {exc.message}"
    if isinstance(exc, gexc.ResourceExhausted | gexc.TooManyRequests) or status == 429:
        return RetryableUpstream(message, status=429, retry_after=_retry_after(exc), quota=True)
    if isinstance(exc, gexc.DeadlineExceeded) or (status in RETRYABLE_STATUS):
        return RetryableUpstream(message, status=status, retry_after=_retry_after(exc))
    if isinstance(exc, gexc.ServerError):
        return RetryableUpstream(message, status=status)
    if status == 400 and PROMPT_REFUSAL in str(exc.message):
        # A refusal citing Google's Responsible AI practices is a safety block, not a
        # broken request.
        return Blocked(f"prompt blocked: {exc.message}")
    return FinalUpstream(message, status=status, not_served=status == 404)
