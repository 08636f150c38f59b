"""The local stack: emulators, Vertex stand-in, functions and the push relay.

    from devstack.stack import Stack, StackConfig
    with Stack(StackConfig.from_env(root=repo)) as stack:
        env = stack.env()          # what clients and functions need
        stack.restart("generate")  # fault tests
        stack.kill("generate", signal.SIGKILL)
        stack.start_component("generate")

Every component is a subprocess in its own session (process group), logging to
`<state_dir>/logs/<name>.log`; pids live in `<state_dir>/state.json` so `down` works from
another process. `down` SIGTERMs each group, SIGKILLs it after 5 s, and checks that no
member of the group (for example the emulators' java children) survives.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack import emulators, idtokens

REPO_ROOT = Path(__file__).resolve().parent.parent

EMULATORS = ("pubsub", "firestore", "storage")
FUNCTIONS = ("submit", "generate", "on_upload", "dead_letter", "deliver_webhooks", "studio")
# "tasks" stands in for Cloud Tasks (devstack/tasks_standin.py, issue 27; started with the
# emulators, before the functions it dispatches to), "relay" for the Pub/Sub push
# subscriptions, "uploads" for the Eventarc storage trigger of on_upload
# (devstack/upload_events.py), "scheduler" for Cloud Scheduler calling the sweep
# (devstack/scheduler.py; only with DEVSTACK_SWEEP_SECONDS > 0)
POLLERS = ("relay", "uploads", "scheduler")
ALL_COMPONENTS = (*EMULATORS, "vertex", "tasks", *FUNCTIONS, *POLLERS)

# component -> (port env var, default port)
PORTS: dict[str, tuple[str, int]] = {
    "submit": ("DEVSTACK_SUBMIT_PORT", 8681),
    "generate": ("DEVSTACK_GENERATE_PORT", 8682),
    "on_upload": ("DEVSTACK_ON_UPLOAD_PORT", 8683),
    "dead_letter": ("DEVSTACK_DEAD_LETTER_PORT", 8684),
    "deliver_webhooks": ("DEVSTACK_DELIVER_WEBHOOKS_PORT", 8687),
    "studio": ("DEVSTACK_STUDIO_PORT", 8688),  # issue 21: the studio page and its API
    "pubsub": ("DEVSTACK_PUBSUB_PORT", 8685),
    "firestore": ("DEVSTACK_FIRESTORE_PORT", 8686),
    "vertex": ("DEVSTACK_VERTEX_PORT", 8690),
    "tasks": ("DEVSTACK_TASKS_PORT", 8691),
    "storage": ("DEVSTACK_STORAGE_PORT", 9023),
}
SIGNATURES = {
    "submit": "http",
    "generate": "http",  # answers Cloud Tasks (issue 27)
    "on_upload": "cloudevent",
    "dead_letter": "cloudevent",
    "deliver_webhooks": "cloudevent",
    "studio": "http",
}


class StackError(RuntimeError):
    """The stack could not start (message names the component and what to do)."""


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError as err:
        raise StackError(f"{name}={raw!r} is not an integer") from err


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as err:
        raise StackError(f"{name}={raw!r} is not a number") from err


@dataclass
class StackConfig:
    root: Path = REPO_ROOT
    state_dir: Path = REPO_ROOT / ".devstack"
    host: str = "127.0.0.1"
    project: str = "imagegen-local"
    ports: dict[str, int] = field(default_factory=lambda: {k: v for k, (_, v) in PORTS.items()})
    outputs_bucket: str = "imagegen-outputs"
    uploads_bucket: str = "imagegen-uploads"
    jobs_topic: str = "jobs"
    tasks_location: str = "us-central1"
    tasks_queue: str = "imagegen-jobs"
    tasks_rate: float = 500.0  # dispatches a second of the local queue
    tasks_concurrency: int = 8  # tasks in flight at once (the relay's concurrency before)
    dead_letter_topic: str = "jobs-dead-letter"
    generate_subscription: str = "generate"
    dead_letter_subscription: str = "dead-letter"
    ack_deadline: int = 60
    max_delivery_attempts: int = 5
    retry_min_backoff: float = 1.0
    retry_max_backoff: float = 10.0
    lease_seconds: int = 30
    call_budget_seconds: int = 20
    startup_timeout: float = 60.0
    # the scheduler stand-in's interval (issue 29: batches move only when the sweep runs);
    # 0: not started (the test suites run the sweep themselves)
    sweep_seconds: float = 0.0
    components: tuple[str, ...] = ALL_COMPONENTS
    # relay targets overriding the local functions: subscription -> URL
    relay_urls: dict[str, str] = field(default_factory=dict)
    # the caller's environment, snapshotted: children inherit it (minus credentials)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    @classmethod
    def from_env(
        cls,
        root: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides,
    ) -> StackConfig:
        env = dict(os.environ if environ is None else environ)
        root_path = Path(root).resolve() if root is not None else REPO_ROOT
        ports = {name: _env_int(env, var, default) for name, (var, default) in PORTS.items()}
        max_attempts = _env_int(env, "DEVSTACK_MAX_DELIVERY_ATTEMPTS", 5)
        if not 5 <= max_attempts <= 100:  # Pub/Sub and its emulator both insist
            raise StackError(f"DEVSTACK_MAX_DELIVERY_ATTEMPTS={max_attempts}: must be 5..100")
        components = (
            tuple(c.strip() for c in env.get("DEVSTACK_COMPONENTS", "").split(",") if c.strip())
            or ALL_COMPONENTS
        )
        unknown = set(components) - set(ALL_COMPONENTS)
        if unknown:
            raise StackError(
                f"DEVSTACK_COMPONENTS: unknown {sorted(unknown)}; "
                f"known: {', '.join(ALL_COMPONENTS)}"
            )
        values = dict(
            root=root_path,
            state_dir=Path(env.get("DEVSTACK_STATE_DIR") or root_path / ".devstack").resolve(),
            host=env.get("DEVSTACK_HOST", "127.0.0.1"),
            project=env.get("DEVSTACK_PROJECT", "imagegen-local"),
            ports=ports,
            outputs_bucket=env.get("IMAGEGEN_OUTPUTS_BUCKET", "imagegen-outputs"),
            uploads_bucket=env.get("IMAGEGEN_UPLOADS_BUCKET", "imagegen-uploads"),
            ack_deadline=_env_int(env, "DEVSTACK_ACK_DEADLINE", 60),
            max_delivery_attempts=max_attempts,
            retry_min_backoff=_env_float(env, "DEVSTACK_RETRY_MIN_BACKOFF", 1.0),
            retry_max_backoff=_env_float(env, "DEVSTACK_RETRY_MAX_BACKOFF", 10.0),
            tasks_rate=_env_float(env, "DEVSTACK_TASKS_RATE", 500.0),
            tasks_concurrency=_env_int(env, "DEVSTACK_TASKS_CONCURRENCY", 8),
            lease_seconds=_env_int(env, "IMAGEGEN_LEASE_SECONDS", 30),
            call_budget_seconds=_env_int(env, "IMAGEGEN_CALL_BUDGET_SECONDS", 20),
            startup_timeout=_env_float(env, "DEVSTACK_STARTUP_TIMEOUT", 60.0),
            sweep_seconds=_env_float(env, "DEVSTACK_SWEEP_SECONDS", 0.0),
            components=components,
            relay_urls={
                sub: env[var]
                for sub, var in (
                    ("generate", "DEVSTACK_RELAY_GENERATE_URL"),
                    ("dead-letter", "DEVSTACK_RELAY_DEAD_LETTER_URL"),
                )
                if env.get(var)
            },
            environ=env,
        )
        values.update(overrides)
        return cls(**values)

    # -- addresses ----------------------------------------------------------------------
    def url(self, component: str) -> str:
        return f"http://{self.host}:{self.ports[component]}"

    def hostport(self, component: str) -> str:
        return f"{self.host}:{self.ports[component]}"


@dataclass
class Spec:
    name: str
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    health: Callable[[], bool]
    port: int | None


def _http_get(url: str, timeout: float = 1.0) -> tuple[int, bytes] | None:
    """(status, body) for any HTTP answer, None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (local)
            return resp.status, resp.read(512)
    except urllib.error.HTTPError as err:
        return err.code, b""
    except (urllib.error.URLError, OSError, ValueError):
        return None


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# -- process groups -------------------------------------------------------------------------


def proc_stats():
    """(pid, the fields of /proc/<pid>/stat after the command name) for every process:
    state, ppid, pgrp, ... (the name may hold spaces and parentheses, so split after it)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat[stat.rfind(")") + 2 :].split()


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids in process group pgid."""
    return [
        pid
        for pid, rest in proc_stats()
        if len(rest) >= 3 and rest[0] != "Z" and int(rest[2]) == pgid
    ]


def _proc_start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[19])


def stop_group(
    pgid: int,
    *,
    sig: int = signal.SIGTERM,
    grace: float = 5.0,
    popen: subprocess.Popen | None = None,
) -> bool:
    """Signal a process group, SIGKILL it after `grace` s; True when nothing is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if popen is not None:
            popen.poll()
        if not _group_members(pgid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if popen is not None:
            popen.poll()
        if not _group_members(pgid):
            return True
        time.sleep(0.05)
    return False


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class Stack:
    """Start, inspect and stop the local stack. See the module docstring."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig.from_env()
        self.state_dir = self.config.state_dir
        self.log_dir = self.state_dir / "logs"
        self.state_file = self.state_dir / "state.json"
        self._procs: dict[str, subprocess.Popen] = {}
        self._state: dict[str, dict] = {}
        self._lock = threading.RLock()
        self.owned = False  # True when this object started the processes
        self.timings: dict[str, float] = {}
        self._bulk = False  # down() in progress: do not rewrite state.json per component

    # -- environment --------------------------------------------------------------------
    def function_env(self) -> dict[str, str]:
        """What the functions (and clients) need to talk to the local stack."""
        c = self.config
        env = {k: v for k, v in c.environ.items() if k.startswith("IMAGEGEN_")}
        env.update(
            {
                "GOOGLE_CLOUD_PROJECT": c.project,
                "GCLOUD_PROJECT": c.project,
                "PUBSUB_EMULATOR_HOST": c.hostport("pubsub"),
                "PUBSUB_PROJECT_ID": c.project,
                "FIRESTORE_EMULATOR_HOST": c.hostport("firestore"),
                "STORAGE_EMULATOR_HOST": c.url("storage"),
                "IMAGEGEN_VERTEX_ENDPOINT": c.url("vertex"),
                "DEVSTACK_VERTEX_URL": c.url("vertex"),
                "IMAGEGEN_OUTPUTS_BUCKET": c.outputs_bucket,
                "IMAGEGEN_UPLOADS_BUCKET": c.uploads_bucket,
                "IMAGEGEN_REFERENCE_BUCKETS": env.get(
                    "IMAGEGEN_REFERENCE_BUCKETS", c.uploads_bucket
                ),
                "IMAGEGEN_TASKS_ENDPOINT": c.url("tasks"),
                "IMAGEGEN_TASKS_LOCATION": c.tasks_location,
                "IMAGEGEN_TASKS_QUEUE": c.tasks_queue,
                "IMAGEGEN_TASKS_TARGET_URL": c.url("generate") + "/",
                "IMAGEGEN_DEAD_LETTER_TOPIC": c.dead_letter_topic,
                "IMAGEGEN_SUBMIT_URL": c.url("submit"),
                "IMAGEGEN_API_URL": c.url("submit"),
                "IMAGEGEN_LEASE_SECONDS": str(c.lease_seconds),
                "IMAGEGEN_CALL_BUDGET_SECONDS": str(c.call_budget_seconds),
                "IMAGEGEN_MAX_ATTEMPTS": str(c.max_delivery_attempts),
                # Callers name themselves in a header (the existing tests), or send an ID
                # token minted by `python -m devstack token` (issue 28): verified as
                # deployed, against the stand-in's copy of Google's certs endpoint.
                "IMAGEGEN_TRUST_CALLER_HEADER": "1",
                "IMAGEGEN_AUTH_CERTS_URL": f"{c.url('vertex')}/oauth2/v1/certs",
                "DEVSTACK_ID_TOKEN_CERTS": str(idtokens.ensure_key(self.state_dir)),
                # the studio's local identity: the page names its user (no IAP here)
                "IMAGEGEN_STUDIO_LOCAL_IDENTITY": "1",
                # every function appends its finished spans here (functions/imagegen/tracing.py)
                "IMAGEGEN_TRACE_EXPORTER": env.get(
                    "IMAGEGEN_TRACE_EXPORTER", f"file:{self.state_dir / 'traces.jsonl'}"
                ),
                **self._results_env(),
            }
        )
        return env

    def _results_env(self) -> dict[str, str]:
        """Issue 16: signed URLs through the storage emulator (stand-in signer), the webhook
        secret, and webhooks to 127.0.0.1 over plain http (refused when deployed)."""
        c = self.config
        env = {
            "IMAGEGEN_URL_SIGNER": "local",
            "IMAGEGEN_SIGNED_URL_ENDPOINT": c.url("storage"),
            "IMAGEGEN_WEBHOOK_SECRET": emulators.webhook_secret(self.state_dir),
            "IMAGEGEN_WEBHOOK_ALLOW_HTTP": "1",
            "IMAGEGEN_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
            "IMAGEGEN_WEBHOOK_MIN_BACKOFF_SECONDS": "1",
            "IMAGEGEN_WEBHOOK_MAX_BACKOFF_SECONDS": "5",
        }
        return {k: c.environ.get(k, v) for k, v in env.items()}

    def env(self) -> dict[str, str]:
        """function_env() plus the URL of every component, for clients and tests."""
        c = self.config
        env = self.function_env()
        env.update(
            {
                "DEVSTACK_STATE_DIR": str(self.state_dir),
                "DEVSTACK_PUBSUB_URL": c.url("pubsub"),
                "DEVSTACK_FIRESTORE_URL": c.url("firestore"),
                "DEVSTACK_TASKS_URL": c.url("tasks"),
                "DEVSTACK_STORAGE_URL": c.url("storage"),
                "DEVSTACK_SUBMIT_URL": c.url("submit"),
                "DEVSTACK_STUDIO_URL": c.url("studio"),
                "DEVSTACK_GENERATE_URL": c.url("generate"),
                "DEVSTACK_ON_UPLOAD_URL": c.url("on_upload"),
                "DEVSTACK_DEAD_LETTER_URL": c.url("dead_letter"),
                "DEVSTACK_GENERATE_SUBSCRIPTION": c.generate_subscription,
                "DEVSTACK_DEAD_LETTER_SUBSCRIPTION": c.dead_letter_subscription,
            }
        )
        return env

    def _child_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(self.config.environ)
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        env.update(self.function_env())
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "CLOUDSDK_CORE_PROJECT": self.config.project,
                "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            }
        )
        # children run from the repo root; make `devstack` and `functions/` importable
        paths = [str(self.config.root), str(self.config.root / "functions")]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        if extra:
            env.update(extra)
        return env

    # -- component specs ----------------------------------------------------------------
    def spec(self, name: str) -> Spec:
        c = self.config
        py = sys.executable
        env = self._child_env()
        port = c.ports.get(name)
        if name == "pubsub":
            cmd = [
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={c.hostport('pubsub')}",
                f"--project={c.project}",
            ]
            return Spec(name, cmd, c.root, env, self._ok_health(c.url("pubsub") + "/"), port)
        if name == "firestore":
            cmd = [
                "gcloud",
                "emulators",
                "firestore",
                "start",
                f"--host-port={c.hostport('firestore')}",
            ]
            return Spec(name, cmd, c.root, env, self._ok_health(c.url("firestore") + "/"), port)
        if name == "storage":
            cmd = [
                py,
                "-m",
                "gcp_storage_emulator",
                "start",
                "--host",
                c.host,
                "--port",
                str(port),
                "--in-memory",
            ]
            url = f"{c.url('storage')}/storage/v1/b?project={c.project}"
            return Spec(name, cmd, c.root, env, self._status_health(url, {200}), port)
        if name == "vertex":
            cmd = [
                py,
                "-m",
                "devstack.vertex_standin",
                "--host",
                c.host,
                "--port",
                str(port),
                "--storage-endpoint",
                c.url("storage"),
            ]
            url = c.url("vertex") + "/_standin/health"
            return Spec(name, cmd, c.root, env, self._status_health(url, {200}), port)
        if name == "tasks":
            cmd = [py, "-m", "devstack.tasks_standin", "--host", c.host, "--port", str(port)]
            url = c.url("tasks") + "/_standin/health"
            return Spec(name, cmd, c.root, env, self._status_health(url, {200}), port)
        if name in FUNCTIONS:
            cmd = [
                py,
                "-m",
                "functions_framework",
                "--source",
                str(c.root / "functions" / "main.py"),
                "--target",
                name,
                "--signature-type",
                SIGNATURES[name],
                "--host",
                c.host,
                "--port",
                str(port),
            ]
            if name in ("submit", "studio"):
                health = self._status_health(c.url(name) + "/healthz", {200})
            else:
                health = self._status_health(c.url(name) + "/", None)
            return Spec(name, cmd, c.root, env, health, port)
        if name == "relay":
            cmd = [
                py,
                "-m",
                "devstack.relay",
                "--project",
                c.project,
                "--pubsub-host",
                c.hostport("pubsub"),
                *self._relay_routes(),
            ]
            extra = {
                "DEVSTACK_RETRY_MIN_BACKOFF": str(c.retry_min_backoff),
                "DEVSTACK_RETRY_MAX_BACKOFF": str(c.retry_max_backoff),
                "DEVSTACK_ACK_DEADLINE": str(c.ack_deadline),
            }
            env.update(extra)
            return Spec(name, cmd, c.root, env, lambda: True, None)
        if name == "uploads":
            cmd = [
                py,
                "-m",
                "devstack.upload_events",
                "--project",
                c.project,
                "--bucket",
                c.uploads_bucket,
                "--url",
                c.url("on_upload"),
            ]
            return Spec(name, cmd, c.root, env, lambda: True, None)
        if name == "scheduler":
            cmd = [py, "-m", "devstack.scheduler", "--every", str(c.sweep_seconds)]
            return Spec(name, cmd, c.root / "functions", env, lambda: True, None)
        raise StackError(f"unknown component {name!r}; known: {', '.join(ALL_COMPONENTS)}")

    def _relay_routes(self) -> list[str]:
        c = self.config
        # The topic in the URL path makes functions-framework put it in the CloudEvent
        # source (//pubsub.googleapis.com/projects/P/topics/T), as Eventarc does.
        targets = {
            c.generate_subscription: f"{c.url('generate')}/projects/{c.project}"
            f"/topics/{c.jobs_topic}",
            c.dead_letter_subscription: f"{c.url('dead_letter')}/projects/{c.project}"
            f"/topics/{c.dead_letter_topic}",
        }
        for sub, topic in emulators.WEBHOOK_ROUTES.items():
            targets[sub] = f"{c.url('deliver_webhooks')}/projects/{c.project}/topics/{topic}"
        targets.update(c.relay_urls)
        routes = []
        for sub, url in targets.items():
            routes += ["--route", f"{sub}={url}"]
        return routes

    @staticmethod
    def _ok_health(url: str) -> Callable[[], bool]:
        def check() -> bool:
            answer = _http_get(url)
            return answer is not None and answer[0] == 200 and answer[1].strip() == b"Ok"

        return check

    @staticmethod
    def _status_health(url: str, statuses: set[int] | None) -> Callable[[], bool]:
        def check() -> bool:
            answer = _http_get(url)
            return answer is not None and (statuses is None or answer[0] in statuses)

        return check

    # -- state file ---------------------------------------------------------------------
    def _save_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "config": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in asdict(self.config).items()
                if k != "environ"
            },
            "components": self._state,
            "env": self.env(),
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(self.state_file)

    def load_state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _alive(entry: Mapping) -> bool:
        pid = entry.get("pid")
        if not pid:
            return False
        if entry.get("start_time") is not None and _proc_start_time(pid) not in (
            None,
            entry["start_time"],
        ):
            return False  # pid recycled by an unrelated process
        return bool(_group_members(entry.get("pgid", pid)))

    # -- single components --------------------------------------------------------------
    def start_component(
        self, name: str, *, wait: bool = True, extra_env: Mapping[str, str] | None = None
    ) -> None:
        with self._lock:
            proc = self._procs.get(name)
            if proc is not None and proc.poll() is None:
                raise StackError(f"{name} is already running (pid {proc.pid})")
            spec = self.spec(name)
            if extra_env:
                spec.env.update(extra_env)
            # a process killed a moment ago may still hold its port briefly
            deadline = time.monotonic() + 10
            while (
                spec.port is not None
                and not port_free(self.config.host, spec.port)
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
            if spec.port is not None and not port_free(self.config.host, spec.port):
                var = PORTS[name][0]
                raise StackError(
                    f"{name}: port {spec.port} on {self.config.host} is in use; "
                    f"stop whatever holds it or set {var} to another port"
                )
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}.log"
            with open(log_path, "ab") as log_file:
                log_file.write(
                    f"\n--- {time.strftime('%F %T')} starting: {' '.join(spec.cmd)}\n".encode()
                )
                log_file.flush()
                try:
                    proc = subprocess.Popen(
                        spec.cmd,
                        cwd=spec.cwd,
                        env=spec.env,
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                except FileNotFoundError as err:
                    raise StackError(f"{name}: cannot run {spec.cmd[0]!r}: {err}") from err
            self._procs[name] = proc
            self._state[name] = {
                "pid": proc.pid,
                "pgid": proc.pid,
                "cmd": spec.cmd,
                "port": spec.port,
                "log": str(log_path),
                "start_time": _proc_start_time(proc.pid),
                "started_at": time.time(),
            }
            self.owned = True
            self._save_state()
        if wait:
            self.wait_healthy([name])

    def wait_healthy(self, names: Iterable[str], timeout: float | None = None) -> None:
        """Poll the health of `names` in parallel; raise naming the first that fails."""
        names = list(names)
        timeout = self.config.startup_timeout if timeout is None else timeout
        started = time.monotonic()
        deadline = started + timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                proc = self._procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise StackError(
                        f"{name} exited with code {proc.returncode} while starting; "
                        f"log {self.log_dir / (name + '.log')}:\n"
                        f"{_tail(self.log_dir / (name + '.log'))}"
                    )
                if self.spec(name).health():
                    pending.discard(name)
                    self.timings[name] = round(time.monotonic() - started, 2)
            if not pending:
                break
            if time.monotonic() > deadline:
                name = sorted(pending)[0]
                raise StackError(
                    f"{name} did not become healthy within {timeout:.0f}s "
                    f"(DEVSTACK_STARTUP_TIMEOUT); log {self.log_dir / (name + '.log')}:\n"
                    f"{_tail(self.log_dir / (name + '.log'))}"
                )
            time.sleep(0.1)

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Stop one component's whole process group (SIGKILL after 5 s if needed)."""
        with self._lock:
            entry = self._state.get(name) or self.load_state().get("components", {}).get(name)
            proc = self._procs.pop(name, None)
        if not entry:
            return
        if proc is not None or self._alive(entry):
            gone = stop_group(entry.get("pgid", entry["pid"]), sig=sig, popen=proc)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1)
            if not gone:
                raise StackError(f"{name}: process group {entry['pgid']} survived SIGKILL")
        with self._lock:
            self._state.pop(name, None)
            if not self._bulk and self.state_file.exists():
                self._save_state()

    def stop_component(self, name: str) -> None:
        self.kill(name, signal.SIGTERM)

    def restart(self, name: str) -> None:
        """Stop and start one component; for pubsub also recreate topics/subscriptions."""
        self.kill(name, signal.SIGTERM)
        self.start_component(name)
        if name == "pubsub":
            self._setup_pubsub()
        elif name == "tasks":
            self._setup_tasks()
        elif name == "storage":
            self._setup_storage()

    # -- setup --------------------------------------------------------------------------
    def _setup_pubsub(self) -> None:
        c = self.config
        common = dict(
            host=c.hostport("pubsub"),
            project=c.project,
            ack_deadline=c.ack_deadline,
            max_delivery_attempts=c.max_delivery_attempts,
            min_backoff=c.retry_min_backoff,
            max_backoff=c.retry_max_backoff,
        )
        emulators.setup_pubsub(
            jobs_topic=c.jobs_topic,
            dead_letter_topic=c.dead_letter_topic,
            generate_subscription=c.generate_subscription,
            dead_letter_subscription=c.dead_letter_subscription,
            **common,
        )
        emulators.setup_event_topics(**common)  # issue 16: job-events and webhooks

    def _setup_tasks(self) -> None:
        """The local queue, as terraform/tasks.tf makes a deployment's: dispatching to the
        local generate with the local stack's retry backoff."""
        c = self.config
        emulators.setup_tasks(
            endpoint=c.url("tasks"),
            project=c.project,
            location=c.tasks_location,
            queues={c.tasks_queue: c.tasks_rate},
            target=c.url("generate") + "/",
            concurrency=c.tasks_concurrency,
            min_backoff=c.retry_min_backoff,
            max_backoff=c.retry_max_backoff,
        )

    def _setup_storage(self) -> None:
        c = self.config
        emulators.setup_buckets(
            endpoint=c.url("storage"),
            project=c.project,
            buckets=[c.outputs_bucket, c.uploads_bucket],
        )

    # -- whole stack --------------------------------------------------------------------
    def status(self) -> dict[str, dict]:
        """Per component in state.json: pid, alive, healthy, port, log."""
        out = {}
        for name, entry in self.load_state().get("components", {}).items():
            alive = self._alive(entry)
            healthy = False
            if alive and name in ALL_COMPONENTS:
                try:
                    healthy = self.spec(name).health()
                except StackError:
                    healthy = False
            out[name] = {
                "pid": entry.get("pid"),
                "alive": alive,
                "healthy": healthy,
                "port": entry.get("port"),
                "log": entry.get("log"),
            }
        return out

    def _started_components(self) -> tuple[str, ...]:
        """The components `up` starts: all of them but the scheduler stand-in when its
        interval is 0 (the test suites run the sweep themselves). A running stack is
        adopted when these are healthy."""
        if self.config.sweep_seconds > 0:
            return ALL_COMPONENTS
        return tuple(n for n in ALL_COMPONENTS if n != "scheduler")

    def _adopt_existing(self) -> bool:
        """True when state.json describes a running, healthy stack (which is reused)."""
        state = self.load_state().get("components", {})
        if not state:
            return False
        status = self.status()
        alive = [n for n, s in status.items() if s["alive"]]
        if not alive:
            self.state_file.unlink(missing_ok=True)  # stale: nothing of it is running
            return False
        wanted = [n for n in self.config.components if n in self._started_components()]
        if all(status.get(n, {}).get("healthy") for n in wanted):
            self._state = dict(state)
            return True
        broken = sorted(n for n in wanted if not status.get(n, {}).get("healthy"))
        raise StackError(
            f"a stack from {self.state_file} is partly running (not healthy: "
            f"{', '.join(broken)}); run `python -m devstack down` first"
        )

    def up(self) -> dict[str, str]:
        """Start every configured component (or reuse a healthy running stack)."""
        c = self.config
        t0 = time.monotonic()
        if self._adopt_existing():
            return self.env()
        wanted = list(c.components)
        emulators.check_prerequisites(
            need_gcloud=bool({"pubsub", "firestore"} & set(wanted)),
            need_firestore="firestore" in wanted,
        )
        if "vertex" in wanted and not (c.root / "devstack" / "vertex_standin.py").exists():
            raise StackError(f"vertex: {c.root / 'devstack' / 'vertex_standin.py'} is missing")
        if any(f in wanted for f in FUNCTIONS) and not (c.root / "functions" / "main.py").exists():
            raise StackError(f"functions: {c.root / 'functions' / 'main.py'} is missing")
        busy = [
            (n, c.ports[n]) for n in wanted if n in c.ports and not port_free(c.host, c.ports[n])
        ]
        if busy:
            raise StackError(
                "ports in use: " + "; ".join(f"{n} port {p} (set {PORTS[n][0]})" for n, p in busy)
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            first = [n for n in (*EMULATORS, "vertex", "tasks") if n in wanted]
            for name in first:
                self.start_component(name, wait=False)
            self.wait_healthy(first)
            if "pubsub" in wanted:
                self._setup_pubsub()
            if "tasks" in wanted:
                self._setup_tasks()
            if "storage" in wanted:
                self._setup_storage()
            funcs = [n for n in FUNCTIONS if n in wanted]
            for name in funcs:
                self.start_component(name, wait=False)
            self.wait_healthy(funcs)
            pollers = [n for n in POLLERS if n in wanted and n in self._started_components()]
            for name in pollers:
                self.start_component(name, wait=False)
            time.sleep(0.3)
            self.wait_healthy(pollers)
        except BaseException:
            self.down(force=True)
            raise
        self.timings["total"] = round(time.monotonic() - t0, 2)
        self._save_state()
        return self.env()

    def down(self, *, force: bool = False) -> list[str]:
        """Stop every component in state.json (in reverse order). Returns the names stopped.

        A Stack that reused a stack started elsewhere leaves it running unless force=True.
        """
        if not self.owned and not force:
            return []
        state = self.load_state().get("components", {})
        names = list(dict.fromkeys([*self._state, *state]))
        order = [n for n in reversed(ALL_COMPONENTS) if n in names] + [
            n for n in names if n not in ALL_COMPONENTS
        ]
        for name in order:
            if name not in self._state and name in state:
                self._state[name] = state[name]
        # stop in parallel: emulators take a moment each
        errors: list[str] = []

        def stop(name: str) -> None:
            try:
                self.kill(name)
            except StackError as err:
                errors.append(str(err))

        self._bulk = True
        pollers = ("tasks", *POLLERS)
        for name in pollers:  # first, so they do not log errors while the rest stop
            if name in order:
                stop(name)
        threads = [threading.Thread(target=stop, args=(n,)) for n in order if n not in pollers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._bulk = False
        self.state_file.unlink(missing_ok=True)
        self.owned = False
        if errors:
            raise StackError("; ".join(errors))
        return order

    def __enter__(self) -> Stack:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()
