"""Content Credentials for the Vertex stand-in's placeholder images (development and tests
only): the stand-in signs the images of the models the catalog marks as carrying C2PA
(`ModelSpec.c2pa_content_credentials`), as Vertex signs theirs, so every end-to-end run
exercises the path where a byte added to the file would break Google's signature.

A test certificate chain is made when the stand-in starts (a root CA and an ES256 signing
certificate with the email-protection extended key usage that C2PA accepts, valid for a
week, never written to disk), and each image gets a manifest with one `c2pa.created` action
whose digital source type is IPTC's `trainedAlgorithmicMedia`, as a generative model's
output carries. The chain is not Google's and is trusted by nobody: such images validate
as `Valid` (signature and hash check out), never `Trusted`.
"""

from __future__ import annotations

import datetime as dt
import io
import threading

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ISSUER = "imagegen stand-in test CA (not Google)"
CLAIM_GENERATOR = "imagegen Vertex stand-in"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
VALID_FOR = dt.timedelta(days=7)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ISSUER),
        ]
    )


def _usage(sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign,
        crl_sign=not sign,
        encipher_only=False,
        decipher_only=False,
    )


def make_chain() -> tuple[bytes, bytes]:
    """(signing certificate + root as PEM, the signing key as PEM): made fresh, in memory."""
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("stand-in root"))
        .issuer_name(_name("stand-in root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("stand-in signer"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + root.public_bytes(pem)
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, private


class ContentSigner:
    """Signs images with the chain made at start; thread-safe (the stand-in is threaded)."""

    def __init__(self) -> None:
        chain, private = make_chain()
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None)
        self._signer = c2pa.Signer.from_info(info)
        # no thumbnail inside the manifest: smaller files, faster signing
        settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        self._context = c2pa.Context(settings)
        self._lock = threading.Lock()

    def sign(self, data: bytes, mime_type: str, title: str) -> bytes:
        manifest = {
            "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": "1"}],
            "title": title[:80],
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            }
                        ]
                    },
                }
            ],
        }
        out = io.BytesIO()
        with self._lock, c2pa.Builder(manifest, self._context) as builder:
            builder.sign(self._signer, mime_type, io.BytesIO(data), out)
        return out.getvalue()


def tampered(data: bytes) -> bytes:
    """The signed file with one byte of its image data changed (the middle of the file,
    past the manifest of a PNG or JPEG): the manifest's hash no longer matches."""
    out = bytearray(data)
    out[len(out) // 2] ^= 0xFF
    return bytes(out)
