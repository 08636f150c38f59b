"""Run by tests/sdk with the google-genai venv's Python (.venv-genai): Google's own SDK,
called exactly as its documentation shows for Vertex AI, pointed at the local stack.

    genai_calls.py SCENARIO  <  {"base_url", "token", "out", "tag", ...}

Authentication is what a deployment needs (README, "Use your existing code"): the SDK's own
credentials make its `Authorization` header (passed through, unread), and the ID token goes
in `X-Serverless-Authorization`, which Cloud Run verifies and so does the API. Prints one
JSON line per call: what came back (images written to `out`, their paths), or the error.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path


def client(spec: dict, location: str = "global", base_url: str | None = None):
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    headers = {"X-Serverless-Authorization": f"Bearer {spec['token']}"} if spec.get("token") else {}
    return genai.Client(
        vertexai=True,
        project="my-own-project",
        location=location,
        credentials=Credentials(token="the-sdk-access-token"),
        http_options=types.HttpOptions(base_url=base_url or spec["base_url"], headers=headers),
    )


def summary(name: str, response, out: Path) -> dict:
    images, texts, signatures, thoughts = [], [], 0, []
    candidate = (response.candidates or [None])[0]
    parts = (candidate.content.parts or []) if candidate and candidate.content else []
    for n, part in enumerate(parts):
        if part.thought_signature:
            signatures += 1
        if part.inline_data is not None:
            path = out / f"{name.replace(' ', '_')}-{n}"
            path.write_bytes(part.inline_data.data)
            images.append({"path": str(path), "mime_type": part.inline_data.mime_type})
        elif part.thought:
            thoughts.append(part.text)
        elif part.text:
            texts.append(part.text)
    headers = response.sdk_http_response.headers if response.sdk_http_response else {}
    return {
        "name": name,
        "ok": True,
        "job_id": (headers or {}).get("x-imagegen-job-id"),
        "model_version": response.model_version,
        "finish_reason": str(candidate.finish_reason) if candidate else None,
        "block_reason": str(response.prompt_feedback.block_reason)
        if response.prompt_feedback
        else None,
        "images": images,
        "text": texts,
        "thoughts": thoughts,
        "signatures": signatures,
        "usage": response.usage_metadata.total_token_count if response.usage_metadata else None,
        "search_queries": (
            candidate.grounding_metadata.web_search_queries
            if candidate and candidate.grounding_metadata
            else None
        ),
    }


def failed(name: str, exc: Exception) -> dict:
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        return {
            "name": name,
            "ok": False,
            "code": exc.code,
            "status": exc.status,
            "message": exc.message,
            "details": exc.details,
        }
    return {"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}


def png(spec: dict) -> bytes:
    return base64.b64decode(spec["png"])


def calls(spec: dict) -> list[tuple[str, str, str, object, object]]:
    """(name, model, location, contents, config) of the typical calls (issue 28's 15)."""
    from google.genai import types

    tag = spec["tag"]
    image = types.Part.from_bytes(data=png(spec), mime_type="image/png")
    stored = types.Part.from_uri(file_uri=spec["gcs_uri"], mime_type="image/png")
    signed = base64.b64decode("c2lnbmVkIGJ5IHRoZSBtb2RlbA==")
    history = [
        types.Content(role="user", parts=[types.Part.from_text(text=f"{tag} a red kite")]),
        types.Content(
            role="model",
            parts=[
                types.Part(text="Here it is.", thought_signature=signed),
                types.Part(inline_data=types.Blob(data=png(spec), mime_type="image/png")),
            ],
        ),
        types.Content(role="user", parts=[types.Part.from_text(text=f"{tag} now at night")]),
    ]
    nb2, lite, pro = "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image", "gemini-3-pro-image"
    cfg = types.GenerateContentConfig
    return [
        ("nb2 text", nb2, "global", f"{tag} a lighthouse", None),
        (
            "nb2 ratio and size",
            nb2,
            "global",
            f"{tag} a harbour",
            cfg(image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K")),
        ),
        (
            "nb2 512 at 1:8",
            nb2,
            "global",
            f"{tag} a tower",
            cfg(image_config=types.ImageConfig(aspect_ratio="1:8", image_size="512")),
        ),
        ("nb2 edit", nb2, "global", [image, f"{tag} make it blue"], None),
        (
            "nb2 thinking",
            nb2,
            "global",
            f"{tag} a map",
            cfg(thinking_config=types.ThinkingConfig(thinking_level="HIGH", include_thoughts=True)),
        ),
        (
            "nb2 search grounding",
            nb2,
            "global",
            f"{tag} today's weather in Paris as a poster",
            cfg(
                response_modalities=["TEXT", "IMAGE"],
                tools=[types.Tool(google_search=types.GoogleSearch())],
            ),
        ),
        (
            "nb2 system instruction",
            nb2,
            "global",
            f"{tag} a cat",
            cfg(system_instruction="Draw in flat colours only."),
        ),
        (
            "nb2 per-category safety",
            nb2,
            "global",
            f"{tag} a knight",
            cfg(
                safety_settings=[
                    types.SafetySetting(
                        category="HARM_CATEGORY_DANGEROUS_CONTENT", threshold="BLOCK_ONLY_HIGH"
                    ),
                    types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="OFF"),
                ]
            ),
        ),
        (
            "nb2 media resolution, jpeg, seed",
            nb2,
            "global",
            [image, f"{tag} a sketch of this"],
            cfg(
                media_resolution="MEDIA_RESOLUTION_LOW",
                seed=7,
                image_config=types.ImageConfig(
                    image_output_options=types.ImageConfigImageOutputOptions(
                        mime_type="image/jpeg", compression_quality=80
                    )
                ),
            ),
        ),
        ("nb2 multi-turn", nb2, "global", history, None),
        ("lite text", lite, "global", f"{tag} a bicycle", None),
        ("lite edit from storage", lite, "global", [stored, f"{tag} in autumn"], None),
        (
            "pro 4K portrait",
            pro,
            "us-central1",
            f"{tag} a portrait of a violinist",
            cfg(
                image_config=types.ImageConfig(
                    aspect_ratio="3:4", image_size="4K", person_generation="ALLOW_ADULT"
                )
            ),
        ),
        ("pro multi-turn", pro, "global", history, cfg(response_modalities=["TEXT", "IMAGE"])),
        (
            "pro edit with labels",
            pro,
            "global",
            [image, f"{tag} as a vase"],
            cfg(labels={"team": "art"}, candidate_count=1),
        ),
    ]


def run_calls(spec: dict, out: Path, only: list[str] | None = None) -> None:
    for name, model, location, contents, config in calls(spec):
        if only and name not in only:
            continue
        try:
            sdk = client(spec, location)  # kept: a collected client closes its connection
            response = sdk.models.generate_content(model=model, contents=contents, config=config)
            print(json.dumps(summary(name, response, out)), flush=True)
        except Exception as exc:  # reported to the test, which fails on it
            print(json.dumps(failed(name, exc)), flush=True)


def chat(spec: dict, out: Path) -> None:
    """Two turns of one chat: the SDK sends the first reply (its image and thought
    signatures) back with the second message."""
    sdk = client(spec)
    chat = sdk.chats.create(model=spec.get("model", "gemini-3.1-flash-image"))
    for n, message in enumerate((f"{spec['tag']} a paper boat", f"{spec['tag']} now on a lake")):
        try:
            print(json.dumps(summary(f"turn {n}", chat.send_message(message), out)), flush=True)
        except Exception as exc:
            print(json.dumps(failed(f"turn {n}", exc)), flush=True)
            return


def refused(spec: dict, out: Path) -> None:
    """Calls imagegen refuses as Vertex would (a 400 naming the field)."""
    from google.genai import types

    tag = spec["tag"]
    cases = [
        (
            "lite has no 4K",
            "gemini-3.1-flash-lite-image",
            types.GenerateContentConfig(image_config=types.ImageConfig(image_size="4K")),
        ),
        (
            "lite has no search",
            "gemini-3.1-flash-lite-image",
            types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]),
        ),
        ("no such model", "gemini-9-image", None),
        (
            "two candidates",
            "gemini-3.1-flash-image",
            types.GenerateContentConfig(candidate_count=2),
        ),
    ]
    for name, model, config in cases:
        try:
            sdk = client(spec)
            response = sdk.models.generate_content(
                model=model, contents=f"{tag} {name}", config=config
            )
            print(json.dumps(summary(name, response, out)), flush=True)
        except Exception as exc:
            print(json.dumps(failed(name, exc)), flush=True)


def main() -> None:
    scenario = sys.argv[1]
    spec = json.load(sys.stdin)
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    if scenario == "calls":
        run_calls(spec, out, spec.get("only"))
    elif scenario == "chat":
        chat(spec, out)
    elif scenario == "refused":
        refused(spec, out)
    else:
        raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main()
