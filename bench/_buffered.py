"""main's non-streaming Gemini path (before issue 18's streaming), kept for the memory
benchmark's same-run baseline only: the `aiplatform_v1` REST client reads the whole reply
(body, text, dict, proto), the image bytes are taken out of the proto, and the object is
written with one `upload_from_string`; 4K calls one at a time. (Main then also spliced its
provenance text into a copy of the file; issue 25 removed that from the code, so the
baseline no longer makes the copy either: it slightly understates main's peak.)
`install()` patches it into the running process (the benchmark's child)."""

from __future__ import annotations

import json

from imagegen.adapters import vertex, vertex_errors
from imagegen.adapters.vertex_wire import model_path, read_gemini
from imagegen.domain.generation import GeneratedImage, Generation
from imagegen.domain.job_values import Output
from imagegen.media import pixel_size
from imagegen.services import keeper


def _generate_content(
    self, spec, location, body, timeout, on_image=None, version=None
) -> Generation:
    """As main had it: the whole reply through the REST client, images into memory
    (`version`, the API version of a Vertex-native request, is not used: the bench sends
    job-API requests only)."""
    from google.api_core import exceptions as gexc
    from google.cloud.aiplatform_v1.types import GenerateContentRequest
    from google.protobuf import json_format

    payload = {**body, "model": model_path(self._project, location, spec.id)}
    request = GenerateContentRequest.from_json(json.dumps(payload))
    client = self._buffered_clients.get(location)
    try:
        response = client.generate_content(request=request, timeout=timeout, retry=None)
    except gexc.GoogleAPICallError as exc:
        raise vertex_errors.classify(exc, spec.id, location) from exc
    inline: list[GeneratedImage] = []
    for candidate in response._pb.candidates:
        for part in candidate.content.parts:
            if part.HasField("inline_data"):
                inline.append(GeneratedImage(part.inline_data.mime_type, part.inline_data.data))
                part.inline_data.data = b""
    reply = json_format.MessageToDict(response._pb)
    del response
    return read_gemini(reply, inline)


def _store(self, image: GeneratedImage, route) -> Output:
    """As main had it: one upload_from_string of the whole file."""
    index = self.take_index()
    metadata = self.provenance(route)
    ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(image.mime_type, "png")
    data = image.data
    uri = self.services.storage.write(
        self.services.settings.require("outputs_bucket"),
        f"jobs/{self.job_id}/{index}.{ext}",
        data,
        image.mime_type,
        metadata,
    )
    width, height = pixel_size(image.data) or (0, 0)
    priced, _ = keeper.delivered_size(route.spec, self.req, width, height, index)
    return Output(
        uri=uri,
        mime_type=image.mime_type,
        index=index,
        width=width,
        height=height,
        bytes=len(data),
        priced_size=priced,
        model=route.spec.id,
        cost_usd=route.spec.price(priced),
    )


def install(services) -> None:
    """Switch this process to main's path: 4K one at a time, whole replies in memory."""
    from imagegen.adapters.rest_clients import RestClients

    client = services.vertex
    client._buffered_clients = RestClients("PredictionServiceClient", client._override)
    vertex.MAX_PARALLEL_4K = 1
    vertex.VertexClient._generate_content = _generate_content
    keeper.Keeper.opener = lambda self, route: None  # images come back in memory
    keeper.Keeper._store = _store
