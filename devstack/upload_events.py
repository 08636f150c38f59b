"""Local stand-in for the Eventarc Cloud Storage trigger of `on_upload`.

The storage emulator sends no notifications, so this process lists the uploads bucket,
and for every new object (name + generation not seen before) POSTs a structured CloudEvent
`google.cloud.storage.object.v1.finalized` to the on_upload function, with the object
resource as data, as Eventarc does. A non-2xx answer is retried with backoff (Eventarc's
retry policy), up to DEVSTACK_UPLOAD_MAX_ATTEMPTS, then given up with a log line.

Objects present when the watcher starts are not announced (as with a new trigger).
DEVSTACK_UPLOAD_DUPLICATES=N delivers every event N times (duplicate-delivery tests).

Run: python -m devstack.upload_events --bucket imagegen-uploads \
        --url http://127.0.0.1:8683 --project imagegen-local
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

FINALIZED = "google.cloud.storage.object.v1.finalized"


def log(**fields: Any) -> None:
    sys.stdout.write(json.dumps({"ts": round(time.time(), 3), **fields}, default=str) + "\n")
    sys.stdout.flush()


def object_resource(blob) -> dict[str, Any]:
    """The `data` of a storage CloudEvent: the object's JSON resource."""
    return {
        "kind": "storage#object",
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generation": str(blob.generation),
        "metageneration": str(blob.metageneration or 1),
        "contentType": blob.content_type,
        "size": str(blob.size),
        "md5Hash": blob.md5_hash,
        "metadata": dict(blob.metadata or {}),
        "timeCreated": blob.time_created.isoformat() if blob.time_created else None,
        "updated": blob.updated.isoformat() if blob.updated else None,
    }


def cloud_event(data: dict[str, Any]) -> dict[str, Any]:
    """The storage event in the CloudEvents JSON (structured) format. Attributes travel in
    the body, not in HTTP headers: an object name may hold any Unicode character, and HTTP
    header values are Latin-1 (http.client refused such names, and the event was lost)."""
    event = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "type": FINALIZED,
        "source": f"//storage.googleapis.com/projects/_/buckets/{data['bucket']}",
        "subject": f"objects/{data['name']}",
        "datacontenttype": "application/json",
        "data": data,
    }
    if data.get("updated"):
        event["time"] = data["updated"]
    return event


def deliver(url: str, data: dict[str, Any], timeout: float = 60.0) -> int | None:
    body = json.dumps(cloud_event(data), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/cloudevents+json; charset=utf-8"}
    request = urllib.request.Request(  # noqa: S310 (a local http URL)
        url, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return None


class Watcher:
    def __init__(
        self,
        project: str,
        bucket: str,
        url: str,
        interval: float = 0.3,
        max_attempts: int = 5,
        duplicates: int = 1,
    ) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        self.client = storage.Client(project=project, credentials=AnonymousCredentials())
        self.bucket = bucket
        self.url = url
        self.interval = interval
        self.max_attempts = max_attempts
        self.duplicates = duplicates
        self.seen: set[tuple[str, str]] = set()
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=4)

    def _list(self) -> list:
        return list(self.client.list_blobs(self.bucket))

    def _send(self, data: dict[str, Any]) -> None:
        try:
            self._deliver(data)
        except Exception as exc:  # never silently: a lost event is a lost upload
            log(event="delivery_error", object=data.get("name"), error=repr(exc))

    def _deliver(self, data: dict[str, Any]) -> None:
        for attempt in range(1, self.max_attempts + 1):
            status = deliver(self.url, data)
            log(
                event="delivery",
                object=data["name"],
                generation=data["generation"],
                status=status,
                attempt=attempt,
            )
            if status is not None and 200 <= status < 300:
                return
            if self.stopping.wait(min(10.0, 0.5 * 2 ** (attempt - 1))):
                return
        log(event="gave_up", object=data["name"], attempts=self.max_attempts)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.seen = {(b.name, str(b.generation)) for b in self._list()}
                break
            except Exception as exc:  # bucket not there yet, emulator starting
                log(event="waiting", error=str(exc))
                self.stopping.wait(1.0)
        log(event="watching", bucket=self.bucket, url=self.url, existing=len(self.seen))
        while not self.stopping.is_set():
            try:
                for blob in self._list():
                    key = (blob.name, str(blob.generation))
                    if key in self.seen:
                        continue
                    self.seen.add(key)
                    data = object_resource(blob)
                    for _ in range(self.duplicates):
                        self.pool.submit(self._send, data)
            except Exception as exc:
                log(event="list_failed", error=str(exc))
            self.stopping.wait(self.interval)
        self.pool.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", "local"))
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--interval", type=float, default=0.3)
    args = parser.parse_args(argv)
    watcher = Watcher(
        args.project,
        args.bucket,
        args.url,
        args.interval,
        max_attempts=int(os.environ.get("DEVSTACK_UPLOAD_MAX_ATTEMPTS", "5")),
        duplicates=int(os.environ.get("DEVSTACK_UPLOAD_DUPLICATES", "1")),
    )
    signal.signal(signal.SIGTERM, lambda *_: watcher.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: watcher.stopping.set())
    watcher.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
