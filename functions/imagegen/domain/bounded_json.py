"""Reading a JSON request body with bounds: nesting depth and non-standard constants.

Python's parser recurses per nesting level, so a body 5,000 levels deep raised
RecursionError (a 500); no job request needs more than a few levels. `NaN` and `Infinity`
are not JSON and cannot be stored or compared sensibly, so they are refused too.
"""

from __future__ import annotations

import json
from typing import Any

from imagegen.errors import InvalidRequest

MAX_DEPTH = 32


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(
        "the body is not valid JSON", details=[{"field": "body", "message": message}]
    )


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed value (a scalar is 0), iteratively."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a body; InvalidRequest (400) when it is not JSON or nests deeper than allowed."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise _invalid(f"nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid(f"not valid JSON: {exc}") from None
    if depth(value) > max_depth:
        raise _invalid(f"nested deeper than {max_depth} levels")
    return value
