"""`imagegen`: the command line client of the imagegen API (click + rich). See docs/cli.md.

One job per module:
- `app`: the command group, its global options, API errors -> messages and exit codes
- `exit_codes`: the documented exit codes
- `context`: what every command gets (the client, --json, the consoles)
- `job_request`: the options of `generate`/`refine` -> the job request
- `waiting`: waiting for a job with a live status line
- `render`, `render_models`: rich tables and lines for people
- `sheet`: drawing contact sheets
- `commands/`: the commands, by subject (jobs, models, usage, catalog, sheet)
"""

from imagegen_client.cli.app import cli, main

__all__ = ["cli", "main"]
