"""`imagegen batch`: many job requests at once, through Vertex AI batch prediction at half
price (issue 29; docs/cli.md, docs/batches.md).

  imagegen batch submit FILE.jsonl [--wait]   one job request a line; a progress bar
  imagegen batch get ID                       state, counts, cost (and `--items`)
  imagegen batch download ID --out DIR        every image, and a contact sheet
  imagegen batch cancel ID
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from imagegen_client.cli.context import App, app_of
from imagegen_client.cli.exit_codes import EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_JOB_FAILED
from imagegen_client.cli.render import styled_state
from imagegen_client.cli.sheet import SheetItem, caption_for, render_sheet
from imagegen_client.client import BATCH_TERMINAL_STATES, output_filename

BATCH_EXIT_HELP = """\b
A batch's exit code (submit --wait, get, download):
  0  every item succeeded (or, without --wait, the batch was accepted)
  1  the batch ended partially_succeeded, failed or cancelled
"""


def batch_exit(batch: dict[str, Any]) -> int:
    return 0 if batch.get("state") in ("succeeded", "queued", "running") else EXIT_JOB_FAILED


@click.group(epilog=EXIT_CODES_HELP)
def batch() -> None:
    """Many job requests at once, through Vertex AI batch prediction (half the price;
    Vertex takes up to a day)."""


@batch.command(epilog=BATCH_EXIT_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--wait", "wait_", is_flag=True, help="Wait for the batch, with a progress bar.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait (default: no limit).")
@click.option("--idempotency-key", help="Send it again safely: the same key, the same batch.")
@click.pass_context
def submit(
    ctx: click.Context, file: Path, wait_: bool, timeout: float | None, idempotency_key: str | None
) -> None:
    """Submit FILE (JSONL: one job request a line). Every line is checked on its own:
    the valid ones go ahead, the rejected ones are listed with their errors."""
    app = app_of(ctx)
    answer = app.client.submit_batch(file.read_bytes(), idempotency_key=idempotency_key)
    if not wait_:
        app.show(answer, lambda: _print_submitted(app, answer, follow=True))
        return
    if not app.as_json:
        _print_submitted(app, answer, follow=False)
    done = _wait(app, str(answer["id"]), answer.get("items") or 0, timeout)
    app.show(done, lambda: app.out.print(batch_table(done)))
    ctx.exit(batch_exit(done))


def _print_submitted(app: App, answer: dict[str, Any], *, follow: bool) -> None:
    app.out.print(
        f"batch {answer['id']} {styled_state(str(answer['state']))}: {answer['items']} items, "
        f"estimated ${answer['estimated_cost_usd']:.4f}",
        highlight=False,
    )
    for rejected in answer.get("rejected") or []:
        error = rejected.get("error") or {}
        fields = "; ".join(
            f"{d.get('field')}: {d.get('message')}" for d in error.get("details") or []
        )
        why = escape(fields or str(error.get("message")))
        app.err.print(f"[red]line {rejected['line']} rejected[/]: {why}", soft_wrap=True)
    if follow and answer.get("state") not in BATCH_TERMINAL_STATES:
        app.out.print(f"follow it with: imagegen batch get {answer['id']}", highlight=False)


def _wait(app: App, batch_id: str, total: int, timeout: float | None) -> dict[str, Any]:
    """Wait for the batch; a progress bar of ended items on a terminal, a line per change
    when piped, nothing with --json. Ctrl-C leaves it running."""
    try:
        if app.as_json:
            return app.client.wait_batch(batch_id, timeout=timeout)
        if app.out.is_terminal:
            return _with_bar(app, batch_id, total, timeout)
        seen: list[tuple[Any, ...]] = []

        def on_update(b: dict[str, Any]) -> None:
            counts = b.get("counts") or {}
            key = (b.get("state"), counts.get("pending"))
            if not seen or seen[-1] != key:
                seen.append(key)
                ended = counts.get("total", 0) - counts.get("pending", 0)
                app.out.print(
                    f"batch {batch_id}  {b.get('state')}  {ended}/{counts.get('total', 0)}"
                )

        return app.client.wait_batch(batch_id, timeout=timeout, on_update=on_update)
    except KeyboardInterrupt:
        app.err.print(
            f"\ninterrupted; batch {batch_id} keeps running: imagegen batch get {batch_id}"
        )
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _with_bar(app: App, batch_id: str, total: int, timeout: float | None) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=app.out, transient=False) as bar:
        task = bar.add_task(f"batch {batch_id}", total=total or None, state="queued")

        def on_update(b: dict[str, Any]) -> None:
            counts = b.get("counts") or {}
            done = counts.get("total", 0) - counts.get("pending", 0)
            bar.update(
                task, total=counts.get("total") or None, completed=done, state=b.get("state")
            )

        return app.client.wait_batch(batch_id, timeout=timeout, on_update=on_update)


def _items(count: int) -> str:
    return f"{count} item" + ("" if count == 1 else "s")


def batch_table(b: dict[str, Any]) -> Table:
    """`imagegen batch get`: the batch, one fact a row."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    counts = b.get("counts") or {}
    rows = [
        ("id", str(b.get("id"))),
        ("state", styled_state(str(b.get("state")))),
        ("items", " ".join(f"{k} {v}" for k, v in counts.items())),
        ("estimated cost", f"${b.get('estimated_cost_usd', 0):.4f}"),
        ("cost", f"${b.get('cost_usd', 0):.4f}"),
    ]
    for group in b.get("groups") or []:
        vertex = group.get("vertex_state") or "not started"
        rows.append(
            (
                "vertex job",
                escape(
                    f"{group['model']} @ {group['location']}: {_items(group['items'])}, {vertex}"
                ),
            )
        )
    if b.get("fanout"):
        rows.append(("ordinary jobs", f"{_items(b['fanout'])} (a model Vertex does not batch)"))
    if b.get("rejected_count"):
        rows.append(("rejected lines", str(b["rejected_count"])))
    if b.get("error"):
        rows.append(("error", escape(str(b["error"]))))
    for key in ("created_at", "finished_at"):
        if b.get(key):
            rows.append((key.replace("_at", ""), str(b[key])))
    for key, value in rows:
        table.add_row(key, value)
    return table


@batch.command(epilog=BATCH_EXIT_HELP)
@click.argument("batch_id")
@click.option("--items", "show_items", is_flag=True, help="List every ended item and its job.")
@click.pass_context
def get(ctx: click.Context, batch_id: str, show_items: bool) -> None:
    """Show a batch: state, counts, cost, its Vertex jobs."""
    app = app_of(ctx)
    found = app.client.batch(batch_id, limit=1)
    found.pop("items", None)
    found.pop("next_after", None)
    if show_items:
        found["items"] = list(app.client.batch_items(batch_id))

    def for_people() -> None:
        app.out.print(batch_table(found))
        for item in found.get("items") or []:
            app.out.print(
                f"  line {item['line']:>5}  {item['job_id']}  {styled_state(item['state'])}"
            )

    app.show(found, for_people)
    ctx.exit(0 if found.get("state") not in BATCH_TERMINAL_STATES else batch_exit(found))


@batch.command(epilog=BATCH_EXIT_HELP)
@click.argument("batch_id")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the images.",
)
@click.option(
    "--sheet/--no-sheet", default=True, show_default=True, help="Also write DIR/sheet.png."
)
@click.option(
    "--sheet-limit",
    type=click.IntRange(min=1),
    default=48,
    show_default=True,
    help="Images on the contact sheet at most (the first ones).",
)
@click.option("--columns", type=click.IntRange(min=1), default=6, show_default=True)
@click.option("--thumb", type=click.IntRange(min=16), default=256, show_default=True)
@click.pass_context
def download(
    ctx: click.Context,
    batch_id: str,
    out: Path,
    sheet: bool,
    sheet_limit: int,
    columns: int,
    thumb: int,
) -> None:
    """Download every image of a batch into DIR (`<line>-<n>.<ext>`), one at a time, and
    make a contact sheet of the first ones."""
    app = app_of(ctx)
    found = app.client.batch(batch_id, limit=1)
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    thumbs: list[SheetItem] = []
    for item in app.client.batch_items(batch_id):
        if item["state"] != "succeeded":
            continue
        job = app.client.get(item["job_id"])  # signed URLs, fresh
        for position, output in enumerate(
            sorted(job.get("outputs") or [], key=lambda o: o.get("index", 0))
        ):
            data = app.client.read_output(output)
            path = out / f"{item['line']:05d}-{output_filename(output, position)}"
            path.write_bytes(data)
            files.append(str(path))
            if sheet and len(thumbs) < sheet_limit:
                thumbs.append(_thumb(data, job, thumb))
    sheet_path = None
    if sheet and thumbs:
        sheet_path = out / "sheet.png"
        render_sheet(thumbs, columns, thumb).save(sheet_path)
    result = {
        "batch": batch_id,
        "state": found.get("state"),
        "files": files,
        "sheet": str(sheet_path) if sheet_path else None,
    }

    def for_people() -> None:
        app.out.print(
            f"{len(files)} images in {out}"
            + (f"; contact sheet {sheet_path}" if sheet_path else ""),
            highlight=False,
        )

    app.show(result, for_people)
    ctx.exit(batch_exit(found))


def _thumb(data: bytes, job: dict[str, Any], size: int) -> SheetItem:
    """A thumbnail kept for the sheet (the full image is not held)."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    caption = caption_for(job, image.size)
    image.thumbnail((size, size))
    return SheetItem(image, caption)


@batch.command()
@click.argument("batch_id")
@click.pass_context
def cancel(ctx: click.Context, batch_id: str) -> None:
    """Cancel a batch: its Vertex jobs are stopped by the service's next sweep; the images
    Vertex finished are kept (and billed), the rest end cancelled."""
    app = app_of(ctx)
    answer = app.client.cancel_batch(batch_id)
    app.show(answer, lambda: app.out.print(f"batch {batch_id}: cancel requested"))
