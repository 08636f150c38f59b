"""Streamed uploads (adapters/storage_gcs.py `open_upload`) against the storage emulator
through the real google-cloud-storage client: an image larger than one resumable chunk is
stored whole with its metadata, and an upload aborted after a chunk went up, or before
anything did, leaves no object listed (issue 18: a reply cut short is no output)."""

from __future__ import annotations

import os

from imagegen.adapters.storage_gcs import UPLOAD_CHUNK_BYTES


def _names(services, bucket: str, prefix: str) -> list[str]:
    return sorted(b.name for b in services.storage._client.list_blobs(bucket, prefix=prefix))


def test_a_multi_chunk_upload_is_stored_whole(make_services, unique):
    services = make_services()
    bucket = services.settings.outputs_bucket
    data = os.urandom(2 * UPLOAD_CHUNK_BYTES + 12345)
    upload = services.storage.open_upload(
        bucket, f"{unique}/big.png", "image/png", {"imagegen-job-id": unique}
    )
    for at in range(0, len(data), 777_777):  # pieces that straddle the chunks
        upload.write(data[at : at + 777_777])
    assert upload.close() == f"gs://{bucket}/{unique}/big.png"
    blob = services.storage._client.bucket(bucket).get_blob(f"{unique}/big.png")
    assert blob.size == len(data) and blob.content_type == "image/png"
    assert blob.metadata == {"imagegen-job-id": unique}
    assert blob.download_as_bytes() == data


def test_a_small_upload_is_one_write_with_its_metadata(make_services, unique):
    services = make_services()
    bucket = services.settings.outputs_bucket
    upload = services.storage.open_upload(
        bucket, f"{unique}/small.jpg", "image/jpeg", {"imagegen-job-id": unique}
    )
    for piece in (b"\xff\xd8", b"x" * 1000, b"\xff\xd9"):
        upload.write(piece)
    assert _names(services, bucket, f"{unique}/") == []  # nothing before close
    upload.close()
    blob = services.storage._client.bucket(bucket).get_blob(f"{unique}/small.jpg")
    assert blob.content_type == "image/jpeg" and blob.metadata == {"imagegen-job-id": unique}
    assert blob.download_as_bytes() == b"\xff\xd8" + b"x" * 1000 + b"\xff\xd9"


def test_an_aborted_upload_leaves_no_object(make_services, unique):
    services = make_services()
    bucket = services.settings.outputs_bucket
    started = services.storage.open_upload(bucket, f"{unique}/a.png", "image/png")
    started.write(os.urandom(UPLOAD_CHUNK_BYTES + 1))  # one chunk has gone up
    started.abort()
    unstarted = services.storage.open_upload(bucket, f"{unique}/b.png", "image/png")
    unstarted.write(b"\x89PNG")
    unstarted.abort()
    closed = services.storage.open_upload(bucket, f"{unique}/c.png", "image/png")
    closed.write(b"\x89PNG")
    closed.close()
    closed.abort()  # a committed image of a reply that then failed: removed
    assert _names(services, bucket, f"{unique}/") == []
