"""`imagegen catalog show | diff [FILE] | set FILE | retire MODEL --replacement M | add MODEL
--from-discovered [--like M] [FILE]` (issues 17, 30). The catalog commands are for the
deployment's admins (Terraform `admin_members`); everyone else gets the API's 403.

A FILE is a JSON overlay: `{"models": {"<id>": {<fields to change>}}, "retired": {"<id>":
{"replacement": "<id>", "shutdown_date": "YYYY-MM-DD", "reason": "..."}}, "default_model":
"<id>"}`; `set` replaces the stored overlay with it (so `{}` clears it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from imagegen_client.cli.context import app_of
from imagegen_client.cli.render_models import change_line, overlay_changes_table


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}") from exc
    if not isinstance(value, dict):
        raise click.BadParameter(f"{path}: expected a JSON object (an overlay)")
    return value


@click.group()
def catalog() -> None:
    """The live catalog: the code's table plus an overlay admins change without a redeploy."""


@catalog.command()
@click.pass_context
def show(ctx: click.Context) -> None:
    """The overlay, its version, who changed it when, and every model's lifecycle facts."""
    app = app_of(ctx)
    body = app.client.catalog()

    def for_people() -> None:
        app.out.print(
            f"catalog overlay version {body.get('version')}, last changed "
            f"{body.get('updated_at') or '-'} by {body.get('updated_by') or '-'}"
        )
        app.out.print(escape(json.dumps(body.get("overlay"), indent=2)))
        app.out.print(overlay_changes_table(body.get("history") or []))

    app.show(body, for_people)


@catalog.command()
@click.argument("file", required=False, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def diff(ctx: click.Context, file: Path | None) -> None:
    """What the overlay changes in the code's table; with FILE, what FILE would change."""
    app = app_of(ctx)
    body = app.client.catalog_diff(_read(file) if file else None)

    def for_people() -> None:
        changes = body.get("changes") or []
        if not changes:
            app.out.print("no changes")
        for change in changes:
            app.out.print(escape(change_line(change)))

    app.show(body, for_people)


@catalog.command(name="set")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.pass_context
def set_(ctx: click.Context, file: Path) -> None:
    """Replace the overlay with FILE (checked by the catalog's schema first)."""
    app = app_of(ctx)
    body = app.client.catalog_set(_read(file))
    app.show(body, lambda: app.out.print(f"catalog overlay version {body.get('version')} stored"))


@catalog.command()
@click.argument("model")
@click.option("--replacement", required=True, help="The model that serves its requests now.")
@click.pass_context
def retire(ctx: click.Context, model: str, replacement: str) -> None:
    """Retire MODEL now: requests for it go to the replacement (or are refused, per the
    deployment's retired-model policy)."""
    app = app_of(ctx)
    body = app.client.catalog_retire(model, replacement)
    done = "retired" if body.get("retired") else "was already retired"
    app.show(
        body,
        lambda: app.out.print(
            f"{escape(model)} {done}; catalog overlay version {body.get('version')}"
        ),
    )


@catalog.command()
@click.argument("model")
@click.argument("file", required=False, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--from-discovered/--new",
    default=True,
    show_default=True,
    help="Start from what the daily Model Garden check found (launch stage); --new: all "
    "facts come from --like and FILE.",
)
@click.option("--like", help="Copy a served model's facts (sizes, options, prices, locations).")
@click.pass_context
def add(ctx: click.Context, model: str, file: Path | None, from_discovered: bool, like: str | None):
    """Add MODEL to the live catalog without a release: the facts found, --like's, then
    FILE's (a JSON object of model fields). A fact still missing is a 400 naming it."""
    app = app_of(ctx)
    fields = _read(file) if file else None
    body = app.client.catalog_add(model, like=like, fields=fields, from_discovered=from_discovered)
    app.show(
        body,
        lambda: app.out.print(
            f"{escape(model)} added; catalog overlay version {body.get('version')}; "
            f"requestable within the catalog TTL"
        ),
    )
