"""The contact sheet layout and the CLI's pure helpers (no stack, no network)."""

from __future__ import annotations

import base64

import click
import pytest
from PIL import Image

from imagegen_client.cli.exit_codes import exit_code_for_error, exit_code_for_state
from imagegen_client.cli.job_request import reference_of
from imagegen_client.cli.render import shorten
from imagegen_client.cli.sheet import (
    CAPTION_HEIGHT,
    SHEET_PAD,
    SheetItem,
    caption_for,
    render_sheet,
    sheet_layout,
)
from imagegen_client.client import ApiError, WaitTimeout, backoff_delays, output_filename


@pytest.mark.parametrize(
    ("count", "columns", "grid"),
    [
        (1, 3, (1, 1)),
        (2, 3, (2, 1)),
        (3, 3, (3, 1)),
        (4, 3, (3, 2)),
        (7, 3, (3, 3)),
        (5, 1, (1, 5)),
        (6, 2, (2, 3)),
    ],
)
def test_layout_grid_depends_on_count_and_columns(count, columns, grid):
    layout = sheet_layout(count, columns, thumb=384)
    assert (layout.columns, layout.rows) == grid
    assert layout.width == SHEET_PAD + grid[0] * (384 + SHEET_PAD)
    assert layout.height == SHEET_PAD + grid[1] * (384 + CAPTION_HEIGHT + SHEET_PAD)


def test_layout_known_sizes():
    assert (sheet_layout(3).width, sheet_layout(3).height) == (1216, 478)
    assert (sheet_layout(4).width, sheet_layout(4).height) == (1216, 940)
    assert (sheet_layout(3, 2).width, sheet_layout(3, 2).height) == (816, 940)


def test_cells_do_not_overlap_and_stay_inside():
    layout = sheet_layout(8, 3, thumb=100)
    boxes = [layout.cell(i) for i in range(8)]
    assert len(set(boxes)) == 8
    for x, y in boxes:
        assert x + 100 + SHEET_PAD <= layout.width
        assert y + 100 + CAPTION_HEIGHT + SHEET_PAD <= layout.height


@pytest.mark.parametrize("bad", [(0, 3, 384), (2, 0, 384), (2, 3, 4)])
def test_layout_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        sheet_layout(*bad)


def test_render_sheet_size_is_deterministic_whatever_the_images():
    items = [
        SheetItem(Image.new("RGB", (1408, 768), "red"), ["imagen", "1408x768", "a" * 300]),
        SheetItem(Image.new("RGB", (768, 1344), "blue"), ["flash", "768x1344", "short"]),
        SheetItem(Image.new("RGBA", (64, 64)), ["tiny", "64x64", ""]),
        SheetItem(Image.new("L", (4096, 4096), 128), ["pro", "4096x4096", "big"]),
    ]
    sheet = render_sheet(items, columns=3, thumb=96)
    layout = sheet_layout(4, 3, 96)
    assert sheet.size == (layout.width, layout.height)
    # the first thumbnail (landscape) is centred in its box: its middle row is red
    x, y = layout.cell(0)
    assert sheet.getpixel((x + 48, y + 48)) == (255, 0, 0)
    # a box above a landscape thumbnail stays background
    assert sheet.getpixel((x + 48, y + 2)) != (255, 0, 0)


def test_caption_for_job():
    job = {"id": "abc", "model": "gemini-2.5-flash-image", "request": {"prompt": "a cat"}}
    assert caption_for(job, (1024, 1024)) == ["gemini-2.5-flash-image", "1024x1024  abc", "a cat"]


def test_shorten():
    assert shorten("a  b\nc", 10) == "a b c"
    assert shorten("x" * 20, 10) == "x" * 9 + "…"


def test_exit_codes():
    assert exit_code_for_state("succeeded") == 0
    assert exit_code_for_state("failed") == 1
    assert exit_code_for_state("cancelled") == 1
    assert exit_code_for_state("blocked") == 3
    assert exit_code_for_error(ApiError(400, "invalid_request", "bad")) == 2
    assert exit_code_for_error(ApiError(409, "conflict", "no")) == 2
    assert exit_code_for_error(ApiError(503, "unavailable", "down")) == 4
    assert exit_code_for_error(ApiError(None, "unreachable", "refused")) == 4
    assert exit_code_for_error(ApiError(None, "auth", "no adc")) == 2


def test_reference_of_file_and_uri(tmp_path):
    path = tmp_path / "ref.bin"
    Image.new("RGB", (4, 4)).save(path, "JPEG")
    ref = reference_of(str(path))
    assert ref["mime_type"] == "image/jpeg"
    assert base64.b64decode(ref["data"]) == path.read_bytes()
    assert reference_of("gs://bucket/a.png") == {"gcs_uri": "gs://bucket/a.png"}
    with pytest.raises(click.BadParameter):
        reference_of(str(tmp_path / "missing.png"))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(click.BadParameter):
        reference_of(str(text))


def test_api_error_field_lines():
    err = ApiError(
        400,
        "invalid_request",
        "2 invalid",
        [
            {"field": "aspect_ratio", "message": "not 7:3"},
            {"field": "image_size", "message": "not 4K"},
        ],
    )
    assert err.field_lines() == ["aspect_ratio: not 7:3", "image_size: not 4K"]
    assert err.to_json()["error"]["details"][0]["field"] == "aspect_ratio"
    assert ApiError(500, "internal", "boom").field_lines() == ["boom"]


def test_wait_timeout_keeps_the_id():
    exc = WaitTimeout("job123", {"id": "job123", "state": "running"}, 5)
    assert exc.job_id == "job123" and exc.state == "running"
    assert "job123" in str(exc)
    assert WaitTimeout("j", None, 1).state == "unknown"


def test_backoff_delays_grow_to_the_cap():
    gen = backoff_delays(0.25, 2.0)
    delays = [next(gen) for _ in range(10)]
    assert delays[0] == 0.25
    assert delays == sorted(delays)
    assert delays[-1] == 2.0


def test_output_filename():
    assert output_filename({"uri": "gs://b/jobs/x/2.jpg", "index": 2}, 0) == "2.jpg"
    assert output_filename({"mime_type": "image/jpeg", "index": 1}, 0) == "1.jpg"


def test_wait_polls_until_terminal_and_reports_each_poll(monkeypatch):
    from imagegen_client import client as client_mod

    states = iter(["queued", "running", "running", "succeeded"])
    c = client_mod.Client("http://127.0.0.1:1")
    monkeypatch.setattr(c, "get", lambda job_id: {"id": job_id, "state": next(states)})
    monkeypatch.setattr(client_mod.time, "sleep", lambda _s: None)
    seen = []
    job = c.wait("j1", timeout=60, on_update=lambda j: seen.append(j["state"]))
    assert job["state"] == "succeeded"
    assert seen == ["queued", "running", "running", "succeeded"]


def test_wait_timeout_carries_the_last_state(monkeypatch):
    from imagegen_client import client as client_mod

    c = client_mod.Client("http://127.0.0.1:1")
    monkeypatch.setattr(c, "get", lambda job_id: {"id": job_id, "state": "running"})
    with pytest.raises(WaitTimeout) as info:
        c.wait("j2", timeout=0.05, poll_first=0.01, poll_max=0.01)
    assert info.value.job_id == "j2" and info.value.state == "running"


def test_wait_rides_out_a_brief_outage(monkeypatch):
    from imagegen_client import client as client_mod

    answers = iter(
        [
            ApiError(503, "unavailable", "down"),
            ApiError(None, "unreachable", "x"),
            {"id": "j3", "state": "succeeded"},
        ]
    )

    def get(_job_id):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    c = client_mod.Client("http://127.0.0.1:1")
    monkeypatch.setattr(c, "get", get)
    monkeypatch.setattr(client_mod.time, "sleep", lambda _s: None)
    assert c.wait("j3", timeout=60)["state"] == "succeeded"


def test_wait_does_not_retry_a_404(monkeypatch):
    from imagegen_client import client as client_mod

    c = client_mod.Client("http://127.0.0.1:1")

    def get(_job_id):
        raise ApiError(404, "not_found", "no job")

    monkeypatch.setattr(c, "get", get)
    with pytest.raises(ApiError):
        c.wait("j4", timeout=60)


def test_headers_local_caller_and_explicit_token():
    from imagegen_client.client import Client

    local = Client("http://127.0.0.1:8681", caller="me")
    assert local._headers()["X-Imagegen-Caller"] == "me"
    assert "Authorization" not in local._headers()
    remote = Client("https://submit-xyz.a.run.app", token="tok", caller="me")
    headers = remote._headers()
    assert headers["Authorization"] == "Bearer tok"
    assert "X-Imagegen-Caller" not in headers
