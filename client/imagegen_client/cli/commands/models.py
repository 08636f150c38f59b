"""`imagegen models`: the lineup, the retired names and the lifecycle facts (GET /v1/models)."""

from __future__ import annotations

import click
from rich.markup import escape

from imagegen_client.cli.context import app_of
from imagegen_client.cli.exit_codes import EXIT_CODES_HELP
from imagegen_client.cli.render_models import lifecycle_table, lineup_table, retired_table


@click.command(epilog=EXIT_CODES_HELP)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the models the deployment offers, and the retired names it routes (GET /v1/models)."""
    app = app_of(ctx)
    body = app.client.models()

    def for_people() -> None:
        default = body.get("default")
        every = body.get("models") or []
        app.out.print(lineup_table(every, default))
        if default:
            app.out.print(f"* default model: {escape(str(default))}")
        retired = [m for m in every if m.get("retired") and not m.get("locations")]
        if retired:
            app.out.print(retired_table(retired))
        lifecycle = lifecycle_table(every)
        if lifecycle is not None:
            app.out.print(lifecycle)

    app.show(body, for_people)
