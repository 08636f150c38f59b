"""Cloud Storage: writes generated images and reads uploads. One client per instance."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from google.api_core.exceptions import NotFound
from google.cloud import storage

# A streamed image no larger than this is held and written in one request when complete;
# a larger one goes up as a resumable upload in chunks of this size, holding about two
# chunks at once, and only a finished upload becomes an object (issue 18). The client
# library requires a multiple of 256 KiB (google.cloud.storage.fileio CHUNK_SIZE_MULTIPLE)
# and writes up to 8 MiB as one multipart request; "only a completed resumable upload
# appears in your bucket" — https://docs.cloud.google.com/storage/docs/resumable-uploads
# (read 2026-11-25).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
# A stored output is read back (its Content Credentials verified, content_credentials.py)
# through ranged requests of at least this many bytes; the client's default is 40 MiB.
READ_CHUNK_BYTES = 1024 * 1024
# Objects read as a stream of chunks (a batch's output, issue 29) are downloaded in ranges
# of this size: fewer requests for a file of thousands of images, bounded memory.
STREAM_CHUNK_BYTES = 4 * 1024 * 1024

if TYPE_CHECKING:
    from google.cloud import storage


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


class Storage:
    def __init__(self, client: storage.Client) -> None:
        self._client = client

    @classmethod
    def connect(cls, project: str) -> Storage:
        """A client for `project`. Locally google-cloud-storage itself reads
        STORAGE_EMULATOR_HOST and then talks to the emulator with anonymous credentials."""

        return cls(storage.Client(project=project))

    def write(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Write (or overwrite: names are deterministic per job, so a retry replaces its own
        earlier attempt instead of adding a copy) and return the gs:// URI."""
        blob = self._client.bucket(bucket).blob(name)
        blob.metadata = metadata or None
        blob.upload_from_string(data, content_type=content_type)
        return f"gs://{bucket}/{name}"

    def open_upload(
        self,
        bucket: str,
        name: str,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> Upload:
        """An object written as its bytes arrive (one request when it is small, else a
        resumable upload): nothing is visible until `close`, and `abort` cancels it (or
        removes the object if it was closed)."""
        blob = self._client.bucket(bucket).blob(name)
        blob.metadata = metadata or None
        return Upload(self, blob, content_type, f"gs://{bucket}/{name}")

    def read(self, uri: str, max_bytes: int) -> bytes:
        """Read a whole object, refusing one larger than max_bytes before downloading it.
        An object stored with `Content-Encoding: gzip` is served decompressed unless asked
        for as stored, and its size is the compressed one
        (https://cloud.google.com/storage/docs/transcoding, read 2026-12-06): a 1 MiB file
        of gzipped zeros would have come back as a gigabyte (issue 31). So it is fetched
        as stored and decompressed here, no further than max_bytes."""
        bucket, name = split_uri(uri)
        blob = self._client.bucket(bucket).get_blob(name)
        if blob is None:
            raise FileNotFoundError(uri)
        if blob.size is not None and blob.size > max_bytes:
            raise ValueError(f"{uri} is {blob.size} bytes; the limit is {max_bytes}")
        gzipped = (blob.content_encoding or "").strip().lower() == "gzip"
        stored = blob.download_as_bytes(raw_download=True)  # (rewrites blob's headers)
        if not gzipped:
            return stored
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the gzip container
            data = inflater.decompress(stored, max_bytes + 1)
        except zlib.error as exc:
            raise ValueError(f"{uri} is not valid gzip: {exc}") from None
        if len(data) > max_bytes or inflater.unconsumed_tail:
            raise ValueError(f"{uri} is over {max_bytes} bytes once decompressed")
        return data

    def open_read(self, uri: str) -> BinaryIO:
        """A seekable reader of an object, fetched in ranged requests as it is read (never
        the whole object at once unless the reader asks for it)."""
        bucket, name = split_uri(uri)
        blob = self._client.bucket(bucket).blob(name)
        return blob.open("rb", chunk_size=READ_CHUNK_BYTES)

    def read_chunks(self, uri: str, start: int = 0) -> Iterator[bytes]:
        """An object's bytes from offset `start` in chunks of STREAM_CHUNK_BYTES as they are
        downloaded (ranged reads), never the whole object at once: a batch's output is one
        JSONL of every image (issue 29). FileNotFoundError if there is no such object."""
        bucket, name = split_uri(uri)
        blob = self._client.bucket(bucket).blob(name)
        try:
            with blob.open("rb", chunk_size=STREAM_CHUNK_BYTES) as reader:
                if start:
                    reader.seek(start)
                while chunk := reader.read(STREAM_CHUNK_BYTES):
                    yield chunk
        except NotFound:
            raise FileNotFoundError(uri) from None

    def list(self, prefix_uri: str) -> list[str]:
        """The gs:// URIs of every object whose name starts with the prefix, in name order."""
        bucket, prefix = split_uri(prefix_uri)
        blobs = self._client.list_blobs(bucket, prefix=prefix)
        return sorted(f"gs://{bucket}/{blob.name}" for blob in blobs)

    def generation(self, uri: str) -> str | None:
        """The object's generation, or None if there is no such object."""
        bucket, name = split_uri(uri)
        blob = self._client.bucket(bucket).get_blob(name)
        return str(blob.generation) if blob is not None else None

    def delete(self, uri: str) -> None:
        """Remove an object; one that is already gone is not an error."""

        bucket, name = split_uri(uri)
        with contextlib.suppress(NotFound):
            self._client.bucket(bucket).blob(name).delete()


class Upload:
    """One object being written: `write` as bytes arrive, then `close` (the object
    appears) or `abort` (it does not, or no longer). Up to one chunk is held and written
    in one request at `close` (most images: 1K and 2K); past it a resumable upload starts."""

    def __init__(self, storage: Storage, blob: Any, content_type: str, uri: str) -> None:
        self._storage, self._blob, self._type, self.uri = storage, blob, content_type, uri
        self._held = bytearray()
        self._writer: Any = None
        self.closed = False

    def write(self, data: bytes) -> None:
        if self._writer is None:
            self._held += data
            if len(self._held) <= UPLOAD_CHUNK_BYTES:
                return
            self._writer = self._blob.open(
                "wb", chunk_size=UPLOAD_CHUNK_BYTES, content_type=self._type, ignore_flush=True
            )
            data, self._held = self._held, bytearray()  # handed over, not copied
        self._writer.write(data)

    def close(self) -> str:
        if self._writer is None:
            data, self._held = bytes(self._held), bytearray()  # the held copy freed at once
            self._blob.upload_from_string(data, content_type=self._type)
        else:
            self._writer.close()
        self.closed = True
        return self.uri

    def abort(self) -> None:
        self._held = bytearray()
        if self.closed:
            self._storage.delete(self.uri)
        elif self._writer is not None:
            with contextlib.suppress(Exception):  # best effort: unfinished, it never shows
                self._writer.terminate()
