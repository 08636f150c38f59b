"""Offline checks of what a schema cannot see: order, time and permission in a first deploy.

`terraform validate`, checkov and `replan` pass on a configuration whose first apply into an
empty project stops half-way (issue 32). Each check here covers one class of those failures
and reads a repository tree (``terraform/``, ``cloudbuild.yaml``, ``docs/deploy.md``): the
tests run every check on this tree (no problem) and on a copy of the tree before issue 32
(each reports its problem).

    python -m tools.tfstandin check [REPO]

- images: every container image a resource runs is an input that an earlier step of
  cloudbuild.yaml builds and pushes, or a public base image;
- roles: every resource type has a row in tools/tfstandin/deployer_roles.py, and the role
  lists of cloudbuild.yaml and docs/deploy.md are that table's roles;
- waits: every alert policy on a log-based metric of the configuration waits (a time_sleep)
  for the metric; every function, service and trigger that depends on a grant made in the
  same apply sits behind a propagation wait; a storage trigger's Eventarc agent is granted
  roles/eventarc.serviceAgent explicitly;
- providers: each provider's lower bound is a version whose schema `make validate` checks;
- lock: the root the pipeline applies has a committed .terraform.lock.hcl that covers every
  provider within its constraints, and the pipeline's `init` uses it (no -upgrade);
- studio build: the Dockerfile the pipeline builds has its inputs (dry check: no Docker
  engine is needed).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .catalog import local_modules, lower_bound, lowest, required_providers, satisfies
from .deployer_roles import NEEDS, markdown, project_roles

REF = re.compile(
    r"(?<![\w.])(data\.[a-z0-9_]+\.[\w-]+|(?:google|time|random|archive)_[a-z0-9_]+\.[\w-]+"
    r"|local\.\w+)"
)
FUNCTION_TYPES = {
    "google_cloudfunctions2_function",
    "google_cloud_run_v2_service",
    "google_eventarc_trigger",
}
PUBLIC_IMAGES = (
    re.compile(r"^(docker\.io/)?(library/)?(python|debian|ubuntu|alpine|busybox)(:|@|$)"),
    re.compile(r"^us-docker\.pkg\.dev/cloudrun/container/"),
    re.compile(r"^gcr\.io/distroless/"),
)


# --- reading a configuration -------------------------------------------------------------
@dataclass
class Config:
    """The resources and locals of a root and the local modules it calls (one namespace:
    imagegen's root passes through, so names do not collide)."""

    nodes: dict[str, str] = field(default_factory=dict)  # address -> body as JSON text
    bodies: dict[str, dict] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # address -> resource type

    def refs(self, address: str) -> set[str]:
        out = set()
        for m in REF.finditer(self.nodes.get(address, "")):
            ref = m.group(1)
            if ref.startswith("local."):
                out.add(ref)
            else:
                parts = ref.split(".")
                out.add(".".join(parts[:3] if ref.startswith("data.") else parts[:2]))
        return {r for r in out if r in self.nodes and r != address}

    def ancestors(self, address: str) -> set[str]:
        seen: set[str] = set()
        todo = [address]
        while todo:
            for ref in self.refs(todo.pop()):
                if ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
        return seen

    def of_type(self, *types: str) -> list[str]:
        return sorted(a for a, t in self.types.items() if t in types)


def _hcl(path: Path) -> dict:
    import hcl2  # python-hcl2: a dev dependency of the project (.venv)

    return hcl2.loads(path.read_text(encoding="utf-8"))


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def load(root: Path) -> Config:
    cfg = Config()
    for module in local_modules(root):
        for path in sorted(module.glob("*.tf")):
            parsed = _hcl(path)
            for kind, prefix in (("resource", ""), ("data", "data.")):
                for entry in parsed.get(kind, []):
                    for rtype, named in entry.items():
                        for rname, body in named.items():
                            address = f"{prefix}{_unquote(rtype)}.{_unquote(rname)}"
                            cfg.nodes[address] = json.dumps(body)
                            cfg.bodies[address] = body
                            cfg.types[address] = _unquote(rtype)
            for entry in parsed.get("locals", []):
                for name, value in entry.items():
                    cfg.nodes[f"local.{name}"] = json.dumps(value)
    return cfg


def pipeline(repo: Path) -> list[dict]:
    return yaml.safe_load((repo / "cloudbuild.yaml").read_text(encoding="utf-8"))["steps"]


def _script(step: dict) -> str:
    return " ".join(str(a) for a in step.get("args", []))


def applied_root(repo: Path) -> Path:
    """The directory cloudbuild.yaml's init step runs in (-chdir=...)."""
    for step in pipeline(repo):
        m = re.search(r"-chdir=(\S+)", _script(step))
        if step.get("id") == "init" and m:
            return repo / m.group(1)
    raise AssertionError("cloudbuild.yaml has no `init` step with -chdir=DIR")


# --- the checks ----------------------------------------------------------------------------
def _images(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if k == "image" and isinstance(v, str):
                out.append((path, v))
            else:
                out += _images(v, f"{path}.{k}")
        return out
    if isinstance(value, list):
        return [i for v in value for i in _images(v, path)]
    return []


def check_images(repo: Path) -> list[str]:
    """Every image a resource runs is built and pushed by a step before `plan`, or public."""
    problems = []
    steps = pipeline(repo)
    ids = [s.get("id") for s in steps]
    plan_at = ids.index("plan") if "plan" in ids else len(ids)
    cfg = load(applied_root(repo))
    for address in cfg.of_type(*FUNCTION_TYPES):
        for _, image in _images(cfg.bodies[address]):
            var = re.fullmatch(r"\$\{var\.(\w+)\}", image)
            if var is None:
                literal = re.sub(r"\$\{[^}]*\}", "X", image)
                if not any(p.match(literal) for p in PUBLIC_IMAGES):
                    problems.append(
                        f"{address} runs the image {image!r}, which no step of "
                        "cloudbuild.yaml builds before plan (and it is no public base image)"
                    )
                continue
            name = var.group(1)
            plan = _script(steps[plan_at]) if plan_at < len(steps) else ""
            fed = re.search(rf"{name}=\$\$?\(cat (/workspace/[\w./-]+)\)", plan)
            writers = [
                i
                for i, s in enumerate(steps[:plan_at])
                if fed and fed.group(1) in _script(s) and "push" in _script(s)
            ]
            if not fed or not writers:
                problems.append(
                    f"{address} runs var.{name}, but the plan step of cloudbuild.yaml does not "
                    f"set it from a file that an earlier step writes after pushing the image"
                )
    return problems


def _roles_in(text: str) -> set[str]:
    return set(re.findall(r"roles/[A-Za-z.]+[A-Za-z]", text))


def check_deployer_roles(repo: Path) -> list[str]:
    """Every resource type has a row in the table; cloudbuild.yaml and docs/deploy.md list
    exactly the table's project roles."""
    problems = []
    known = {n.what.split(" ")[0] for n in NEEDS}
    cfg = load(applied_root(repo))
    for rtype in sorted(set(t for a, t in cfg.types.items() if not a.startswith("data."))):
        if rtype not in known:
            problems.append(
                f"resource type {rtype} has no row in tools/tfstandin/deployer_roles.py "
                "(the permission that creates it and the role that grants it)"
            )
    wanted = set(project_roles())
    build = (repo / "cloudbuild.yaml").read_text(encoding="utf-8")
    header = build.split("substitutions:")[0]
    block = re.search(r"(?s)needs these project roles.*?(?=\n#\s*\n|\n[^#])", header)
    listed = _roles_in(block.group(0)) if block else set()
    if listed != wanted:
        problems.append(
            "cloudbuild.yaml's deployer roles differ from the table: missing "
            f"{sorted(wanted - listed)}, extra {sorted(listed - wanted)}"
        )
    doc = (repo / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = re.search(r"(?s)<!-- deployer-roles -->(.*?)<!-- /deployer-roles -->", doc)
    if section is None or markdown() not in section.group(1):
        problems.append(
            "docs/deploy.md has no up-to-date deployer role table between <!-- deployer-roles "
            "--> markers (python -m tools.tfstandin roles prints it)"
        )
    elif _roles_in(section.group(1).split("| creates |")[0]) != wanted:
        problems.append("docs/deploy.md's deployer role list differs from the table's roles")
    return problems


def _metric_of(cfg: Config, alert: str) -> list[str]:
    """The log-based metrics of this configuration an alert policy's conditions read."""
    text = cfg.nodes[alert]
    out = []
    for metric in cfg.of_type("google_logging_metric"):
        short = metric.split(".", 1)[1]
        named = re.search(
            rf"(metric_prefix\}}|logging\.googleapis\.com/user/[^/\"]*)/{short}\b", text
        )
        if named or (metric in cfg.refs(alert) and "metric.type" in text):
            out.append(metric)
    return out


def _behind_wait(cfg: Config, dependency: str, dependent: str) -> bool:
    sleeps = [s for s in cfg.of_type("time_sleep") if s in cfg.ancestors(dependent)]
    return any(dependency in cfg.ancestors(s) for s in sleeps)


def check_waits(repo: Path) -> list[str]:
    problems = []
    cfg = load(applied_root(repo))
    for alert in cfg.of_type("google_monitoring_alert_policy"):
        for metric in _metric_of(cfg, alert):
            if not _behind_wait(cfg, metric, alert):
                problems.append(
                    f"{alert} reads the log-based metric {metric} created in the same apply "
                    "without a time_sleep between them (Monitoring answers 404 for up to 10 min)"
                )
    grants = [a for a, t in cfg.types.items() if t.endswith(("_iam_member", "_iam_binding"))]
    for fn in cfg.of_type(*FUNCTION_TYPES):
        before = cfg.ancestors(fn)
        for grant in sorted(g for g in grants if g in before):
            if not _behind_wait(cfg, grant, fn):
                problems.append(
                    f"{fn} depends on the grant {grant} made in the same apply, with no "
                    "propagation wait (time_sleep) between them"
                )
        if re.search(r"\bevent_trigger\b", cfg.nodes[fn]):
            agent = [
                g
                for g in grants
                if "roles/eventarc.serviceAgent" in cfg.nodes[g] and _behind_wait(cfg, g, fn)
            ]
            if not agent:
                problems.append(
                    f"{fn} has an Eventarc trigger, but roles/eventarc.serviceAgent is not "
                    "granted to the Eventarc agent before it (behind a wait)"
                )
    return problems


def check_provider_bounds(repo: Path) -> list[str]:
    problems = []
    for name, (source, constraint) in sorted(required_providers(applied_root(repo)).items()):
        bound = lower_bound(constraint)
        try:
            checked = lowest(source, constraint).provider_version
        except LookupError as exc:
            problems.append(str(exc))
            continue
        if bound != checked:
            problems.append(
                f"{name} ({source}) {constraint!r} allows {bound or 'any version'}, older than "
                f"{checked}, the oldest schema `make validate` checks: raise the lower bound"
            )
    return problems


_LOCK = re.compile(r'(?s)provider "registry\.terraform\.io/([\w-]+/[\w-]+)" \{(.*?)\n\}')


def _ignored(repo: Path, relative: str) -> bool:
    ignore = repo / ".gitignore"
    if not ignore.exists():
        return False
    for line in ignore.read_text(encoding="utf-8").splitlines():
        pattern = line.strip().lstrip("/")
        if not pattern or pattern.startswith("#"):
            continue
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(
            relative, pattern.replace("**/", "")
        ):
            return True
    return False


def check_lock_file(repo: Path) -> list[str]:
    root = applied_root(repo)
    lock = root / ".terraform.lock.hcl"
    relative = str(lock.relative_to(repo))
    if not lock.exists():
        return [f"{relative} is missing: every CI run resolves the providers afresh"]
    problems = []
    if _ignored(repo, relative):
        problems.append(f"{relative} is ignored by .gitignore: it would not be committed")
    locked = {m.group(1): m.group(2) for m in _LOCK.finditer(lock.read_text(encoding="utf-8"))}
    for source, constraint in sorted(required_providers(root).values()):
        body = locked.get(source)
        version = re.search(r'version\s*=\s*"([^"]+)"', body or "")
        if body is None or version is None:
            problems.append(f"{relative} does not lock {source}")
            continue
        if constraint and not satisfies(version.group(1), constraint):
            problems.append(f"{relative} locks {source} {version.group(1)}, outside {constraint}")
        if not re.search(r'"(zh|h1):', body):
            problems.append(f"{relative} has no checksum for {source}")
    for step in pipeline(repo):
        if step.get("id") == "init" and "-upgrade" in _script(step):
            problems.append("cloudbuild.yaml's init step passes -upgrade: the lock is ignored")
    return problems


def check_studio_build(repo: Path) -> list[str]:
    """The Dockerfile a pipeline step builds: public base, the functions' Python, every
    COPY source in the build context, an entry point main.py defines."""
    builds = [
        (step, line)
        for step in pipeline(repo)
        for line in _script(step).splitlines()
        if re.search(r"\bdocker build\b.*\s-f\s", line)
    ]
    if not builds:
        return ["no step of cloudbuild.yaml builds a container image (docker build -f ...)"]
    problems = []
    for step, line in builds:
        words = shlex.split(line.replace("$$", "$"))
        dockerfile = repo / words[words.index("-f") + 1]
        context = repo / words[-1]
        if not dockerfile.exists():
            problems.append(f"{dockerfile.name} (built by step {step.get('id')}) is missing")
            continue
        text = dockerfile.read_text(encoding="utf-8")
        base = re.search(r"(?m)^FROM\s+(\S+)", text)
        if not base or not any(p.match(base.group(1)) for p in PUBLIC_IMAGES):
            problems.append(f"{dockerfile.name}: FROM {base and base.group(1)} is no public base")
        runtime = load(applied_root(repo)).nodes.get("local.runtime", "")
        want = re.search(r"python(\d)(\d+)", runtime)
        if base and want and f"python:{want.group(1)}.{want.group(2)}" not in base.group(1):
            problems.append(
                f"{dockerfile.name}: FROM {base.group(1)} is not the functions' runtime "
                f"({want.group(0)})"
            )
        for m in re.finditer(r"(?m)^COPY\s+(.+?)\s+\S+\s*$", text):
            for source in m.group(1).split():
                if not (context / source).exists():
                    problems.append(f"{dockerfile.name}: COPY {source}: not in {context.name}/")
        target = re.search(r"--target[= ](\w+)", text)
        main = context / "main.py"
        if not target or not main.exists() or f"def {target.group(1)}(" not in main.read_text():
            problems.append(f"{dockerfile.name}: its --target is no function of main.py")
        requirements = context / "requirements.txt"
        if not requirements.exists() or "functions-framework" not in requirements.read_text():
            problems.append(f"{dockerfile.name}: requirements.txt lacks functions-framework")
    return problems


CHECKS = {
    "images": check_images,
    "roles": check_deployer_roles,
    "waits": check_waits,
    "providers": check_provider_bounds,
    "lock": check_lock_file,
    "studio-build": check_studio_build,
}


def run(repo: Path) -> dict[str, list[str]]:
    return {name: check(repo) for name, check in CHECKS.items()}
