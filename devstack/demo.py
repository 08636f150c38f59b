"""`python -m devstack.demo` (what `make demo` runs): the whole path, driven by the CLI.

Starts the local stack (or reuses one already running from the same state dir), submits
jobs with the `imagegen` CLI on today's models — Nano Banana 2 (gemini-3.1-flash-image) at
512 and 1:8, Nano Banana Pro (gemini-3-pro-image) at 4K, an edit of a 16:9 photo with no
ratio asked (the output keeps the input's shape) — plus the user guide's Imagen 3 request,
copied with its retired model name (Nano Banana 2 serves it), and one more by dropping a
request file in the uploads bucket. It waits for them, downloads the images into
./out/<job id>/, prints a summary table with the model asked for and the model that served
each job, writes ./out/sheet.png (a contact sheet) and stops the stack again, also on an
error or Ctrl-C. The images come from the local Vertex stand-in: placeholders.

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

DEMO_USER = "demo@example.com"  # the local user the demo's jobs belong to (studio gallery)
EDIT_INPUT = "edit-input-16x9.png"  # written into --out: a 16:9 "photo" to edit
JOBS: list[dict[str, str]] = [
    {
        "model": "gemini-3.1-flash-image",
        "aspect_ratio": "1:8",
        "size": "512",
        "prompt": "a lighthouse on a basalt cliff at dusk, a tall narrow banner",
    },
    {
        "model": "gemini-3-pro-image",
        "aspect_ratio": "1:1",
        "size": "4K",
        "prompt": "an isometric map of a small harbour town, hand-drawn, labelled streets",
    },
    {
        "model": "gemini-3.1-flash-image",
        "ref": EDIT_INPUT,
        "prompt": "make it dusk, with warm street lights (no ratio asked: keeps the 16:9 shape)",
    },
    # The user guide's Vertex AI example, model name and all (Imagen 3 was shut down on
    # 2026-06-24; its published replacement serves it):
    {
        "model": "imagen-3.0-generate-001",
        "aspect_ratio": "1:1",
        "n": "4",
        "safety": "block_some",
        "person_generation": "allow_adult",
        "prompt": "A professional product photograph of a luxury watch on a marble surface, "
        "studio lighting, 8K quality",
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
        """Run the real CLI (`python -m imagegen_client.cli`) against the local stack."""
        command = [sys.executable, "-m", "imagegen_client.cli", *args]
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
        args = ["--json", "generate", job["prompt"], "--model", job["model"], "--no-wait"]
        options = {
            "aspect_ratio": "--aspect-ratio",
            "size": "--size",
            "n": "-n",
            "safety": "--safety",
            "person_generation": "--person-generation",
        }
        for key, flag in options.items():
            if job.get(key):
                args += [flag, job[key]]
        if job.get("ref"):
            args += ["--ref", str(self.out / job["ref"])]
        proc = self.imagegen(*args, capture=True)
        if proc.returncode != 0:
            raise DemoError(
                f"generate failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        body = json.loads(proc.stdout)
        print(f"  submitted {body['id']}  {body['model']} @ {body['region']}", flush=True)
        for warning in body.get("warnings") or []:
            print(f"  warning: {warning}", flush=True)
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
        body = {"prompt": prompt, "model": "gemini-3.1-flash-lite-image", "aspect_ratio": "16:9"}
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


def _edit_input(path: Path) -> None:
    """A small 16:9 picture to edit (a gradient): with no ratio asked, the edit keeps it."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((320, 180)).convert("RGB")
    image.save(path, "PNG")


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
        request = job.get("request") or {}
        rows.append(
            [
                job["id"],
                str(request.get("model_requested") or request.get("model", "")),
                str(served.get("model") or job.get("model", "")),
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
    columns = ("job", "asked for", "served by", "region", "state", "files", "pixel size", "seconds")
    for column in columns:
        table.add_column(
            column, justify="right" if column == "seconds" else "left", no_wrap=column != "files"
        )
    for row in rows:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(width=160)
    console.print(table)


def show_studio(env: dict[str, str], out: Path) -> None:
    """Print the studio's URL and screenshot the demo user's gallery (docs/studio.md)."""
    from devstack import browser

    url = env.get("DEVSTACK_STUDIO_URL")
    if not url:
        return
    user = env.get("IMAGEGEN_CALLER", DEMO_USER)
    print(f"studio: {url}/?user={user}  (while the stack runs; `make up` keeps one up)", flush=True)
    try:
        shot = browser.gallery_screenshot(url, user, out / "studio-gallery.png")
    except browser.BrowserMissing as exc:
        print(f"no gallery screenshot: the browser {exc}", file=sys.stderr)
        return
    print(f"studio gallery screenshot: {shot}", flush=True)


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
        # the demo's jobs belong to one local user, whose studio gallery is shown at the end
        env.setdefault("IMAGEGEN_CALLER", DEMO_USER)
        demo = Demo(env, out)
        out.mkdir(parents=True, exist_ok=True)
        _edit_input(out / EDIT_INPUT)
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
        show_studio(env, out)
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
