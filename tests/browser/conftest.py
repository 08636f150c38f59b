"""Headless Chromium (Debian's `chromium` package) driven by Playwright for Python, through
devstack/browser.py (never `playwright install`). Each page gets a fresh profile directory,
so local users (kept in localStorage by the page) never leak between tests. Screenshots go
to $STUDIO_SCREENSHOTS (`make screenshots`: docs/studio) or out/studio."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack import browser

ROOT = Path(__file__).resolve().parents[2]


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
    try:
        browser.check()
    except browser.BrowserMissing as exc:
        pytest.fail(f"browser tests {exc}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def open_page(playwright_session, studio_url) -> Iterator[Callable[..., object]]:
    """open_page(user, width=1280, height=900) -> a Playwright page signed in locally."""
    with contextlib.ExitStack() as contexts:

        def open_as(user: str, width: int = 1280, height: int = 900):
            ctx = contexts.enter_context(browser.context(playwright_session, width, height))
            return browser.open_studio(ctx, studio_url, user)

        yield open_as
