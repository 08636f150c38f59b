"""Shared fixture for the Terraform checks: every .tf file parsed once.

The Google provider cannot be downloaded offline, so these tests read the HCL
with python-hcl2 (import name ``hcl2``) and assert the deployment's invariants
structurally. Three parser dialects exist in the wild and all are accepted:

* python-hcl2 >= 8: strings and labels keep their quotes, blocks carry
  ``__is_block__`` and comments are reported;
* python-hcl2 4-7: bare values, blocks as lists of dicts;
* bc-python-hcl2 (checkov's fork, which installs the same ``hcl2`` module):
  every attribute value wrapped in a one-element list.

``normalize`` turns each into the 4-7 shape: attributes are bare values,
blocks are lists of dicts, strings carry no surrounding quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_DIR = REPO_ROOT / "terraform"  # the module
EXAMPLE_DIR = TF_DIR / "examples" / "deploy"  # the root cloudbuild.yaml applies


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _wraps_attributes(hcl2: Any) -> bool:
    """True for bc-python-hcl2, which returns ``a = "x"`` as ``{"a": ["x"]}``."""
    probe = hcl2.loads('a = "x"\n')
    return isinstance(probe.get("a"), list)


def normalize(node: Any, wrapped: bool) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key.startswith("__"):  # parser metadata: __is_block__, __start_line__, ...
                continue
            key = _unquote(key)
            if (
                wrapped
                and isinstance(value, list)
                and len(value) == 1
                and not isinstance(value[0], dict)
            ):
                value = value[0]  # unwrap an attribute; blocks stay lists of dicts
            out[key] = normalize(value, wrapped)
        return out
    if isinstance(node, list):
        return [normalize(item, wrapped) for item in node]
    if isinstance(node, str):
        return _unquote(node)
    return node


def as_map(value: Any) -> dict:
    """A map attribute (``x = { ... }``); the bc dialect returns it as ``[{...}]``."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    assert isinstance(value, dict), f"expected a map, got {value!r}"
    return value


def block(body: dict, name: str) -> dict | None:
    """The single nested block ``name`` of ``body`` (None when absent)."""
    blocks = body.get(name)
    if not blocks:
        return None
    if isinstance(blocks, dict):
        return blocks
    assert len(blocks) == 1, f"expected one {name} block, found {len(blocks)}"
    return blocks[0]


def blocks(body: dict, name: str) -> list[dict]:
    value = body.get(name) or []
    return [value] if isinstance(value, dict) else list(value)


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    body: dict
    file: str

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass
class TerraformConfig:
    files: dict[str, dict] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)
    data_sources: list[Resource] = field(default_factory=list)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform_blocks: list[dict] = field(default_factory=list)
    moved: list[dict] = field(default_factory=list)  # {"from": "${addr}", "to": "${addr}"}

    def of_type(self, rtype: str) -> list[Resource]:
        return [r for r in self.resources if r.type == rtype]

    def get(self, rtype: str, name: str) -> Resource:
        for r in self.resources:
            if r.type == rtype and r.name == name:
                return r
        raise AssertionError(f"{rtype}.{name} is not defined in terraform/")

    @property
    def all_text(self) -> str:
        return "\n".join(self.raw.values())


def _strip_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*(#|//).*$", "", text)


@pytest.fixture(scope="session")
def tf() -> TerraformConfig:
    try:
        import hcl2
    except ImportError:  # pragma: no cover - environment problem
        pytest.fail(
            "python-hcl2 is not installed (pip install python-hcl2); it parses terraform/*.tf"
        )
    wrapped = _wraps_attributes(hcl2)
    paths = sorted(TF_DIR.glob("*.tf"))
    assert paths, f"no .tf files in {TF_DIR}"
    cfg = TerraformConfig()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        cfg.raw[path.name] = text
        parsed = normalize(hcl2.loads(text), wrapped)
        cfg.files[path.name] = parsed
        for entry in parsed.get("resource", []):
            for rtype, named in entry.items():
                for rname, body in named.items():
                    cfg.resources.append(Resource(rtype, rname, body, path.name))
        for entry in parsed.get("data", []):
            for rtype, named in entry.items():
                for rname, body in named.items():
                    cfg.data_sources.append(Resource(rtype, rname, body, path.name))
        for entry in parsed.get("variable", []):
            cfg.variables.update(entry)
        for entry in parsed.get("output", []):
            cfg.outputs.update(entry)
        for entry in parsed.get("locals", []):
            cfg.locals.update(entry)
        cfg.terraform_blocks.extend(parsed.get("terraform", []))
        cfg.moved.extend(parsed.get("moved", []))
    return cfg


@pytest.fixture(scope="session")
def tf_text_without_comments(tf: TerraformConfig) -> str:
    return _strip_comments(tf.all_text)


# --- for_each resources, read per instance ------------------------------------------
# The functions (and the grants and subscriptions that follow them) are one resource
# with for_each over a map literal in locals. `instance` gives the body one instance
# gets: each.key / each.value.<attr> replaced by that entry's values (HCL expression
# text, as the parser returns it), dynamic blocks expanded into the blocks they make,
# and `local.<map>["key"]` lookups of map literals resolved. It reads; it does not
# evaluate Terraform (a value that is an expression stays that expression).

_WHOLE_REF = re.compile(r"\$\{(\w+)\.(key|value)(?:\.(\w+))?(\[\*\])?\}")
_INTERPOLATION = re.compile(r"\$\{(\w+)\.(key|value)(?:\.(\w+))?\}")
_PART_REF = re.compile(r"\b(\w+)\.(key|value)(?:\.(\w+))?")
_LOCAL_LOOKUP = re.compile(r'\$\{local\.(\w+)\["([^"]+)"\]\}')


def _expression(value: Any) -> str:
    """``value`` as HCL expression text, to splice into a larger expression."""
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return '"' + value.replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _lookup(scope: dict[str, tuple[Any, Any]], name: str, part: str, attr: str | None) -> Any:
    key, value = scope[name]
    if part == "key":
        return key
    if attr is None:
        return value
    if isinstance(value, str) and value.startswith("${"):  # a reference: its attribute
        return "${" + value[2:-1] + "." + attr + "}"
    assert isinstance(value, dict) and attr in value, f"{name}.value has no {attr}"
    return value[attr]


def _substitute(node: Any, scope: dict[str, tuple[Any, Any]], cfg: TerraformConfig) -> Any:
    if isinstance(node, list):
        return [_substitute(item, scope, cfg) for item in node]
    if isinstance(node, dict):
        out = {k: _substitute(v, scope, cfg) for k, v in node.items() if k != "dynamic"}
        for dynamic in node.get("dynamic", []):
            for name, spec in dynamic.items():
                items = _substitute(spec["for_each"], scope, cfg)
                pairs = items.items() if isinstance(items, dict) else enumerate(items or [])
                for k, v in pairs:
                    (content,) = spec["content"]
                    made = _substitute(content, {**scope, name: (k, v)}, cfg)
                    out.setdefault(name, []).append(made)
        return out
    if not isinstance(node, str):
        return node
    whole = _WHOLE_REF.fullmatch(node)
    if whole and whole.group(1) in scope:
        value = _lookup(scope, *whole.group(1, 2, 3))
        if whole.group(4):  # splat: null -> [], a value -> [value]
            return [] if value is None else value if isinstance(value, list) else [value]
        return _substitute(value, scope, cfg)

    def interpolate(m: re.Match) -> str:  # ${each.value.x} inside a template
        if m.group(1) not in scope:
            return m.group(0)
        value = _lookup(scope, *m.group(1, 2, 3))
        return value if isinstance(value, str) else "${" + _expression(value) + "}"

    def splice(m: re.Match) -> str:
        if m.group(1) not in scope:
            return m.group(0)
        return _expression(_lookup(scope, *m.group(1, 2, 3)))

    text = _INTERPOLATION.sub(interpolate, node)
    text = _PART_REF.sub(splice, text) if "${" in text else text
    text = re.sub(r'\$\{"([^"$]*)"\}', r"\1", text)  # a literal spliced into a template
    lookup = _LOCAL_LOOKUP.fullmatch(text)
    if lookup and isinstance(cfg.locals.get(lookup.group(1)), dict):
        return cfg.locals[lookup.group(1)][lookup.group(2)]
    return text


_FILTER = re.compile(
    r"\$\{\{for (\w+), (\w+) in local\.(\w+) : \1 => \2(?:\.(\w+))? if \2\.(\w+)( != null)?\}\}"
)


def for_each_map(cfg: TerraformConfig, resource: Resource, strict: bool = True) -> dict | None:
    """The map a resource's for_each gives: a map literal, ``local.<map>``, or
    ``{ for k, v in local.<map> : k => v[.attr] if v.<attr> [!= null] }`` (a flag that is
    an expression, e.g. ``var.signed_url_access``, counts as set: the instance may exist),
    or ``var.<flag> ? { k = expr, ... } : {}`` (the map when the flag is set).
    """
    expr = resource.body.get("for_each")
    if isinstance(expr, dict):
        return expr
    if m := re.fullmatch(r"\$\{local\.(\w+)\}", str(expr)):
        return as_map(cfg.locals[m.group(1)])
    if m := _FILTER.fullmatch(str(expr)):
        _, _, name, pick, present, _ = m.groups()
        entries = as_map(cfg.locals[name])
        return {
            k: v[pick] if pick else v
            for k, v in entries.items()
            if v[present] is not None and v[present] is not False
        }
    if m := re.fullmatch(r"\$\{var\.\w+ \? \{(.*)\} : \{\}\}", str(expr)):  # optional set
        pairs = (item.split(" = ", 1) for item in m.group(1).split(", "))
        return {k.strip('"'): "${" + v + "}" for k, v in pairs}
    assert not strict, f"{resource.address}: for_each {expr!r} is not a map this test reads"
    return None


def instance(cfg: TerraformConfig, rtype: str, rname: str, key: str, each: Any = None) -> dict:
    """The body of ``rtype.rname[key]`` with each.* replaced (see above).

    ``each``: the entry's value, by default read from the resource's for_each map.
    """
    resource = cfg.get(rtype, rname)
    if each is None:
        entries = for_each_map(cfg, resource)
        assert key in entries, f"{resource.address} has no instance [{key!r}]"
        each = entries[key]
    return _substitute(resource.body, {"each": (key, each)}, cfg)


def expanded(cfg: TerraformConfig, rtype: str) -> list[Resource]:
    """Every resource of ``rtype``, a for_each over a map read here as its instances
    (named ``name["key"]``); for_each over input (e.g. ``toset(var.x)``) stays one body."""
    out = []
    for r in cfg.of_type(rtype):
        keys = for_each_map(cfg, r, strict=False) if "for_each" in r.body else None
        if keys is None:
            out.append(r)
            continue
        for k in keys:
            out.append(
                Resource(r.type, f'{r.name}["{k}"]', instance(cfg, r.type, r.name, k), r.file)
            )
    return out
