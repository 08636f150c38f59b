"""Reading an output's C2PA Content Credentials with c2pa-python (the Content Authenticity
Initiative's library over c2pa-rs), from the stored object.

Why from the stored object and not from the bytes as they stream past: c2pa's `Reader`
needs a seekable stream and reads the asset several times (measured on c2pa-python 0.38.1:
it seeks to the end for the size, walks the container for the manifest, then reads the
whole asset for the hash), so it cannot consume a one-way stream; and it holds the asset in
memory while it hashes it (+49 MiB for a 48 MiB 4K PNG). So the worker verifies each image
right after its upload is committed, reading it back through a seekable Cloud Storage
reader, one image at a time per instance (`_ONE_AT_A_TIME`): the memory bound holds with 4K
calls side by side (bench/RESULTS.md, "Memory"). Verifying what was stored also proves the
stored bytes are the ones Google signed.

The reader never fetches anything a file names: c2pa fetches a remote manifest URL found in
an image by default (measured: a request to the URL), so `verify.remote_manifest_fetch` and
`verify.ocsp_fetch` are off.
"""

from __future__ import annotations

import threading
from typing import Any, BinaryIO

import c2pa

from imagegen.domain.provenance import ContentCredentials, source_type_term

_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
# Errors that are about a manifest found in the file (present, not valid); any other error
# (an asset that cannot be parsed, a format c2pa does not read) leaves it not present.
_MANIFEST_ERRORS = (
    c2pa.C2paError.Manifest,
    c2pa.C2paError.Decoding,
    c2pa.C2paError.Signature,
    c2pa.C2paError.Verify,
    c2pa.C2paError.RemoteManifest,
    c2pa.C2paError.Assertion,
    c2pa.C2paError.AssertionNotFound,
    c2pa.C2paError.Json,
)
# Trust in the signer is not part of `valid` (the state says Valid or Trusted): a deployment
# has no C2PA trust list configured, so this code is on every Google signature too.
_NOT_A_REASON = {"signingCredential.untrusted"}
_ONE_AT_A_TIME = threading.Lock()
_context: c2pa.Context | None = None
_context_lock = threading.Lock()


class UnreadableSource(Exception):
    """The stored object could not be read back (not a verdict on its credentials)."""


def _shared_context() -> c2pa.Context:
    global _context
    with _context_lock:
        if _context is None:
            _context = c2pa.Context(c2pa.Settings.from_dict(_SETTINGS))
        return _context


class _Watched:
    """Passes a stream through and keeps the first error it raised: c2pa's stream callbacks
    swallow exceptions (a failed read looks like an I/O error inside the manifest), and a
    storage fault must not be reported as invalid credentials."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.error: BaseException | None = None

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except Exception as exc:
            self.error = self.error or exc
            raise

    def readinto(self, buffer: Any) -> int:
        return self._guard(self._stream.readinto, buffer)

    def read(self, size: int = -1) -> bytes:
        return self._guard(self._stream.read, size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guard(self._stream.seek, offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def write(self, data: bytes) -> int:
        raise OSError("read only")

    def flush(self) -> None:
        pass


def read(stream: BinaryIO, mime_type: str) -> ContentCredentials:
    """The Content Credentials of one image, from a seekable stream of its bytes. Raises
    UnreadableSource when the stream itself failed."""
    watched = _Watched(stream)
    with _ONE_AT_A_TIME:
        try:
            reader = c2pa.Reader.try_create(mime_type, watched, None, _shared_context())
        except c2pa.C2paError as exc:
            if watched.error is not None:
                raise UnreadableSource(str(watched.error)) from watched.error
            # a manifest that cannot be parsed, or one kept elsewhere (not fetched)
            return ContentCredentials(present=_about_a_manifest(exc), errors=[_short(exc)])
        if reader is None:
            if watched.error is not None:
                raise UnreadableSource(str(watched.error)) from watched.error
            return ContentCredentials.absent()
        with reader:
            return _summary(reader)


def _summary(reader: c2pa.Reader) -> ContentCredentials:
    state = reader.get_validation_state()
    active = reader.get_active_manifest() or {}
    results = reader.get_validation_results() or {}
    valid = state in ("Valid", "Trusted")
    failures = [
        str(item.get("code"))
        for item in (results.get("activeManifest") or {}).get("failure") or []
        if item.get("code") not in _NOT_A_REASON
    ]
    return ContentCredentials(
        present=True,
        valid=valid,
        validation_state=state,
        issuer=(active.get("signature_info") or {}).get("issuer"),
        claim_generator=_generator(active),
        digital_source_type=source_type_term(_created_source_type(active)),
        errors=None if valid else failures or None,
    )


def _generator(manifest: dict[str, Any]) -> str | None:
    """`claim_generator` (C2PA 1.x claims), else the first `claim_generator_info` entry
    (2.x) as `name/version`."""
    if manifest.get("claim_generator"):
        return str(manifest["claim_generator"])
    for info in manifest.get("claim_generator_info") or []:
        if isinstance(info, dict) and info.get("name"):
            version = info.get("version")
            return f"{info['name']}/{version}" if version else str(info["name"])
    return None


def _created_source_type(manifest: dict[str, Any]) -> str | None:
    """The digitalSourceType of the manifest's actions (the `c2pa.created` one first)."""
    found: list[str] = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            source = action.get("digitalSourceType")
            if source and action.get("action") == "c2pa.created":
                return str(source)
            if source:
                found.append(str(source))
    return found[0] if found else None


def _about_a_manifest(exc: c2pa.C2paError) -> bool:
    """A manifest is there but cannot be verified. c2pa-python 0.38.1 raises a remote
    manifest it may not fetch ("Remote: ...") as the base C2paError, hence the prefix."""
    return isinstance(exc, _MANIFEST_ERRORS) or str(exc).startswith("Remote")


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
