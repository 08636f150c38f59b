"""Cloud Storage: writes generated images and reads uploads. One client per instance."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

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
        from google.cloud import storage

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

    def read(self, uri: str, max_bytes: int) -> bytes:
        """Read a whole object, refusing one larger than max_bytes before downloading it."""
        bucket, name = split_uri(uri)
        blob = self._client.bucket(bucket).get_blob(name)
        if blob is None:
            raise FileNotFoundError(uri)
        if blob.size is not None and blob.size > max_bytes:
            raise ValueError(f"{uri} is {blob.size} bytes; the limit is {max_bytes}")
        return blob.download_as_bytes()

    def generation(self, uri: str) -> str | None:
        """The object's generation, or None if there is no such object."""
        bucket, name = split_uri(uri)
        blob = self._client.bucket(bucket).get_blob(name)
        return str(blob.generation) if blob is not None else None

    def delete(self, uri: str) -> None:
        """Remove an object; one that is already gone is not an error."""
        from google.api_core.exceptions import NotFound

        bucket, name = split_uri(uri)
        with contextlib.suppress(NotFound):
            self._client.bucket(bucket).blob(name).delete()
