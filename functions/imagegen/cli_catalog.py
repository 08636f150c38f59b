"""`imagegen catalog show | diff [FILE] | set FILE | retire MODEL --replacement M`, and the
lifecycle table of `imagegen models` (issue 17). The catalog commands are for the
deployment's admins (Terraform `admin_members`); everyone else gets the API's 403.

A FILE is a JSON overlay: `{"models": {"<id>": {<fields to change>}}, "retired": {"<id>":
{"replacement": "<id>", "shutdown_date": "YYYY-MM-DD", "reason": "..."}}, "default_model":
"<id>"}`; `set` replaces the stored overlay with it (so `{}` clears it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from imagegen.cli import App


def _app(ctx: click.Context) -> App:
    from imagegen.cli import App

    return ctx.find_object(App)  # type: ignore[return-value]


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
    app = _app(ctx)
    body = app.client.catalog()
    if app.as_json:
        app.emit_json(body)
        return
    app.out.print(
        f"catalog overlay version {body.get('version')}, last changed "
        f"{body.get('updated_at') or '-'} by {body.get('updated_by') or '-'}"
    )
    app.out.print(escape(json.dumps(body.get("overlay"), indent=2)))
    history = Table(title="changes")
    for column in ("version", "when", "who", "what"):
        history.add_column(column, overflow="fold")
    for entry in body.get("history") or []:
        history.add_row(
            str(entry.get("version")),
            escape(str(entry.get("when"))),
            escape(str(entry.get("who"))),
            escape(str(entry.get("what"))),
        )
    app.out.print(history)


@catalog.command()
@click.argument("file", required=False, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def diff(ctx: click.Context, file: Path | None) -> None:
    """What the overlay changes in the code's table; with FILE, what FILE would change."""
    app = _app(ctx)
    body = app.client.catalog_diff(_read(file) if file else None)
    if app.as_json:
        app.emit_json(body)
        return
    changes = body.get("changes") or []
    if not changes:
        app.out.print("no changes")
    for change in changes:
        if "before" in change:
            app.out.print(
                escape(
                    f"{change.get('model', '')} {change.get('field')}: "
                    f"{json.dumps(change['before'])} -> {json.dumps(change['after'])}"
                )
            )
        else:
            app.out.print(escape(json.dumps(change)))


@catalog.command(name="set")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.pass_context
def set_(ctx: click.Context, file: Path) -> None:
    """Replace the overlay with FILE (checked by the catalog's schema first)."""
    app = _app(ctx)
    body = app.client.catalog_set(_read(file))
    if app.as_json:
        app.emit_json(body)
        return
    app.out.print(f"catalog overlay version {body.get('version')} stored")


@catalog.command()
@click.argument("model")
@click.option("--replacement", required=True, help="The model that serves its requests now.")
@click.pass_context
def retire(ctx: click.Context, model: str, replacement: str) -> None:
    """Retire MODEL now: requests for it go to the replacement (or are refused, per the
    deployment's retired-model policy)."""
    app = _app(ctx)
    body = app.client.catalog_retire(model, replacement)
    if app.as_json:
        app.emit_json(body)
        return
    done = "retired" if body.get("retired") else "was already retired"
    app.out.print(f"{escape(model)} {done}; catalog overlay version {body.get('version')}")


def print_lifecycle(app: App, models: list[dict[str, Any]]) -> None:
    """The lifecycle table of `imagegen models`: stage, shutdown date, replacement, and
    where each fact came from (code, overlay, Model Garden check, Vertex 404)."""
    rows = [(m, m.get("lifecycle_facts")) for m in models if m.get("lifecycle_facts")]
    if not rows:
        return
    table = Table(title="lifecycle (source in brackets)", show_lines=False)
    for column in ("id", "stage", "launch stage", "shutdown", "replacement"):
        table.add_column(column, overflow="fold", no_wrap=column == "id")
    for model, facts in rows:
        table.add_row(
            escape(str(model.get("id"))),
            escape(f"{facts.get('lifecycle')} [{facts.get('lifecycle_source')}]"),
            escape(
                f"{facts['launch_stage']} [{facts.get('launch_stage_source')}]"
                if facts.get("launch_stage")
                else "- [not checked yet]"
            ),
            escape(f"{facts.get('shutdown_date') or '-'} [{facts.get('shutdown_source')}]"),
            escape(f"{facts.get('replacement') or '-'} [{facts.get('replacement_source')}]"),
        )
    app.out.print(table)
