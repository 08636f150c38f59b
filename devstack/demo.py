"""`python -m devstack.demo` (what `make demo` runs): the whole path, driven by the CLI.

Starts the local stack (or reuses one already running from the same state dir), submits
three jobs with the `imagegen` CLI — Imagen 4 at 16:9, Gemini 2.5 Flash Image at 1:1 and
Gemini 3 Pro Image at 4K — and a fourth by dropping a request file in the uploads bucket,
waits for them, downloads the images into ./out/<job id>/,
prints a summary table, writes ./out/sheet.png (a contact sheet) and stops the stack again,
also on an error or Ctrl-C. The images come from the local Vertex stand-in: placeholders.

Ports and the state dir follow the stack's variables (DEVSTACK_SUBMIT_PORT, ...,
DEVSTACK_STATE_DIR); `--out DIR` changes the output directory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

JOBS: list[dict[str, str]] = [
    {
        "model": "imagen-4.0-generate-001",
        "aspect_ratio": "16:9",
        "prompt": "a lighthouse on a basalt cliff at dusk, long exposure, waves in motion",
    },
    {
        "model": "gemini-2.5-flash-image",
        "aspect_ratio": "1:1",
        "prompt": "a ceramic teapot shaped like a snail, studio product shot, soft light",
    },
    {
        "model": "gemini-3-pro-image-preview",
        "aspect_ratio": "1:1",
        "size": "4K",
        "prompt": "an isometric map of a small harbour town, hand-drawn, labelled streets",
    },
]


class DemoError(RuntimeError):
    pass


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


class Demo:
    def __init__(self, env: dict[str, str], out: Path) -> None:
        self.env = env
        self.out = out

    def imagegen(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
        """Run the real CLI (`python -m imagegen.cli`) against the local stack."""
        command = [sys.executable, "-m", "imagegen.cli", *args]
        shown = " ".join(a if " " not in a else repr(a) for a in args)
        print(f"$ imagegen {shown}", flush=True)
        return subprocess.run(
            command,
            env=self.env,
            text=True,
            capture_output=capture,
            check=False,
            timeout=900,
        )

    def submit(self, job: dict[str, str]) -> str:
        args = [
            "--json",
            "generate",
            job["prompt"],
            "--model",
            job["model"],
            "--aspect-ratio",
            job["aspect_ratio"],
            "--no-wait",
        ]
        if job.get("size"):
            args += ["--size", job["size"]]
        proc = self.imagegen(*args, capture=True)
        if proc.returncode != 0:
            raise DemoError(
                f"generate failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        body = json.loads(proc.stdout)
        print(f"  submitted {body['id']}  {body['model']} @ {body['region']}", flush=True)
        return str(body["id"])

    def fetch(self, job_id: str) -> int:
        proc = self.imagegen(
            "get", job_id, "--wait", "--timeout", "300", "--out", str(self.out / job_id)
        )
        return proc.returncode

    def status(self, job_id: str) -> dict[str, Any]:
        proc = self.imagegen("--json", "status", job_id, capture=True)
        if proc.returncode != 0:
            raise DemoError(f"status {job_id} failed (exit {proc.returncode}): {proc.stderr}")
        return json.loads(proc.stdout)

    def upload(self, prompt: str) -> str:
        """The third entry point: drop a request file in the uploads bucket and read the
        answer the on_upload function writes under results/ in the outputs bucket."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(
            project=self.env["GOOGLE_CLOUD_PROJECT"],
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.env["STORAGE_EMULATOR_HOST"]},
        )
        name = f"requests/demo-{int(time.time())}.json"
        body = {"prompt": prompt, "model": "gemini-2.5-flash-image", "aspect_ratio": "16:9"}
        uploads = self.env["IMAGEGEN_UPLOADS_BUCKET"]
        client.bucket(uploads).blob(name).upload_from_string(
            json.dumps(body), content_type="application/json"
        )
        print(f"$ upload gs://{uploads}/{name}", flush=True)
        answer_name = f"results/{name}"  # requests/x.json answers at results/requests/x.json
        answer = client.bucket(self.env["IMAGEGEN_OUTPUTS_BUCKET"]).blob(answer_name)
        deadline = time.monotonic() + 60
        while not answer.exists():
            if time.monotonic() > deadline:
                raise DemoError(f"no answer for the upload {name} after 60 s")
            time.sleep(0.3)
        reply = json.loads(answer.download_as_bytes())
        if "job_id" not in reply:
            raise DemoError(f"the upload was refused: {reply}")
        print(f"  answered {reply['job_id']}  ({answer_name})", flush=True)
        return str(reply["job_id"])

    def sheet(self, job_ids: list[str]) -> int:
        return self.imagegen("sheet", *job_ids, "--out", str(self.out / "sheet.png")).returncode


def _seconds(job: dict[str, Any]) -> str:
    import datetime as dt

    try:
        a = dt.datetime.fromisoformat(str(job["created_at"]).replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(str(job["finished_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return "-"
    return f"{(b - a).total_seconds():.1f}"


def summary_rows(jobs: list[dict[str, Any]], out: Path) -> list[list[str]]:
    from PIL import Image

    rows = []
    for job in jobs:
        files = sorted((out / job["id"]).glob("*.*"))
        sizes = []
        for path in files:
            with Image.open(path) as image:
                sizes.append(f"{image.width}x{image.height}")
        served = job.get("served_by") or {}
        rows.append(
            [
                job["id"],
                str(job.get("model", "")),
                str(served.get("location") or job.get("region", "")),
                str(job.get("state", "")),
                "\n".join(str(p) for p in files) or "-",
                ", ".join(dict.fromkeys(sizes)) or "-",
                _seconds(job),
            ]
        )
    return rows


def print_summary(rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="imagegen demo (local stand-in images)")
    for column in ("job", "model", "region", "state", "files", "pixel size", "seconds"):
        table.add_column(
            column, justify="right" if column == "seconds" else "left", no_wrap=column != "files"
        )
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(width=160)
    console.print(table)


def run(out: Path) -> int:
    from devstack.emulators import PrerequisiteError
    from devstack.stack import Stack, StackConfig, StackError

    signal.signal(signal.SIGTERM, _on_sigterm)
    stack = Stack(StackConfig.from_env(root=ROOT))
    print(f"starting the local stack (state in {stack.state_dir}) ...", flush=True)
    t0 = time.monotonic()
    try:
        try:
            env = {**os.environ, **stack.up()}
        except (StackError, PrerequisiteError) as exc:
            print(f"the local stack did not start: {exc}", file=sys.stderr)
            return 1
        if not stack.owned:
            print("reusing the stack already running from that state dir; it stays up", flush=True)
        print(
            f"stack up in {time.monotonic() - t0:.1f}s; API {env['IMAGEGEN_API_URL']}", flush=True
        )
        demo = Demo(env, out)
        out.mkdir(parents=True, exist_ok=True)
        ids = [demo.submit(job) for job in JOBS]
        ids.append(demo.upload("a paper boat on a rain puddle, seen from above (from an upload)"))
        codes = {job_id: demo.fetch(job_id) for job_id in ids}
        jobs = [demo.status(job_id) for job_id in ids]
        print_summary(summary_rows(jobs, out))
        done = [job["id"] for job in jobs if job.get("outputs")]
        sheet_code = demo.sheet(done) if done else 1
        failed = {job_id: code for job_id, code in codes.items() if code != 0}
        if failed or sheet_code != 0:
            print(
                f"demo finished with problems: {failed or ''} sheet exit {sheet_code}",
                file=sys.stderr,
            )
            return 1
        print(f"images in {out}/<job id>/, contact sheet {out / 'sheet.png'}")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the stack", file=sys.stderr)
        return 130
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if stack.owned:
            stack.down()
            print("stack stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out"), help="output directory (default ./out)"
    )
    args = parser.parse_args(argv)
    return run(args.out)


if __name__ == "__main__":
    sys.exit(main())
