"""`imagegen sheet`: a contact sheet of the images of some jobs (drawn by cli/sheet.py)."""

from __future__ import annotations

from pathlib import Path

import click

from imagegen_client.cli.context import app_of
from imagegen_client.cli.exit_codes import EXIT_CODES_HELP, EXIT_JOB_FAILED
from imagegen_client.cli.sheet import render_sheet, sheet_items


@click.command(epilog=EXIT_CODES_HELP)
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
    app = app_of(ctx)
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
