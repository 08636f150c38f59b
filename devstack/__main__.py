"""`python -m devstack up|down|status|env|restart NAME|logs NAME` for the local stack."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from devstack import idtokens
from devstack.emulators import PrerequisiteError
from devstack.stack import ALL_COMPONENTS, Stack, StackConfig, StackError

# `up` starts the Cloud Scheduler stand-in (devstack/scheduler.py) at this interval unless
# DEVSTACK_SWEEP_SECONDS is set (0: off)
DEFAULT_SWEEP_SECONDS = 5.0


def _print_env(env: dict[str, str]) -> None:
    for key in sorted(env):
        print(f"export {key}={shlex.quote(env[key])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description="Run the imagegen local stack."
    )
    parser.add_argument("--root", default=None, help="repo root (default: this checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything and print the env vars clients need")
    sub.add_parser("down", help="stop exactly the processes `up` started")
    status = sub.add_parser("status", help="show each component's pid and health")
    status.add_argument("--json", action="store_true")
    sub.add_parser("env", help="print `export X=...` lines for the stack")
    restart = sub.add_parser("restart", help="restart one component")
    restart.add_argument("name", choices=ALL_COMPONENTS)
    logs = sub.add_parser("logs", help="print the tail of one component's log")
    logs.add_argument("name", choices=ALL_COMPONENTS)
    logs.add_argument("-n", type=int, default=50)
    token = sub.add_parser(
        "token", help="print an ID token for EMAIL, verified by the local API as deployed"
    )
    token.add_argument("email")
    token.add_argument("--audience", help="default: the local submit URL")
    token.add_argument("--expires-in", type=int, default=3600, help="seconds (default 3600)")
    args = parser.parse_args(argv)

    try:
        root = Path(args.root) if args.root else None
        config = StackConfig.from_env(root=root)
        if args.command == "up" and "DEVSTACK_SWEEP_SECONDS" not in os.environ:
            config.sweep_seconds = DEFAULT_SWEEP_SECONDS  # batches move, as when deployed
        stack = Stack(config)
        if args.command == "up":
            env = stack.up()
            took = stack.timings.get("total")
            note = f"started in {took:.1f}s" if took is not None else "already running (reused)"
            print(f"# imagegen local stack {note}; state in {stack.state_dir}", file=sys.stderr)
            print('# eval "$(python -m devstack env)" to use it from a shell', file=sys.stderr)
            if env.get("DEVSTACK_STUDIO_URL") and "studio" in stack.config.components:
                studio = env["DEVSTACK_STUDIO_URL"]
                print(f"# studio: {studio}/?user=you@example.com (local identity)", file=sys.stderr)
            _print_env(env)
        elif args.command == "down":
            stopped = stack.down(force=True)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        elif args.command == "status":
            status = stack.status()
            if args.json:
                print(json.dumps(status, indent=2))
            elif not status:
                print("not running")
            else:
                for name, s in status.items():
                    state = "healthy" if s["healthy"] else ("running" if s["alive"] else "DEAD")
                    port = s["port"] if s["port"] is not None else "-"
                    print(f"{name:12} {state:8} pid={s['pid']:<8} port={port:<6} {s['log']}")
            return 0 if status and all(s["alive"] for s in status.values()) else 1
        elif args.command == "env":
            state_env = stack.load_state().get("env")
            _print_env(state_env or stack.env())
        elif args.command == "restart":
            stack._state = dict(stack.load_state().get("components", {}))
            stack.restart(args.name)
            print(f"restarted {args.name}")
        elif args.command == "token":
            audience = args.audience or stack.config.url("submit")
            print(idtokens.mint(stack.state_dir, args.email, audience, args.expires_in))
        elif args.command == "logs":
            path = stack.log_dir / f"{args.name}.log"
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            print("\n".join(lines[-args.n :]))
    except (StackError, PrerequisiteError) as err:
        print(f"devstack: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
