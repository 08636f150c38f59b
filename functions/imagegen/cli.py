"""`imagegen`: the command line client of the imagegen API (click + rich).

See docs/cli.md. Every command takes the global options `--url`, `--token`, `--caller`
and `--json`; the exit codes are listed in `imagegen --help` and in EXIT_CODES below.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from imagegen.client import ApiError, Client, WaitTimeout, is_terminal, state_of

if TYPE_CHECKING:
    from PIL import Image as PILImage

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_UNAVAILABLE = 4
EXIT_TIMEOUT = 5

EXIT_CODES_HELP = """\b
Exit codes:
  0  ok (and, when waiting, the job succeeded)
  1  the job ended failed or cancelled
  2  usage error, or the API refused the request (400-class: bad field,
     unknown job, 409 conflict, auth)
  3  the job was blocked by safety filters
  4  the API or the network is unavailable (5xx, connection refused)
  5  waiting timed out (the job id is printed; the job keeps running)
"""

STATE_EXIT = {
    "succeeded": EXIT_OK,
    "blocked": EXIT_BLOCKED,
    "failed": EXIT_JOB_FAILED,
    "cancelled": EXIT_JOB_FAILED,
}
STATE_STYLE = {
    "queued": "cyan",
    "running": "blue",
    "succeeded": "green",
    "blocked": "magenta",
    "failed": "red",
    "cancelled": "yellow",
}
MIME_ALIASES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def exit_code_for_state(state: str) -> int:
    return STATE_EXIT.get(state, EXIT_OK)


def exit_code_for_error(exc: ApiError) -> int:
    if exc.code == "auth":
        return EXIT_USAGE
    if exc.unavailable:
        return EXIT_UNAVAILABLE
    return EXIT_USAGE


# ------------------------------------------------------------------------------ context


@dataclass
class App:
    client: Client
    as_json: bool
    out: Console
    err: Console

    def emit_json(self, value: Any) -> None:
        click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def _app(ctx: click.Context) -> App:
    return ctx.find_object(App)  # type: ignore[return-value]


class _Group(click.Group):
    """Turns API errors and wait timeouts into a message and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            app = ctx.find_object(App)
            code = exit_code_for_error(exc)
            if app is not None and app.as_json:
                app.emit_json({**exc.to_json(), "exit_code": code})
            else:
                err = app.err if app is not None else Console(stderr=True)
                head = f"{exc.status} {exc.code}" if exc.status else exc.code
                err.print(
                    f"[bold red]error[/] ({escape(head)}): {escape(exc.message)}", soft_wrap=True
                )
                if exc.details:
                    for line in exc.field_lines():
                        err.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
            raise click.exceptions.Exit(code) from None
        except WaitTimeout as exc:
            app = ctx.find_object(App)
            if app is not None and app.as_json:
                app.emit_json(
                    {
                        "id": exc.job_id,
                        "state": exc.state,
                        "timed_out": True,
                        "timeout_seconds": exc.timeout,
                        "job": exc.job,
                        "exit_code": EXIT_TIMEOUT,
                    }
                )
            else:
                err = app.err if app is not None else Console(stderr=True)
                err.print(f"[bold yellow]timed out[/]: {escape(str(exc))}", highlight=False)
                click.echo(exc.job_id)
            raise click.exceptions.Exit(EXIT_TIMEOUT) from None


@click.group(cls=_Group, epilog=EXIT_CODES_HELP, context_settings={"max_content_width": 100})
@click.option(
    "--url",
    envvar="IMAGEGEN_API_URL",
    help="API base URL [env IMAGEGEN_API_URL; default http://127.0.0.1:8681].",
)
@click.option(
    "--token",
    envvar="IMAGEGEN_TOKEN",
    help="Identity token for an https:// URL [env IMAGEGEN_TOKEN; default: fetched from "
    "Application Default Credentials].",
)
@click.option(
    "--caller",
    envvar="IMAGEGEN_CALLER",
    help="Caller name sent as X-Imagegen-Caller to a local (http://) stack.",
)
@click.option(
    "--project",
    envvar="GOOGLE_CLOUD_PROJECT",
    help="Project for reading gs:// outputs when the API gives no signed URL "
    "[env GOOGLE_CLOUD_PROJECT].",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.version_option(package_name="imagegen", prog_name="imagegen")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str | None,
    token: str | None,
    caller: str | None,
    project: str | None,
    as_json: bool,
) -> None:
    """Generate images with Vertex AI models through an imagegen deployment."""
    client = Client(url, token=token, caller=caller, project=project)
    ctx.call_on_close(client.close)
    ctx.obj = App(
        client=client,
        as_json=as_json,
        out=_console(stderr=False),
        err=_console(stderr=True),
    )


def _console(*, stderr: bool) -> Console:
    """A rich console; piped output gets a wide page (COLUMNS wins) instead of 80 columns."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=160)
    return console


# ------------------------------------------------------------------------------ helpers


def sniff_mime(data: bytes, name: str = "") -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(name)
    return guessed if guessed in MIME_ALIASES.values() else None


def reference_of(value: str) -> dict[str, str]:
    """`--ref` value -> a request reference image: gs:// by URI, a local file inline."""
    if value.startswith("gs://"):
        return {"gcs_uri": value}
    path = Path(value).expanduser()
    if not path.is_file():
        raise click.BadParameter(
            f"{value}: no such file (give a local image or a gs:// URI)", param_hint="--ref"
        )
    data = path.read_bytes()
    mime = sniff_mime(data, path.name)
    if mime is None:
        raise click.BadParameter(f"{value}: not a PNG, JPEG or WebP image", param_hint="--ref")
    return {"data": base64.b64encode(data).decode("ascii"), "mime_type": mime}


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE", param_hint="--label")
        labels[key] = val
    return labels


def shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def _seconds(job: dict[str, Any]) -> float | None:
    import datetime as dt

    start, end = job.get("created_at"), job.get("finished_at")
    if not start or not end:
        return None
    try:
        a = dt.datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((b - a).total_seconds(), 2)


def _served(job: dict[str, Any]) -> str:
    served = job.get("served_by") or {}
    if served:
        return f"{served.get('model', '?')} @ {served.get('location', '?')}"
    return str(job.get("region") or "")


def _styled_state(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


def _report_end(app: App, job: dict[str, Any], *, warnings: bool = True) -> None:
    """The human summary of a finished job: warnings, errors, blocked images."""
    for warning in (job.get("warnings") or []) if warnings else []:
        app.err.print(f"[yellow]warning[/]: {escape(str(warning))}", soft_wrap=True)
    state = state_of(job)
    error = job.get("error") or {}
    if state != "succeeded" and error:
        app.err.print(
            f"{_styled_state(state)}: {escape(str(error.get('code', '')))}: "
            f"{escape(str(error.get('message', '')))}"
        )
    elif state != "succeeded":
        app.err.print(f"job {job.get('id')} ended {_styled_state(state)}")
    if state == "succeeded" and job.get("blocked_images"):
        app.err.print(
            f"[magenta]note[/]: {job['blocked_images']} image(s) were held back by safety filters"
        )


class _StatusLine:
    """A live status line: spinner, state, elapsed time, attempts, where it runs."""

    def __init__(self, job_id: str, started: float) -> None:
        from rich.spinner import Spinner

        self.job_id = job_id
        self.started = started
        self.job: dict[str, Any] = {}
        self.spinner = Spinner("dots")

    def update(self, job: dict[str, Any]) -> None:
        self.job = job

    def text(self) -> Text:
        state = state_of(self.job) if self.job else "submitted"
        elapsed = time.monotonic() - self.started
        parts = [f"job {self.job_id}", state, f"{elapsed:5.1f}s"]
        if self.job.get("attempts"):
            parts.append(f"attempt {self.job['attempts']}")
        where = _served(self.job)
        if where:
            parts.append(where)
        line = Text("  ".join(parts))
        line.highlight_words([state], STATE_STYLE.get(state, "white"))
        return line

    def __rich__(self) -> Any:
        self.spinner.update(text=self.text())
        return self.spinner


def _wait(app: App, job_id: str, timeout: float | None, started: float) -> dict[str, Any]:
    """Wait for a job, showing a live status line on a terminal, state changes otherwise."""
    if app.as_json:
        return app.client.wait(job_id, timeout=timeout)
    if app.out.is_terminal:
        from rich.live import Live

        line = _StatusLine(job_id, started)
        with Live(line, console=app.out, refresh_per_second=8, transient=True):
            job = app.client.wait(job_id, timeout=timeout, on_update=line.update)
        app.out.print(line.text())
        return job

    seen: list[tuple[str, Any]] = []

    def on_update(job: dict[str, Any]) -> None:
        key = (state_of(job), job.get("attempts"))
        if not seen or seen[-1] != key:
            seen.append(key)
            elapsed = time.monotonic() - started
            attempts = f"  attempt {job['attempts']}" if job.get("attempts") else ""
            where = _served(job)
            app.out.print(
                f"job {job_id}  {state_of(job)}  {elapsed:.1f}s{attempts}"
                + (f"  {where}" if where else ""),
                highlight=False,
            )

    return app.client.wait(job_id, timeout=timeout, on_update=on_update)


def _interrupted(app: App, job_id: str) -> None:
    app.err.print(
        f"\ninterrupted; job {job_id} keeps running. Check it with: imagegen status {job_id}"
    )
    raise click.exceptions.Exit(130)


def _download(app: App, job: dict[str, Any], out: Path | None) -> list[Path]:
    target = out if out is not None else Path("out") / str(job["id"])
    if not job.get("outputs"):
        return []
    return app.client.download(job, target)


# ------------------------------------------------------------------------------ generate


_REQUEST_OPTIONS = (
    click.option("-m", "--model", help="Model id (see `imagegen models`); default: the API's."),
    click.option("-n", "--n", "number_of_images", type=int, help="Number of images."),
    click.option("-a", "--aspect-ratio", help="Aspect ratio, e.g. 1:1, 16:9, 9:16."),
    click.option(
        "--size",
        "image_size",
        type=click.Choice(["512", "1K", "2K", "4K"], case_sensitive=False),
        help="Image size where the model offers several.",
    ),
    click.option(
        "--ref",
        "refs",
        multiple=True,
        metavar="FILE|gs://…",
        help="Reference image: a local file (sent inline) or a gs:// URI. Repeatable.",
    ),
    click.option("--region", help="Vertex AI location, e.g. us-central1 or global."),
    click.option("--seed", type=int, help="Seed (generationConfig.seed)."),
    click.option(
        "--no-watermark", is_flag=True, help="Ask for no SynthID watermark (Imagen only)."
    ),
    click.option("--negative-prompt", help="What to leave out (models that take it)."),
    click.option("--person-generation", help="dont_allow, allow_adult or allow_all."),
    click.option(
        "--safety",
        "safety_filter_level",
        help="block_low_and_above, block_medium_and_above, block_only_high, block_none "
        "(or block_most/some/few/fewest).",
    ),
    click.option("--mime-type", help="Output type: png, jpeg, webp (or image/png, ...)."),
    click.option("--quality", type=int, help="JPEG/WebP compression quality, 0-100."),
    click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Job label."),
    click.option("--fallback-model", "fallback_models", multiple=True, help="Fallback model id."),
    click.option(
        "--thoughts",
        "include_thoughts",
        is_flag=True,
        help="Keep the model's thought summaries on the job (Gemini thinking models).",
    ),
    click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory for the images [default: ./out/<job id>/].",
    ),
    click.option("--no-wait", is_flag=True, help="Print the job id and return at once."),
    click.option(
        "--timeout",
        type=float,
        default=600.0,
        show_default=True,
        help="Seconds to wait for the job.",
    ),
    click.option("--idempotency-key", help="Retries with the same key return the same job."),
)


def _request_options(command: Any) -> Any:
    """The request, wait and download options `generate` and `refine` share."""
    for option in reversed(_REQUEST_OPTIONS):
        command = option(command)
    return command


def build_request(
    prompt: str,
    *,
    model: str | None = None,
    number_of_images: int | None = None,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
    refs: tuple[str, ...] = (),
    region: str | None = None,
    seed: int | None = None,
    no_watermark: bool = False,
    negative_prompt: str | None = None,
    person_generation: str | None = None,
    safety_filter_level: str | None = None,
    mime_type: str | None = None,
    quality: int | None = None,
    labels: tuple[str, ...] = (),
    fallback_models: tuple[str, ...] = (),
    include_thoughts: bool = False,
) -> dict[str, Any]:
    """The job request the command line options stand for."""
    request: dict[str, Any] = {"prompt": prompt}
    optional = {
        "model": model,
        "number_of_images": number_of_images,
        "aspect_ratio": aspect_ratio,
        "image_size": image_size.upper() if image_size else None,
        "region": region,
        "seed": seed,
        "negative_prompt": negative_prompt,
        "person_generation": person_generation,
        "safety_filter_level": safety_filter_level,
    }
    request.update({k: v for k, v in optional.items() if v is not None})
    if no_watermark:
        request["add_watermark"] = False
    if refs:
        request["reference_images"] = [reference_of(ref) for ref in refs]
    if mime_type or quality is not None:
        output: dict[str, Any] = {}
        if mime_type:
            output["mime_type"] = MIME_ALIASES.get(mime_type.lower(), mime_type)
        if quality is not None:
            output["compression_quality"] = quality
        request["output"] = output
    if labels:
        request["labels"] = _labels(labels)
    if fallback_models:
        request["fallback_models"] = list(fallback_models)
    if include_thoughts:
        request["include_thoughts"] = True
    return request


def _run_job(
    ctx: click.Context,
    submit: Any,
    *,
    out: Path | None,
    no_wait: bool,
    timeout: float,
) -> None:
    """Submit (`submit()` returns the new job), print its id, wait with a live status line,
    download the images and exit by the job's state: what `generate` and `refine` do."""
    app = _app(ctx)
    started = time.monotonic()
    job = submit()
    job_id = str(job["id"])
    if app.as_json:
        if no_wait:
            app.emit_json(job)
            return
    else:
        app.out.print(
            f"job [bold]{job_id}[/] {_styled_state(state_of(job))}  "
            f"{escape(str(job.get('model', '')))} @ {escape(str(job.get('region', '')))}"
            + (
                f"  est. ${job['estimated_cost_usd']:.3f}"
                if job.get("estimated_cost_usd") is not None
                else ""
            )
            + (
                f"  continues {escape(str(job['parent_job_id']))}"
                if job.get("parent_job_id")
                else ""
            )
        )
        for warning in job.get("warnings") or []:
            app.err.print(f"[yellow]warning[/]: {escape(str(warning))}", soft_wrap=True)
        if no_wait:
            app.out.print(f"check it with: imagegen status {job_id}")
            return
    try:
        if not is_terminal(job):
            job = _wait(app, job_id, timeout, started)
    except KeyboardInterrupt:
        _interrupted(app, job_id)
    files = _download(app, job, out) if state_of(job) == "succeeded" else []
    code = exit_code_for_state(state_of(job))
    if app.as_json:
        app.emit_json({**job, "files": [str(p) for p in files], "exit_code": code})
    else:
        _report_end(app, job, warnings=False)
        for path in files:
            app.out.print(str(path), highlight=False, soft_wrap=True)
    ctx.exit(code)


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("prompt")
@_request_options
@click.pass_context
def generate(
    ctx: click.Context,
    prompt: str,
    out: Path | None,
    no_wait: bool,
    timeout: float,
    idempotency_key: str | None,
    **options: Any,
) -> None:
    """Generate images from PROMPT, wait for them and download them."""
    app = _app(ctx)
    request = build_request(prompt, **options)
    _run_job(
        ctx,
        lambda: app.client.submit(request, idempotency_key=idempotency_key),
        out=out,
        no_wait=no_wait,
        timeout=timeout,
    )


# ------------------------------------------------------------------------------ refine / history


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("parent_id")
@click.argument("prompt")
@_request_options
@click.pass_context
def refine(
    ctx: click.Context,
    parent_id: str,
    prompt: str,
    out: Path | None,
    no_wait: bool,
    timeout: float,
    idempotency_key: str | None,
    **options: Any,
) -> None:
    """Continue the conversation of job PARENT_ID with PROMPT (Gemini image models): the
    model sees the earlier turns and images. Waits and downloads like `generate`; without
    --model the parent's model is used."""
    app = _app(ctx)
    request = build_request(prompt, **options)
    request.pop("prompt")
    _run_job(
        ctx,
        lambda: app.client.refine(parent_id, prompt, request, idempotency_key=idempotency_key),
        out=out,
        no_wait=no_wait,
        timeout=timeout,
    )


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("job_id")
@click.pass_context
def history(ctx: click.Context, job_id: str) -> None:
    """Show the chain of refinements that ends at JOB_ID, first turn first."""
    app = _app(ctx)
    chain = app.client.history(job_id)
    if app.as_json:
        app.emit_json({"chain": chain})
        return
    table = Table(title=f"history of {job_id}", show_lines=False)
    for column in ("turn", "job", "state", "model", "prompt", "outputs"):
        table.add_column(column, overflow="fold", no_wrap=column in ("turn", "job", "state"))
    for turn, job in enumerate(chain, start=1):
        request = job.get("request") or {}
        outputs = [str(o.get("uri")) for o in job.get("outputs") or []]
        table.add_row(
            str(turn),
            escape(str(job.get("id"))),
            _styled_state(state_of(job)),
            escape(str((job.get("served_by") or {}).get("model") or job.get("model", ""))),
            escape(shorten(str(request.get("prompt", "")), 60)),
            escape("\n".join(outputs)),
        )
    app.out.print(table)
    for warning in (chain[-1].get("warnings") or []) if chain else []:
        app.err.print(f"[yellow]warning[/]: {escape(str(warning))}", soft_wrap=True)


# ------------------------------------------------------------------------------ status / get


def _job_table(job: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    request = job.get("request") or {}
    rows: list[tuple[str, str]] = [
        ("id", str(job.get("id"))),
        ("state", _styled_state(state_of(job))),
        ("model", escape(str(job.get("model", "")))),
        ("region", escape(str(job.get("region", "")))),
    ]
    if job.get("served_by"):
        rows.append(("served by", escape(_served(job))))
    if job.get("parent_job_id"):
        rows.append(("continues", escape(str(job["parent_job_id"]))))
    if request:
        rows.append(("prompt", escape(shorten(request.get("prompt", ""), 80))))
        rows.append(
            (
                "request",
                escape(
                    f"{request.get('number_of_images', 1)} x {request.get('image_size', '')} "
                    f"{request.get('aspect_ratio', '')}"
                ),
            )
        )
    rows.append(("attempts", str(job.get("attempts", 0))))
    for key in ("created_at", "started_at", "finished_at"):
        if job.get(key):
            rows.append((key.replace("_at", ""), str(job[key])))
    seconds = _seconds(job)
    if seconds is not None:
        rows.append(("seconds", f"{seconds:.2f}"))
    if job.get("estimated_cost_usd") is not None:
        rows.append(("estimated cost", f"${job['estimated_cost_usd']:.3f}"))
    if job.get("cost_usd") is not None:
        rows.append(("cost", f"${job['cost_usd']:.3f}"))
    for output in job.get("outputs") or []:
        rows.append(("output", escape(str(output.get("uri")))))
    if job.get("blocked_images"):
        rows.append(("blocked images", str(job["blocked_images"])))
    error = job.get("error") or {}
    if error:
        rows.append(("error", escape(f"{error.get('code')}: {error.get('message')}")))
    for warning in job.get("warnings") or []:
        rows.append(("warning", f"[yellow]{escape(str(warning))}[/]"))
    for thought in job.get("thoughts") or []:
        rows.append(("thought", escape(shorten(str(thought), 200))))
    for key, value in rows:
        table.add_row(key, value)
    return table


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("job_id")
@click.pass_context
def status(ctx: click.Context, job_id: str) -> None:
    """Show a job. Exits 0 whenever the job could be read, whatever its state."""
    app = _app(ctx)
    job = app.client.get(job_id)
    if app.as_json:
        app.emit_json(job)
    else:
        app.out.print(_job_table(job))


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("job_id")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the images [default: ./out/<job id>/].",
)
@click.option("--wait", "wait_", is_flag=True, help="Wait for an unfinished job first.")
@click.option(
    "--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait with --wait."
)
@click.pass_context
def get(ctx: click.Context, job_id: str, out: Path | None, wait_: bool, timeout: float) -> None:
    """Download the images of a job. An unfinished job exits 5 unless --wait is given."""
    app = _app(ctx)
    started = time.monotonic()
    job = app.client.get(job_id)
    if not is_terminal(job):
        if not wait_:
            raise WaitTimeout(job_id, job, 0.0)
        try:
            job = _wait(app, job_id, timeout, started)
        except KeyboardInterrupt:
            _interrupted(app, job_id)
    files = _download(app, job, out)
    code = exit_code_for_state(state_of(job))
    if app.as_json:
        app.emit_json({**job, "files": [str(p) for p in files], "exit_code": code})
    else:
        _report_end(app, job)
        for path in files:
            app.out.print(str(path), highlight=False)
    ctx.exit(code)


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a queued job (a running or finished job answers 409: exit 2)."""
    app = _app(ctx)
    job = app.client.cancel(job_id)
    if app.as_json:
        app.emit_json(job)
    else:
        app.out.print(f"job {job_id} {_styled_state(state_of(job))}")


# ------------------------------------------------------------------------------ models


def _prices(model: dict[str, Any]) -> str:
    """Price per image by size, sizes with one price grouped: "1K/2K $0.134, 4K $0.240"."""
    prices = model.get("price_usd_per_image") or {}
    if not prices:
        return ""
    if len(set(prices.values())) == 1:
        return f"${next(iter(prices.values())):.3f}"
    groups: dict[float, list[str]] = {}
    for size, price in prices.items():
        groups.setdefault(price, []).append(size)
    return ", ".join(f"{'/'.join(sizes)} ${price:.3f}" for price, sizes in groups.items())


def _locations(locations: list[str], shown: int = 4) -> str:
    if len(locations) <= shown + 1:
        return ", ".join(locations)
    return ", ".join(locations[:shown]) + f" +{len(locations) - shown} more"


@cli.command(epilog=EXIT_CODES_HELP)
@click.option("--caller", help="Only this caller (an identity's email) [default: everyone].")
@click.option("--day", help="UTC day, YYYY-MM-DD [default: today].")
@click.option("--month", help="UTC month, YYYY-MM (instead of --day).")
@click.pass_context
def usage(ctx: click.Context, caller: str | None, day: str | None, month: str | None) -> None:
    """Images, jobs and dollars per caller and model (GET /v1/usage)."""
    app = _app(ctx)
    body = app.client.usage(caller=caller, day=day, month=month)
    if app.as_json:
        app.emit_json(body)
        return
    period = body.get("month") or body.get("day")
    table = Table(title=f"imagegen usage {period}" + (f" for {caller}" if caller else ""))
    for column in ("", "jobs", "images requested", "images produced", "estimated $", "cost $"):
        table.add_column(column, justify="left" if not column else "right")
    rows = [("total", body.get("total") or {})]
    rows += [(f"caller {k}", v) for k, v in sorted((body.get("by_caller") or {}).items())]
    rows += [(f"model {k}", v) for k, v in sorted((body.get("by_model") or {}).items())]
    for name, row in rows:
        table.add_row(
            escape(name),
            str(row.get("jobs", 0)),
            str(row.get("images_requested", 0)),
            str(row.get("images_produced", 0)),
            f"{row.get('estimated_usd', 0.0):.4f}",
            f"{row.get('cost_usd', 0.0):.4f}",
        )
    app.out.print(table)


@cli.command(epilog=EXIT_CODES_HELP)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the models the deployment offers, and the retired names it routes (GET /v1/models)."""
    app = _app(ctx)
    body = app.client.models()
    if app.as_json:
        app.emit_json(body)
        return
    table = Table(title="imagegen models", show_lines=False)
    for column in (
        "id",
        "lifecycle",
        "locations",
        "sizes",
        "thinking",
        "search",
        "max refs",
        "price / image",
    ):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "price / image"))
    default = body.get("default")
    every = body.get("models") or []
    for model in (m for m in every if not m.get("retired") or m.get("locations")):
        lifecycle = str(model.get("lifecycle", ""))
        if model.get("retired"):
            lifecycle = "retired"
        elif model.get("release_date"):
            lifecycle += f" since {model['release_date']}"
        if model.get("preview_sizes"):
            lifecycle += f" ({'/'.join(model['preview_sizes'])} preview)"
        sizes = model.get("image_sizes") or {}
        model_id = str(model.get("id"))
        table.add_row(
            escape(model_id + (" *" if model_id == default else "")),
            escape(lifecycle),
            escape(_locations(model.get("locations") or [])),
            escape(" ".join(sizes)),
            escape("/".join(model.get("thinking_levels") or []) or "-"),
            "yes" if model.get("google_search") else "-",
            str(model.get("max_reference_images", "")),
            escape(_prices(model)),
        )
    app.out.print(table)
    if default:
        app.out.print(f"* default model: {escape(str(default))}")
    retired = [m for m in every if m.get("retired") and not m.get("locations")]
    if retired:
        routing = retired[0].get("routing", "route")
        verb = "served by" if routing == "route" else "refused; use"
        routed = Table(title=f"retired names ({routing})", show_lines=False)
        for column in ("id", "shut down", verb):
            routed.add_column(column, overflow="fold", no_wrap=column == "id")
        for model in retired:
            target = str(model.get("replacement", ""))
            if model.get("thinking_level"):
                target += f" (thinking {str(model['thinking_level']).upper()})"
            routed.add_row(
                escape(str(model.get("id"))),
                escape(str(model.get("shutdown_date", ""))),
                escape(target),
            )
        app.out.print(routed)
    from imagegen.cli_catalog import print_lifecycle

    print_lifecycle(app, every)


# ------------------------------------------------------------------------------ sheet

SHEET_PAD = 16
CAPTION_LINE = 18
CAPTION_LINES = 3
CAPTION_HEIGHT = CAPTION_LINES * CAPTION_LINE + 8
SHEET_BACKGROUND = (24, 24, 28)


@dataclass(frozen=True)
class SheetLayout:
    columns: int
    rows: int
    thumb: int
    width: int
    height: int

    def cell(self, index: int) -> tuple[int, int]:
        """Top-left corner of the thumbnail box of image `index`."""
        row, col = divmod(index, self.columns)
        return (
            SHEET_PAD + col * (self.thumb + SHEET_PAD),
            SHEET_PAD + row * (self.thumb + CAPTION_HEIGHT + SHEET_PAD),
        )


def sheet_layout(count: int, columns: int = 3, thumb: int = 384) -> SheetLayout:
    """The grid for `count` images: its size depends only on count, columns and thumb."""
    if count < 1:
        raise ValueError("a contact sheet needs at least one image")
    if columns < 1 or thumb < 16:
        raise ValueError("columns must be at least 1 and thumb at least 16 px")
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    width = SHEET_PAD + cols * (thumb + SHEET_PAD)
    height = SHEET_PAD + rows * (thumb + CAPTION_HEIGHT + SHEET_PAD)
    return SheetLayout(cols, rows, thumb, width, height)


@dataclass(frozen=True)
class SheetItem:
    image: PILImage.Image
    caption: list[str]


def caption_for(job: dict[str, Any], size: tuple[int, int]) -> list[str]:
    request = job.get("request") or {}
    return [
        str(job.get("model") or request.get("model") or "?"),
        f"{size[0]}x{size[1]}  {job.get('id', '')}",
        str(request.get("prompt", "")),
    ]


def _fit(draw: Any, text: str, font: Any, width: int) -> str:
    text = " ".join(text.split())
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def render_sheet(items: list[SheetItem], columns: int = 3, thumb: int = 384) -> PILImage.Image:
    """A contact sheet: thumbnails in a grid, each with its caption lines underneath."""
    from PIL import Image, ImageDraw, ImageFont

    layout = sheet_layout(len(items), columns, thumb)
    sheet = Image.new("RGB", (layout.width, layout.height), SHEET_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.load_default(size=13)
    except (TypeError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    for index, item in enumerate(items):
        x, y = layout.cell(index)
        image = item.image.convert("RGB")
        image.thumbnail((thumb, thumb), Image.Resampling.LANCZOS)
        sheet.paste(image, (x + (thumb - image.width) // 2, y + (thumb - image.height) // 2))
        ty = y + thumb + 6
        for n, line in enumerate(item.caption[:CAPTION_LINES]):
            colour = (240, 240, 240) if n == 0 else (170, 170, 178)
            draw.text((x, ty), _fit(draw, line, font, thumb), fill=colour, font=font)
            ty += CAPTION_LINE
    return sheet


def sheet_items(client: Client, jobs: list[dict[str, Any]]) -> list[SheetItem]:
    import io

    from PIL import Image

    items = []
    for job in jobs:
        for output in sorted(job.get("outputs") or [], key=lambda o: o.get("index", 0)):
            image = Image.open(io.BytesIO(client.read_output(output)))
            image.load()
            items.append(SheetItem(image, caption_for(job, image.size)))
    return items


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("job_ids", nargs=-1, required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sheet.png"),
    show_default=True,
    help="The contact sheet file (PNG, or JPEG/WebP by extension).",
)
@click.option("--columns", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--thumb",
    type=click.IntRange(min=16),
    default=384,
    show_default=True,
    help="Thumbnail size (long side), in pixels.",
)
@click.pass_context
def sheet(
    ctx: click.Context, job_ids: tuple[str, ...], out: Path, columns: int, thumb: int
) -> None:
    """Make a contact sheet of the images of the given jobs."""
    app = _app(ctx)
    jobs = [app.client.get(job_id) for job_id in job_ids]
    skipped = [job["id"] for job in jobs if not job.get("outputs")]
    items = sheet_items(app.client, jobs)
    if not items:
        message = "none of the jobs has images"
        if app.as_json:
            app.emit_json(
                {
                    "error": {"code": "no_images", "message": message},
                    "skipped": skipped,
                    "exit_code": EXIT_JOB_FAILED,
                }
            )
        else:
            app.err.print(f"[red]error[/]: {message}")
        ctx.exit(EXIT_JOB_FAILED)
    image = render_sheet(items, columns, thumb)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    if app.as_json:
        app.emit_json(
            {
                "sheet": str(out),
                "width": image.width,
                "height": image.height,
                "images": len(items),
                "skipped": skipped,
            }
        )
    else:
        for job_id in skipped:
            app.err.print(f"[yellow]skipped[/] job {job_id}: no images")
        app.out.print(
            f"{out}  ({image.width}x{image.height}, {len(items)} images)", highlight=False
        )


from imagegen import cli_catalog  # noqa: E402  (registers `imagegen catalog ...`)

cli.add_command(cli_catalog.catalog)


def main(argv: list[str] | None = None) -> None:
    """The `imagegen` console script."""
    cli.main(args=argv, prog_name="imagegen")


if __name__ == "__main__":
    main(sys.argv[1:])
