"""Run by tests/sdk with .venv-genai's Python: the openai SDK (newest), called as its
documentation shows, pointed at the local stack with an ID token as its API key (what a
deployment behind Cloud Run needs).

    openai_calls.py  <  {"base_url", "token", "out", "png_path", "tag"}

Prints one JSON line per call: the images written to `out`, or the error's status and body.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path


def main() -> None:
    import openai

    spec = json.load(sys.stdin)
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    client = openai.OpenAI(api_key=spec["token"], base_url=f"{spec['base_url']}/v1")
    png = Path(spec["png_path"])
    tag = spec["tag"]
    calls = {
        "b64": lambda: client.images.generate(
            model="gemini-3.1-flash-image", prompt=f"{tag} a fox", n=2, size="1536x1024"
        ),
        "url": lambda: client.images.generate(
            model="nano-banana-pro", prompt=f"{tag} a heron", response_format="url"
        ),
        "exact size, jpeg": lambda: client.images.generate(
            prompt=f"{tag} a pier", size="2752x1536", output_format="jpeg", quality="low"
        ),
        "edit": lambda: client.images.edit(
            model="gemini-3.1-flash-image",
            image=[("in.png", png.read_bytes(), "image/png")],
            prompt=f"{tag} make it red",
        ),
        "bad size": lambda: client.images.generate(prompt=f"{tag} x", size="999x999"),
        "mask": lambda: client.images.edit(
            image=("in.png", png.read_bytes(), "image/png"),
            mask=("mask.png", png.read_bytes(), "image/png"),
            prompt=f"{tag} x",
        ),
        "unknown model": lambda: client.images.generate(model="dall-e-9", prompt=f"{tag} x"),
    }
    for name, call in calls.items():
        try:
            response = call()
        except openai.APIStatusError as exc:
            print(
                json.dumps(
                    {"name": name, "ok": False, "status": exc.status_code, "body": exc.body}
                ),
                flush=True,
            )
            continue
        images = []
        for n, item in enumerate(response.data or []):
            if item.b64_json:
                path = out / f"{name.replace(' ', '_')}-{n}"
                path.write_bytes(base64.b64decode(item.b64_json))
                images.append({"path": str(path)})
            else:
                images.append({"url": item.url})
        job_id = None
        print(
            json.dumps(
                {
                    "name": name,
                    "ok": True,
                    "images": images,
                    "size": response.size,
                    "output_format": response.output_format,
                    "job_id": job_id,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
