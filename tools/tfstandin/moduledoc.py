"""The table of a module's inputs and outputs for docs/deploy.md, generated from its
variables.tf and outputs.tf (the convention of terraform-google-modules: README tables
generated, not typed). tests/terraform/test_module_layout.py checks the doc holds exactly
this table.

    python -m tools.tfstandin moduledoc [MODULE_DIR]
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REQUIRED = "required"


def _unquote(text: Any) -> Any:
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def _expr(value: Any) -> str:
    """An HCL value as python-hcl2 returns it, back as short HCL-ish text."""
    if isinstance(value, str):
        value = _unquote(value)
        return value[2:-1] if value.startswith("${") and value.endswith("}") else json.dumps(value)
    if isinstance(value, dict):
        inner = ", ".join(
            f"{_unquote(k)} = {_expr(v)}" for k, v in value.items() if not k.startswith("__")
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_expr(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _first_sentence(text: str) -> str:
    text = _unquote(text).replace("|", "\\|")
    m = re.match(r"(.+?\.)(\s+[A-Z(`]|$)", text)
    return (m.group(1) if m else text).strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(module: Path) -> str:
    import hcl2  # python-hcl2: a dev dependency of the project (.venv)

    inputs = []
    for path in sorted(module.glob("*.tf")):
        for entry in hcl2.loads(path.read_text(encoding="utf-8")).get("variable", []):
            for name, body in entry.items():
                default = _expr(body["default"]) if "default" in body else REQUIRED
                rtype = str(_unquote(body.get("type", "")))
                rtype = rtype[2:-1] if rtype.startswith("${") else rtype
                inputs.append((_unquote(name), rtype, default,
                               _first_sentence(body.get("description", ""))))  # fmt: skip
    outputs = []
    for path in sorted(module.glob("*.tf")):
        for entry in hcl2.loads(path.read_text(encoding="utf-8")).get("output", []):
            for name, body in entry.items():
                outputs.append((_unquote(name), _first_sentence(body.get("description", ""))))
    lines = ["| input | type | default | description |", "|---|---|---|---|"]
    lines += [f"| `{n}` | `{_cell(t)}` | `{_cell(d)}` | {desc} |" for n, t, d, desc in inputs]
    lines += ["", "| output | description |", "|---|---|"]
    lines += [f"| `{n}` | {desc} |" for n, desc in outputs]
    return "\n".join(lines)
