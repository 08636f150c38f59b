"""Run by tests/unit/test_genai_parity.py with the google-genai venv's Python (.venv-genai:
google-genai needs its own venv, google-cloud-aiplatform 2.7.0 pins google-genai<3).

Reads {"base_url", "project", "calls": [...]} on stdin, makes each call with Google's SDK
exactly as its documentation shows for Vertex AI (vertexai=True, a fake access token,
http_options.base_url pointing at the test's capture server), and prints one JSON line per
call: {"ok": true} or {"error": "..."}. The bodies themselves are what the capture server
recorded. A call is `{"model", "location", "parts", "config"}` (`models.generate_content`)
or `{"model", "location", "src", "dest", "name"}` (`batches.create`, issue 29:
tests/unit/test_genai_batch_parity.py)."""

from __future__ import annotations

import base64
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
            if "src" in call:
                client.batches.create(
                    model=call["model"],
                    src=call["src"],
                    config=types.CreateBatchJobConfig(dest=call["dest"], display_name=call["name"]),
                )
            else:
                _generate(client, types, call)
            print(json.dumps({"ok": True}), flush=True)
        except Exception as exc:  # reported to the test, which fails on it
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)


def _generate(client, types, call: dict) -> None:
    """`models.generate_content` with the call's parts and config."""
    parts = []
    for part in call["parts"]:
        if "text" in part:
            parts.append(types.Part.from_text(text=part["text"]))
        elif "inline" in part:
            raw = base64.b64decode(part["inline"]["data"])
            parts.append(types.Part.from_bytes(data=raw, mime_type=part["inline"]["mime"]))
        else:
            parts.append(
                types.Part.from_uri(file_uri=part["file"]["uri"], mime_type=part["file"]["mime"])
            )
    client.models.generate_content(
        model=call["model"],
        contents=[types.Content(role="user", parts=parts)],
        config=types.GenerateContentConfig(**call["config"]),
    )


if __name__ == "__main__":
    main()
