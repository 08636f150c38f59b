"""Schema dict (``terraform providers schema -json`` shape) -> serialized tfplugin6 response."""

from __future__ import annotations

import json
from typing import Any

from tf.gen import tfplugin_pb2 as pb

_NESTING = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
}


def _block(block: dict[str, Any]) -> pb.Schema.Block:
    return pb.Schema.Block(
        attributes=[
            pb.Schema.Attribute(
                name=name,
                type=json.dumps(attr["type"]).encode(),
                required=attr.get("required", False),
                optional=attr.get("optional", False),
                computed=attr.get("computed", False),
                sensitive=attr.get("sensitive", False),
            )
            for name, attr in sorted(block.get("attributes", {}).items())
        ],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=name,
                block=_block(nb["block"]),
                nesting=_NESTING[nb["nesting_mode"]],
                min_items=nb.get("min_items", 0),
                max_items=nb.get("max_items", 0),
            )
            for name, nb in sorted(block.get("block_types", {}).items())
        ],
    )


def _schema(entry: dict[str, Any]) -> pb.Schema:
    return pb.Schema(version=entry.get("version", 0), block=_block(entry["block"]))


def to_proto(schema: dict[str, Any]) -> bytes:
    response = pb.GetProviderSchema.Response(
        provider=_schema(schema["provider"]),
        resource_schemas={n: _schema(s) for n, s in schema["resource_schemas"].items()},
        data_source_schemas={n: _schema(s) for n, s in schema["data_source_schemas"].items()},
    )
    return response.SerializeToString()
