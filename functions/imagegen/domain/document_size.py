"""How large a job's Firestore document is, by Firestore's own rules. Pure.

Firestore stores at most 1 MiB (1,048,576 bytes) a document
(https://cloud.google.com/firestore/quotas, read 2026-11-25). Submit keeps a job's document
within half of that, so its results (outputs, text, thoughts, the conversation's new turns)
have the other half; the worker checks the finished document against the whole limit, less
a margin for what this estimate leaves out (the document's name).
"""

from __future__ import annotations

from typing import Any

MAX_DOCUMENT_BYTES = 1_048_576
MAX_SUBMIT_DOCUMENT_BYTES = 512 * 1024
DOCUMENT_MARGIN_BYTES = 2048


def document_bytes(value: Any) -> int:
    """A document's stored size by Firestore's rules (https://cloud.google.com/firestore/
    docs/storage-size, read 2026-11-25): a string is its UTF-8 bytes + 1, so is a field
    name; numbers, timestamps 8; booleans and null 1; arrays and maps the sum of their
    parts; plus 32 bytes a document. Iterative, so any depth is safe."""
    total = 32
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item.encode("utf-8", "surrogatepass")) + 1
        elif isinstance(item, bytes):
            total += len(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                total += len(str(key).encode("utf-8", "surrogatepass")) + 1
                stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif item is None or isinstance(item, bool):
            total += 1
        else:  # int, float, datetime
            total += 8
    return total


def fits_in_document(document: dict[str, Any]) -> bool:
    return document_bytes(document) <= MAX_DOCUMENT_BYTES - DOCUMENT_MARGIN_BYTES
