"""The openai SDK (newest, .venv-genai) against the local stack's Images API (issue 28):
generating (b64 and url), editing, and OpenAI-shaped refusals; the images are checked for
their pixel size and provenance."""

from __future__ import annotations

import uuid

import pytest
import requests

from imagegen.domain.catalog import load_catalog
from tests.sdk.conftest import pixels, png_bytes, provenance, run_script

pytestmark = pytest.mark.stack
CATALOG = load_catalog()
NB2, PRO = CATALOG["gemini-3.1-flash-image"], CATALOG["gemini-3-pro-image"]


@pytest.fixture(scope="module")
def answers(stack, stack_env, sdk_python, tmp_path_factory):
    from devstack import idtokens

    out = tmp_path_factory.mktemp("openai")
    png = out / "in.png"
    png.write_bytes(png_bytes((640, 480)))
    token = idtokens.mint(stack.state_dir, "olivia@example.com", stack.config.url("submit"))
    spec = {
        "base_url": stack_env["IMAGEGEN_API_URL"],
        "token": token,
        "out": str(out),
        "png_path": str(png),
        "tag": f"openai-{uuid.uuid4().hex[:8]}",
    }
    return {line["name"]: line for line in run_script(sdk_python, "openai_calls.py", [], spec)}


def test_b64_images_of_the_mapped_size_carry_their_provenance(answers):
    b64 = answers["b64"]
    assert b64["ok"], b64
    assert len(b64["images"]) == 2
    # 1536x1024 is 3:2 at 1K: the catalog's 1264x848
    assert {pixels(i["path"]) for i in b64["images"]} == {NB2.pixel_size("3:2", "1K")}
    jobs = {provenance(i["path"])["imagegen-job-id"] for i in b64["images"]}
    assert len(jobs) == 1  # one job, two images
    assert b64["size"] == "1264x848" and b64["output_format"] == "png"
    exact = answers["exact size, jpeg"]
    assert exact["ok"], exact
    (image,) = exact["images"]
    assert pixels(image["path"]) == (2752, 1536) and exact["output_format"] == "jpeg"
    assert provenance(image["path"])["imagegen-model"] == NB2.id


def test_url_answers_download(answers):
    url = answers["url"]
    assert url["ok"], url
    (image,) = url["images"]
    got = requests.get(image["url"], timeout=10)
    assert got.status_code == 200
    import io

    from PIL import Image

    with Image.open(io.BytesIO(got.content)) as picture:
        assert picture.size == PRO.pixel_size("1:1", "1K")


def test_edit_keeps_the_input_shape(answers):
    edit = answers["edit"]
    assert edit["ok"], edit
    (image,) = edit["images"]
    assert pixels(image["path"]) == NB2.pixel_size("4:3", "1K")
    assert provenance(image["path"])["imagegen-job-id"]


def test_refusals_are_openai_shaped(answers):
    for name, param in (("bad size", "size"), ("mask", "mask"), ("unknown model", "model")):
        answer = answers[name]
        assert (answer["ok"], answer["status"]) == (False, 400), answer
        assert answer["body"]["param"] == param, answer
        assert answer["body"]["type"] == "invalid_request_error"
        assert set(answer["body"]) >= {"message", "type", "param", "code"}
    assert "1024x1024" in answers["bad size"]["body"]["message"]
