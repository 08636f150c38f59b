"""Recover Terraform provider schemas from prebuilt CDK-for-Terraform bindings.

The prebuilt bindings (`cdktf-cdktf-provider-*`, and `cdktn-provider-*` of CDK Terrain, the
community continuation, on PyPI) are generated
from `terraform providers schema -json`. Their jsii package (``_jsii/*.jsii.tgz``) holds, per
resource, the generated TypeScript in the source map of ``lib/<resource>/index.js``. That
source keeps every schema fact ``terraform validate`` needs:

* ``// <name> - computed: <b>, optional: <b>, required: <b>`` above each member of a
  resource, data source or nested-block class (all attributes, computed ones included);
* ``<struct>ToHclTerraform`` functions and ``synthesizeHclAttributes`` listing each
  configurable member with ``isBlock`` and its collection kind (simple/list/set/map/struct);
* ``new XList(this, "name", wrapsSet)`` / ``new XOutputReference(...)`` naming the nested
  struct, and typed getters (``getStringAttribute`` ...) for computed attributes.

The result is a dict in the shape of ``terraform providers schema -json`` (one provider).
"""

from __future__ import annotations

import base64
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CLASS = re.compile(r"^export class (\w+) extends cdkt[fn]\.(\w+) \{", re.M)
_TOHCL = re.compile(r"^export function (\w+)ToHclTerraform\(", re.M)
_HCL_ENTRY = re.compile(
    r"(\w+): \{\s*value: [^\n]*\n\s*isBlock: (true|false),\s*type: \"(\w+)\",\s*"
    r"storageClassType: \"(\w+)\""
)
_MEMBER = re.compile(
    r"^  // (\S+) - computed: (true|false), optional: (true|false), required: (true|false)\n",
    re.M,
)
_TF_TYPE = re.compile(r'public static readonly tfResourceType = "([\w-]+)";')
_VERSION_LINK = re.compile(
    r"registry\.terraform\.io/providers/([\w-]+)/([\w-]+)/(\d+\.\d+\.\d+)/docs"
)
_SOURCE_MAP = re.compile(r"sourceMappingURL=data:application/json;base64,(\S+)")

_PRIMS = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
_GETTERS = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
    "getAnyMapAttribute": ["map", "dynamic"],
    "interpolationForAttribute": "dynamic",
}


def _body(src: str, start: int) -> str:
    end = src.find("\n}\n", start)
    return src[start : end if end != -1 else len(src)]


def _storage_type(kind: str, storage: str) -> Any:
    """cty type of a primitive member from its HCL kind and storageClassType."""
    for suffix, collection in (("List", None), ("Map", "map")):
        if storage.endswith(suffix) and storage[: -len(suffix)] in _PRIMS:
            elem = _PRIMS[storage[: -len(suffix)]]
            if collection == "map":
                return ["map", elem]
            return ["set" if kind == "set" else "list", elem]
    return _PRIMS.get(storage, "dynamic")


class _Module:
    """One generated TypeScript module: its classes and ToHcl synthesizers."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.classes: dict[str, tuple[str, str]] = {}
        for m in _CLASS.finditer(src):
            self.classes[m.group(1)] = (m.group(2), _body(src, m.start()))
        self.hcl: dict[str, dict[str, tuple[bool, str, str]]] = {}
        for m in _TOHCL.finditer(src):
            name = m.group(1)
            self.hcl[name[0].upper() + name[1:]] = self._hcl_entries(_body(src, m.start()))

    @staticmethod
    def _hcl_entries(body: str) -> dict[str, tuple[bool, str, str]]:
        return {
            m.group(1): (m.group(2) == "true", m.group(3), m.group(4))
            for m in _HCL_ENTRY.finditer(body)
        }

    def members(self, body: str) -> Iterator[tuple[str, dict[str, bool], str]]:
        marks = list(_MEMBER.finditer(body))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
            flags = {
                "computed": m.group(2) == "true",
                "optional": m.group(3) == "true",
                "required": m.group(4) == "true",
            }
            yield m.group(1), flags, body[m.end() : end]

    # -- structs -------------------------------------------------------------------------
    def struct_block(self, struct: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        """Schema block of a nested struct (its OutputReference class, else its ToHcl)."""
        cls = self.classes.get(struct + "OutputReference")
        hcl = self.hcl.get(struct, {})
        if struct in stack:  # a self-referencing struct: stop (validate sees a dynamic body)
            return {"attributes": {}, "block_types": {}}
        if cls is None:
            block: dict[str, Any] = {"attributes": {}, "block_types": {}}
            for name, (is_block, kind, storage) in hcl.items():
                if is_block:
                    nested = storage.removesuffix("List").removesuffix("OutputReference")
                    block["block_types"][name] = {
                        "nesting_mode": "set" if kind == "set" else "list",
                        "block": self.struct_block(nested, (*stack, struct)),
                    }
                else:
                    block["attributes"][name] = {
                        "type": _storage_type(kind, storage),
                        "optional": True,
                    }
            return block
        return self.class_block(cls[1], hcl, (*stack, struct))

    def struct_object_type(self, struct: str, stack: tuple[str, ...]) -> Any:
        if struct in stack:  # recursive types do not occur in these providers; stay safe
            return "dynamic"
        block = self.struct_block(struct, stack)
        attrs = {name: a["type"] for name, a in block["attributes"].items()}
        for name, nb in block["block_types"].items():
            obj = ["object", {n: a["type"] for n, a in nb["block"]["attributes"].items()}]
            attrs[name] = obj if nb["nesting_mode"] == "single" else ["list", obj]
        return ["object", attrs]

    # -- classes -----------------------------------------------------------------------
    def class_block(
        self, body: str, hcl: dict[str, tuple[bool, str, str]], stack: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        block: dict[str, Any] = {"attributes": {}, "block_types": {}}
        for name, flags, text in self.members(body):
            entry = hcl.get(name)
            is_block = bool(entry and entry[0])
            kind = entry[1] if entry else ""
            struct, shape = self._struct_ref(name, text)
            if struct is not None and is_block:
                nb: dict[str, Any] = {"block": self.struct_block(struct, stack)}
                if shape == "one" and kind == "struct":
                    nb["nesting_mode"] = "single"
                elif shape == "one":
                    nb.update(nesting_mode="list", max_items=1)
                else:
                    nb["nesting_mode"] = shape
                if flags["required"]:
                    nb["min_items"] = 1
                block["block_types"][name] = nb
                continue
            if struct is not None:
                obj = self.struct_object_type(struct, stack)
                if shape == "one":
                    typ: Any = obj if kind == "struct" else ["list", obj]
                elif shape == "map":
                    typ = ["map", obj]
                else:
                    typ = [shape, obj]
            elif entry and entry[2] in {"string", "number", "boolean"} | {
                p + s for p in ("string", "number", "boolean", "any") for s in ("List", "Map")
            }:
                typ = _storage_type(kind, entry[2])
            else:
                typ = self._getter_type(text)
            attr = {"type": typ}
            attr.update({k: True for k, v in flags.items() if v})
            block["attributes"][name] = attr
        return block

    @staticmethod
    def _struct_ref(name: str, text: str) -> tuple[str | None, str]:
        m = re.search(
            rf'new (\w+?)(List|OutputReference|Map)\(this, "{re.escape(name)}"(, (true|false))?',
            text,
        )
        if not m or m.group(1).startswith(("cdktf.", "cdktn.")):
            return None, ""
        if m.group(2) == "List":
            return m.group(1), "set" if m.group(4) == "true" else "list"
        return m.group(1), "one" if m.group(2) == "OutputReference" else "map"

    @staticmethod
    def _getter_type(text: str) -> Any:
        m = re.search(
            r"new cdkt[fn]\.(String|Number|Boolean|Any)Map(List)?\(this, \"\w+\"(, (true|false))?",
            text,
        )
        if m:
            elem = _PRIMS[m.group(1).lower()]
            if m.group(2):
                return ["set" if m.group(4) == "true" else "list", ["map", elem]]
            return ["map", elem]
        m = re.search(r"this\.(\w+)\(", text)
        if m and m.group(1) in _GETTERS:
            typ = _GETTERS[m.group(1)]
            if isinstance(typ, list) and typ[0] == "list" and "Fn.tolist" in text:
                return ["set", typ[1]]
            return typ
        m = re.search(r"private _\w+\??: ([^;]+);", text)  # provider config members
        if m:
            ts = (
                m.group(1)
                .replace(" | cdktf.IResolvable", "")
                .replace(" | cdktn.IResolvable", "")
                .strip()
            )
            if ts in _PRIMS:
                return _PRIMS[ts]
            if ts.endswith("[]") and ts[:-2] in _PRIMS:
                return ["list", _PRIMS[ts[:-2]]]
            m2 = re.fullmatch(r"\{ \[key: string\]: (\w+) \}", ts)
            if m2 and m2.group(1) in _PRIMS:
                return ["map", _PRIMS[m2.group(1)]]
        return "dynamic"

    def top_level(self) -> tuple[str, str, dict[str, Any]] | None:
        """(kind, type name, block) of the module's resource, data source or provider."""
        for base, body in self.classes.values():
            if base not in ("TerraformResource", "TerraformDataSource", "TerraformProvider"):
                continue
            tf_type = _TF_TYPE.search(body)
            if not tf_type:
                continue
            hcl = self._hcl_entries(body[body.find("synthesizeHclAttributes") :])
            if base == "TerraformProvider":
                # Provider members carry no flags comment per nested struct; blocks come
                # from the ToHcl entries of the provider config.
                block = self.class_block(body, hcl)
                for bname, (is_block, kind, storage) in hcl.items():
                    if is_block and bname not in block["block_types"]:
                        block["attributes"].pop(bname, None)
                        nested = storage.removesuffix("List")
                        block["block_types"][bname] = {
                            "nesting_mode": "set" if kind == "set" else "list",
                            "block": self.struct_block(nested),
                        }
                return "provider", tf_type.group(1), block
            kind = "resource" if base == "TerraformResource" else "data_source"
            return kind, tf_type.group(1), self.class_block(body, hcl)
        return None


def _sources(jsii_tgz: Path) -> Iterator[str]:
    with tarfile.open(jsii_tgz) as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith("/index.js")):
                continue
            if member.name.count("/") != 3:  # package/lib/<module>/index.js
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            m = _SOURCE_MAP.search(fh.read().decode("utf-8"))
            if m:
                yield json.loads(base64.b64decode(m.group(1)))["sourcesContent"][0]


def schema_from_jsii(jsii_tgz: Path) -> dict[str, Any]:
    """Provider schema (``terraform providers schema -json`` shape) from a jsii tarball."""
    out: dict[str, Any] = {
        "provider": None,
        "resource_schemas": {},
        "data_source_schemas": {},
        "version": None,
    }
    for src in _sources(jsii_tgz):
        if out["version"] is None:
            link = _VERSION_LINK.search(src)
            if link:
                out["source"] = f"{link.group(1)}/{link.group(2)}"
                out["version"] = link.group(3)
        top = _Module(src).top_level()
        if top is None:
            continue
        kind, name, block = top
        if kind == "provider":
            out["provider"] = {"version": 0, "block": block}
        else:
            out[f"{kind}_schemas"][name] = {"version": 0, "block": block}
    return out
