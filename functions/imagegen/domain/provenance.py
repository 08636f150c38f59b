"""Where an output's provenance lives, and what it says. Pure.

Vertex attaches C2PA Content Credentials, signed by Google, to the images of the models it
supports (`ModelSpec.c2pa_content_credentials`). A C2PA manifest binds the file's bytes by hash,
so any byte added to the file breaks it: imagegen therefore stores each image byte for byte
as Vertex sent it, and keeps its own provenance *beside* the file — the object's metadata
(`object_metadata`) and the job record (`ContentCredentials` per output) — never inside it.
docs/architecture.md ("Provenance") has the sources.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from imagegen.domain.job_values import ContentCredentials

# IPTC's digital source type vocabulary: C2PA actions name one by this URI prefix + a term.
IPTC_SOURCE_TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# Gemini image models always embed SynthID in the pixels (each model's catalog notes): it is
# not read back (no public detector API), it is recorded as the model's fact.
SYNTHID = True


def source_type_term(uri: str | None) -> str | None:
    """`trainedAlgorithmicMedia` from its IPTC URI (other values kept as they are)."""
    if not uri:
        return None
    return uri.removeprefix(IPTC_SOURCE_TYPES)


def credentials_warning(
    carries: bool, credentials: ContentCredentials | None, index: int, model: str
) -> str | None:
    """A warning when a model the catalog says carries Content Credentials delivered an
    image without them, with invalid ones, or one whose credentials could not be read."""
    if not carries:
        return None
    if credentials is None:
        return f"image {index}: its Content Credentials could not be read"
    if not credentials.present:
        return f"image {index} from {model} arrived without Content Credentials (C2PA)"
    if not credentials.valid:
        why = ", ".join(credentials.errors or []) or credentials.validation_state or "invalid"
        return f"image {index} from {model} has invalid Content Credentials: {why}"
    return None


def request_sha256(request: dict[str, Any]) -> str:
    """SHA-256 of the job's stored request as canonical JSON (sorted keys, no spaces): the
    request a file was made for, comparable with `GET /v1/jobs/{id}`'s `request`."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def object_metadata(
    *,
    job_id: str,
    model_requested: str,
    model: str,
    location: str,
    request: dict[str, Any],
    prompt: str,
    created_at: str,
    seed: int | None,
) -> dict[str, str]:
    """The Cloud Storage object metadata of an output: how a file is traced back to its job
    (`gcloud storage objects describe`), kept beside the bytes, never in them."""
    metadata = {
        "imagegen-job-id": job_id,
        "imagegen-model-requested": model_requested,
        "imagegen-model": model,  # the model that made it (served by)
        "imagegen-region": location,  # the Vertex location that served it
        "imagegen-request-sha256": request_sha256(request),
        "imagegen-prompt-sha256": hashlib.sha256(prompt.encode()).hexdigest(),
        "imagegen-created-at": created_at,
        "imagegen-watermark": "synthid",
    }
    if seed is not None:
        metadata["imagegen-seed"] = str(seed)
    return metadata
