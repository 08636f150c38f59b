"""`imagegen usage`: images, jobs and dollars per caller and model (GET /v1/usage)."""

from __future__ import annotations

import click

from imagegen_client.cli.context import app_of
from imagegen_client.cli.exit_codes import EXIT_CODES_HELP
from imagegen_client.cli.render_models import usage_table


@click.command(epilog=EXIT_CODES_HELP)
@click.option("--caller", help="Only this caller (an identity's email) [default: everyone].")
@click.option("--day", help="UTC day, YYYY-MM-DD [default: today].")
@click.option("--month", help="UTC month, YYYY-MM (instead of --day).")
@click.pass_context
def usage(ctx: click.Context, caller: str | None, day: str | None, month: str | None) -> None:
    """Images, jobs and dollars per caller and model (GET /v1/usage)."""
    app = app_of(ctx)
    body = app.client.usage(caller=caller, day=day, month=month)
    app.show(body, lambda: app.out.print(usage_table(body, caller)))
