"""Ports (imagegen/ports.py): every adapter satisfies its port, each port lists exactly the
methods the service layer calls, and imports point one way only:
entry points -> HTTP/events -> services -> ports <- adapters, the domain depending on none."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from imagegen import ports
from imagegen.adapters.batches_firestore import BatchStore
from imagegen.adapters.catalog_firestore import CatalogStore
from imagegen.adapters.events_firestore import EventLog
from imagegen.adapters.events_pubsub import EventTopic
from imagegen.adapters.jobs_firestore import JobStore
from imagegen.adapters.limiter_firestore import FirestoreLimiter
from imagegen.adapters.model_garden import ModelGarden
from imagegen.adapters.queue_tasks import TaskQueue
from imagegen.adapters.signer import UrlSigner
from imagegen.adapters.storage_gcs import Storage
from imagegen.adapters.vertex import VertexClient
from imagegen.adapters.vertex_batch import VertexBatches
from imagegen.adapters.vertex_batch_input import VertexBatchInput

PACKAGE = Path(__file__).resolve().parents[2] / "functions" / "imagegen"

# Services attribute -> (port, the adapter bootstrap builds for it)
WIRING = {
    "jobs": (ports.JobStore, JobStore),
    "queue": (ports.JobQueue, TaskQueue),
    "storage": (ports.ObjectStore, Storage),
    "vertex": (ports.ImageModel, VertexClient),
    "model_garden": (ports.ModelRegistry, ModelGarden),
    "event_topic": (ports.EventTopic, EventTopic),
    "webhook_retries": (ports.EventTopic, EventTopic),
    "webhook_dead_letters": (ports.EventTopic, EventTopic),
    "event_log": (ports.EventLog, EventLog),
    "limiter": (ports.Limiter, FirestoreLimiter),
    "catalog_store": (ports.CatalogStore, CatalogStore),
    "signer": (ports.Signer, UrlSigner),
    "batches": (ports.BatchStore, BatchStore),
    "vertex_batch": (ports.BatchModel, VertexBatches),
    "batch_input": (ports.BatchInput, VertexBatchInput),
}


def _members(port: type) -> list[str]:
    return sorted(n for n, v in vars(port).items() if not n.startswith("_") and callable(v))


def _shape(function) -> list[tuple[str, object, object]]:
    """Parameter names, kinds and defaults (annotations differ in spelling, not meaning)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", sorted(WIRING))
def test_each_adapter_satisfies_its_port(name):
    port, adapter = WIRING[name]
    assert isinstance(object.__new__(adapter), port)  # runtime_checkable: every member there
    for member in _members(port):
        assert _shape(getattr(adapter, member)) == _shape(getattr(port, member)), (
            f"{adapter.__name__}.{member} does not match ports.{port.__name__}.{member}"
        )


def test_services_are_typed_by_the_ports():
    from imagegen.bootstrap import Services

    for name, (port, _) in WIRING.items():
        annotation = inspect.signature(getattr(Services, name).func).return_annotation
        assert annotation.removesuffix(" | None") == f"ports.{port.__name__}", name


def _service_layer() -> list[Path]:
    edge = [PACKAGE / "http_api.py", PACKAGE / "catalog_admin.py", PACKAGE.parent / "main.py"]
    return sorted([*(PACKAGE / "services").glob("*.py"), *(PACKAGE / "studio").glob("*.py"), *edge])


def _port_of(node: ast.AST) -> str | None:
    """`services.<port>`, `self.services.<port>`, `services().<port>` or
    `getattr(services, "<port>", ...)`: the port's name, else None."""
    if isinstance(node, ast.Attribute) and node.attr in WIRING:
        inner = node.value
        if isinstance(inner, ast.Call):
            inner = inner.func
        if (isinstance(inner, ast.Name) and inner.id == "services") or (
            isinstance(inner, ast.Attribute) and inner.attr == "services"
        ):
            return node.attr
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and node.args[1].value in WIRING
    ):
        return node.args[1].value
    return None


def _methods_called() -> dict[str, set[str]]:
    """Per port, the methods the service layer calls on it (directly, or through a local
    name it was given: `store = services.catalog_store`)."""
    used: dict[str, set[str]] = {}
    for path in _service_layer():
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            aliases = {
                node.targets[0].id: _port_of(node.value)
                for node in ast.walk(function)
                if isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and _port_of(node.value)
            }
            for node in ast.walk(function):
                if not isinstance(node, ast.Attribute):
                    continue
                port = _port_of(node.value)
                if port is None and isinstance(node.value, ast.Name):
                    port = aliases.get(node.value.id)
                if port is not None:
                    used.setdefault(port, set()).add(node.attr)
    return used


def test_each_port_lists_exactly_the_methods_the_services_call():
    used = _methods_called()
    for port in {p for p, _ in WIRING.values()}:
        names = [n for n, (p, _) in WIRING.items() if p is port]
        called = set().union(*(used.get(n, set()) for n in names))
        assert called == set(_members(port)), (
            f"ports.{port.__name__}: called {sorted(called)}, declared {_members(port)}"
        )


# (module, layers it must not import). Imports inside functions and under TYPE_CHECKING
# count too: an arrow is an arrow.
FORBIDDEN = {
    "domain": ("services", "adapters", "http_api", "studio", "bootstrap", "ports"),
    "services": ("adapters", "http_api", "studio"),
    "ports": ("services", "adapters", "http_api", "studio", "bootstrap"),
    "adapters": ("services", "http_api", "studio", "bootstrap"),
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("imagegen.")}


def test_imports_point_one_way():
    wrong = set()
    for layer, forbidden in FORBIDDEN.items():
        paths = [PACKAGE / "ports.py"] if layer == "ports" else (PACKAGE / layer).glob("*.py")
        for path in paths:
            where = "ports" if layer == "ports" else f"{layer}/{path.name}"
            for name in _imports(path):
                top = name.split(".")[1]
                if top in forbidden:
                    module = ".".join(name.split(".")[:3])
                    wrong.add((where, module))
    assert wrong == set(), sorted(wrong)


# The edge: entry points, HTTP, the studio and event decoding reach adapters only through
# `bootstrap.Services` (typed by the ports), never by importing them.
EDGE = [
    PACKAGE.parent / "main.py",
    PACKAGE / "http_api.py",
    PACKAGE / "events.py",
    PACKAGE / "catalog_admin.py",
    *(PACKAGE / "studio").glob("*.py"),
    *(PACKAGE / "native").glob("*.py"),  # issue 28: the front doors
]


def test_the_edge_imports_no_adapter():
    wrong = {
        (path.name, name)
        for path in EDGE
        for name in _imports(path)
        if name.startswith("imagegen.adapters")
    }
    assert wrong == set(), sorted(wrong)
    assert all(path.exists() for path in EDGE), [str(p) for p in EDGE if not p.exists()]
