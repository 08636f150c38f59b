"""A schema-only Terraform provider: serves a recovered schema over the plugin protocol.

Terraform starts a provider binary, reads one go-plugin handshake line from its stdout
(``core-version|app-protocol|network|address|grpc``) and talks tfplugin6 over gRPC. For
``terraform validate`` only the schema and the Validate* calls are needed: Terraform core
checks argument names, types, required arguments, block nesting and references against the
schema; the provider's own validators are not reproduced (their checks happen at plan).
ConfigureProvider answers with an error diagnostic and plan/apply/read are not implemented
(gRPC UNIMPLEMENTED), so nothing can reach Google through it.

The protocol messages come from the generated tfplugin6 stubs of the ``tf`` package on PyPI
(a maintained Python implementation of the plugin protocol); this module adds only the
servicer that answers from a pre-serialized GetProviderSchema response.

Usage (Terraform runs it through the wrapper `python -m tools.tfstandin validate` writes):
    python -m tools.tfstandin.server <schema.pb> [--fake-cloud]
--fake-cloud serves tools/tfstandin/fakecloud.py instead: plan and apply into Terraform
state only, for `python -m tools.tfstandin replan`.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import sys
import tempfile
from concurrent import futures
from pathlib import Path

import grpc
from tf.gen import grpc_controller_pb2 as controller_pb
from tf.gen import grpc_controller_pb2_grpc as controller_rpc
from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


def _error(summary: str) -> list[pb.Diagnostic]:
    return [pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary)]


class SchemaOnlyProvider(rpc.ProviderServicer):
    """Answers schema and validation calls; refuses anything that would touch a cloud."""

    def __init__(self, schema: pb.GetProviderSchema.Response) -> None:
        self.schema = schema

    def GetMetadata(self, request, context):
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(plan_destroy=True),
            resources=[
                pb.GetMetadata.ResourceMetadata(type_name=n) for n in self.schema.resource_schemas
            ],
            data_sources=[
                pb.GetMetadata.DataSourceMetadata(type_name=n)
                for n in self.schema.data_source_schemas
            ],
        )

    def GetProviderSchema(self, request, context):
        return self.schema

    def GetFunctions(self, request, context):
        return pb.GetFunctions.Response()

    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context):
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request, context):
        return pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request, context):
        return pb.ConfigureProvider.Response(
            diagnostics=_error(
                "schema-only stand-in provider: use it for `terraform validate` only"
            )
        )

    def StopProvider(self, request, context):
        return pb.StopProvider.Response()


class _Controller(controller_rpc.GRPCControllerServicer):
    def __init__(self) -> None:
        self.server: grpc.Server | None = None

    def Shutdown(self, request, context):
        if self.server is not None:
            self.server.stop(grace=0.1)
        return controller_pb.Empty()


class _Stdio(stdio_rpc.GRPCStdioServicer):
    def StreamStdio(self, request, context):
        return iter(())


def _server_credentials() -> tuple[grpc.ServerCredentials, str]:
    """A fresh self-signed certificate for go-plugin's automatic mutual TLS.

    Terraform trusts the server certificate sent (base64 DER) in the handshake line. Its
    own client certificate (PLUGIN_CLIENT_CERT) is a P-521 key, which gRPC's TLS stack
    (BoringSSL) does not accept, so the client is not authenticated: the socket lives in a
    private (0700) temporary directory that only this user can reach.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(seconds=30))
        .not_valid_after(now + dt.timedelta(hours=12))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    der = cert.public_bytes(serialization.Encoding.DER)
    return credentials, base64.b64encode(der).decode().rstrip("=")


def serve(schema_file: Path, fake_cloud: bool = False) -> None:
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE:
        sys.exit("This binary is a Terraform plugin; Terraform starts it (see tools/tfstandin).")
    schema = pb.GetProviderSchema.Response.FromString(schema_file.read_bytes())
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    if fake_cloud:
        from .fakecloud import FakeCloudProvider

        provider: SchemaOnlyProvider = FakeCloudProvider(schema)
    else:
        provider = SchemaOnlyProvider(schema)
    rpc.add_ProviderServicer_to_server(provider, server)
    controller = _Controller()
    controller_rpc.add_GRPCControllerServicer_to_server(controller, server)
    stdio_rpc.add_GRPCStdioServicer_to_server(_Stdio(), server)
    with tempfile.TemporaryDirectory(prefix="tfstandin-") as tmp:
        sock = str(Path(tmp) / "plugin.sock")
        credentials, cert = _server_credentials()
        server.add_secure_port(f"unix://{sock}", credentials)
        controller.server = server
        server.start()
        print(f"1|6|unix|{sock}|grpc|{cert}", flush=True)
        server.wait_for_termination()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), fake_cloud="--fake-cloud" in sys.argv[2:])
