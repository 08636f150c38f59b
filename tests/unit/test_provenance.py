"""Provenance beside the file (domain/provenance.py) and Content Credentials read from it
(content_credentials.py, c2pa-python itself on images signed with a test chain the way the
stand-in signs them): valid when untouched, invalid when one byte changed, absent when
unsigned, and never a request to an address a file names."""

from __future__ import annotations

import io
import os
import socket
import threading

import c2pa
import pytest
from PIL import Image

from devstack.c2pa_signing import ContentSigner, make_chain, tampered
from imagegen import content_credentials
from imagegen.domain.job import Job
from imagegen.domain.job_events import event_data
from imagegen.domain.job_view import JobView
from imagegen.domain.provenance import (
    ContentCredentials,
    credentials_warning,
    object_metadata,
    request_sha256,
)

FORMATS = [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]


@pytest.fixture(scope="module")
def signer() -> ContentSigner:
    return ContentSigner()


def _image(fmt: str, size=(96, 64)) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_signed_images_read_valid_with_what_they_say(signer, fmt, mime):
    signed = signer.sign(_image(fmt), mime, "a fox")
    found = content_credentials.read(io.BytesIO(signed), mime)
    assert found.present and found.valid and found.validation_state == "Valid"
    assert found.issuer == "imagegen stand-in test CA (not Google)"
    assert found.claim_generator == "imagegen Vertex stand-in/1"
    assert found.digital_source_type == "trainedAlgorithmicMedia"
    assert found.errors is None


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_one_changed_byte_makes_them_invalid(signer, fmt, mime):
    signed = signer.sign(_image(fmt, (400, 300)), mime, "a fox")
    found = content_credentials.read(io.BytesIO(tampered(signed)), mime)
    assert found.present and not found.valid and found.validation_state == "Invalid"
    assert found.errors and "signingCredential.untrusted" not in found.errors


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_an_unsigned_image_has_none(fmt, mime):
    found = content_credentials.read(io.BytesIO(_image(fmt)), mime)
    assert found == ContentCredentials.absent()


def test_text_spliced_into_a_signed_png_breaks_googles_hash(signer):
    """Why imagegen no longer writes its provenance into the file: a tEXt chunk after IHDR
    (what media.ProvenanceStream did before issue 25) is a byte inserted before the image
    data the manifest's hash covers."""
    import struct
    import zlib

    signed = signer.sign(_image("PNG"), "image/png", "a fox")
    text = b"imagegen-job-id\x00j1"
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + text))
    spliced = signed[:33] + chunk + signed[33:]
    found = content_credentials.read(io.BytesIO(spliced), "image/png")
    assert not found.valid and "assertion.dataHash.mismatch" in (found.errors or [])


def test_a_remote_manifest_is_never_fetched():
    """c2pa fetches a manifest URL named by the file by default; the worker's reader must
    not (a caller could make it request any address): nothing connects to the URL."""
    hits: list[int] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)

    def accept() -> None:
        try:
            conn, _ = server.accept()
            hits.append(1)
            conn.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    chain, key = make_chain()
    sign = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    action = {"action": "c2pa.created", "digitalSourceType": "http://x/trainedAlgorithmicMedia"}
    builder = c2pa.Builder(
        {
            "claim_generator_info": [{"name": "t"}],
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
        }
    )
    builder.set_no_embed()
    builder.set_remote_url(f"http://127.0.0.1:{server.getsockname()[1]}/manifest.c2pa")
    out = io.BytesIO()
    builder.sign(sign, "image/jpeg", io.BytesIO(_image("JPEG")), out)
    found = content_credentials.read(io.BytesIO(out.getvalue()), "image/jpeg")
    server.close()
    assert not hits
    assert found.present and not found.valid and found.errors


def test_a_failing_read_is_not_a_verdict():
    class Broken(io.BytesIO):
        def readinto(self, buffer):
            raise ConnectionResetError("storage went away")

    with pytest.raises(content_credentials.UnreadableSource, match="storage went away"):
        content_credentials.read(Broken(_image("PNG")), "image/png")


def test_warnings_only_for_models_that_carry_credentials():
    valid = ContentCredentials(present=True, valid=True, validation_state="Valid")
    invalid = ContentCredentials(present=True, errors=["assertion.dataHash.mismatch"])
    assert credentials_warning(False, ContentCredentials.absent(), 0, "m") is None
    assert credentials_warning(True, valid, 0, "m") is None
    assert "without Content Credentials" in credentials_warning(
        True, ContentCredentials.absent(), 1, "m"
    )
    assert "dataHash.mismatch" in credentials_warning(True, invalid, 2, "m")
    assert "could not be read" in credentials_warning(True, None, 3, "m")


def test_object_metadata_traces_the_file_back():
    request = {"prompt": "a fox", "model": "gemini-3-pro-image", "seed": 7}
    metadata = object_metadata(
        job_id="j1",
        model_requested="gemini-3-pro-image-preview",
        model="gemini-3-pro-image",
        location="global",
        request=request,
        prompt="a fox",
        created_at="2026-12-06T10:00:00Z",
        seed=7,
    )
    assert metadata["imagegen-job-id"] == "j1"
    assert metadata["imagegen-model-requested"] == "gemini-3-pro-image-preview"
    assert metadata["imagegen-model"] == "gemini-3-pro-image"
    assert metadata["imagegen-region"] == "global"
    assert metadata["imagegen-created-at"] == "2026-12-06T10:00:00Z"
    assert metadata["imagegen-request-sha256"] == request_sha256(dict(reversed(request.items())))
    assert metadata["imagegen-seed"] == "7" and metadata["imagegen-watermark"] == "synthid"
    assert all(isinstance(v, str) for v in metadata.values())


def test_the_api_and_the_events_show_each_outputs_credentials():
    credentials = ContentCredentials(
        present=True, valid=True, validation_state="Valid", issuer="Google LLC"
    ).record()
    job = Job(
        id="j1",
        state="succeeded",
        outputs=[
            {"uri": "gs://b/jobs/j1/0.png", "content_credentials": credentials, "synthid": True}
        ],
    )
    [shown] = JobView.of(job).to_json()["outputs"]
    assert shown["content_credentials"] == credentials and shown["synthid"] is True
    [sent] = event_data(job)["outputs"]
    assert sent["content_credentials"]["valid"] is True and sent["synthid"] is True
