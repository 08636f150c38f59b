"""A stand-in provider that plans and applies into Terraform state only (no cloud).

`python -m tools.tfstandin replan OLD NEW` uses it to prove that a refactor of the
configuration changes nothing in a deployment: OLD is applied into a scratch local state
with this provider, then NEW is planned against that state. Every resource the plan would
create, update, replace or destroy is a real change (a `moved` block missing, or an
argument that differs); a plan of moves and no-ops only is a pure refactor.

What it does with each call:
- PlanResourceChange: the proposed new state (configuration merged with prior state by
  Terraform core); on create, computed attributes the configuration leaves null become
  unknown, as a real provider plans them.
- ApplyResourceChange: the planned state with every unknown replaced by a fake value of
  its type; strings carry a hash of the resource's planned state, so two resources never
  share a fake URL or e-mail (a push subscription wired to the wrong function would show).
- ReadResource returns the state unchanged; ReadDataSource fills computed values the same
  way; UpgradeResourceState hands the stored JSON back.
Nothing here talks to a network; values are never sent anywhere.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgpack
from tf.gen import tfplugin_pb2 as pb

from .server import SchemaOnlyProvider

UNKNOWN_CODE = 0  # cty's msgpack extension code for an unknown value
_LOCAL_PATHS = {"source_dir", "source_file", "output_path"}


def _unpack(value: pb.DynamicValue) -> Any:
    if value.msgpack:
        return msgpack.unpackb(value.msgpack, raw=False, strict_map_key=False)
    if value.json:
        return json.loads(value.json)
    return None


def _pack(value: Any) -> pb.DynamicValue:
    return pb.DynamicValue(msgpack=msgpack.packb(value, use_bin_type=True))


def _unknown(value: Any) -> bool:
    return isinstance(value, msgpack.ExtType) and value.code == UNKNOWN_CODE


def _fake(cty_type: Any, name: str, ident: str) -> Any:
    """A known value of ``cty_type`` standing for computed attribute ``name``."""
    if cty_type == "string":
        email = f"service-{int(ident[:10], 16)}@fake-{ident}.iam.gserviceaccount.com"
        if name.endswith("email"):
            return email
        if name == "member":
            return f"serviceAccount:{email}"
        if name in {"uri", "url"}:
            return f"https://fake-{ident}.a.run.app"
        return f"fake-{name}-{ident}"
    if cty_type == "number":
        return 1
    if cty_type == "bool":
        return False
    if isinstance(cty_type, list) and cty_type[0] in {"list", "set", "tuple"}:
        return [] if cty_type[0] != "tuple" else [_fake(t, name, ident) for t in cty_type[1]]
    if isinstance(cty_type, list) and cty_type[0] == "map":
        return {}
    if isinstance(cty_type, list) and cty_type[0] == "object":
        return {k: _fake(t, k, ident) for k, t in cty_type[1].items()}
    return None


def _fill_value(value: Any, cty_type: Any, name: str, ident: str) -> Any:
    """``value`` with every unknown inside it replaced by a fake of its type."""
    if _unknown(value):
        return _fake(cty_type, name, ident)
    if value is None or not isinstance(cty_type, list):
        return value
    kind = cty_type[0]
    if kind in {"list", "set"}:
        return [_fill_value(v, cty_type[1], name, ident) for v in value]
    if kind == "map":
        return {k: _fill_value(v, cty_type[1], name, ident) for k, v in value.items()}
    if kind == "object":
        return {k: _fill_value(v, cty_type[1].get(k), k, ident) for k, v in value.items()}
    return value


def _walk(value: Any, block: pb.Schema.Block, visit) -> Any:
    """Apply ``visit(attribute, value) -> value`` to every attribute of a block value."""
    if value is None or _unknown(value):
        return value
    out = dict(value)
    for attr in block.attributes:
        out[attr.name] = visit(attr, out.get(attr.name))
    for nested in block.block_types:
        inner = out.get(nested.type_name)
        if inner is None or _unknown(inner):
            continue
        mode = nested.nesting
        if mode in (pb.Schema.NestedBlock.LIST, pb.Schema.NestedBlock.SET):
            out[nested.type_name] = [_walk(v, nested.block, visit) for v in inner]
        elif mode == pb.Schema.NestedBlock.MAP:
            out[nested.type_name] = {k: _walk(v, nested.block, visit) for k, v in inner.items()}
        else:
            out[nested.type_name] = _walk(inner, nested.block, visit)
    return out


def _attr_type(attr: pb.Schema.Attribute) -> Any:
    return json.loads(attr.type) if attr.type else None


def _mark_computed_unknown(value: Any, block: pb.Schema.Block) -> Any:
    def visit(attr, v):
        return msgpack.ExtType(UNKNOWN_CODE, b"") if attr.computed and v is None else v

    return _walk(value, block, visit)


def _fill_unknowns(value: Any, block: pb.Schema.Block, raw: bytes) -> Any:
    ident = hashlib.sha256(raw).hexdigest()[:12]
    return _walk(value, block, lambda attr, v: _fill_value(v, _attr_type(attr), attr.name, ident))


class FakeCloudProvider(SchemaOnlyProvider):
    """Plans and applies into state only; see the module docstring."""

    def _block(self, type_name: str, data: bool = False) -> pb.Schema.Block:
        schemas = self.schema.data_source_schemas if data else self.schema.resource_schemas
        return schemas[type_name].block

    def ConfigureProvider(self, request, context):
        return pb.ConfigureProvider.Response()

    def PlanResourceChange(self, request, context):
        proposed = _unpack(request.proposed_new_state)
        if proposed is not None and _unpack(request.prior_state) is None:
            proposed = _mark_computed_unknown(proposed, self._block(request.type_name))
        return pb.PlanResourceChange.Response(
            planned_state=_pack(proposed),
            planned_private=request.prior_private,
            legacy_type_system=True,
        )

    def ApplyResourceChange(self, request, context):
        planned = _unpack(request.planned_state)
        if planned is not None:
            planned = _fill_unknowns(
                planned, self._block(request.type_name), request.planned_state.msgpack
            )
        return pb.ApplyResourceChange.Response(
            new_state=_pack(planned), private=request.planned_private, legacy_type_system=True
        )

    def ReadResource(self, request, context):
        return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

    def UpgradeResourceState(self, request, context):
        return pb.UpgradeResourceState.Response(
            upgraded_state=pb.DynamicValue(json=request.raw_state.json)
        )

    def ReadDataSource(self, request, context):
        block = self._block(request.type_name, data=True)
        raw = _unpack(request.config)
        config = _mark_computed_unknown(raw, block)
        # Local paths (archive_file's source_dir, output_path) name the same files
        # differently when the configuration moves (terraform/ became a module called from
        # examples/deploy); the fake cannot read the files, so paths do not feed the value.
        ident = {k: v for k, v in (raw or {}).items() if k not in _LOCAL_PATHS}
        return pb.ReadDataSource.Response(
            state=_pack(_fill_unknowns(config, block, msgpack.packb(ident, use_bin_type=True)))
        )
