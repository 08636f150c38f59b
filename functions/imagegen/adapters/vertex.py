"""Vertex AI `:generateContent` over REST, with the reply read as a stream (issue 18).

The request is the `aiplatform_v1` REST transport's own: the `GenerateContentRequest` proto,
transcoded by `google.api_core.path_template` with the transport's HTTP rule, the body as
its JSON with enums as numbers (`$alt=json;enum-encoding=int`), the routing header
(tests/unit/test_genai_parity.py compares it with google-genai's). Only the reading
differs: the client would hold the whole reply (body, text, dict, proto: ~250 MiB for one
incompressible 4K image), so the body is streamed (`stream=True`) through
`vertex_stream.ReplyReader`, which writes each image into the sink the caller opens for it
as the image arrives; the small rest of the reply goes through the same proto as before.

Production authenticates with Application Default Credentials (the function's service
account), one google-auth `AuthorizedSession` per API host kept for the instance's life.
`IMAGEGEN_VERTEX_ENDPOINT` points it at the local stand-in instead; only then are
credentials anonymous.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import NoReturn

import requests
from google.api_core import exceptions as gexc
from google.api_core import gapic_v1, path_template, rest_helpers
from google.auth.exceptions import TransportError
from google.cloud.aiplatform_v1.types import GenerateContentRequest, GenerateContentResponse
from google.protobuf import json_format

from imagegen.adapters.rest_clients import RestSessions
from imagegen.adapters.vertex_errors import classify
from imagegen.adapters.vertex_stream import ReplyError, ReplyReader
from imagegen.adapters.vertex_wire import (
    gemini_body,
    merge_beyond_proto,
    model_path,
    read_gemini,
    split_beyond_proto,
)
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.generation import Generation, OpenImage
from imagegen.domain.request import JobRequest
from imagegen.errors import FinalUpstream, RetryableUpstream

# 4K calls side by side, like every other size: with the reply streamed, a call holds a few
# MiB of it at a time, not the whole ~64 MiB reply several times over (bench/RESULTS.md,
# memory: 4 x 4K incompressible at once peaks within 512 MiB).
MAX_PARALLEL_4K = 4
# The reply is read in chunks of this size (a multiple of 4: whole base64 quanta mostly).
READ_CHUNK_BYTES = 256 * 1024
# The REST transport's rule for a publisher model (aiplatform_v1 rest_base, GenerateContent).
HTTP_RULE = [
    {
        "method": "post",
        "uri": "/v1/{model=projects/*/locations/*/publishers/*/models/*}:generateContent",
        "body": "*",
    }
]


class VertexClient:
    def __init__(self, project: str, endpoint_override: str = "", timeout: float = 120.0):
        self._project = project
        self._override = endpoint_override
        self._timeout = timeout
        self._sessions = RestSessions(endpoint_override)

    def _client(self, location: str):
        """The HTTP session for a location (made on first use; the benchmarks warm it)."""
        return self._sessions.get(location)

    def generate(
        self,
        spec: ModelSpec,
        req: JobRequest,
        location: str,
        labels: dict[str, str] | None = None,
        timeout: float | None = None,
        history: list[dict] | None = None,
        on_reply: Callable[[Generation], None] | None = None,
        on_image: OpenImage | None = None,
        native: tuple[dict, str] | None = None,
    ) -> Generation:
        """`req.number_of_images` images in one location; raises Retryable/FinalUpstream.
        Gemini image models answer one image a call: the calls run side by side and each
        reply goes to `on_reply` as soon as it arrives (the worker stores it), so when one
        call fails the others' images are kept and a retry asks only for the missing ones.
        `timeout` bounds each HTTP call (the worker passes the time it has left).
        `history`: the conversation turns a Gemini job continues (sent before its own).
        `on_image(mime_type)`: opens the sink each image is written into as it arrives
        (from the call's own thread); without it images are read into memory.
        `native`: (body, API version) of a Vertex-native request (issue 28): sent as it is,
        with the labels set here and the model and location of this call."""
        timeout = min(timeout or self._timeout, self._timeout)
        body = dict(native[0]) if native is not None else gemini_body(req, spec, history)
        version = native[1] if native is not None else None
        if labels:
            body["labels"] = labels
        count = req.number_of_images
        # Each reply is read in its own thread, streamed into its images' sinks.
        parallel = min(count, MAX_PARALLEL_4K if req.image_size == "4K" else count)
        result = Generation()
        failure: Exception | None = None
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            calls = [
                pool.submit(
                    self._generate_content, spec, location, body, timeout, on_image, version
                )
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

    def _generate_content(
        self, spec, location, body, timeout, on_image: OpenImage | None = None, version=None
    ) -> Generation:

        base, session = self._client(location)
        path = model_path(self._project, location, spec.id)
        if version is None:
            url, data, params, headers = rest_request(base, {**body, "model": path})
        else:
            url, data, params, headers = native_request(base, path, body, version)
        reader = ReplyReader(on_image)
        try:
            try:
                response = session.post(
                    url, data=data, params=params, headers=headers, timeout=timeout, stream=True
                )
            except Exception as exc:  # connection refused or reset, DNS: all transient
                _raise_transient(exc, spec.id, location)
            with response:
                if response.status_code >= 400:
                    error = gexc.from_http_response(response)
                    raise classify(error, spec.id, location) from error
                for chunk in _body(response, spec.id, location):
                    reader.feed(chunk)
                reply, images = reader.finish()
        except ReplyError as exc:
            reader.abort()
            raise RetryableUpstream(f"{spec.id} in {location}: reply cut short: {exc}") from exc
        except BaseException:
            # Vertex's error, or the images' storage failing: no image of this reply stays
            # (a storage error keeps its own type: the worker hands the job back)
            reader.abort()
            raise
        return read_gemini(through_proto(reply), images)


def _body(response, model: str, location: str) -> Iterator[bytes]:
    """The reply's body in chunks as it arrives; the connection dropping or timing out
    mid-reply is a retryable error, like a 503."""
    chunks = response.iter_content(READ_CHUNK_BYTES)
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:
            _raise_transient(exc, model, location)
        yield chunk


def _raise_transient(exc: Exception, model: str, location: str) -> NoReturn:
    """Raise a transport error as RetryableUpstream; anything else as it is."""
    if _is_transport_error(exc):
        raise RetryableUpstream(f"{model} in {location}: {type(exc).__name__}: {exc}") from exc
    raise exc


def rest_request(base: str, payload: dict) -> tuple[str, str, dict, dict]:
    """URL, body, query and headers of `:generateContent` as the aiplatform_v1 REST
    transport makes them: the request proto transcoded by its HTTP rule, the body as the
    proto's JSON with enums as numbers, and the routing header."""
    known, extras = split_beyond_proto(payload)  # fields newer than the proto ride along
    request = GenerateContentRequest.from_json(json.dumps(known))
    transcoded = path_template.transcode(HTTP_RULE, GenerateContentRequest.pb(request))
    body = json_format.MessageToJson(transcoded["body"], use_integers_for_enums=True)
    if extras:
        body = json.dumps(merge_beyond_proto(json.loads(body), extras))
    params = rest_helpers.flatten_query_params({"$alt": "json;enum-encoding=int"}, strict=True)
    routing = gapic_v1.routing_header.to_grpc_metadata((("model", request.model),))
    headers = {
        "Content-Type": "application/json",
        routing[0]: routing[1],
        "x-goog-api-client": gapic_v1.client_info.ClientInfo().to_user_agent(),
    }
    return f"{base}{transcoded['uri']}", body, params, headers


def native_request(base: str, path: str, body: dict, version: str) -> tuple[str, str, dict, dict]:
    """URL, body, query and headers of a Vertex-native request (issue 28): the caller's JSON
    as it came (its field names, enum names, base64 spelling), to the API version it
    called, for the routed model; a `model` field in the body names the routed model too.
    The headers are the REST transport's (the routing header, our client's name)."""
    from google.api_core import gapic_v1

    if "model" in body:
        body = {**body, "model": path}
    routing = gapic_v1.routing_header.to_grpc_metadata((("model", path),))
    headers = {
        "Content-Type": "application/json",
        routing[0]: routing[1],
        "x-goog-api-client": gapic_v1.client_info.ClientInfo().to_user_agent(),
    }
    return f"{base}/{version}/{path}:generateContent", json.dumps(body), {}, headers


def through_proto(reply: dict) -> dict:
    """The reply's dict as the REST client made it: read through the response proto (enums
    sent as numbers come back as names; fields and enum values the proto does not know are
    dropped, as before). Small: the images' data is already out."""
    message = GenerateContentResponse.pb()()
    json_format.ParseDict(reply, message, ignore_unknown_fields=True)
    return json_format.MessageToDict(message)


def _is_transport_error(exc: Exception) -> bool:
    return isinstance(exc, requests.RequestException | TransportError | TimeoutError)
