"""google-genai (newest, .venv-genai) against the local stack's Vertex-native route (issue 28).

Each typical call is made twice with the same SDK: pointed at imagegen, and pointed at the
Vertex stand-in directly. Both reach the stand-in; what they put on the wire must be the
same, field for field, but for what imagegen adds or routes: the job's labels, the
deployment's project (the one that pays), and the model and location as routed (the same
here). The images imagegen answers with are checked for their pixel size (the catalog's)
and their provenance (the job id of the answer's X-Imagegen-Job-Id header).
"""

from __future__ import annotations

import base64

import pytest
import requests

from imagegen.domain.catalog import load_catalog
from tests.sdk.conftest import pixels, png_bytes, provenance, run_script

pytestmark = pytest.mark.stack
CATALOG = load_catalog()
# name -> (model, size, ratio) of the image each of the 15 calls must come back with
EXPECTED = {
    "nb2 text": ("gemini-3.1-flash-image", "1K", "1:1"),
    "nb2 ratio and size": ("gemini-3.1-flash-image", "2K", "16:9"),
    "nb2 512 at 1:8": ("gemini-3.1-flash-image", "512", "1:8"),
    "nb2 edit": ("gemini-3.1-flash-image", "1K", "4:3"),  # the 640x480 input's shape
    "nb2 thinking": ("gemini-3.1-flash-image", "1K", "1:1"),
    "nb2 search grounding": ("gemini-3.1-flash-image", "1K", "1:1"),
    "nb2 system instruction": ("gemini-3.1-flash-image", "1K", "1:1"),
    "nb2 per-category safety": ("gemini-3.1-flash-image", "1K", "1:1"),
    "nb2 media resolution, jpeg, seed": ("gemini-3.1-flash-image", "1K", "4:3"),
    "nb2 multi-turn": ("gemini-3.1-flash-image", "1K", "1:1"),  # its image is the model's
    "lite text": ("gemini-3.1-flash-lite-image", "1K", "1:1"),
    "lite edit from storage": ("gemini-3.1-flash-lite-image", "1K", "4:3"),
    "pro 4K portrait": ("gemini-3-pro-image", "4K", "3:4"),
    "pro multi-turn": ("gemini-3-pro-image", "1K", "1:1"),
    "pro edit with labels": ("gemini-3-pro-image", "1K", "4:3"),
}


def recorded(vertex_url: str, tag: str) -> list[dict]:
    """The stand-in's records of generateContent calls whose text carries `tag`, in order."""
    calls = requests.get(
        f"{vertex_url}/_standin/requests", params={"method": "generateContent"}, timeout=10
    ).json()
    return [c for c in calls if tag in str(c["body"].get("contents"))]


@pytest.fixture(scope="module")
def fifteen(stack, stack_env, vertex_url, token_for, sdk_python, tmp_path_factory, unique_tag):
    """The 15 calls, through imagegen and directly: (answers via imagegen, records of both)."""
    from google.cloud import storage

    png = png_bytes()
    bucket = stack_env["IMAGEGEN_UPLOADS_BUCKET"]
    name = f"refs/{unique_tag}.png"
    client = storage.Client(project=stack_env["GOOGLE_CLOUD_PROJECT"])
    client.bucket(bucket).blob(name).upload_from_string(png, content_type="image/png")
    spec = {
        "tag": unique_tag,
        "png": base64.b64encode(png).decode(),
        "gcs_uri": f"gs://{bucket}/{name}",
    }
    answers = {}
    for route, base in (("direct", vertex_url), ("imagegen", stack_env["IMAGEGEN_API_URL"])):
        out = tmp_path_factory.mktemp(route)
        token = token_for("alice@example.com") if route == "imagegen" else None
        spec_here = {**spec, "base_url": base, "token": token, "out": str(out)}
        lines = run_script(sdk_python, "genai_calls.py", ["calls"], spec_here)
        answers[route] = {line["name"]: line for line in lines}
    records = recorded(vertex_url, unique_tag)
    return answers, records


@pytest.fixture(scope="module")
def unique_tag():
    import uuid

    return f"genai-{uuid.uuid4().hex[:8]}"


def test_every_call_answers_an_image_of_the_catalog_size_with_its_provenance(fifteen):
    answers, _ = fifteen
    assert set(answers["imagegen"]) == set(EXPECTED)
    for name, answer in answers["imagegen"].items():
        assert answer["ok"], (name, answer)
        model, size, ratio = EXPECTED[name]
        assert answer["model_version"] == model, name
        assert answer["job_id"], name
        (image,) = answer["images"]
        assert pixels(image["path"]) == CATALOG[model].pixel_size(ratio, size), name
        marks = provenance(image["path"])
        assert marks["imagegen-job-id"] == answer["job_id"], name
        assert marks["imagegen-model"] == model, name
    jpeg = answers["imagegen"]["nb2 media resolution, jpeg, seed"]["images"][0]
    assert jpeg["mime_type"] == "image/jpeg"
    thinking = answers["imagegen"]["nb2 thinking"]
    assert thinking["thoughts"] and thinking["signatures"] >= 1  # the summary came back, signed
    grounded = answers["imagegen"]["nb2 search grounding"]
    assert grounded["text"]  # TEXT and IMAGE were asked
    # the grounding metadata comes back as Vertex sent it (its search suggestions must be
    # shown with the answer)
    assert grounded["search_queries"] == answers["direct"]["nb2 search grounding"]["search_queries"]
    assert grounded["search_queries"]


def test_each_call_reaches_vertex_as_google_genai_sends_it_directly(fifteen, stack_env):
    """The 15-call comparison: every field google-genai sends arrives unchanged."""
    answers, records = fifteen
    assert all(a["ok"] for a in answers["direct"].values()), answers["direct"]
    assert len(records) == 2 * len(EXPECTED), [r["body"]["contents"][0] for r in records]
    direct, via = records[: len(EXPECTED)], records[len(EXPECTED) :]
    problems = []
    for name, mine, theirs in zip(EXPECTED, via, direct, strict=True):
        job_labels = dict(mine["body"].get("labels") or {})
        assert job_labels.pop("imagegen-job") == answers["imagegen"][name]["job_id"], name
        sent = {k: v for k, v in mine["body"].items() if k != "labels"}
        if job_labels:
            sent["labels"] = job_labels
        if sent != theirs["body"]:
            problems.append((name, sent, theirs["body"]))
        for key in ("version", "location", "model"):
            if mine[key] != theirs[key]:
                problems.append((name, key, mine[key], theirs[key]))
        assert theirs["project"] == "my-own-project"
        assert mine["project"] == stack_env["GOOGLE_CLOUD_PROJECT"]  # the deployment pays
    assert problems == []


def test_options_imagegen_checks_are_on_the_wire(fifteen):
    """The fields the job API could not express before issue 28 (a few named, on top of the
    whole-body comparison above)."""
    _, records = fifteen
    via = dict(zip(EXPECTED, records[len(EXPECTED) :], strict=True))
    assert via["nb2 system instruction"]["body"]["systemInstruction"] == {
        "parts": [{"text": "Draw in flat colours only."}],
        "role": "user",
    }
    assert via["nb2 per-category safety"]["body"]["safetySettings"] == [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"},
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"},
    ]
    config = via["nb2 media resolution, jpeg, seed"]["body"]["generationConfig"]
    assert config["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    assert "imageSize" not in (config.get("imageConfig") or {})  # nobody asked for one
    turns = via["nb2 multi-turn"]["body"]["contents"]
    assert [t["role"] for t in turns] == ["user", "model", "user"]
    assert turns[1]["parts"][0]["thoughtSignature"]
    assert via["nb2 search grounding"]["body"]["tools"] == [{"googleSearch": {}}]


def test_a_chat_sends_the_thought_signatures_back(run_sdk, stack_env, vertex_url, token_for):
    from devstack.vertex_standin import thought_signature

    tag = f"chat-{base64.b32encode(__import__('os').urandom(5)).decode().lower()}"
    turns = run_sdk(
        "genai_calls.py",
        "chat",
        base_url=stack_env["IMAGEGEN_API_URL"],
        token=token_for("alice@example.com"),
        tag=tag,
    )
    assert [t["ok"] for t in turns] == [True, True], turns
    first, second = recorded(vertex_url, tag)
    model_turn = second["body"]["contents"][1]
    assert model_turn["role"] == "model"
    signatures = [p.get("thoughtSignature") for p in model_turn["parts"]]
    # the stand-in signs its text part (0) and its image part (1) per model and prompt; the
    # SDK sends the bytes back in URL-safe base64
    model, prompt = "gemini-3.1-flash-image", f"{tag} a paper boat"
    expected = {base64.b64decode(thought_signature(model, prompt, n)) for n in (0, 1)}
    assert {base64.urlsafe_b64decode(s) for s in signatures if s} == expected
    assert any("inlineData" in p for p in model_turn["parts"])  # the image went back too
    assert first["body"]["contents"][0]["parts"][0]["text"] == prompt


def test_what_imagegen_refuses_is_vertex_shaped(run_sdk, stack_env, token_for):
    answers = {
        a["name"]: a
        for a in run_sdk(
            "genai_calls.py",
            "refused",
            base_url=stack_env["IMAGEGEN_API_URL"],
            token=token_for("alice@example.com"),
            tag="refused",
        )
    }
    for name, answer in answers.items():
        assert not answer["ok"] and answer["code"] == 400, (name, answer)
        assert answer["status"] == "INVALID_ARGUMENT", name
    fields = {  # APIError.details: the answer's body, Google's error shape
        name: [
            v["field"]
            for d in a["details"]["error"].get("details", [])
            for v in d.get("fieldViolations", [])
        ]
        for name, a in answers.items()
    }
    assert fields["lite has no 4K"] == ["generationConfig.imageConfig.imageSize"]
    assert fields["lite has no search"] == ["tools[0].googleSearch"]
    assert fields["no such model"] == ["model"]
    assert fields["two candidates"] == ["generationConfig.candidateCount"]


def test_a_token_is_needed_and_checked(run_sdk, stack_env, token_for):
    base = stack_env["IMAGEGEN_API_URL"]
    spec = {"base_url": base, "tag": "auth", "only": ["nb2 text"], "png": "", "gcs_uri": "gs://x/y"}
    (none,) = run_sdk("genai_calls.py", "calls", token=None, **spec)
    assert (none["ok"], none["code"]) == (False, 401), none
    wrong = token_for("alice@example.com", audience="https://another.example")
    (other,) = run_sdk("genai_calls.py", "calls", token=wrong, **spec)
    assert (other["ok"], other["code"], other["status"]) == (False, 401, "UNAUTHENTICATED")
