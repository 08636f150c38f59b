"""The studio in a real browser against the local stack: submit, watch it finish, see the
image, refine it, see the gallery; another user sees none of it; blocks show why."""

from __future__ import annotations

import pytest

from tests.browser.support import get as _get

pytestmark = pytest.mark.stack

DONE = "[data-state='succeeded'], [data-state='failed'], [data-state='blocked']"


def _finished(page) -> str:
    page.wait_for_selector(f"#job-status:is({DONE})", timeout=90_000)
    return page.get_attribute("#job-status", "data-state")


def _fact(page, name: str) -> str:
    return page.inner_text(f"dd[data-fact='{name}']")


def _gallery_ids(page) -> list[str]:
    return page.eval_on_selector_all("#gallery li", "items => items.map(i => i.dataset.job)")


def test_submit_watch_refine_and_gallery(open_page, unique, shots):
    page = open_page(f"alice-{unique}")
    assert page.inner_text("#user-name") == f"alice-{unique}"

    # the estimate follows the options: Nano Banana 2 at 2K costs more than at 512
    page.select_option("#model", "gemini-3.1-flash-image")
    page.select_option("#image_size", "512")
    page.wait_for_function("document.querySelector('#estimate').dataset.usd !== undefined")
    page.wait_for_function("Number(document.querySelector('#estimate').dataset.usd) > 0")
    small = float(page.get_attribute("#estimate", "data-usd"))
    page.select_option("#image_size", "2K")
    page.wait_for_function(f"Number(document.querySelector('#estimate').dataset.usd) > {small}")
    page.select_option("#aspect_ratio", "16:9")

    # keyboard: type the prompt and press Enter
    page.focus("#prompt")
    page.keyboard.type(f"a lighthouse on a basalt cliff at dusk {unique}")
    page.keyboard.press("Enter")
    page.wait_for_selector("#job:not([hidden])")
    first = page.inner_text("#job-id")
    assert _finished(page) == "succeeded"
    image = page.wait_for_selector("#job-images img")
    page.wait_for_function(
        "document.querySelector('#job-images img').complete && "
        "document.querySelector('#job-images img').naturalWidth > 0"
    )
    assert image.evaluate("img => img.naturalWidth") == 2752  # 2K 16:9 from the catalog
    assert _fact(page, "Served by") == "gemini-3.1-flash-image"
    assert _fact(page, "Model asked for") == "gemini-3.1-flash-image"
    assert _fact(page, "Delivered") == "2752\u00d71536"
    assert _fact(page, "Cost").startswith("$")
    page.screenshot(path=str(shots / "job.png"), full_page=True)

    # refine: continue the conversation from that image
    page.click("#refine")
    assert page.is_visible("#refine-banner")
    page.fill("#prompt", f"make it snow {unique}")
    page.click("#submit")
    page.wait_for_function(f"document.querySelector('#job-id').textContent !== '{first}'")
    second = page.inner_text("#job-id")
    assert _finished(page) == "succeeded"
    assert _fact(page, "Refines") == first

    # the gallery: both, newest first, thumbnails loaded through signed URLs
    page.wait_for_function("document.querySelectorAll('#gallery li img').length >= 2")
    assert _gallery_ids(page)[:2] == [second, first]
    thumb = page.get_attribute(f"#gallery li[data-job='{first}'] img", "src")
    assert "X-Goog-Signature=" in thumb
    page.wait_for_function(
        "[...document.querySelectorAll('#gallery li img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(shots / "gallery.png"), full_page=True)


def test_reference_from_an_earlier_output(open_page, unique):
    page = open_page(f"rita-{unique}")
    page.fill("#prompt", f"a red kite {unique}")
    page.keyboard.press("Tab")
    page.click("#submit")
    assert _finished(page) == "succeeded"
    first = page.inner_text("#job-id")
    page.click("#job-images button:has-text('Use as reference')")
    page.wait_for_selector("#ref-list img")
    page.fill("#prompt", f"the same kite at night {unique}")
    page.click("#submit")
    page.wait_for_function(f"document.querySelector('#job-id').textContent !== '{first}'")
    assert _finished(page) == "succeeded"
    # no ratio asked: the output keeps the reference's (1:1) shape
    assert _fact(page, "Delivered") == "1024\u00d71024"


def test_another_user_sees_none_of_it(open_page, unique, studio_url):
    alice = open_page(f"ann-{unique}")
    alice.fill("#prompt", f"a private sketch {unique}")
    alice.click("#submit")
    assert _finished(alice) == "succeeded"
    job_id = alice.inner_text("#job-id")

    bob = open_page(f"bob-{unique}")
    assert job_id not in _gallery_ids(bob)
    bob.goto(f"{studio_url}/?user=bob-{unique}#job={job_id}")
    bob.wait_for_selector("#form-errors p")
    assert f"no job {job_id}" in bob.inner_text("#form-errors")
    assert bob.is_hidden("#job")
    # and the API behind the page says the same
    answer = _get(f"{studio_url}/api/jobs/{job_id}", headers={"X-Imagegen-Caller": f"bob-{unique}"})
    assert answer.status_code == 404


def test_safety_block_is_shown_with_its_reason(open_page, unique, shots):
    page = open_page(f"cara-{unique}")
    page.fill("#prompt", f"something the filters stop [[block:IMAGE_SAFETY]] {unique}")
    page.click("#submit")
    assert _finished(page) == "blocked"
    status = page.inner_text("#job-status")
    assert status.startswith("Status: blocked — ") and len(status) > len("Status: blocked — ")


@pytest.mark.parametrize(
    ("prompt", "kind", "text"),
    [
        ("a signed heron", "valid", "Content Credentials \u2713"),
        ("a heron, one byte changed [[c2pa:tamper]]", "invalid", "Content Credentials \u2717"),
    ],
)
def test_each_image_shows_its_content_credentials(open_page, unique, shots, prompt, kind, text):
    """Nano Banana Pro carries C2PA (the stand-in signs as Vertex does): the badge says what
    the worker read from the stored file; a tampered file shows the failure."""
    page = open_page(f"erin-{unique}")
    page.select_option("#model", "gemini-3-pro-image")
    page.fill("#prompt", f"{prompt} {unique}")
    page.click("#submit")
    assert _finished(page) == "succeeded"
    badge = page.wait_for_selector("#job-images .badge")
    assert badge.get_attribute("data-c2pa") == kind
    assert badge.inner_text() == text
    title = badge.get_attribute("title")
    if kind == "valid":
        assert "trainedAlgorithmicMedia" in title and "SynthID" in title
        page.screenshot(path=str(shots / "job-credentials.png"), full_page=True)
    else:
        assert "dataHash" in title
        assert "Content Credentials" in page.inner_text("#job-warnings")


def test_bad_options_show_the_field_and_reason(open_page, unique):
    page = open_page(f"dan-{unique}")
    page.evaluate(
        "() => { const o = document.createElement('option'); o.value = '9K'; o.text = '9K';"
        " document.querySelector('#image_size').append(o); }"
    )
    page.select_option("#image_size", "9K")
    page.fill("#prompt", f"anything {unique}")
    page.click("#submit")
    page.wait_for_selector("#form-errors p")
    assert "image_size" in page.inner_text("#form-errors")
    assert page.is_hidden("#job")


def test_readable_on_a_phone(open_page, unique, shots):
    page = open_page(f"erin-{unique}", width=390, height=844)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    page.screenshot(path=str(shots / "phone.png"), full_page=True)


def test_the_studio_lists_the_users_batches_with_their_progress(open_page, unique, api_url, shots):
    """Issue 29: a batch submitted through the API shows in its owner's studio, its progress
    following the sweep until it ends; another user sees no batch."""
    import threading
    import time

    from imagegen.bootstrap import Services
    from imagegen.config import load_settings
    from imagegen.services.upkeep import sweep
    from imagegen_client.client import Client

    owner = f"carol-{unique}"
    lines = [{"prompt": f"{unique} tile {n}"} for n in range(3)]
    batch_id = Client(api_url, caller=owner).submit_batch(lines)["id"]
    page = open_page(owner)
    row = f"#batch-list li[data-batch='{batch_id}']"
    page.wait_for_selector(row)
    assert page.get_attribute(f"{row} progress", "max") == "3"
    assert page.get_attribute(f"{row} progress", "value") == "0"

    services, stop = Services(load_settings()), threading.Event()

    def sweeping() -> None:
        while not stop.is_set():
            sweep(services)
            time.sleep(0.3)

    thread = threading.Thread(target=sweeping, daemon=True)
    thread.start()
    try:
        page.wait_for_selector(f"{row}.succeeded", timeout=90_000)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert page.get_attribute(f"{row} progress", "value") == "3"
    assert "3/3 ended" in page.inner_text(f"{row} .batch-counts")
    page.screenshot(path=str(shots / "batches.png"), full_page=True)

    other = open_page(f"dave-{unique}")
    other.wait_for_function("document.body.dataset.ready === '1'")
    assert other.is_hidden("#batches") and other.query_selector(row) is None
