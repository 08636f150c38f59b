"""Validation problems renamed into the vocabulary of the API a front door imitates: the job
request's `image_size` is `generationConfig.imageConfig.imageSize` to a Vertex caller,
`parameters.sampleImageSize` to an Imagen one and `size` to an OpenAI one."""

from __future__ import annotations

from collections.abc import Callable

from imagegen.errors import InvalidRequest


def renamed(exc: InvalidRequest, name_of: Callable[[str], str]) -> InvalidRequest:
    """The same problems, each field named by `name_of(job request field)`."""
    details = [{**d, "field": name_of(str(d.get("field", "")))} for d in exc.details or []]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details) or exc.message
    return InvalidRequest(message, details=details)
