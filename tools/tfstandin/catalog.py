"""Which prebuilt binding carries which provider version, and which one a constraint picks.

Each entry was read from the wheel's own description ("prebuilt bindings for
hashicorp/google provider version 6.50.0") and is checked again when the schema is
extracted (the registry links inside the generated code name the provider version).
HashiCorp stopped publishing `cdktf-cdktf-provider-*` at google 6.50.0 (Dec 2025); CDK
Terrain (`cdktn-provider-*`) continues them for google 7.x and 8.x.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Binding:
    package: str  # PyPI distribution
    package_version: str
    provider_version: str  # hashicorp/<name> version the schema comes from

    @property
    def key(self) -> str:
        return f"{self.package}-{self.package_version}"


# Oldest first; one entry per provider major (the newest binding of that major).
BINDINGS: dict[str, list[Binding]] = {
    "hashicorp/google": [
        Binding("cdktf-cdktf-provider-google", "16.12.1", "6.50.0"),
        Binding("cdktn-provider-google", "20.3.1", "7.46.1"),
        Binding("cdktn-provider-google", "21.1.0", "8.7.0"),
    ],
    "hashicorp/google-beta": [
        Binding("cdktf-cdktf-provider-google-beta", "16.12.1", "6.50.0"),
        Binding("cdktn-provider-google-beta", "20.3.1", "7.46.1"),
        Binding("cdktn-provider-google-beta", "21.1.0", "8.7.0"),
    ],
    "hashicorp/random": [
        Binding("cdktf-cdktf-provider-random", "12.0.1", "3.7.2"),
        Binding("cdktn-provider-random", "15.0.1", "3.9.1"),
    ],
    "hashicorp/archive": [
        Binding("cdktf-cdktf-provider-archive", "11.0.1", "2.7.1"),
        Binding("cdktn-provider-archive", "14.0.1", "2.8.1"),
    ],
    "hashicorp/time": [
        Binding("cdktf-cdktf-provider-time", "11.0.1", "0.13.1"),
        Binding("cdktn-provider-time", "14.0.2", "0.14.2"),
    ],
}


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.strip().split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def satisfies(version: str, constraint: str) -> bool:
    """Terraform version constraint check (=, !=, >, >=, <, <=, ~>), comma = and."""
    v = _version(version)
    for clause in filter(None, (c.strip() for c in constraint.split(","))):
        m = re.fullmatch(r"(=|!=|>=|<=|>|<|~>)?\s*v?([0-9.]+)", clause)
        if not m:
            raise ValueError(f"unsupported version constraint {clause!r}")
        op, ref_text = m.group(1) or "=", m.group(2)
        ref = _version(ref_text)
        if op == "~>":
            # ~> 2.4 allows >= 2.4, < 3.0; ~> 2.4.1 allows >= 2.4.1, < 2.5.0.
            n = len(ref_text.split("."))
            upper = (*ref[: max(n - 2, 0)], ref[max(n - 2, 0)] + 1) if n > 1 else (ref[0] + 1,)
            ok = v >= ref and v[: len(upper)] < upper
        else:
            ok = {
                "=": v == ref,
                "!=": v != ref,
                ">": v > ref,
                ">=": v >= ref,
                "<": v < ref,
                "<=": v <= ref,
            }[op]
        if not ok:
            return False
    return True


def pick(source: str, constraint: str | None) -> Binding:
    """The newest binding of `source` whose provider version meets `constraint`."""
    known = BINDINGS.get(source)
    if not known:
        raise LookupError(f"no prebuilt schema binding is known for {source}")
    matching = [b for b in known if constraint is None or satisfies(b.provider_version, constraint)]
    if not matching:
        versions = ", ".join(b.provider_version for b in known)
        raise LookupError(f"{source} {constraint}: no known binding matches (have {versions})")
    return matching[-1]


def newest(source: str) -> Binding:
    return pick(source, None)


def lowest(source: str, constraint: str | None) -> Binding:
    """The oldest binding of `source` whose provider version meets `constraint`."""
    pick(source, constraint)  # the same errors when none matches
    return next(
        b
        for b in BINDINGS[source]
        if constraint is None or satisfies(b.provider_version, constraint)
    )


def lower_bound(constraint: str | None) -> str | None:
    """The smallest version a constraint admits when it names one (``>= X`` / ``~> X`` /
    ``= X``), else None (no lower bound: any old version is allowed)."""
    for clause in filter(None, (c.strip() for c in (constraint or "").split(","))):
        m = re.fullmatch(r"(>=|~>|=)?\s*v?([0-9.]+)", clause)
        if m:
            return ".".join([*m.group(2).split("."), "0", "0"][:3])
    return None


_BLOCK = re.compile(r"required_providers\s*\{")
_ENTRY = re.compile(r"([A-Za-z][\w-]*)\s*=\s*\{([^{}]*)\}")
_MODULE_SOURCE = re.compile(r'(?s)module\s+"[^"]+"\s*\{[^}]*?source\s*=\s*"(\.{1,2}/[^"]*)"')


def _text(path: Path) -> str:
    return re.sub(r"(?m)(#|//).*$", "", path.read_text(encoding="utf-8"))


def local_modules(tf_dir: Path) -> list[Path]:
    """``tf_dir`` and every module it calls from a local path (``./x``, ``../x``), deep."""
    seen: list[Path] = []
    todo = [tf_dir.resolve()]
    while todo:
        here = todo.pop()
        if here in seen:
            continue
        seen.append(here)
        for path in sorted(here.glob("*.tf")):
            todo += [(here / m.group(1)).resolve() for m in _MODULE_SOURCE.finditer(_text(path))]
    return seen


def required_providers(tf_dir: Path) -> dict[str, tuple[str, str | None]]:
    """local name -> (source, version constraint) from the terraform blocks of ``tf_dir``
    and of the local modules it calls (their constraints joined, as Terraform does)."""
    found: dict[str, tuple[str, str | None]] = {}
    for module in local_modules(tf_dir):
        for path in sorted(module.glob("*.tf")):
            text = _text(path)
            for m in _BLOCK.finditer(text):
                depth, end = 1, m.end()
                while depth and end < len(text):
                    depth += {"{": 1, "}": -1}.get(text[end], 0)
                    end += 1
                for entry in _ENTRY.finditer(text[m.end() : end - 1]):
                    body = entry.group(2)
                    source = re.search(r'source\s*=\s*"([^"]+)"', body)
                    version = re.search(r'version\s*=\s*"([^"]+)"', body)
                    name = entry.group(1)
                    src = source.group(1) if source else f"hashicorp/{name}"
                    constraint = version.group(1) if version else None
                    if name in found and found[name][1] and constraint:
                        if constraint not in found[name][1]:
                            constraint = f"{found[name][1]}, {constraint}"
                    elif name in found and found[name][1]:
                        constraint = found[name][1]
                    found[name] = (src, constraint)
    return found
