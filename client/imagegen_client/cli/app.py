"""The `imagegen` command group: its global options, and API errors and wait timeouts
turned into a message and a documented exit code. The commands are in `commands/`.

Every command takes the global options `--url`, `--token`, `--caller` and `--json`; the
exit codes are listed in `imagegen --help` and in exit_codes.py (docs/cli.md).
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from imagegen_client.cli import commands
from imagegen_client.cli.context import App, make_console
from imagegen_client.cli.exit_codes import EXIT_CODES_HELP, EXIT_TIMEOUT, exit_code_for_error
from imagegen_client.client import ApiError, Client, WaitTimeout


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
        out=make_console(stderr=False),
        err=make_console(stderr=True),
    )


for _command in commands.ALL:
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """The `imagegen` console script."""
    cli.main(args=argv, prog_name="imagegen")
