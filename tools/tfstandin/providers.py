"""Stand-in provider binaries and the Terraform environment that finds them.

Terraform is pointed at them with a CLI configuration holding
`provider_installation { dev_overrides { ... } }`, so nothing is read from the registry.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .catalog import Binding, newest, pick, required_providers

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = REPO / ".venv-tools" / "tfschemas"


def cache_dir() -> Path:
    return Path(os.environ.get("TFSTANDIN_CACHE", DEFAULT_CACHE))


def schema_file(binding: Binding) -> Path:
    return cache_dir() / f"{binding.key}.pb"


def standin_env(tf_dir: Path, tmp: Path, use_newest: bool, fake_cloud: bool = False) -> dict:
    """The environment that points Terraform at stand-in providers (built under ``tmp``).

    Raises SystemExit(2) when a schema is missing from the cache.
    """
    lines = []
    flag = " --fake-cloud" if fake_cloud else ""
    for name, (source, constraint) in sorted(required_providers(tf_dir).items()):
        binding = newest(source) if use_newest else pick(source, constraint)
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
            f"PYTHONPATH='{REPO}' exec '{sys.executable}' -m tools.tfstandin.server "
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
