"""The SDK tier (issue 28): real clients that no one here wrote — google-genai, openai and
google-cloud-aiplatform's `vertexai` — against the local stack, authenticated as deployed
(ID tokens minted by the local stack and verified by the API's own code path).

google-genai and openai run in .venv-genai (google-cloud-aiplatform 2.7.0 pins
google-genai<3), each call scripted in a file here and run as a subprocess that prints one
JSON line per call; the images they got are written to a temporary folder and checked
here (pixel size, provenance)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SDK_PYTHON = os.environ.get("IMAGEGEN_GENAI_PYTHON") or str(ROOT / ".venv-genai/bin/python")


def png_bytes(size: tuple[int, int] = (640, 480), colour=(30, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def sdk_python() -> str:
    if not Path(SDK_PYTHON).exists():
        pytest.fail(f"the SDKs' venv is missing ({SDK_PYTHON}): run `make tools`")
    return SDK_PYTHON


@pytest.fixture(scope="session")
def token_for(stack):
    """`token_for(email)`: an ID token the local API accepts, as `python -m devstack token`
    mints it."""
    from devstack import idtokens

    def mint(email: str, audience: str | None = None) -> str:
        return idtokens.mint(stack.state_dir, email, audience or stack.config.url("submit"))

    return mint


def run_script(python: str, script: str, args: list[str], spec: dict) -> list[dict]:
    """Run a script of this folder with `spec` as JSON on stdin: the JSON lines it printed."""
    done = subprocess.run(
        [python, str(Path(__file__).parent / script), *args],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture
def run_sdk(sdk_python, tmp_path):
    """`run_sdk(script, scenario, **spec)` -> the JSON lines the script printed."""

    def run(script: str, scenario: str, **spec) -> list[dict]:
        spec.setdefault("out", str(tmp_path / "out"))
        return run_script(sdk_python, script, [scenario], spec)

    return run


def provenance(path: str) -> dict[str, str]:
    """The provenance of an image an SDK was answered with. Since issue 25 it lives beside
    the file, not in it (the bytes are Vertex's own, so Google's Content Credentials stay
    valid): the stored output with exactly these bytes (Cloud Storage keeps each object's
    MD5), by its object metadata — how anyone traces a file back."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    digest = base64.b64encode(hashlib.md5(Path(path).read_bytes()).digest()).decode()  # noqa: S324
    client = storage.Client(project="imagegen-local", credentials=AnonymousCredentials())
    bucket = os.environ.get("IMAGEGEN_OUTPUTS_BUCKET", "imagegen-outputs")
    for blob in client.list_blobs(bucket, prefix="jobs/"):
        if blob.md5_hash == digest and "/inputs/" not in blob.name:
            return dict(blob.metadata or {})
    return {}


def pixels(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@pytest.fixture(scope="session")
def png_b64() -> str:
    return base64.b64encode(png_bytes()).decode()
