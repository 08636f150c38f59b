"""What every command gets from the group: the API client, --json, and the two consoles."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console

from imagegen_client.client import Client


@dataclass
class App:
    client: Client
    as_json: bool
    out: Console
    err: Console

    def emit_json(self, value: Any) -> None:
        click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))

    def show(self, value: Any, for_people: Callable[[], None]) -> None:
        """`value` as JSON with --json, else what `for_people` prints: the one switch
        every read-and-show command makes."""
        if self.as_json:
            self.emit_json(value)
        else:
            for_people()


def app_of(ctx: click.Context) -> App:
    """The App the group put on the context."""
    return ctx.find_object(App)  # type: ignore[return-value]


def make_console(*, stderr: bool) -> Console:
    """A rich console; piped output gets a wide page (COLUMNS wins) instead of 80 columns."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=160)
    return console
