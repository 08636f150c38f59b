"""Headless Chromium from Debian (/usr/bin/chromium) under Playwright, for the studio's
browser tests and the demo's gallery screenshot. Playwright never downloads a browser here
(`playwright install` is never run): it drives the system's chromium with a fresh profile
directory each time."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class BrowserMissing(RuntimeError):
    """Chromium or Playwright is not installed (the message says how to install it)."""


def check() -> None:
    if not Path(CHROMIUM).exists():
        raise BrowserMissing(
            f"needs Debian's chromium at {CHROMIUM}: "
            "apt-get install -y chromium chromium-driver (`make browser` does it as root)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise BrowserMissing("needs playwright: pip install -e '.[dev]'") from None


@contextlib.contextmanager
def context(playwright: Any, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A persistent browser context on a fresh, temporary profile directory."""
    profile = tempfile.mkdtemp(prefix="studio-chromium-")
    ctx = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        args=ARGS,
        headless=True,
        viewport={"width": width, "height": height},
        bypass_csp=True,  # wait_for_function evaluates strings; the CSP header is tested apart
    )
    try:
        yield ctx
    finally:
        ctx.close()
        shutil.rmtree(profile, ignore_errors=True)


def open_studio(ctx: Any, studio_url: str, user: str, fragment: str = "") -> Any:
    """The studio page as a local user, once its script says it is ready."""
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{studio_url}/?user={user}{fragment}")
    page.wait_for_selector("body[data-ready='1']")
    return page


def gallery_screenshot(studio_url: str, user: str, path: Path) -> Path:
    """Screenshot of `user`'s gallery with every thumbnail loaded."""
    check()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, context(p) as ctx:
        page = open_studio(ctx, studio_url, user)
        page.wait_for_function(
            "[...document.querySelectorAll('#gallery li img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        page.locator(".gallery").screenshot(path=str(path))
    return path
