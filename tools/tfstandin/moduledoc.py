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


# --- keeping the root example and the guide in step with the module ---------------------
VARIABLES_HEADER = (
    "# A copy of the module's variables.tf (terraform/variables.tf): this root passes each to\n"
    "# the module. tests/terraform/test_module_layout.py keeps the two equal; after changing\n"
    "# the module's, run `python -m tools.tfstandin moduledoc --sync` (rewrites this file,\n"
    "# main.tf, outputs.tf and the tables of docs/deploy.md).\n"
)
MAIN_HEADER = (
    "# The imagegen module (terraform/) with every input passed through: this root takes the\n"
    "# same variables as the module (variables.tf here is a copy of the module's, kept equal\n"
    "# by tests/terraform/test_module_layout.py), so a terraform.tfvars written for the module\n"
    "# works here unchanged.\n"
)


def _names(module: Path, kind: str) -> list[tuple[str, dict]]:
    import hcl2

    out = []
    for path in sorted(module.glob("*.tf")):
        for entry in hcl2.loads(path.read_text(encoding="utf-8")).get(kind, []):
            out += [(_unquote(name), body) for name, body in entry.items()]
    return out


def sync(module: Path, root: Path, guide: Path) -> list[Path]:
    """Rewrite the root's variables.tf, main.tf and outputs.tf and the guide's generated
    tables from the module; the files that changed."""
    from .deployer_roles import markdown as roles_table
    from .deployer_roles import project_roles

    names = [n for n, _ in _names(module, "variable")]
    width = max(len(n) for n in names)
    providers = ["google         = google", "google.billing = google.billing",
                 "google-beta    = google-beta"]  # fmt: skip
    main = [MAIN_HEADER, 'module "imagegen" {', '  source = "../.."', "", "  providers = {"]
    main += [f"    {p}" for p in providers] + ["  }", ""]
    main += [f"  {n.ljust(width)} = var.{n}" for n in names] + ["}", ""]
    outputs = [
        "# Every output of the module, under the same name (cloudbuild.yaml reads submit_url).",
        "",
    ]
    for name, body in _names(module, "output"):
        description = json.dumps(_unquote(body.get("description", "")))
        outputs += [f'output "{name}" {{', f"  description = {description}",
                    f"  value       = module.imagegen.{name}", "}", ""]  # fmt: skip
    doc = guide.read_text(encoding="utf-8")
    roles = ", ".join(f"`{r}`" for r in project_roles())
    io_section = f"<!-- module-io -->\n{markdown(module)}\n<!-- /module-io -->"
    doc = re.sub(r"(?s)<!-- module-io -->\n.*?\n<!-- /module-io -->", lambda _: io_section, doc)
    roles_section = (
        f"<!-- deployer-roles -->\n   {roles}\n\n{roles_table()}\n<!-- /deployer-roles -->"
    )
    doc = re.sub(
        r"(?s)<!-- deployer-roles -->.*?<!-- /deployer-roles -->", lambda _: roles_section, doc
    )
    wanted = {
        root / "variables.tf": VARIABLES_HEADER + (module / "variables.tf").read_text("utf-8"),
        root / "main.tf": "\n".join(main),
        root / "outputs.tf": "\n".join(outputs).rstrip("\n") + "\n",
        guide: doc,
    }  # fmt: skip
    changed = []
    for path, text in wanted.items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
