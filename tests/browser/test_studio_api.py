"""The studio's JSON API and asset serving over real HTTP (no browser): paging, estimates,
cache headers, identity."""

from __future__ import annotations

import re

import pytest

from tests.browser.support import get as _get
from tests.browser.support import post as _post

pytestmark = pytest.mark.stack


def _as(user: str) -> dict[str, str]:
    return {"X-Imagegen-Caller": user}


def test_no_identity_is_401_and_the_page_is_public_shell(studio_url):
    assert _get(f"{studio_url}/api/jobs").status_code == 401
    page = _get(f"{studio_url}/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-cache"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_assets_are_versioned_and_cached(studio_url):
    page = _get(f"{studio_url}/").text
    path = re.search(r'src="(/assets/studio\.js\?v=[0-9a-f]{12})"', page)
    assert path, "the page names its script by content hash"
    asset = _get(studio_url + path.group(1))
    assert asset.status_code == 200
    assert "immutable" in asset.headers["Cache-Control"]
    again = _get(studio_url + path.group(1), headers={"If-None-Match": asset.headers["ETag"]})
    assert again.status_code == 304
    assert _get(f"{studio_url}/assets/../main.py").status_code == 404


def test_estimate_follows_options_and_writes_nothing(studio_url, unique):
    user = _as(f"est-{unique}")
    base = {"prompt": "x", "model": "gemini-3-pro-image"}
    one = _post(f"{studio_url}/api/estimate", json={**base, "image_size": "1K"}, headers=user)
    four = _post(f"{studio_url}/api/estimate", json={**base, "image_size": "4K"}, headers=user)
    assert one.status_code == four.status_code == 200
    assert four.json()["estimated_cost_usd"] > one.json()["estimated_cost_usd"]
    bad = _post(f"{studio_url}/api/estimate", json={**base, "image_size": "8K"}, headers=user)
    assert bad.status_code == 400
    assert any(d["field"] == "image_size" for d in bad.json()["error"]["details"])
    assert _get(f"{studio_url}/api/jobs", headers=user).json()["jobs"] == []


def test_gallery_pages_newest_first_and_is_the_api_callers(studio_url, api_url, unique):
    user = f"pager-{unique}@example.com"
    ids = []
    for n in range(3):  # one through the HTTP API: the same caller's job
        url = f"{api_url}/v1/jobs" if n == 1 else f"{studio_url}/api/jobs"
        answer = _post(url, json={"prompt": f"p{n} {unique}"}, headers=_as(user))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    first = _get(f"{studio_url}/api/jobs?limit=2", headers=_as(user)).json()
    assert [j["id"] for j in first["jobs"]] == ids[::-1][:2]
    assert first["next_before"]
    rest = _get(
        f"{studio_url}/api/jobs",
        params={"limit": 2, "before": first["next_before"]},
        headers=_as(user),
    ).json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]] and rest["next_before"] is None
    assert _get(f"{studio_url}/api/jobs?limit=0", headers=_as(user)).status_code == 400
    assert _get(f"{studio_url}/api/jobs?before=yesterday", headers=_as(user)).status_code == 400


def test_earlier_output_of_another_user_is_not_a_reference(studio_url, unique):
    mine = _post(
        f"{studio_url}/api/jobs", json={"prompt": f"mine {unique}"}, headers=_as(f"o-{unique}")
    ).json()["id"]
    theirs = _post(
        f"{studio_url}/api/jobs",
        json={"prompt": "steal", "reference_images": [{"job_id": mine, "index": 0}]},
        headers=_as(f"x-{unique}"),
    )
    assert theirs.status_code == 404
