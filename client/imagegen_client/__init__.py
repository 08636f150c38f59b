"""The user side of imagegen: the Python client of the HTTP API (`imagegen_client.client`)
and the `imagegen` command line (`imagegen_client.cli`).

It lives outside functions/ so that no Cloud Function's deploy archive carries it, and it
imports nothing from the server package `imagegen` (tests/unit/test_packaging.py checks
both); its dependencies are the `cli` extra of pyproject.toml.
"""
