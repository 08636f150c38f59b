"""`make test` runs the suite in two parts side by side (scripts/test_parts.py): the split in
tests/conftest.py must give exact complements, and never run a test that uses the local
stack outside the stack's part (a second stack would fight the first for its ports)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import conftest

TESTS = Path(conftest.__file__).resolve().parent


class Item(SimpleNamespace):
    """What the split reads of a collected test: its file and its fixtures."""


def _items() -> list[Item]:
    return [
        Item(fspath=TESTS / "unit" / "test_x.py", fixturenames=["tmp_path"], marks=[]),
        Item(fspath=TESTS / "unit" / "test_y.py", fixturenames=["stack_env", "stack"], marks=[]),
        Item(fspath=TESTS / "terraform" / "test_z.py", fixturenames=[], marks=[]),
        Item(fspath=TESTS / "e2e" / "test_w.py", fixturenames=["api_url", "stack"], marks=[]),
        Item(fspath=TESTS / "hostile" / "test_v.py", fixturenames=[], marks=[]),
    ]


def _split(part: str, monkeypatch) -> list[str]:
    monkeypatch.setenv("IMAGEGEN_TEST_PART", part)
    items = _items()
    for item in items:
        item.add_marker = item.marks.append
    dropped: list = []
    config = SimpleNamespace(
        hook=SimpleNamespace(pytest_deselected=lambda items: dropped.extend(items))
    )
    conftest.pytest_collection_modifyitems(config, items)
    assert len(items) + len(dropped) == len(_items())
    return [Path(item.fspath).name for item in items]


def test_the_two_parts_are_exact_complements_and_the_stack_stays_in_one(monkeypatch):
    beside = _split("beside", monkeypatch)
    stack = _split("stack", monkeypatch)
    assert beside == ["test_x.py", "test_z.py"]
    assert stack == ["test_y.py", "test_w.py", "test_v.py"]  # the unit test using the stack too
    assert not set(beside) & set(stack)


def test_an_unknown_part_is_refused(monkeypatch):
    with pytest.raises(pytest.UsageError, match="beside or stack"):
        _split("both", monkeypatch)
