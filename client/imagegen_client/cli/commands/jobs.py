"""The job commands: generate, refine, history, status, get, cancel."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from imagegen_client.cli.context import App, app_of
from imagegen_client.cli.exit_codes import EXIT_CODES_HELP, exit_code_for_state
from imagegen_client.cli.job_request import OUT_DIR, build_request, request_options
from imagegen_client.cli.render import (
    history_table,
    job_table,
    print_end,
    print_provenance,
    print_warnings,
    styled_state,
    submitted_line,
)
from imagegen_client.cli.waiting import wait_or_interrupted
from imagegen_client.client import WaitTimeout, is_terminal, state_of


def _one_job_command(function: Callable[..., None]) -> click.Command:
    """A command on one JOB_ID (history, status, get, cancel), given the context first."""
    return click.command(epilog=EXIT_CODES_HELP)(
        click.argument("job_id")(click.pass_context(function))
    )


def _download(app: App, job: dict[str, Any], out: Path | None) -> list[Path]:
    target = out if out is not None else Path("out") / str(job["id"])
    if not job.get("outputs"):
        return []
    return app.client.download(job, target)


def _finish(
    ctx: click.Context, app: App, job: dict[str, Any], files: list[Path], *, warnings: bool
) -> None:
    """Print the finished job (and its files) and exit by its state."""
    code = exit_code_for_state(state_of(job))
    if app.as_json:
        app.emit_json({**job, "files": [str(p) for p in files], "exit_code": code})
    else:
        print_end(app.err, job, warnings=warnings)
        print_provenance(app.err, job)
        for path in files:
            app.out.print(str(path), highlight=False, soft_wrap=True)
    ctx.exit(code)


# What submits a job: the request the options stand for and the Idempotency-Key -> the job.
Submit = Callable[[dict[str, Any], str | None], dict[str, Any]]


def _run_job(ctx: click.Context, prompt: str, options: dict[str, Any], submit: Submit) -> None:
    """Build the request from the shared options, submit it, print the job's id, wait with a
    live status line, download the images and exit by the job's state: what `generate` and
    `refine` do."""
    out: Path | None = options.pop("out")
    no_wait: bool = options.pop("no_wait")
    timeout: float = options.pop("timeout")
    idempotency_key: str | None = options.pop("idempotency_key")
    app = app_of(ctx)
    request = build_request(prompt, **options)
    started = time.monotonic()
    job = submit(request, idempotency_key)
    job_id = str(job["id"])
    if app.as_json:
        if no_wait:
            app.emit_json(job)
            return
    else:
        app.out.print(submitted_line(job))
        print_warnings(app.err, job.get("warnings"))
        if no_wait:
            app.out.print(f"check it with: imagegen status {job_id}")
            return
    if not is_terminal(job):
        job = wait_or_interrupted(app, job_id, timeout, started)
    files = _download(app, job, out) if state_of(job) == "succeeded" else []
    _finish(ctx, app, job, files, warnings=False)


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("prompt")
@request_options
@click.pass_context
def generate(ctx: click.Context, prompt: str, **options: Any) -> None:
    """Generate images from PROMPT, wait for them and download them."""
    client = app_of(ctx).client
    _run_job(ctx, prompt, options, lambda request, key: client.submit(request, idempotency_key=key))


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("parent_id")
@click.argument("prompt")
@request_options
@click.pass_context
def refine(ctx: click.Context, parent_id: str, prompt: str, **options: Any) -> None:
    """Continue the conversation of job PARENT_ID with PROMPT (Gemini image models): the
    model sees the earlier turns and images. Waits and downloads like `generate`; without
    --model the parent's model is used."""
    client = app_of(ctx).client

    def submit(request: dict[str, Any], key: str | None) -> dict[str, Any]:
        request.pop("prompt")  # refine sends the prompt beside the rest of the request
        return client.refine(parent_id, prompt, request, idempotency_key=key)

    _run_job(ctx, prompt, options, submit)


@_one_job_command
def history(ctx: click.Context, job_id: str) -> None:
    """Show the chain of refinements that ends at JOB_ID, first turn first."""
    app = app_of(ctx)
    chain = app.client.history(job_id)

    def for_people() -> None:
        app.out.print(history_table(job_id, chain))
        if chain:  # the latest turn's warnings
            print_warnings(app.err, chain[-1].get("warnings"))

    app.show({"chain": chain}, for_people)


@_one_job_command
def status(ctx: click.Context, job_id: str) -> None:
    """Show a job. Exits 0 whenever the job could be read, whatever its state."""
    app = app_of(ctx)
    job = app.client.get(job_id)
    app.show(job, lambda: app.out.print(job_table(job)))


@_one_job_command
@OUT_DIR
@click.option("--wait", "wait_", is_flag=True, help="Wait for an unfinished job first.")
@click.option(
    "--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait with --wait."
)
def get(ctx: click.Context, job_id: str, out: Path | None, wait_: bool, timeout: float) -> None:
    """Download the images of a job. An unfinished job exits 5 unless --wait is given."""
    app = app_of(ctx)
    started = time.monotonic()
    job = app.client.get(job_id)
    if not is_terminal(job):
        if not wait_:
            raise WaitTimeout(job_id, job, 0.0)
        job = wait_or_interrupted(app, job_id, timeout, started)
    _finish(ctx, app, job, _download(app, job, out), warnings=True)


@_one_job_command
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a queued job (a running or finished job answers 409: exit 2)."""
    app = app_of(ctx)
    job = app.client.cancel(job_id)
    app.show(job, lambda: app.out.print(f"job {job_id} {styled_state(state_of(job))}"))


COMMANDS = (generate, refine, history, status, get, cancel)
