"""How a job looks to people: rich markup for states, lines and the `status` table. The
commands decide what to show; this module decides how it looks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from imagegen_client.client import state_of

STATE_STYLE = {
    "queued": "cyan",
    "running": "blue",
    "succeeded": "green",
    "blocked": "magenta",
    "failed": "red",
    "cancelled": "yellow",
}


def shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def styled_state(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


def served(job: dict[str, Any]) -> str:
    """Where the job runs or ran: the model and location that served it, else its region."""
    by = job.get("served_by") or {}
    if by:
        return f"{by.get('model', '?')} @ {by.get('location', '?')}"
    return str(job.get("region") or "")


def duration_seconds(job: dict[str, Any]) -> float | None:
    """Seconds from creation to the end, when both are known."""
    start, end = job.get("created_at"), job.get("finished_at")
    if not start or not end:
        return None
    try:
        a = dt.datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((b - a).total_seconds(), 2)


def provenance_text(output: dict[str, Any]) -> str:
    """One output's provenance for people: its Content Credentials (C2PA) as read from the
    stored file, and SynthID. Empty when the job records neither."""
    parts = []
    credentials = output.get("content_credentials")
    if isinstance(credentials, dict):
        if not credentials.get("present"):
            parts.append("no Content Credentials")
        elif credentials.get("valid"):
            said = [
                str(credentials[k]) for k in ("issuer", "digital_source_type") if credentials.get(k)
            ]
            parts.append(
                "[green]Content Credentials valid[/]"
                + (f" ({escape(', '.join(said))})" if said else "")
            )
        else:
            why = ", ".join(str(e) for e in credentials.get("errors") or []) or "invalid"
            parts.append(f"[red]Content Credentials invalid[/] ({escape(why)})")
    if output.get("synthid"):
        parts.append("SynthID")
    return " · ".join(parts)


def print_provenance(err: Console, job: dict[str, Any]) -> None:
    """`imagegen get`: one line per image on stderr (stdout stays the files' paths)."""
    for output in job.get("outputs") or []:
        text = provenance_text(output)
        if text:
            err.print(f"image {output.get('index', '?')}: {text}", soft_wrap=True)


def print_warnings(err: Console, warnings: list[Any] | None) -> None:
    for warning in warnings or []:
        err.print(f"[yellow]warning[/]: {escape(str(warning))}", soft_wrap=True)


def submitted_line(job: dict[str, Any]) -> str:
    """The first line `generate`/`refine` print: id, state, model, place, estimate, parent."""
    line = (
        f"job [bold]{job['id']}[/] {styled_state(state_of(job))}  "
        f"{escape(str(job.get('model', '')))} @ {escape(str(job.get('region', '')))}"
    )
    if job.get("estimated_cost_usd") is not None:
        line += f"  est. ${job['estimated_cost_usd']:.3f}"
    if job.get("parent_job_id"):
        line += f"  continues {escape(str(job['parent_job_id']))}"
    return line


def print_end(err: Console, job: dict[str, Any], *, warnings: bool = True) -> None:
    """The human summary of a finished job: warnings, errors, blocked images."""
    if warnings:
        print_warnings(err, job.get("warnings"))
    state = state_of(job)
    error = job.get("error") or {}
    if state != "succeeded" and error:
        err.print(
            f"{styled_state(state)}: {escape(str(error.get('code', '')))}: "
            f"{escape(str(error.get('message', '')))}"
        )
    elif state != "succeeded":
        err.print(f"job {job.get('id')} ended {styled_state(state)}")
    if state == "succeeded" and job.get("blocked_images"):
        err.print(
            f"[magenta]note[/]: {job['blocked_images']} image(s) were held back by safety filters"
        )


def job_table(job: dict[str, Any]) -> Table:
    """`imagegen status`: one row per fact of the job."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    request = job.get("request") or {}
    rows: list[tuple[str, str]] = [
        ("id", str(job.get("id"))),
        ("state", styled_state(state_of(job))),
        ("model", escape(str(job.get("model", "")))),
        ("region", escape(str(job.get("region", "")))),
    ]
    if job.get("served_by"):
        rows.append(("served by", escape(served(job))))
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
    took = duration_seconds(job)
    if took is not None:
        rows.append(("seconds", f"{took:.2f}"))
    if job.get("estimated_cost_usd") is not None:
        rows.append(("estimated cost", f"${job['estimated_cost_usd']:.3f}"))
    if job.get("cost_usd") is not None:
        rows.append(("cost", f"${job['cost_usd']:.3f}"))
    for output in job.get("outputs") or []:
        rows.append(("output", escape(str(output.get("uri")))))
        if provenance_text(output):
            rows.append(("provenance", provenance_text(output)))
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


def history_table(job_id: str, chain: list[dict[str, Any]]) -> Table:
    """`imagegen history`: one row per turn, first turn first."""
    table = Table(title=f"history of {job_id}", show_lines=False)
    for column in ("turn", "job", "state", "model", "prompt", "outputs"):
        table.add_column(column, overflow="fold", no_wrap=column in ("turn", "job", "state"))
    for turn, job in enumerate(chain, start=1):
        request = job.get("request") or {}
        outputs = [str(o.get("uri")) for o in job.get("outputs") or []]
        table.add_row(
            str(turn),
            escape(str(job.get("id"))),
            styled_state(state_of(job)),
            escape(str((job.get("served_by") or {}).get("model") or job.get("model", ""))),
            escape(shorten(str(request.get("prompt", "")), 60)),
            escape("\n".join(outputs)),
        )
    return table
