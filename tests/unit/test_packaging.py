"""The deployable source must carry what it needs: the Cloud Functions build installs only
functions/requirements.txt and sees only the functions/ folder. And only that: the user
side (the CLI and the Python client, package imagegen_client in client/) lives outside it,
with its own optional dependencies (the `cli` extra), and imports nothing from the server."""

import ast
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
CLIENT = ROOT / "client" / "imagegen_client"


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
    "pydantic_core": "pydantic",  # comes with it
    "pydantic_settings": "pydantic-settings",
    "PIL": "pillow",
    "flask": "functions-framework",  # comes with it
    "werkzeug": "functions-framework",  # through flask (http_api routes with it)
    "cloudevents": "functions-framework",
    "requests": "google-cloud-storage",
    # namespace package; tracing.py's exporter and propagator are listed beside the SDK
    "opentelemetry": "opentelemetry-sdk",
    "standardwebhooks": "standardwebhooks",
    "ijson": "ijson",
    "c2pa": "c2pa-python",
    "urllib3": "google-cloud-storage",  # through requests
    "cryptography": "google-cloud-storage",  # through google-auth (local URL signer only)
}


def _imported_top_level_modules(folder: Path = FUNCTIONS) -> set[str]:
    modules: set[str] = set()
    for path in folder.rglob("*.py"):
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


def _modules_after(code: str, cwd: Path = FUNCTIONS) -> set[str]:
    import json
    import subprocess

    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=cwd,
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
    assert not {m for m in loaded if m == "rich" or m.startswith("imagegen_client")}
    # (click comes with flask)


# The CLI and the client, which the deploy archive (a zip of functions/) must not carry.
CLIENT_SIDE_NAMES = ("cli", "cli_catalog", "client", "imagegen_client")


def test_functions_folder_holds_no_cli_or_client_code():
    """Nothing in the deploy unit is the user side, or imports it or its rich output."""
    found = [
        str(path.relative_to(FUNCTIONS))
        for path in FUNCTIONS.rglob("*")
        if path.stem in CLIENT_SIDE_NAMES and "__pycache__" not in path.parts
    ]
    assert not found, f"user-side code in the deploy unit: {found}"
    assert not {"imagegen_client", "rich"} & _imported_top_level_modules(FUNCTIONS)


def test_client_package_imports_no_server_module():
    """The client and CLI import nothing from `imagegen` (the server), read statically..."""
    assert CLIENT.is_dir()
    assert "imagegen" not in _imported_top_level_modules(CLIENT)


def test_client_and_cli_load_no_server_module(tmp_path):
    """...and at run time: importing every user-side module loads no `imagegen` module; the
    library alone loads none of the CLI's libraries either."""
    cli_modules = sorted(
        ".".join(path.relative_to(CLIENT.parent).with_suffix("").parts)
        for path in (CLIENT / "cli").rglob("*.py")
        if path.stem not in ("__init__", "__main__")
    )
    assert "imagegen_client.cli.app" in cli_modules
    loaded = _modules_after(f"import {', '.join(cli_modules)}", cwd=tmp_path)
    assert "imagegen_client.cli.commands.jobs" in loaded  # the probe did import them
    server = {m for m in loaded if m == "imagegen" or m.startswith("imagegen.")}
    assert not server, sorted(server)

    library = _modules_after("import imagegen_client.client", cwd=tmp_path)
    assert "imagegen_client.client" in library
    assert not {m.split(".")[0] for m in library} & {"imagegen", "click", "rich", "PIL"}


# The distribution each top-level module the user side imports comes from.
_CLIENT_DISTRIBUTION_OF = {
    "click": "click",
    "rich": "rich",
    "requests": "requests",
    "PIL": "pillow",
    "standardwebhooks": "standardwebhooks",
    # google.oauth2 (a token from ADC) and google.cloud.storage (a gs:// read without a
    # signed URL) are imported only when needed; they come with the server's dependencies
    # (google-cloud-storage) and are documented in docs/cli.md as optional.
    "google": None,
}


def test_cli_extra_covers_what_the_client_imports():
    """The `cli` extra is the user side's own dependency list: every third-party module it
    imports comes with a distribution listed there."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    listed = {Requirement(d).name.lower() for d in extras["cli"]}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    third_party = _imported_top_level_modules(CLIENT) - stdlib - {"imagegen_client"}
    unknown = third_party - set(_CLIENT_DISTRIBUTION_OF)
    assert not unknown, f"imported by the client but not mapped to a distribution: {unknown}"
    for module in third_party:
        dist = _CLIENT_DISTRIBUTION_OF[module]
        assert dist is None or dist in listed, f"{module} needs {dist} in the cli extra"
