"""Headless Chromium (Debian's `chromium` package) driven by Playwright for Python.

Never `playwright install`: the browser is /usr/bin/chromium (the Makefile installs it with
apt-get when missing). Each page gets a fresh profile directory, so local users (kept in
localStorage by the page) never leak between tests. Screenshots go to
$STUDIO_SCREENSHOTS (docs/studio when refreshing the committed ones) or out/studio.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def studio_url(stack_env) -> str:
    return stack_env["DEVSTACK_STUDIO_URL"]


@pytest.fixture(scope="session")
def shots() -> Path:
    where = Path(os.environ.get("STUDIO_SCREENSHOTS") or ROOT / "out" / "studio")
    if not where.is_absolute():
        where = ROOT / where
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"browser tests need Debian's chromium at {CHROMIUM}: "
            "apt-get install -y chromium chromium-driver (make test does it as root)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("browser tests need playwright (pip install -e '.[dev]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture
def open_page(playwright_session, studio_url) -> Iterator[Callable[..., object]]:
    """open_page(user, width=1280, height=900) -> a Playwright page signed in locally."""
    contexts, dirs = [], []

    def open_as(user: str, width: int = 1280, height: int = 900):
        profile = tempfile.mkdtemp(prefix="studio-chromium-")
        dirs.append(profile)
        context = playwright_session.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": width, "height": height},
            bypass_csp=True,  # wait_for_function evaluates strings; the CSP header is tested apart
        )
        contexts.append(context)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{studio_url}/?user={user}")
        page.wait_for_selector("body[data-ready='1']")
        return page

    yield open_as
    for context in contexts:
        context.close()
    for profile in dirs:
        shutil.rmtree(profile, ignore_errors=True)
