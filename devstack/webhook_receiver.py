"""A local webhook receiver: records every POST (headers, raw body) and answers a scripted
list of statuses (then the last one forever), optionally with a Location header. Tests,
benchmarks and people trying webhooks on the local stack use it.

    python -m devstack.webhook_receiver --port 8999   # prints each verified event

(`IMAGEGEN_WEBHOOK_SECRET` from `python -m devstack env` verifies the signatures.)
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import threading


class Receiver:
    def __init__(
        self,
        statuses: list[int] | None = None,
        location: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_request=None,
    ) -> None:
        self.statuses = list(statuses or [204])
        self.location = location
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((dict(self.headers), body))
                if on_request is not None:
                    on_request(dict(self.headers), body)
                several = len(receiver.statuses) > 1
                status = receiver.statuses.pop(0) if several else receiver.statuses[0]
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{host}:{self.server.server_port}/hooks/imagegen"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.webhook_receiver")
    parser.add_argument("--port", type=int, default=8999)
    args = parser.parse_args(argv)
    secret = os.environ.get("IMAGEGEN_WEBHOOK_SECRET", "")

    def show(headers: dict[str, str], body: bytes) -> None:
        from imagegen_client.client import WebhookVerificationError, verify_webhook

        try:
            event = verify_webhook(body, headers, secret)
            print(json.dumps({"verified": True, "id": event["id"], "type": event["type"]}))
        except WebhookVerificationError as exc:
            print(json.dumps({"verified": False, "error": str(exc)}))
        sys.stdout.flush()

    receiver = Receiver(port=args.port, on_request=show)
    print(f"# webhook receiver at {receiver.url}", file=sys.stderr)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
