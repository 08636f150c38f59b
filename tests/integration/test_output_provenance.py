"""Provenance that survives (issue 25), the worker in-process against the emulators and the
Vertex stand-in: every stored image is byte for byte what Vertex (the stand-in) sent — PNG,
JPEG and WebP, every size, images large enough to cross the reply's HTTP chunks and the
8 MiB resumable-upload chunks — our provenance is in the object's metadata, and the Content
Credentials of each output are read back, recorded, and a warning when a model that carries
them delivers an image without valid ones."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from imagegen.domain.lineup import NB2, PRO
from imagegen.services import submission
from imagegen.services.worker import generate

FORMATS = ["image/png", "image/jpeg", "image/webp"]
# The catalog offers PNG and JPEG; Vertex also answers WebP (imageOutputOptions.mimeType),
# so these tests let both models ask for it.
WITH_WEBP = json.dumps(
    [
        spec.model_copy(update={"output_mime_types": FORMATS}).model_dump(mode="json")
        for spec in (NB2, PRO)
    ]
)
CASES = [
    *[("gemini-3.1-flash-image", size, mime, "") for size in NB2.sizes for mime in FORMATS],
    *[("gemini-3-pro-image", "4K", mime, "") for mime in FORMATS],
    # incompressible 2K: 7-12 MB, many HTTP chunks and (PNG) past one 8 MiB upload chunk
    *[("gemini-3-pro-image", "2K", mime, "[[noise]]") for mime in FORMATS],
]


@pytest.fixture
def services(make_services, idle_queue):
    return make_services(tasks_queue=idle_queue, catalog_json=WITH_WEBP)


def _run(services, unique, model, size, mime, directive="", **more):
    body = {
        "prompt": f"{unique} {directive} a lighthouse",
        "model": model,
        "image_size": size,
        "aspect_ratio": "1:1",
        "output": {"mime_type": mime},
        **more,
    }
    job_id = submission.submit(services, body).job.id
    assert generate(services, job_id) == "succeeded"
    return services.jobs.get(job_id)


def _stored(services, uri):
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    blob = services.storage._client.bucket(bucket).get_blob(name)
    return blob.download_as_bytes(), blob.metadata or {}


def _sent(vertex_url, unique):
    records = requests.get(f"{vertex_url}/_standin/requests", timeout=5).json()
    return [image for r in records if unique in str(r["body"]) for image in r["sent"]]


@pytest.mark.parametrize(
    ("model", "size", "mime", "directive"),
    CASES,
    ids=[f"{m}-{s}-{t.split('/')[1]}{'-noise' if d else ''}" for m, s, t, d in CASES],
)
def test_stored_images_are_the_bytes_vertex_sent(
    services, vertex_url, unique, model, size, mime, directive
):
    job = _run(services, unique, model, size, mime, directive)
    [output] = job.outputs
    data, metadata = _stored(services, output.uri)
    [sent] = _sent(vertex_url, unique)
    assert sent["mime_type"] == mime
    assert hashlib.sha256(data).hexdigest() == sent["sha256"]  # not a byte added or lost
    assert len(data) == output.bytes == sent["bytes"]
    assert metadata["imagegen-job-id"] == job.id
    credentials = output.content_credentials
    if model == "gemini-3-pro-image":  # the catalog says it carries C2PA: the stand-in signs
        assert credentials.present and credentials.valid, credentials
        assert credentials.digital_source_type == "trainedAlgorithmicMedia"
        assert credentials.claim_generator.startswith("imagegen Vertex stand-in")
    else:
        assert credentials.to_json() == {"present": False, "valid": False}
    assert output.synthid is True
    assert not [w for w in job.warnings if "Content Credentials" in w], job.warnings


def test_the_object_metadata_traces_a_file_to_its_job(services, unique):
    job = _run(
        services, unique, "gemini-3-pro-image-preview", "1K", "image/png", seed=42
    )  # a retired name: routed to gemini-3-pro-image
    [output] = job.outputs
    _, metadata = _stored(services, output.uri)
    assert metadata["imagegen-job-id"] == job.id
    assert metadata["imagegen-model-requested"] == "gemini-3-pro-image-preview"
    assert metadata["imagegen-model"] == "gemini-3-pro-image"
    assert metadata["imagegen-region"] == "global"
    assert metadata["imagegen-seed"] == "42"
    assert metadata["imagegen-created-at"].startswith(job.created_at.strftime("%Y-%m-%dT"))
    text = json.dumps(job.request, sort_keys=True, separators=(",", ":"), default=str)
    assert metadata["imagegen-request-sha256"] == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("directive", "said"),
    [("[[c2pa:none]]", "without Content Credentials"), ("[[c2pa:tamper]]", "dataHash")],
)
def test_a_carrying_model_without_valid_credentials_is_a_warning(services, unique, directive, said):
    job = _run(services, unique, "gemini-3-pro-image", "1K", "image/png", directive)
    [output] = job.outputs  # the image is kept: the warning says what is wrong with it
    assert job.state == "succeeded" and not output.content_credentials.valid
    assert any("image 0" in w and said in w for w in job.warnings), job.warnings


def test_verification_can_be_turned_off(make_services, idle_queue, unique):
    services = make_services(
        tasks_queue=idle_queue, catalog_json=WITH_WEBP, verify_content_credentials=False
    )
    job = _run(services, unique, "gemini-3-pro-image", "1K", "image/png", "[[c2pa:none]]")
    [output] = job.outputs
    assert output.content_credentials is None
    assert not [w for w in job.warnings if "Content Credentials" in w]


def test_a_read_back_that_fails_keeps_the_image_and_says_so(services, unique, monkeypatch):
    """Storage failing on the read-back (after the upload committed) is no reason to lose
    the image or fail the job: the output is kept without credentials, with a warning."""

    def unreachable(uri):
        raise ConnectionResetError("storage went away")

    monkeypatch.setattr(services.storage, "open_read", unreachable)
    job = _run(services, unique, "gemini-3-pro-image", "1K", "image/png")
    [output] = job.outputs
    data, _ = _stored(services, output.uri)
    assert len(data) == output.bytes and output.content_credentials is None
    assert any("could not be read" in w for w in job.warnings), job.warnings
