"""The deployable source must carry what it needs: the Cloud Functions build installs only
functions/requirements.txt and sees only the functions/ folder."""

import ast
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"


def _requirements() -> dict[str, str]:
    lines = (FUNCTIONS / "requirements.txt").read_text().splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def test_requirements_txt_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        Requirement(d).name.lower(): str(Requirement(d).specifier) for d in project["dependencies"]
    }
    assert _requirements() == declared


def test_every_pin_is_exact():
    for name, spec in _requirements().items():
        assert spec.startswith("=="), f"{name} is not pinned: {spec!r}"


_DISTRIBUTION_OF = {
    "functions_framework": "functions-framework",
    "google": None,  # namespace: checked through the google.cloud.* distributions
    "pydantic": "pydantic",
    "PIL": "pillow",
    "flask": "functions-framework",  # comes with it
    "cloudevents": "functions-framework",
    "requests": "google-cloud-storage",
    # namespace package; tracing.py's exporter and propagator are listed beside the SDK
    "opentelemetry": "opentelemetry-sdk",
    "standardwebhooks": "standardwebhooks",
    "ijson": "ijson",
    "urllib3": "google-cloud-storage",  # through requests
    "cryptography": "google-cloud-storage",  # through google-auth (local URL signer only)
}


# The user-side client and CLI ship in the package but no function imports them; they
# need the `cli` extra (click, rich, requests), not the functions' requirements.
CLIENT_SIDE = {"cli.py", "cli_catalog.py", "client.py"}


def _imported_top_level_modules() -> set[str]:
    modules: set[str] = set()
    for path in FUNCTIONS.rglob("*.py"):
        if path.parent.name == "imagegen" and path.name in CLIENT_SIDE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def test_source_imports_only_what_it_ships():
    """Every third-party module the functions import comes with a listed requirement."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    third_party = _imported_top_level_modules() - stdlib - {"imagegen", "main"}
    unknown = {m for m in third_party if m not in _DISTRIBUTION_OF}
    assert not unknown, f"imported but not mapped to a requirement: {unknown}"
    required = set(_requirements())
    for module in third_party:
        dist = _DISTRIBUTION_OF[module]
        assert dist is None or dist in required, f"{module} needs {dist} in requirements.txt"


def test_functions_source_has_entry_points():
    tree = ast.parse((FUNCTIONS / "main.py").read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"submit", "generate", "on_upload", "dead_letter", "sweep"} <= names


def _modules_after(code: str) -> set[str]:
    import json
    import subprocess

    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=FUNCTIONS,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_submit_path_never_imports_the_vertex_client_or_the_cli():
    """Cold start: the HTTP function's import path stays free of the heavy Vertex SDK."""
    loaded = _modules_after("import main, imagegen.http_api, imagegen.services.submission")
    heavy = {m for m in loaded if m.startswith(("google.cloud.aiplatform", "vertexai"))}
    assert not heavy, sorted(heavy)[:5]
    assert not {"rich", "imagegen.cli", "imagegen.client"} & loaded  # click comes with flask
