"""Plain HTTP helpers for the studio tests (every request with a timeout)."""

from __future__ import annotations

import requests

TIMEOUT = 30


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, **kwargs)


def post(url: str, **kwargs) -> requests.Response:
    return requests.post(url, timeout=TIMEOUT, **kwargs)
