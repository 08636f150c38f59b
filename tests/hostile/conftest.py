"""The hostile suite: what a hostile or careless caller tries, against the real emulators.

Identity is tested with real tokens: an RSA key made for the session signs ID tokens the
way Google does (RS256, `kid`, `iss`, `aud`, `exp`, `email`), and its certificate is served
on 127.0.0.1 in the format of Google's https://www.googleapis.com/oauth2/v1/certs; the
services point IMAGEGEN_AUTH_CERTS_URL there. A second key stands in for an attacker.

Every test records a figures row (requests tried, the statuses seen, jobs lost / stuck /
duplicated, extra billable Vertex calls); the table is printed at the end of the run and
written as JSON to $IMAGEGEN_HOSTILE_FIGURES when set (docs/reliability.md quotes it).
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.hostile.support import AUDIENCE, FIGURES, Issuer, flask_client, key_and_cert
from tests.integration.conftest import idle_queue, make_services  # noqa: F401 (fixtures)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    terminalreporter.section("hostile suite figures")
    head = "| finding | requests | statuses | lost | stuck | duplicated | extra billable calls |"
    terminalreporter.write_line(head)
    terminalreporter.write_line("|---|---:|---|---:|---:|---:|---:|")
    for row in FIGURES:
        terminalreporter.write_line(
            f"| {row['finding']} | {row['requests']} | {row['statuses']} | {row['lost']} "
            f"| {row['stuck']} | {row['duplicated']} | {row['extra_calls']} |"
        )
    total = sum(row["requests"] for row in FIGURES)
    terminalreporter.write_line(f"requests tried: {total}")
    out = os.environ.get("IMAGEGEN_HOSTILE_FIGURES")
    if out:
        Path(out).write_text(json.dumps(FIGURES, indent=2))


@pytest.fixture(scope="session")
def issuer():
    """The local key server on 127.0.0.1 (an ephemeral port) and its signer."""
    private, cert = key_and_cert()
    attacker, _ = key_and_cert()
    kid = "hostile-suite-key"
    body = json.dumps({kid: cert.decode()}).encode()

    class Certs(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Certs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/oauth2/v1/certs"
    try:
        yield Issuer(url, kid, private, attacker)
    finally:
        server.shutdown()


@pytest.fixture
def deployed(make_services, idle_queue, issuer):  # noqa: F811 (fixtures imported above)
    """(services, client): the submit API as deployed: tokens verified against the local
    key server, no trusted caller header, admin@example.com an admin; jobs go to a topic
    nobody consumes."""
    from imagegen.http_api import Api

    services = make_services(
        tasks_queue=idle_queue,
        trust_caller_header=False,
        auth_certs_url=issuer.certs_url,
        token_audiences=[AUDIENCE],
        admin_members=["admin@example.com"],
    )
    return services, flask_client(Api(services))
