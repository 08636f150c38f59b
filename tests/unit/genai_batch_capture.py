"""Run by tests/unit/test_genai_batch_parity.py with the google-genai venv's Python
(.venv-genai), as genai_capture.py is for `:generateContent`.

Reads {"base_url", "project", "calls": [{"model", "location", "src", "dest", "name"}]} on
stdin and creates each batch job with Google's SDK exactly as its documentation shows for
Vertex AI (`client.batches.create(model=..., src="gs://...jsonl",
config=CreateBatchJobConfig(dest=..., display_name=...))`), against the test's capture
server, printing one JSON line per call: {"ok": true} or {"error": "..."}."""

from __future__ import annotations

import json
import sys


def main() -> None:
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    spec = json.load(sys.stdin)
    for call in spec["calls"]:
        client = genai.Client(
            vertexai=True,
            project=spec["project"],
            location=call["location"],
            # a fixed fake token: never refreshed, never sent anywhere but the capture server
            credentials=Credentials(token="fake-token-for-local-capture"),
            http_options=types.HttpOptions(base_url=spec["base_url"]),
        )
        try:
            client.batches.create(
                model=call["model"],
                src=call["src"],
                config=types.CreateBatchJobConfig(dest=call["dest"], display_name=call["name"]),
            )
            print(json.dumps({"ok": True}), flush=True)
        except Exception as exc:  # reported to the test, which fails on it
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)


if __name__ == "__main__":
    main()
