"""The `imagegen` commands, one module per subject; `app` adds every one of `ALL`."""

from imagegen_client.cli.commands import catalog, jobs, models, sheet, usage

ALL = (*jobs.COMMANDS, models.models, usage.usage, sheet.sheet, catalog.catalog)
