"""imagegen studio: a playground and gallery page on the same services as the HTTP API.

`identity` says who the user is (IAP's signed header, or a local identity on the local
stack only); `api` serves the page, its assets and a small JSON API that calls the same
services.submission functions as `submit`. See docs/studio.md.
"""
