"""Waiting for a job: a live status line on a terminal, one line per change when piped,
nothing but the result with --json. The polling itself is the client's (`Client.wait`)."""

from __future__ import annotations

import time
from typing import Any, NoReturn

import click
from rich.text import Text

from imagegen_client.cli.context import App
from imagegen_client.cli.exit_codes import EXIT_INTERRUPTED
from imagegen_client.cli.render import STATE_STYLE, served
from imagegen_client.client import state_of


class StatusLine:
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
        where = served(self.job)
        if where:
            parts.append(where)
        line = Text("  ".join(parts))
        line.highlight_words([state], STATE_STYLE.get(state, "white"))
        return line

    def __rich__(self) -> Any:
        self.spinner.update(text=self.text())
        return self.spinner


def wait_for(app: App, job_id: str, timeout: float | None, started: float) -> dict[str, Any]:
    """Wait for a job, showing a live status line on a terminal, state changes otherwise."""
    if app.as_json:
        return app.client.wait(job_id, timeout=timeout)
    if app.out.is_terminal:
        from rich.live import Live

        line = StatusLine(job_id, started)
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
            where = served(job)
            app.out.print(
                f"job {job_id}  {state_of(job)}  {elapsed:.1f}s{attempts}"
                + (f"  {where}" if where else ""),
                highlight=False,
            )

    return app.client.wait(job_id, timeout=timeout, on_update=on_update)


def wait_or_interrupted(
    app: App, job_id: str, timeout: float | None, started: float
) -> dict[str, Any]:
    """`wait_for`, but Ctrl-C leaves the job running and says how to come back to it."""
    try:
        return wait_for(app, job_id, timeout, started)
    except KeyboardInterrupt:
        _interrupted(app, job_id)


def _interrupted(app: App, job_id: str) -> NoReturn:
    app.err.print(
        f"\ninterrupted; job {job_id} keeps running. Check it with: imagegen status {job_id}"
    )
    raise click.exceptions.Exit(EXIT_INTERRUPTED)
