"""Stand-in provider binaries and the Terraform environment that finds them.

Terraform is pointed at them with a CLI configuration holding
`provider_installation { dev_overrides { ... } }`, so nothing is read from the registry.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .catalog import Binding, lowest, newest, pick, required_providers

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO / ".venv-tools" / "tfschemas"


def cache_dir() -> Path:
    return Path(os.environ.get("TFSTANDIN_CACHE", DEFAULT_CACHE))


def schema_file(binding: Binding) -> Path:
    return cache_dir() / f"{binding.key}.pb"


def server_python() -> str:
    """The Python that runs the stand-in providers: it needs the `tf` package (its own
    environment, .venv-tools/standin; TFSTANDIN_PYTHON names it), not the caller's."""
    explicit = os.environ.get("TFSTANDIN_PYTHON")
    if explicit:
        return explicit
    default = REPO / ".venv-tools" / "standin" / "bin" / "python"
    return str(default) if default.exists() else sys.executable


def choose(source: str, constraint: str | None, versions: str) -> Binding:
    """The binding a run uses: ``constrained`` (the newest the constraint allows, what
    `terraform init` picks without a lock file), ``lowest`` (the oldest it allows) or
    ``newest`` (the newest known, whatever the constraint: what an upgrade meets)."""
    if versions == "newest":
        return newest(source)
    if versions == "lowest":
        return lowest(source, constraint)
    return pick(source, constraint)


def standin_env(
    tf_dir: Path, tmp: Path, versions: str = "constrained", fake_cloud: bool = False
) -> dict:
    """The environment that points Terraform at stand-in providers (built under ``tmp``).

    The providers are those of ``tf_dir``'s required_providers and of every module it calls
    from a local path. Raises SystemExit(2) when a schema is missing from the cache.
    """
    lines = []
    flag = " --fake-cloud" if fake_cloud else ""
    for name, (source, constraint) in sorted(required_providers(tf_dir).items()):
        binding = choose(source, constraint, versions)
        schema = schema_file(binding)
        if not schema.exists():
            print(
                f"tfstandin: no schema for {source} {binding.provider_version} in "
                f"{cache_dir()}; run `make tools` (python -m tools.tfstandin fetch)",
                file=sys.stderr,
            )
            raise SystemExit(2)
        bin_dir = tmp / name
        bin_dir.mkdir()
        exe = bin_dir / f"terraform-provider-{source.split('/')[-1]}"
        exe.write_text(
            "#!/bin/sh\n"
            f"PYTHONPATH='{REPO}' exec '{server_python()}' -m tools.tfstandin.server "
            f"'{schema}'{flag}\n"
        )
        exe.chmod(0o755)
        lines.append(f'    "{source}" = "{bin_dir}"')
        print(f"tfstandin: {name}: {source} {binding.provider_version} ({binding.key})")
    rc = tmp / "cli.tfrc"
    rc.write_text(
        "provider_installation {\n  dev_overrides {\n"
        + "\n".join(lines)
        + "\n  }\n  direct {}\n}\n"
    )
    return dict(
        os.environ,
        TF_CLI_CONFIG_FILE=str(rc),
        TF_DATA_DIR=str(tmp / "data"),
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
    )


def without_override_notice(text: str) -> str:
    """Drop Terraform's reminder that dev_overrides are active: here they are the point."""
    return re.sub(
        r"(?s)Warning: Provider development overrides are in effect.*?published\s+releases\.\n?",
        "",
        text,
    )
